"""Labelled text for classification: the embedded Rotten Tomatoes snippets, local files, or a hub dataset.

The embedded set comes from the vaderSentiment 3.3.2 *source* archive on PyPI (MIT licence; the wheel
lacks it): ``additional_resources/hutto_ICWSM_2014.tar.gz`` holds
``movieReviewSnippets_GroundTruth.txt``, 10,605 snippets rated in [-4, 4] by humans, the same source
sentences as SST-2. Labels are ``rating > 0``; snippets with ``|rating| < 0.5`` are dropped as neutral.

Every source is cut into the same four disjoint splits (train / validation / calibration / test) by
a fixed seeded permutation, so numbers in reports are reproducible; see :data:`EMBEDDED_SPLITS`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ovrecipes.core.cache import cache_path
from ovrecipes.core.hub import load_hub_dataset
from ovrecipes.pipelines.sources import DataSourceSpec, seeded_splits

VADER_VERSION = "3.3.2"
VADER_ARCHIVE = f"vaderSentiment-{VADER_VERSION}.tar.gz"
VADER_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
SNIPPETS_MEMBER = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
NEUTRAL_BAND = 0.5
SPLIT_SEED = 20240531
#: Sizes of the fixed splits of the embedded set; train gets the remainder (about 7,270 sentences).
EMBEDDED_SPLITS = {"test": 2000, "validation": 500, "calibration": 300}
SPLITS = ("train", "validation", "calibration", "test")
LABELS = ("negative", "positive")


@dataclass(frozen=True)
class TextExample:
    text: str
    label: int


def vader_archive() -> Path:
    """The vaderSentiment source archive, downloaded once from PyPI with pip into the cache."""
    target = cache_path("data", VADER_ARCHIVE)
    if target.exists():
        return target
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
           f"vaderSentiment=={VADER_VERSION}", "-d", str(target.parent)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0 or not target.exists():
        raise RuntimeError(
            f"could not download {VADER_ARCHIVE} from PyPI (needed for the embedded sentiment data); "
            f"run 'bash scripts/setup.sh' with PyPI reachable, or pass --dataset. pip said: "
            f"{result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.returncode}"
        )
    return target


def _check_sha256(path: Path) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != VADER_SHA256:
        raise RuntimeError(f"{path} has sha256 {digest}, expected {VADER_SHA256}; delete it and retry")


def read_snippets(archive: Path | None = None) -> list[tuple[int, float, str]]:
    """(id, mean rating, text) rows of the movie-review snippets, read straight from the archive."""
    archive = archive or vader_archive()
    _check_sha256(archive)
    inner_name = f"vaderSentiment-{VADER_VERSION}/additional_resources/hutto_ICWSM_2014.tar.gz"
    with tarfile.open(archive) as outer:
        inner_bytes = outer.extractfile(inner_name).read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        raw = inner.extractfile(SNIPPETS_MEMBER).read().decode("utf-8", errors="replace")
    rows = []
    for line in raw.splitlines():
        parts = line.strip().split("\t")
        if len(parts) == 3:
            rows.append((int(parts[0]), float(parts[1]), parts[2].strip()))
    return rows


def embedded_examples() -> list[TextExample]:
    """Binary sentiment examples from the snippets, in file order."""
    return [
        TextExample(text, int(rating > 0))
        for _, rating, text in read_snippets()
        if abs(rating) >= NEUTRAL_BAND
    ]


def split_examples(
    examples: list[TextExample], sizes: dict[str, int] = EMBEDDED_SPLITS, seed: int = SPLIT_SEED
) -> dict[str, list[TextExample]]:
    """Test, validation and calibration of fixed sizes by a seeded permutation; train takes the rest."""
    return seeded_splits(examples, sizes, rest="train", seed=seed, minimum=8)


@dataclass(frozen=True)
class TextDataSpec(DataSourceSpec):
    """Where labelled text comes from.

    ``source``: ``embedded``; a local ``.csv``/``.tsv``/``.json``/``.jsonl`` file; or a
    ``datasets`` name (hub users), with ``config`` and ``split`` (evaluation split, default
    ``validation``) and ``train_split`` (calibration/validation are drawn from it). Columns default
    to ``text`` and ``label``; see DataSourceSpec for options a source would ignore.
    """

    train_split: str = "train"
    text_column: str | None = None
    label_column: str | None = None
    FILE_SUFFIXES: ClassVar[tuple[str, ...]] = (".csv", ".tsv", ".json", ".jsonl")
    COLUMNS: ClassVar[dict[str, tuple[str, str]]] = {"text_column": ("--text-column", "text"),
                                                     "label_column": ("--label-column", "label")}

    @property
    def text(self) -> str:
        return self.column("text_column")

    @property
    def label(self) -> str:
        return self.column("label_column")

    def describe(self) -> str:
        if self.source == "embedded":
            return (f"embedded: Rotten Tomatoes snippets from vaderSentiment {VADER_VERSION} source archive, "
                    f"|rating|>={NEUTRAL_BAND}, seed {SPLIT_SEED}")
        extra = f" ({self.config})" if self.config else ""
        return f"{self.source}{extra} text={self.text} label={self.label}"


def _rows_to_examples(rows: list[dict], spec: TextDataSpec, where: str) -> list[TextExample]:
    if not rows:
        raise ValueError(f"{where} holds no rows")
    examples = []
    for i, row in enumerate(rows):
        absent = [c for c in (spec.text, spec.label) if c not in row]
        if absent and i == 0:
            raise ValueError(f"{where} has no column {absent[0]!r}; columns are {', '.join(map(str, row))} "
                             "(choose with --text-column/--label-column)")
        if absent:
            raise ValueError(f"{where} row {i + 1} has no {absent[0]!r}; every row needs {spec.text!r} and {spec.label!r}")
        examples.append(TextExample(str(row[spec.text]), _class_id(row[spec.label], f"{where} row {i + 1}")))
    return examples


def _class_id(value: object, where: str) -> int:
    """An integer class id: 1, "1" or 1.0; never silently 0.7 -> 0 or true -> 1."""
    try:
        number = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not number.is_integer():
        raise ValueError(f"{where}: label {value!r} is not an integer class id")
    return int(number)


def _read_local(path: Path, spec: TextDataSpec) -> list[TextExample]:
    if path.is_dir():
        raise ValueError(f"dataset {path} is a directory; pass a .csv, .tsv, .json or .jsonl file")
    if not path.is_file():
        raise ValueError(f"dataset file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".json", ".jsonl"):
        raise ValueError(f"dataset file {path} must end in .csv, .tsv, .json or .jsonl")
    try:
        text = path.read_text(encoding="utf-8")
        if suffix in (".csv", ".tsv"):
            rows = list(csv.DictReader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ","))
        elif suffix == ".jsonl":
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
            rows = data if isinstance(data, list) else data.get("data", []) if isinstance(data, dict) else None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"dataset file {path} cannot be read as {suffix[1:].upper()}: {err}") from None
    if rows is None or not all(isinstance(row, dict) for row in rows):
        raise ValueError(f"dataset file {path} must hold rows of named columns (objects, or a CSV header)")
    return _rows_to_examples(rows, spec, str(path))


def _read_hub(spec: TextDataSpec, split: str) -> list[TextExample]:
    ds = load_hub_dataset(spec.source, spec.config, split,
                          fix="pass a local .csv, .tsv, .json or .jsonl file, or 'embedded'")
    return _rows_to_examples(list(ds), spec, f"dataset {spec.source}[{split}]")


def load_splits(spec: TextDataSpec) -> dict[str, list[TextExample]]:
    """The four splits for a data source (see the module docstring)."""
    spec.check_options()
    kind = spec.kind()
    if kind == "embedded":
        return split_examples(embedded_examples())
    if kind == "file":
        return split_examples(_read_local(Path(spec.source), spec))
    # A hub dataset: keep its own evaluation split as the test set.
    test = _read_hub(spec, spec.split or "validation")
    rest = split_examples(_read_hub(spec, spec.train_split), sizes={**EMBEDDED_SPLITS, "test": 0})
    rest["test"] = test
    return rest
