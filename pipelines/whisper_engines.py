"""Engines that turn 16 kHz audio into text with a Whisper model directory, timed the same way.

* ``genai``: openvino-genai's WhisperPipeline (C++ feature extraction and decoding loop, stateful
  decoder, tokenizer IRs); how OpenVINO users deploy Whisper. Per-stage times come from its perf
  metrics.
* ``optimum``: optimum-intel's OVModelForSpeechSeq2Seq and transformers' Python ``generate()``;
  reads stateless and stateful exports.
* ``pytorch``: transformers' WhisperForConditionalGeneration, the baseline.

Timing rule, the same for every engine (and the CTranslate2 peers): ``seconds`` is the wall time of
one call from decoded audio in memory to text: feature extraction, encoder, decoding loop and
detokenization. Loading and one warm-up call are not timed. Decoding is greedy with at most
``max_new_tokens`` tokens and no timestamps.
"""

from __future__ import annotations

import copy
import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import openvino.properties as props
import openvino.properties.hint as hints

from ovrecipes.core.openvino import compiled_precision, precision_config
from ovrecipes.core.paths import require_dir
from ovrecipes.pipelines.model_dirs import is_openvino_dir
from ovrecipes.pipelines.speech_data import load_audio
from ovrecipes.pipelines.whisper_genai import ENCODER_IR, genai_missing

ENGINES = ("genai", "optimum", "pytorch")
SAMPLE_RATE = 16000


@dataclass
class Transcript:
    """One utterance: the text, the timed seconds, and the stage split an engine reports."""

    text: str
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)  # features_s, encoder_s, decoder_s, generate_s


def ov_properties(precision: str | None = None, threads: int | None = None) -> dict[str, Any]:
    """CPU compile properties shared by both OpenVINO engines: latency hint, threads, precision."""

    config: dict[str, Any] = {hints.performance_mode(): hints.PerformanceMode.LATENCY, **precision_config(precision)}
    if threads is not None:
        if threads <= 0:
            raise ValueError(f"threads must be positive: got {threads}")
        config[props.inference_num_threads()] = int(threads)
    return config


def prompt_length(generation_config: Any) -> int:
    """Tokens transformers' Whisper puts before the text: <|startoftranscript|> (+ language, task) (+ <|notimestamps|>)."""
    multilingual = bool(getattr(generation_config, "is_multilingual", False))
    no_timestamps = getattr(generation_config, "no_timestamps_token_id", None) is not None
    return 1 + (2 if multilingual else 0) + (1 if no_timestamps else 0)


def limited_generation_config(base: Any, max_new_tokens: int) -> Any:
    """A copy of ``base`` that stops after ``max_new_tokens`` text tokens through ``max_length`` alone.

    Whisper's ``generate()`` fills the global default ``max_length`` (20) into its config before
    calling the generic ``generate()``, so passing ``max_new_tokens`` warns on every call that both
    are set. Setting only ``max_length`` (prompt + new tokens) gives the same limit without the clash.
    """
    if max_new_tokens <= 0:
        raise ValueError(f"max_new_tokens must be positive: got {max_new_tokens}")
    config = copy.deepcopy(base)
    config.max_new_tokens = None
    config.max_length = prompt_length(base) + max_new_tokens
    return config


class Transcriber(ABC):
    """A loaded model that transcribes one utterance at a time."""

    engine: str

    @abstractmethod
    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Text of one mono 16 kHz float32 utterance, with the timed seconds."""

    @abstractmethod
    def precision(self) -> dict[str, str | None]:
        """What the runtime really uses: {"inference_precision": "f32" | "bf16" | ..., ...}."""


class GenaiTranscriber(Transcriber):
    engine = "genai"

    def __init__(self, model_dir: str | Path, *, precision: str | None = None, threads: int | None = None,
                 max_new_tokens: int = 96, language: str | None = "en") -> None:
        import openvino_genai

        reason = genai_missing(model_dir)
        if reason:
            raise ValueError(f"engine 'genai' cannot load this model: {reason}")
        self.model_dir = Path(model_dir)
        self._properties = ov_properties(precision, threads)
        self._pipe = openvino_genai.WhisperPipeline(str(self.model_dir), "CPU", **self._properties)
        config = self._pipe.get_generation_config()
        config.max_new_tokens = max_new_tokens
        config.return_timestamps = False
        if config.is_multilingual and language:
            config.language = f"<|{language}|>"
            config.task = "transcribe"
        self._config = config

    def transcribe(self, audio: np.ndarray) -> Transcript:
        started = time.perf_counter()
        result = self._pipe.generate(audio, self._config)
        seconds = time.perf_counter() - started
        raw = result.perf_metrics.whisper_raw_metrics
        stages = {"features_s": sum(raw.features_extraction_durations) / 1e6,
                  "encoder_s": sum(raw.encode_inference_durations) / 1e6,
                  "decoder_s": sum(raw.decode_inference_durations) / 1e6}
        return Transcript(result.texts[0], seconds, stages)

    def precision(self) -> dict[str, str | None]:
        """WhisperPipeline hides its compiled models: compile the encoder with the same properties and ask it."""

        return compiled_precision(ov.Core().compile_model(str(self.model_dir / ENCODER_IR), "CPU", self._properties))


class _TransformersTranscriber(Transcriber):
    """Feature extraction + ``generate()`` + decoding, shared by the optimum and PyTorch engines."""

    def __init__(self, model: Any, processor: Any, max_new_tokens: int, language: str | None) -> None:
        self.model = model
        self.processor = processor
        self._config = limited_generation_config(model.generation_config, max_new_tokens)
        self._extra = ({"language": language, "task": "transcribe"}
                       if getattr(self._config, "is_multilingual", False) and language else {})

    def generate(self, features: np.ndarray, attention_mask: np.ndarray | None = None) -> Any:
        import torch

        mask = {} if attention_mask is None else {"attention_mask": torch.from_numpy(attention_mask)}
        with torch.inference_mode():
            return self.model.generate(torch.from_numpy(features), generation_config=self._config, **mask,
                                       **self._extra)

    def transcribe(self, audio: np.ndarray) -> Transcript:
        started = time.perf_counter()
        # Past 30 s the default features would be cut at 30 s and the rest silently dropped; unpadded
        # features with their mask make generate() transcribe the clip window by window (as genai does).
        long_form = len(audio) > self.processor.feature_extractor.n_samples
        extract = {"truncation": False, "padding": "longest", "return_attention_mask": True} if long_form else {}
        inputs = self.processor.feature_extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="np", **extract)
        extracted = time.perf_counter()
        ids = self.generate(inputs.input_features, inputs.attention_mask if long_form else None)
        generated = time.perf_counter()
        text = self.processor.batch_decode(ids, skip_special_tokens=True)[0]
        seconds = time.perf_counter() - started
        return Transcript(text, seconds, {"features_s": extracted - started, "generate_s": generated - extracted})


class OptimumTranscriber(_TransformersTranscriber):
    engine = "optimum"

    def __init__(self, model_dir: str | Path, *, precision: str | None = None, threads: int | None = None,
                 max_new_tokens: int = 96, language: str | None = "en") -> None:
        from optimum.intel import OVModelForSpeechSeq2Seq
        from transformers import WhisperProcessor

        model = OVModelForSpeechSeq2Seq.from_pretrained(model_dir, ov_config=ov_properties(precision, threads))
        super().__init__(model, WhisperProcessor.from_pretrained(model_dir), max_new_tokens, language)

    def precision(self) -> dict[str, str | None]:
        self.model.encoder.compile()
        request = self.model.encoder.request
        return compiled_precision(request.get_compiled_model() if hasattr(request, "get_compiled_model") else request)


class TorchTranscriber(_TransformersTranscriber):
    engine = "pytorch"

    def __init__(self, model_dir: str | Path, *, precision: str | None = None, threads: int | None = None,
                 max_new_tokens: int = 96, language: str | None = "en") -> None:
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        if precision not in (None, "default", "f32"):
            raise ValueError(f"the pytorch engine runs f32 only: got precision {precision!r}")
        if threads is not None:
            torch.set_num_threads(int(threads))
        model = WhisperForConditionalGeneration.from_pretrained(str(model_dir)).eval()
        super().__init__(model, WhisperProcessor.from_pretrained(model_dir), max_new_tokens, language)

    def precision(self) -> dict[str, str | None]:
        return {"inference_precision": "f32", "execution_mode": None}


def resolve_engine(model_dir: str | Path, engine: str | None = None) -> str:
    """The engine for a model directory: genai where WhisperPipeline loads it, else optimum; PyTorch dirs run pytorch."""
    if engine not in (None, "auto", *ENGINES):
        raise ValueError(f"engine must be one of auto, {', '.join(ENGINES)}: got {engine!r}")
    openvino = is_openvino_dir(model_dir)
    if engine in (None, "auto"):
        if not openvino:
            return "pytorch"
        return "genai" if genai_missing(model_dir) is None else "optimum"
    if engine == "pytorch" and openvino:
        raise ValueError(f"engine 'pytorch' needs a PyTorch/HF model directory: {model_dir} is an OpenVINO export")
    if engine in ("genai", "optimum") and not openvino:
        raise ValueError(f"engine {engine!r} needs an OpenVINO model directory: {model_dir} has no IR")
    return engine


def language_code(language: str | None) -> str | None:
    """Whisper's code for a spoken language given as a code ("de") or a name ("German"); None stays None.

    genai takes the code as a token (``<|de|>``), so an unknown one would only fail deep inside decoding.
    """
    if language is None:
        return None
    from transformers.models.whisper.tokenization_whisper import LANGUAGES, TO_LANGUAGE_CODE

    key = language.strip().lower()
    if key in LANGUAGES:
        return key
    if key in TO_LANGUAGE_CODE:
        return TO_LANGUAGE_CODE[key]
    raise ValueError(f"language {language!r} is not one Whisper knows: pass a code such as en, de, fr, zh or a "
                     f"name such as german ({len(LANGUAGES)} codes: {', '.join(sorted(LANGUAGES))})")


def load_transcriber(model_dir: str | Path, engine: str | None = None, **options: Any) -> Transcriber:
    """A loaded engine for ``model_dir`` (``options``: precision, threads, max_new_tokens, language)."""
    chosen = resolve_engine(model_dir, engine)
    cls = {"genai": GenaiTranscriber, "optimum": OptimumTranscriber, "pytorch": TorchTranscriber}[chosen]
    return cls(model_dir, **options)


def check_whisper_dir(model_dir: str | Path) -> None:
    """A local Whisper model directory (PyTorch/HF or OpenVINO), checked before any audio or weights load:
    an empty or foreign directory would otherwise fail inside transformers or the OpenVINO frontend."""
    path = require_dir(model_dir, "Whisper model directory")
    config = path / "config.json"
    if not config.is_file():
        raise ValueError(f"model directory {path} has no config.json, so it holds no Whisper model (PyTorch/HF, or "
                         "OpenVINO from 'whisper ptq')")
    model_type = json.loads(config.read_text()).get("model_type")
    if model_type != "whisper":
        raise ValueError(f"model {path} is a {model_type!r} model: transcription takes Whisper models "
                         "(model_type 'whisper')")


def check_language(model_dir: str | Path, language: str | None) -> None:
    """Refuse a language other than English for an English-only checkpoint (tiny.en ...), which would
    transcribe English whatever language token it is given."""
    config = Path(model_dir) / "generation_config.json"
    if language in (None, "en") or not config.is_file():  # a hub id: its config is not read here
        return
    if json.loads(config.read_text()).get("is_multilingual") is False:
        raise ValueError(f"model {model_dir} is English-only (is_multilingual: false in generation_config.json): it "
                         f"cannot transcribe language {language!r}; use a multilingual checkpoint such as "
                         "whisper-base (embedded:whisper-base)")


def transcribe(model_dir: str | Path, audio_paths: list[str | Path], engine: str | None = None, *,
               precision: str | None = None, threads: int | None = None, max_new_tokens: int = 96,
               language: str | None = "en") -> list[Transcript]:
    """Transcripts of audio files with one engine (what ``ovrecipes whisper transcribe`` prints)."""

    if not audio_paths:
        raise ValueError("no audio files to transcribe")
    check_whisper_dir(model_dir)
    language = language_code(language)
    check_language(model_dir, language)
    audio = [load_audio(p) for p in audio_paths]  # every file is checked before the model loads
    transcriber = load_transcriber(model_dir, engine, precision=precision, threads=threads,
                                   max_new_tokens=max_new_tokens, language=language)
    return [transcriber.transcribe(a) for a in audio]
