"""Where a family's model and data come from: seeded splits, the --dataset string (embedded, a file, a hub
dataset) and --model (a local directory or a hub id), each failing in one line that says why."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np

from ovrecipes.core import hub
from ovrecipes.core.openvino import read_model
from ovrecipes.pipelines.model_dirs import openvino_files


def seeded_splits(items: list, sizes: dict[str, int], rest: str, seed: int, minimum: int = 3) -> dict[str, list]:
    """Disjoint splits by a seeded permutation, in the order of ``sizes``; ``rest`` takes what is left.

    Small sets (a user's file) shrink the fixed sizes so they use at most half the items, and every
    sized split keeps at least one item. The same seed always gives the same split.
    """
    n = len(items)
    if n < minimum:
        raise ValueError(f"need at least {minimum} examples to make {', '.join([*sizes, rest])} splits, got {n}")
    wanted = sum(sizes.values()) or 1
    scale = min(1.0, 0.5 * n / wanted)
    order = np.random.RandomState(seed).permutation(n)
    splits: dict[str, list] = {}
    start = 0
    for name, size in sizes.items():
        count = max(1, int(size * scale)) if size else 0
        splits[name] = [items[i] for i in order[start : start + count]]
        start += count
    splits[rest] = [items[i] for i in order[start:]]
    return splits


def take_split(splits: dict[str, list], split: str, limit: int | None = None) -> list:
    """The first ``limit`` items of one split (all of them for ``None``/0), with a one-line error for a bad name."""
    if split not in splits:
        raise ValueError(f"split must be one of {', '.join(splits)}: got {split!r}")
    items = splits[split]
    return items[:limit] if limit else items


#: what the hub accepts as a model id: "name" or "org/name" of word characters, '-' and '.'
HUB_ID = re.compile(r"^(?:[\w][\w.-]*/)?[\w][\w.-]*$")


def is_hub_id(text: str) -> bool:
    """Whether a --model/--dataset string can name a hub repository (else it can only be a local path)."""
    return bool(HUB_ID.match(text)) and ".." not in text and "--" not in text and not text.endswith(".")


SOURCE_KINDS = {"embedded": "the embedded data set", "file": "a local file", "hub": "a hub dataset"}


@dataclass(frozen=True)
class DataSourceSpec:
    """What every family's data spec shares: a --dataset string (``embedded``, a local file, or a
    ``datasets`` name), the hub-only ``config`` and ``split``, and named columns.

    Options left None take their defaults. One the source would silently drop (a column flag with
    the embedded set, ``--split`` with a local file) is refused by :meth:`check_options`, so that a
    run never looks as if it used what the user asked for.
    """

    source: str = "embedded"
    config: str | None = None
    split: str | None = None
    #: a file's suffixes, e.g. (".csv", ".jsonl")
    FILE_SUFFIXES: ClassVar[tuple[str, ...]] = ()
    #: column field -> (its flag, its default)
    COLUMNS: ClassVar[dict[str, tuple[str, str]]] = {}

    def column(self, field: str) -> str:
        return getattr(self, field) or self.COLUMNS[field][1]

    def kind(self) -> str:
        """``embedded``, ``file`` or ``hub``. A string with a file suffix, an existing path, or one that
        cannot be a hub name ('/data/x.txt', '../clips') is a file, so a missing path fails as one."""
        if self.source == "embedded":
            return "embedded"
        path = Path(self.source)
        if path.suffix.lower() in self.FILE_SUFFIXES or path.exists() or not is_hub_id(self.source):
            return "file"
        return "hub"

    def check_options(self) -> None:
        """A one-line error for an option given (not None) with a source it has no effect on."""
        kind = self.kind()
        options = {"--dataset-config": (self.config, ("hub",)), "--split": (self.split, ("hub",)),
                   **{flag: (getattr(self, f), ("file", "hub")) for f, (flag, _) in self.COLUMNS.items()}}
        for flag, (value, kinds) in options.items():
            if value is not None and kind not in kinds:
                raise ValueError(f"{flag} {value!r} has no effect with --dataset {self.source} ({SOURCE_KINDS[kind]}): "
                                 f"it applies only to {' or '.join(SOURCE_KINDS[k] for k in kinds)}")


def local_or_hub(source: str, accepts: Callable[[str | None], str | None] | None = None) -> str | Path:
    """A local model directory (it must hold config.json; its IRs must read), or a hub id whose
    config.json can be fetched (its cached snapshot directory when the hub is out of reach).

    ``accepts`` gets config.json's model_type and returns why the family cannot take it (None: it can),
    so that a model of another family fails here, before an exporter deep inside optimum refuses it.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ValueError(f"model directory {source} has no config.json")
        for xml in openvino_files(path):
            read_model(xml)  # a broken IR fails here, in one line naming the file
        resolved: str | Path = path
    elif path.exists():
        raise ValueError(f"model {source!r} is a file; pass a model directory or a hub id")
    elif not is_hub_id(source):
        raise ValueError(f"model {source!r}: no such directory, and it is not a Hugging Face hub id either "
                         "(those look like 'org/name')")
    else:
        resolved = hub.require_hub_model(source)  # a hub id, or its cached snapshot when the hub is out of reach
    if accepts is not None:
        check_model_type(resolved, accepts, name=source)
    return resolved


def check_model_type(model: str | Path, accepts: Callable[[str | None], str | None], name: str | None = None) -> None:
    """A one-line error when config.json's model_type is one that ``accepts`` refuses (see local_or_hub)."""
    config = hub.config_file(model)
    model_type = json.loads(config.read_text()).get("model_type") if config and config.is_file() else None
    problem = accepts(model_type)
    if problem:
        raise ValueError(f"model {name or model} is a {model_type!r} model: {problem}")
