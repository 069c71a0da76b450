"""Speech with transcripts: synthesised embedded sentences, real alsa-utils clips, or the user's own.

Embedded set (offline): the English sentences in ``pipelines/data/sentences_en.txt`` (written for
this package) spoken by Debian's festival (``cmu_us_slt_arctic_hts`` voice) and flite, alternately,
resampled to 16 kHz with librosa and cached as WAV with a ``manifest.jsonl``. Splits are fixed by
a seeded permutation and disjoint: of the 119 clips, calibration 42, validation 17, test 60.
(``SPEECH_SPLITS`` asks for 50 and 20, but ``seeded_splits`` lets the sized splits take at most
half of a set, so 119 clips scale them by 0.85; tests/test_speech_data.py checks these numbers.)
The 8 alsa-utils clips ("Front Left", ...) are a small real-speech check (split ``real``).
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from tqdm.auto import tqdm

from ovrecipes.core.cache import building, cache_path
from ovrecipes.core.hub import load_hub_dataset
from ovrecipes.core.paths import require_file
from ovrecipes.pipelines.sources import DataSourceSpec, seeded_splits

SAMPLE_RATE = 16000
SENTENCES = Path(__file__).parent / "data" / "sentences_en.txt"
FESTIVAL_VOICE = "cmu_us_slt_arctic_hts"
ENGINES = ("festival", "flite")
SPLIT_SEED = 20240601
SPEECH_SPLITS = {"calibration": 50, "validation": 20}  # test: the rest
ALSA_DIR = Path("/usr/share/sounds/alsa")
DEBIAN_PACKAGES = "festival festvox-us-slt-hts festvox-kdlpc16k flite alsa-utils"


@dataclass(frozen=True)
class SpeechExample:
    audio: Path
    text: str
    source: str = "user"


def load_audio(path: str | Path) -> np.ndarray:
    """Mono float32 at 16 kHz; any file librosa can read, with a one-line error naming it otherwise."""
    import librosa

    path = require_file(path, "audio file")
    try:
        audio, _ = librosa.load(str(path), sr=SAMPLE_RATE, mono=True)
    except Exception as err:  # librosa/soundfile/audioread raise many types for unreadable files
        raise ValueError(f"cannot read audio file {path}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from None
    if audio.size == 0:
        raise ValueError(f"audio file {path} holds no samples")
    return audio.astype(np.float32)


def synthesise(text: str, engine: str, out_wav: Path, voice: str | None = None) -> None:
    """Speak one sentence into a 16 kHz mono WAV with a Debian TTS engine and voice (festival: an installed
    voice such as ``ked_diphone``; flite: any ``flite -lv`` voice); the engine's default voice without one."""
    import soundfile

    tool = "text2wave" if engine == "festival" else "flite"
    if shutil.which(tool) is None:
        raise RuntimeError(f"'{tool}' is not installed; the embedded speech needs Debian's {DEBIAN_PACKAGES} "
                           "(bash scripts/setup.sh installs them)")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        if engine == "festival":
            src = Path(tmp) / "text.txt"
            src.write_text(text)
            cmd = ["text2wave", "-eval", f"(voice_{voice or FESTIVAL_VOICE})", str(src), "-o", str(raw)]
        else:
            cmd = ["flite", *(["-voice", voice] if voice else []), "-t", text, "-o", str(raw)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0 or not raw.exists():
            raise RuntimeError(f"{tool} failed on {text!r}: {result.stderr.strip()[:200]}")
        soundfile.write(out_wav, load_audio(raw), SAMPLE_RATE)


def embedded_speech(progress: bool = True) -> list[SpeechExample]:
    """The synthesised sentences, built once into the cache."""

    target = cache_path("data", "speech-en-v1")
    manifest = target / "manifest.jsonl"
    if not manifest.exists():
        sentences = [s.strip() for s in SENTENCES.read_text().splitlines() if s.strip()]
        with building(target) as tmp:
            rows = []
            for i, sentence in enumerate(tqdm(sentences, desc="synthesising speech", disable=not progress)):
                engine = ENGINES[i % len(ENGINES)]
                name = f"{i:03d}-{engine}.wav"
                synthesise(sentence, engine, tmp / name)
                rows.append({"audio": name, "text": sentence, "source": engine})
            (tmp / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return read_manifest(manifest)


def alsa_clips() -> list[SpeechExample]:
    """alsa-utils' recorded channel names ("Front Left" ...): real human speech, 8 clips."""
    clips = sorted(p for p in ALSA_DIR.glob("*.wav") if p.stem != "Noise")
    return [SpeechExample(p, p.stem.replace("_", " "), "alsa") for p in clips]


def read_manifest(path: str | Path, audio_column: str = "audio", text_column: str = "text") -> list[SpeechExample]:
    """A CSV (columns audio,text) or JSONL ({"audio": ..., "text": ...}) list; paths relative to it.

    Other column names are read when given, e.g. ``path`` and ``sentence`` for a Common Voice TSV
    turned into CSV.
    """
    path = require_file(path, "transcript manifest")
    if path.suffix.lower() == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    elif path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(path.read_text().splitlines()))
    else:
        raise ValueError(f"transcript manifest {path} must be .csv or .jsonl")
    if not rows:
        raise ValueError(f"transcript manifest {path} has no entries")
    examples = []
    for i, row in enumerate(rows, 1):
        if audio_column not in row or text_column not in row:
            raise ValueError(f"{path} entry {i} needs {audio_column!r} and {text_column!r} fields, has "
                             f"{', '.join(map(str, row))} (choose with --audio-column/--text-column)")
        audio = (path.parent / str(row[audio_column])).resolve()
        if not audio.is_file():
            raise ValueError(f"{path} entry {i}: audio file {audio} does not exist")
        if not str(row[text_column] or "").strip():
            raise ValueError(f"{path} entry {i}: empty transcript for {audio}")
        examples.append(SpeechExample(audio, str(row[text_column]).strip(), row.get("source", "user")))
    return examples


def split_speech(examples: list[SpeechExample], seed: int = SPLIT_SEED) -> dict[str, list[SpeechExample]]:
    """Disjoint calibration and validation of fixed sizes by a seeded permutation; test takes the rest."""
    return seeded_splits(examples, SPEECH_SPLITS, rest="test", seed=seed)


@dataclass(frozen=True)
class SpeechDataSpec(DataSourceSpec):
    """``embedded``, a manifest file (.csv/.jsonl), or a ``datasets`` audio dataset for hub users.

    The split defaults to ``test``, the columns to ``audio`` and ``text``; see DataSourceSpec for
    options a source would ignore.
    """

    audio_column: str | None = None
    text_column: str | None = None
    FILE_SUFFIXES: ClassVar[tuple[str, ...]] = (".csv", ".jsonl")
    COLUMNS: ClassVar[dict[str, tuple[str, str]]] = {"audio_column": ("--audio-column", "audio"),
                                                     "text_column": ("--text-column", "text")}

    @property
    def audio(self) -> str:
        return self.column("audio_column")

    @property
    def text(self) -> str:
        return self.column("text_column")

    def describe(self) -> str:
        if self.source == "embedded":
            return (f"embedded: {len(SENTENCES.read_text().split(chr(10)))} sentences by festival ({FESTIVAL_VOICE}) "
                    f"and flite, 16 kHz, seed {SPLIT_SEED}; plus 8 alsa-utils clips")
        return f"{self.source} ({self.config or ''}) audio={self.audio} text={self.text}"


def _from_hub(spec: SpeechDataSpec) -> list[SpeechExample]:
    """Write a hub audio dataset's clips as 16 kHz WAVs into the cache, once, and list them."""
    import datasets
    import soundfile

    name = f"hub-{spec.source}-{spec.config or 'default'}-{spec.split or 'test'}".replace("/", "_")
    target = cache_path("data", name)
    if not (target / "manifest.jsonl").exists():
        ds = load_hub_dataset(spec.source, spec.config, spec.split or "test",
                              fix="pass a local manifest (.csv or .jsonl), or 'embedded'")
        missing = [c for c in (spec.audio, spec.text) if c not in ds.column_names]
        if missing:
            raise ValueError(f"dataset {spec.source}[{spec.split or 'test'}] has no column {missing[0]!r}; columns are "
                             f"{', '.join(ds.column_names)} (choose with --audio-column/--text-column)")
        ds = ds.cast_column(spec.audio, datasets.Audio(sampling_rate=SAMPLE_RATE))
        with building(target) as tmp:
            rows = []
            for i, row in enumerate(ds):
                soundfile.write(tmp / f"{i:05d}.wav", row[spec.audio]["array"], SAMPLE_RATE)
                rows.append({"audio": f"{i:05d}.wav", "text": row[spec.text], "source": spec.source})
            (tmp / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return read_manifest(target / "manifest.jsonl")


def load_speech_splits(spec: SpeechDataSpec, progress: bool = True) -> dict[str, list[SpeechExample]]:
    spec.check_options()
    kind = spec.kind()
    if kind == "embedded":
        splits = split_speech(embedded_speech(progress))
        splits["real"] = alsa_clips()
        return splits
    if kind == "file":
        return split_speech(read_manifest(spec.source, spec.audio, spec.text))
    return split_speech(_from_hub(spec))
