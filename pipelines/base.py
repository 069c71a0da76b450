"""The contract between a recipe and a model family.

A recipe only talks to a :class:`FamilyPipeline`; it never knows which family it holds. A family
knows its model inputs, data and metric, and nothing about compression techniques.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable

import numpy as np

OV_MODEL_SUFFIX = ".xml"


@dataclass(frozen=True)
class Submodel:
    """One IR file of a family's OpenVINO directory that a recipe may compress."""

    name: str  # e.g. "model", "encoder", "decoder_with_past"
    filename: str  # e.g. "openvino_model.xml"
    model_type: str | None = None  # NNCF ModelType value ("transformer") or None
    quantize_by_default: bool = True


@dataclass(frozen=True)
class Metric:
    """A family's quality number on one split, e.g. accuracy 86.5 (%) on 2,000 sentences."""

    name: str
    value: float
    samples: int
    higher_is_better: bool = True
    unit: str = "%"
    extra: dict[str, float] | None = None  # related numbers for the report, e.g. recall@2/4/8
    info: dict[str, str] | None = None  # facts of the run that are not numbers, e.g. engine, inference precision

    def to_dict(self) -> dict:
        return asdict(self)

    def drop_from(self, reference: "Metric") -> float:
        """Points lost against a reference (positive = worse), whatever the metric's direction."""
        diff = reference.value - self.value
        return diff if self.higher_is_better else -diff


@dataclass(frozen=True)
class Block:
    """One transformer layer as structured pruning sees it: module names of the attention projections
    (q/k/v rows and o columns belong to heads) and of the FFN (ffn_in rows and ffn_out columns belong
    to units). A family finds these in its architecture; training recipes never name one."""

    layer: int
    num_heads: int
    head_size: int
    q: str
    k: str
    v: str
    o: str
    ffn_in: str
    ffn_out: str


@dataclass
class TrainerData:
    """What transformers' Trainer needs from a family: tokenized train/eval datasets and a collator."""

    train: Any
    eval: Any
    collator: Callable[[list], dict]


@dataclass
class ValidationSet:
    """What NNCF's accuracy control needs for one submodel: items and a metric over them."""

    items: list[Any]
    transform: Callable[[Any], Any]  # item -> model inputs (for calibration from the same items)
    metric: Callable[[Any, Iterable[Any]], float]  # (compiled model, items) -> metric value


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


def local_or_hub(source: str) -> str | Path:
    """A local model directory (it must hold config.json), or the string itself as a hub id."""
    path = Path(source)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ValueError(f"model directory {source} has no config.json")
        return path
    if path.exists():
        raise ValueError(f"model {source!r} is a file; pass a model directory or a hub id")
    return source  # a hub id, for users who can reach the hub


def is_openvino_dir(path: str | Path) -> bool:
    path = Path(path)
    return path.is_dir() and any(p.suffix == OV_MODEL_SUFFIX for p in path.iterdir())


def copy_model_dir(src: Path, dst: Path, skip: Iterable[str] = ()) -> None:
    """Copy a model directory's top-level files (configs, tokenizer, IRs) except ``skip``.

    Subdirectories (a reference FP32 copy, plots) are not part of the model and are left out.
    """
    skip = set(skip)
    dst.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.is_file() and item.name not in skip:
            shutil.copy2(item, dst / item.name)


class FamilyPipeline(ABC):
    """One model family for one model source and one data source.

    Model paths handed to :meth:`evaluate` and :meth:`benchmark` can be an OpenVINO directory (HF
    layout, as written by :meth:`export` or a recipe) or a PyTorch/HF directory.
    """

    family: ClassVar[str]
    metric_name: ClassVar[str]
    #: progress bars while evaluating, calibrating and training (tests switch them off)
    progress: bool = True

    @property
    @abstractmethod
    def model_path(self) -> str | Path:
        """The model source resolved: a local directory (PyTorch/HF or OpenVINO), or a hub id."""

    @abstractmethod
    def describe(self) -> dict:
        """Model source, data source and split sizes, for reports."""

    @abstractmethod
    def export(self, out_dir: Path) -> Path:
        """Write the FP32 OpenVINO IR directory (HF layout) and return it."""

    @abstractmethod
    def submodels(self) -> list[Submodel]:
        """The IR files of an exported directory, with their NNCF model type."""

    @abstractmethod
    def calibration_data(self, model_dir: Path, n: int) -> dict[str, Any]:
        """An ``nncf.Dataset`` per submodel name, from the calibration split."""

    @abstractmethod
    def evaluate(self, model_dir: Path, split: str = "test", limit: int | None = None) -> Metric:
        """The family's metric on a split for an OpenVINO or PyTorch model directory."""

    @abstractmethod
    def benchmark_inputs(self) -> dict[str, dict[str, np.ndarray]]:
        """Realistic inputs (one batch) per submodel for throughput/latency runs."""

    @abstractmethod
    def torch_model(self, model_dir: Path | None = None) -> tuple[Any, dict[str, Any]]:
        """The PyTorch baseline module and one batch of inputs for it."""

    def torch_source(self) -> str | Path:
        """The PyTorch/HF model (directory or hub id) behind the pipeline, for side-by-side comparisons."""
        path = self.model_path
        if is_openvino_dir(path):
            raise ValueError(f"{path} is an OpenVINO directory; a PyTorch baseline needs a PyTorch model")
        return path

    def scope_presets(self) -> dict[str, dict]:
        """Named op selections a recipe may keep in FP32: {"name": {"types": [...], "patterns": [...]}}.

        An op is selected when its type is in ``types`` (if given) AND its name ``re.match``es one of
        ``patterns`` (if given), so a preset can name a subgraph without fixed node names;
        ``"from_outputs": True`` also selects the ops of ``types`` that end the graph, whatever their
        names (see ``ovrecipes.recipes.scope_search.preset_nodes``).
        """
        return {}

    # -- training recipes (JPQD) ----------------------------------------------------------------
    def _no_training(self, what: str) -> ValueError:
        return ValueError(f"{what} is not available for the {self.family} family")

    def trainer_data(self, limit: int | None = None) -> TrainerData:
        """Tokenized train/eval datasets and a collator for transformers' Trainer (training recipes)."""
        raise self._no_training("training")

    def training_outputs(self, outputs: Any) -> tuple[Any, Any]:
        """(task loss, the output to distil) from a forward pass on a Trainer batch with labels.

        The same call on a teacher's outputs (no labels: loss None) gives the distillation target.
        """
        raise self._no_training("training")

    def training_metrics(self, prediction: Any) -> dict[str, float]:
        """The family's metric on the Trainer's eval predictions (``compute_metrics``)."""
        raise self._no_training("training")

    def export_input_shapes(self) -> dict[str, list[int]]:
        """Input name -> IR dimensions (-1 = dynamic) for a trained PyTorch model converted to IR."""
        raise self._no_training("export of a trained model")

    def transformer_blocks(self, model: Any) -> list[Block]:
        """The model's transformer layers for structured pruning (heads and FFN units)."""
        raise self._no_training("structured pruning")

    def validation_set(self, submodel: str, n: int) -> ValidationSet:
        """Items and metric for NNCF accuracy control on one submodel; not every family has one."""
        raise ValueError(
            f"accuracy control (--max-drop) is not available for the {self.family} family: its metric "
            "needs the whole pipeline, not one submodel"
        )

    def benchmark(self, model_dir: Path, **bench_args: Any):
        """Throughput/latency of a model directory on :meth:`benchmark_inputs` (first submodel)."""
        from ovrecipes.pipelines import runtime

        model_dir = Path(model_dir)
        if is_openvino_dir(model_dir):
            sub = self.submodels()[0]
            inputs = self.benchmark_inputs()[sub.name]
            shape = {k: list(v.shape) for k, v in inputs.items()}
            return runtime.benchmark_openvino(model_dir / sub.filename, inputs, shape=shape, **bench_args)
        module, inputs = self.torch_model(model_dir)
        return runtime.bench_pytorch(module, inputs, time_s=bench_args.get("time_s", 10.0))
