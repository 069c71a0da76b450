"""The values a family and a recipe hand each other: submodels, metrics, peers, workloads, benchmark
targets, transformer blocks and training data. Plain data, no behaviour that needs a model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np


@dataclass(frozen=True)
class Submodel:
    """One IR file of a family's OpenVINO directory that a recipe may compress."""

    name: str  # e.g. "model", "encoder", "decoder_with_past"
    filename: str  # e.g. "openvino_model.xml"
    model_type: str | None = None  # NNCF ModelType value ("transformer") or None
    quantize_by_default: bool = True


#: the fewest samples two counted metrics must be apart before a difference is evidence (Metric.tells_apart)
MIN_SAMPLES_APART = 6


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
    #: the same metric on named conditions beside the split (e.g. held-out voices, noise at 10 dB): a drop
    #: that hides in the split's average shows here, and the recommendation holds every condition to its budget
    conditions: dict[str, float] | None = None
    #: ``value`` is the percentage of ``samples`` scored right (accuracy, recall@1), so two values differ
    #: by whole samples and a small difference can be weighed (:meth:`tells_apart`); False for a rate
    #: over other units (a word error rate over words)
    counted: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    def tells_apart(self, other: "Metric") -> bool:
        """Whether the split can tell this value from ``other``'s. Counted metrics of two models scored on
        the same samples differ by d samples only where at least d samples disagree, and McNemar's exact
        test can then call the models different at 5% only when d >= ``MIN_SAMPLES_APART`` (two-sided
        p = 2 * 0.5**d: 0.031 at 6, 0.063 at 5). So fewer samples apart is no evidence, whatever the pairing.
        Other metrics: any difference counts."""
        diff = abs(self.value - other.value)
        if not (self.counted and other.counted):
            return diff > 1e-9
        return round(diff * min(self.samples, other.samples) / 100.0) >= MIN_SAMPLES_APART

    def drop_from(self, reference: "Metric") -> float:
        """Points lost against a reference (positive = worse), whatever the metric's direction."""
        return self.drop_of(reference.value, self.value)

    def worst_drop_from(self, reference: "Metric") -> tuple[float, str | None]:
        """The largest drop over the split and every condition both metrics carry, with that condition's
        name (None when the split itself is the worst)."""
        drops = [(self.drop_from(reference), None)]
        theirs = reference.conditions or {}
        drops += [(self.drop_of(theirs[name], value), name)
                  for name, value in (self.conditions or {}).items() if name in theirs]
        return max(drops, key=lambda d: d[0])

    def drop_of(self, reference_value: float, value: float) -> float:
        """Points ``value`` is worse than ``reference_value`` in this metric's direction."""
        diff = reference_value - value
        return diff if self.higher_is_better else -diff


@dataclass(frozen=True)
class Peer:
    """Another runtime's model on the same job, measured in the same table (e.g. faster-whisper)."""

    label: str
    path: Path
    precision: str | None = None  # that runtime's own precision name (e.g. int8, float32)
    runner: str | None = None  # how the family runs it (passed to evaluate/bench_target)
    note: str = ""  # where its metric differences come from, for the report


@dataclass
class Workload:
    """A family's real inputs as a deployment serves them: one request per input, in input order, each at
    its natural size (a sentence's own token count, not the padded benchmark shape).

    ``items[i]`` is what one request sends ({input name: array with batch 1} for an IR; a family's own
    object, such as decoded audio, when it serves through :meth:`FamilyPipeline.workload_runner`).
    ``prepare_s[i]`` is what making ``items[i]`` from the raw input cost (tokenization, image
    preprocessing), reported beside the inference time and never inside it.
    """

    unit: str  # what one item is, plural: "sentences", "images", "clips"
    items: list[Any]
    prepare_s: list[float]
    sizes: list[int]  # each item's natural size along its variable axis (tokens, pixels, samples)
    #: inputs whose last axis varies between items, with the value that pads them (empty: fixed shapes)
    pad_values: dict[str, int] = field(default_factory=dict)
    max_size: int | None = None  # the longest size the run allows (--max-length): a padded policy's shape

    @property
    def variable(self) -> bool:
        """Whether items differ in shape, so that a shape policy (own shape, padded, buckets) is a choice."""
        return bool(self.pad_values) and len(set(self.sizes)) > 1


@dataclass
class ItemRunner:
    """How a model that is not replayed as one IR (PyTorch, ONNX Runtime, a whole speech pipeline) serves
    one workload item; ``concurrent`` says whether several clients may call ``serve`` at once."""

    serve: Callable[[Any], Any]
    engine: str
    threads: int | None
    precision: str | None  # what ran ("f32", "int8", ...), for the report
    concurrent: bool = True


@dataclass
class BenchTarget:
    """What the measuring layer times for one model directory: the family says what to run, the benchmark
    engine (:mod:`ovrecipes.measure.engine`) says how.

    An OpenVINO target is an IR on fixed inputs, compiled by the engine with the session's hint,
    streams, threads and precision; any other engine is ``call``, one inference per call, timed in a
    synchronous loop.
    """

    engine: str  # "openvino", "onnxruntime", "pytorch", "genai", ...
    ir: Path | None = None
    inputs: dict[str, Any] | None = None  # the IR's inputs (static shapes)
    call: Callable[[], object] | None = None
    shapes: dict[str, list[int]] = field(default_factory=dict)  # what ``call`` runs, for the report
    threads: int | None = None
    precision: dict[str, str | None] | None = None  # inference_precision / execution_mode that ``call`` runs at

    def __post_init__(self) -> None:
        if (self.ir is None) == (self.call is None):
            raise ValueError("a benchmark target is either an IR (ir=) or a callable (call=), not both or neither")


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
    #: module whose attributes record the head count; after pruning they must say what is left, or code
    #: that reshapes by them (and config round trips) would see the old width
    attention: str = ""
    head_count_attrs: tuple[str, ...] = ()  # set to the kept number of heads
    width_attrs: tuple[str, ...] = ()  # set to kept heads x head_size

    def linears(self) -> tuple[str, ...]:
        """The six projections structured pruning slices."""
        return (self.q, self.k, self.v, self.o, self.ffn_in, self.ffn_out)

    def roles(self) -> dict[str, str]:
        """Module name -> role, for role-based scopes in recipe configs (``{block}attention`` ...)."""
        return {self.q: "q", self.k: "k", self.v: "v", self.o: "o", self.ffn_in: "ffn_in", self.ffn_out: "ffn_out"}


#: Column of every training example (and key of every collated batch) holding the example's position in
#: the train split: what lets a recipe look up per-example targets (cached teacher logits) in shuffled batches.
EXAMPLE_INDEX = "example_index"


@dataclass
class TrainerData:
    """What transformers' Trainer needs from a family: tokenized train/eval datasets and a collator.

    Each collated batch carries :data:`EXAMPLE_INDEX` (a LongTensor of train-split positions; a model's
    forward must not receive it, so the recipe's loss takes it out first).
    """

    train: Any
    eval: Any
    collator: Callable[[list], dict]


class IndexedCollator:
    """Wraps a padding collator so that :data:`EXAMPLE_INDEX` survives collation as a LongTensor.

    Padding collators pad every list-valued key; the index is a scalar per example and must pass
    through untouched, whatever the inner collator does with unknown keys.
    """

    def __init__(self, inner: Callable[[list], dict]) -> None:
        self.inner = inner

    def __call__(self, features: list[dict]) -> dict:
        import torch

        indices = [f.get(EXAMPLE_INDEX) for f in features]
        batch = self.inner([{k: v for k, v in f.items() if k != EXAMPLE_INDEX} for f in features])
        if all(i is not None for i in indices):
            batch[EXAMPLE_INDEX] = torch.tensor(indices, dtype=torch.long)
        return batch


@dataclass
class TeacherInputs:
    """The training examples encoded for one teacher model with the teacher's own preprocessing.

    A teacher may differ from the student in architecture and tokenizer, so the family encodes the
    same train split again for it. Example ``i`` here is example ``i`` of ``trainer_data().train``.
    """

    count: int
    batch: Callable[[list[int]], dict[str, np.ndarray]]  # example indices -> inputs, padded to the batch
    lengths: np.ndarray  # per-example cost (tokens), so a recipe can batch similar lengths together
    fingerprint: str  # digest of the encoded examples: part of a cache key ("same data")


@dataclass
class ValidationSet:
    """What NNCF's accuracy control needs for one submodel: items and a metric over them."""

    items: list[Any]
    transform: Callable[[Any], Any]  # item -> model inputs (for calibration from the same items)
    metric: Callable[[Any, Iterable[Any]], float]  # (compiled model, items) -> metric value


class ModelNotPrepared(ValueError):
    """A model source that must be built (trained) first was read before :meth:`FamilyPipeline.prepare`."""

    def __init__(self, what: str, cost: str) -> None:
        super().__init__(f"{what} is not built yet: call prepare() on the pipeline first (it {cost}, once; "
                         "then cached), or run any ovrecipes command, which prepares it")
