"""Whole audio files of any length to timed transcripts: what ``ovrecipes whisper transcribe`` runs.

The engines and their flags are those of :mod:`whisper_engines`; here every engine returns segments
(start and end seconds from the start of the file, text) and, where it can, the words in them:

* ``genai``: openvino-genai's WhisperPipeline with ``return_timestamps``. A clip longer than 30 s is
  decoded window by window by genai itself, each window starting at the last timestamp the one before
  ended on, and the segment times it returns are already offset by the window start. Word times
  (openvino-genai 2026.x: ``word_timestamps=True`` given to the constructor, which rewrites the
  decoder's attention to expose its cross-attention scores) come from the alignment heads in
  generation_config.json.
* ``optimum`` and ``pytorch``: transformers' long-form ``generate()`` (unpadded features with their
  attention mask, ``return_timestamps``, ``return_segments``) seeks through the clip the same way.
  Word times (``return_token_timestamps``: dynamic time warping over the alignment heads' cross-
  attention) for pytorch only: the decoder IR that optimum-intel runs returns no attention weights.

Words are computed only when asked for (the command asks when it writes JSON, the one format that
carries them); when the directory or engine cannot give them one log line says why and the
transcript has segment times only. Times are made safe to write by :func:`subtitles.tidy`.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from tqdm.auto import tqdm

from ovrecipes.core.openvino import openvino_reason
from ovrecipes.core.staging import check_writable
from ovrecipes.pipelines.speech_data import SAMPLE_RATE, load_audio
from ovrecipes.pipelines.subtitles import FORMATS, Segment, Word, attach_words, render, tidy
from ovrecipes.pipelines.whisper_engines import (
    OptimumTranscriber,
    TorchTranscriber,
    check_language,
    check_whisper_dir,
    language_code,
    limited_generation_config,
    ov_properties,
    resolve_engine,
)
from ovrecipes.pipelines.whisper_genai import genai_missing

log = logging.getLogger(__name__)

#: what a directory or a pattern picks up (a file named on its own may have any suffix librosa reads)
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".aif", ".aiff",
                  ".au", ".caf")
TASKS = ("transcribe", "translate")


@dataclass
class Transcription:
    """One file's transcript with its segments (and their words when ``word_level``)."""

    file: str
    language: str | None
    task: str
    text: str
    duration_s: float
    engine: str
    segments: list[Segment]
    word_level: bool
    seconds: float = 0.0  # wall time of the transcription, decoding of the file not included

    @property
    def timestamps(self) -> str:
        return "word" if self.word_level else "segment"

    def fields(self) -> dict[str, Any]:
        return {"file": self.file, "language": self.language, "task": self.task, "text": self.text,
                "duration_s": self.duration_s, "engine": self.engine, "timestamps": self.timestamps}

    def render(self, fmt: str) -> str:
        """The transcript as txt, json, srt or vtt (see :mod:`subtitles`)."""
        return render(fmt, self.text, self.segments, self.fields())


# -- what to read and where to write ---------------------------------------------------------------
def check_request(model_dir: str | Path, language: str | None, task: str = "transcribe") -> str | None:
    """Whisper's code for ``language``, once the directory, the language and the task suit each other
    (an English-only checkpoint takes neither another language nor ``translate``)."""
    check_whisper_dir(model_dir)
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}: got {task!r}")
    code = language_code(language)
    check_language(model_dir, code)
    config = Path(model_dir) / "generation_config.json"
    if task == "translate" and config.is_file() and json.loads(config.read_text()).get("is_multilingual") is False:
        raise ValueError(f"model {model_dir} is English-only (is_multilingual: false in generation_config.json): it "
                         "cannot translate; use a multilingual checkpoint such as whisper-base (embedded:whisper-base)")
    return code


def _audio_in(files: Iterator[Path]) -> list[Path]:
    return sorted(p for p in files if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
                  and not p.name.startswith("."))


def expand_inputs(arguments: list[str | Path]) -> list[Path]:
    """Audio files from files, directories (their audio files, sorted) and glob patterns, in the order
    given, each once; a one-line error naming the first argument that gives none."""
    found: dict[Path, None] = {}
    kinds = f"({', '.join(AUDIO_SUFFIXES)})"
    for argument in arguments:
        text = str(argument)
        path = Path(text)
        if path.is_dir():
            matches = _audio_in(path.iterdir())
            if not matches:
                raise ValueError(f"directory {text} holds no audio files {kinds}")
        elif path.is_file():
            matches = [path]
        elif any(c in text for c in "*?["):
            matches = _audio_in(Path(p) for p in glob.glob(text, recursive=True))
            if not matches:
                raise ValueError(f"pattern {text} matches no audio files {kinds}")
        else:
            raise ValueError(f"audio file {text} does not exist")
        found.update((m, None) for m in matches)
    return list(found)


def output_paths(paths: list[Path], out_dir: str | Path | None, fmt: str, overwrite: bool = False) -> list[Path] | None:
    """``out_dir/<stem>.<fmt>`` for each input, checked before any work; None means standard output,
    which takes one file's transcript."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}: got {fmt!r}")
    if out_dir is None:
        if len(paths) > 1:
            raise ValueError(f"{len(paths)} audio files need --out DIR (one {fmt} file each): standard output "
                             "takes the transcript of one file")
        return None
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file; give a directory")
    targets: dict[Path, Path] = {}
    for path in paths:
        target = out_dir / f"{path.stem}.{fmt}"
        if target in targets:
            raise ValueError(f"{targets[target]} and {path} would both be written to {target}: transcribe them "
                             "into different --out directories")
        if target.exists():
            if target.resolve() == path.resolve():
                raise ValueError(f"{target} is an input of this run; write the {fmt} files elsewhere")
            if not overwrite:
                raise ValueError(f"{target} already exists; pass --overwrite to replace it")
        targets[target] = path
    check_writable(next(iter(targets)), "--out")
    return list(targets)


def write_output(target: str | Path, text: str, overwrite: bool = False) -> Path:
    """Write ``text`` to ``target`` whole or not at all: a hidden temporary file beside it, renamed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not overwrite:
        raise ValueError(f"{target} already exists; pass --overwrite to replace it")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.partial-{os.getpid()}-", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide the transcript from others
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


# -- word timing: what the directory and the engine allow --------------------------------------------
def word_problem(model_dir: str | Path, engine: str) -> str | None:
    """Why ``engine`` cannot time words with ``model_dir`` (one line), or None when it can."""
    if engine == "optimum":
        return "optimum-intel's decoder IR returns no cross-attention weights"
    if engine == "genai":
        import openvino_genai

        if not hasattr(openvino_genai.WhisperGenerationConfig(), "word_timestamps"):
            return f"openvino-genai {openvino_genai.__version__} has no word timestamps (2026 releases have)"
    model_dir = Path(model_dir)
    generation = model_dir / "generation_config.json"
    heads = json.loads(generation.read_text()).get("alignment_heads") if generation.is_file() else None
    if not heads:
        return f"{generation} names no alignment_heads"
    config = json.loads((model_dir / "config.json").read_text())
    layers, per_layer = config.get("decoder_layers", 0), config.get("decoder_attention_heads", 0)
    outside = [tuple(h) for h in heads if not (0 <= h[0] < layers and 0 <= h[1] < per_layer)]
    if outside:
        return (f"alignment_heads in {generation} names (layer, head) {outside[0]}, outside the decoder's "
                f"{layers} layers of {per_layer} heads")
    return None


def _no_words(engine: str, reason: str) -> None:
    log.info(f"word timestamps unavailable with engine {engine}: {reason}; segment timestamps only")


# -- engines -------------------------------------------------------------------------------------------
class GenaiTimed:
    """openvino-genai's WhisperPipeline, segments always, words when loaded with ``word_timestamps``."""

    engine = "genai"

    def __init__(self, model_dir: str | Path, properties: dict[str, Any], *, max_new_tokens: int,
                 language: str | None, task: str, words: bool) -> None:
        import openvino_genai

        self._genai, self.model_dir, self._properties, self.words = openvino_genai, str(model_dir), properties, words
        self._pipe = self._load()
        config = self._pipe.get_generation_config()
        config.max_new_tokens = max_new_tokens
        config.return_timestamps = True
        if config.is_multilingual and language:
            config.language = f"<|{language}|>"
            config.task = task
        self._config = config

    def _load(self) -> Any:
        if self.words:
            try:
                return self._genai.WhisperPipeline(self.model_dir, "CPU", word_timestamps=True, **self._properties)
            except RuntimeError as err:
                _no_words(self.engine, openvino_reason(err))
                self.words = False
        return self._genai.WhisperPipeline(self.model_dir, "CPU", **self._properties)

    def _generate(self, audio: np.ndarray) -> Any:
        if hasattr(self._config, "word_timestamps"):
            self._config.word_timestamps = self.words
        return self._pipe.generate(audio, self._config)

    def run(self, audio: np.ndarray) -> tuple[str, list[Segment]]:
        try:
            result = self._generate(audio)
        except RuntimeError as err:  # a decoder whose attention genai could not rewrite fails only here
            if not self.words:
                raise
            _no_words(self.engine, openvino_reason(err))
            self.words = False
            self._pipe = self._load()
            result = self._generate(audio)
        segments = [Segment(c.start_ts, c.end_ts, c.text) for c in result.chunks or []]
        if self.words and result.words:
            segments = attach_words(segments, [Word(w.word, w.start_ts, w.end_ts) for w in result.words])
        return result.texts[0], segments


class TransformersTimed:
    """transformers' long-form ``generate()`` on an optimum-intel or PyTorch model, with its segments."""

    def __init__(self, transcriber: OptimumTranscriber | TorchTranscriber, *, max_new_tokens: int,
                 language: str | None, task: str, words: bool) -> None:
        self.engine = transcriber.engine
        self.model, self.processor, self.words = transcriber.model, transcriber.processor, words
        self._config = limited_generation_config(self.model.generation_config, max_new_tokens)
        multilingual = bool(getattr(self._config, "is_multilingual", False))
        self._extra = {"language": language, "task": task} if multilingual and language else {}

    def run(self, audio: np.ndarray) -> tuple[str, list[Segment]]:
        import torch

        extractor = self.processor.feature_extractor
        # Unpadded features past 30 s make generate() seek window by window; shorter clips are padded to 30 s.
        extract = {"truncation": False, "padding": "longest"} if len(audio) > extractor.n_samples else {}
        inputs = extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt", return_attention_mask=True,
                           **extract)
        with torch.inference_mode():
            out = self.model.generate(inputs.input_features, attention_mask=inputs.attention_mask,
                                      generation_config=self._config, return_timestamps=True, return_segments=True,
                                      return_token_timestamps=self.words, **self._extra)
        if not isinstance(out, dict) or "segments" not in out:
            ids = out["sequences"] if isinstance(out, dict) else out
            return self.processor.batch_decode(ids, skip_special_tokens=True)[0], []
        segments = [self._segment(raw) for raw in out["segments"][0]]
        return "".join(s.text for s in segments), segments

    def _segment(self, raw: dict[str, Any]) -> Segment:
        tokens = [int(t) for t in raw["tokens"]]
        start = float(raw["start"])
        times = raw.get("token_timestamps")
        words: tuple[Word, ...] = ()
        if self.words and times is not None and len(times) == len(tokens):
            words = tuple(self._words(tokens, [float(t) for t in times], start))
        text = self.processor.tokenizer.decode(tokens, skip_special_tokens=True)
        return Segment(start, float(raw["end"]), text, words)

    def _words(self, tokens: list[int], times: list[float], start: float) -> list[Word]:
        """Text tokens grouped into words (a word starts at a token that begins with a space), token i
        spanning times[i-1]..times[i] as in transformers' own ASR pipeline."""
        tokenizer = self.processor.tokenizer
        special = tokenizer.eos_token_id  # <|endoftext|>; every special and timestamp token comes after it
        groups: list[list[int]] = []
        for i, token in enumerate(tokens):
            if token >= special:
                continue
            if not groups or tokenizer.decode([token]).startswith(" "):
                groups.append([i])
            else:
                groups[-1].append(i)
        return [Word(tokenizer.decode([tokens[i] for i in g]), times[g[0] - 1] if g[0] > 0 else start, times[g[-1]])
                for g in groups]


def load_timed(model_dir: str | Path, engine: str | None = None, *, precision: str | None = None,
               threads: int | None = None, max_new_tokens: int = 96, language: str | None = "en",
               task: str = "transcribe", words: bool = False) -> GenaiTimed | TransformersTimed:
    """A loaded engine that returns segments (and words when ``words`` and the engine allows them)."""
    chosen = resolve_engine(model_dir, engine)
    if words and (problem := word_problem(model_dir, chosen)):
        _no_words(chosen, problem)
        words = False
    options = {"max_new_tokens": max_new_tokens, "language": language, "task": task, "words": words}
    if chosen == "genai":
        reason = genai_missing(model_dir)
        if reason:
            raise ValueError(f"engine 'genai' cannot load this model: {reason}")
        return GenaiTimed(model_dir, ov_properties(precision, threads), **options)
    cls = OptimumTranscriber if chosen == "optimum" else TorchTranscriber
    transcriber = cls(model_dir, precision=precision, threads=threads, max_new_tokens=max_new_tokens,
                      language=language)
    return TransformersTimed(transcriber, **options)


def transcribe_files(model_dir: str | Path, paths: list[str | Path], engine: str | None = None, *,
                     precision: str | None = None, threads: int | None = None, max_new_tokens: int = 96,
                     language: str | None = "en", task: str = "transcribe", words: bool = False,
                     progress: bool = False) -> Iterator[Transcription]:
    """Each file's :class:`Transcription`, one at a time as it is done (``max_new_tokens`` is per 30 s
    window); the request is checked and the model loaded before the first file is read."""
    language = check_request(model_dir, language, task)
    if not paths:
        raise ValueError("no audio files to transcribe")
    timed = load_timed(model_dir, engine, precision=precision, threads=threads, max_new_tokens=max_new_tokens,
                       language=language, task=task, words=words)

    def run() -> Iterator[Transcription]:
        for path in tqdm(paths, desc="transcribing", unit="file", disable=not progress):
            audio = load_audio(path)
            duration = len(audio) / SAMPLE_RATE
            started = time.perf_counter()
            text, segments = timed.run(audio)
            seconds = time.perf_counter() - started
            text = text.strip()
            if not segments and text:  # an engine that gave text without times: the whole clip
                segments = [Segment(0.0, duration, text)]
            yield Transcription(str(path), language, task, text, round(duration, 3), timed.engine,
                                tidy(segments, duration), timed.words, seconds)

    return run()
