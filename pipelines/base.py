"""The contract between a recipe and a model family.

A recipe only talks to a :class:`FamilyPipeline`; it never knows which family it holds. A family
knows its model inputs, data and metric, and nothing about compression techniques.
"""

from __future__ import annotations

import json
import re
import shutil
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable

import numpy as np

from ovrecipes.pipelines import hub, onnx_runtime, runtime

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
class Peer:
    """Another runtime's model on the same job, measured in the same table (e.g. faster-whisper)."""

    label: str
    path: Path
    precision: str | None = None  # that runtime's own precision name (e.g. int8, float32)
    runner: str | None = None  # how the family runs it (passed to evaluate/bench_session)
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


@dataclass(frozen=True)
class FamilySpec:
    """How a family presents itself to the command line, declared once in the family's own module.

    ``add_options`` adds its model/data options to a parser; ``make_pipeline`` builds the pipeline
    from the parsed options; ``add_commands`` adds family-only subcommands next to its recipes (each
    sets a ``handler`` default). Capabilities say which generic recipes apply.
    """

    name: str
    help: str
    add_options: Callable[[Any], None]
    make_pipeline: Callable[[Any], "FamilyPipeline"]
    add_commands: Callable[[Any], None] | None = None
    supports_jpqd: bool = False  # trainer_data, training_outputs, transformer_blocks ... are implemented
    serves_workload: bool = False  # workload() replays its real inputs (bench --inputs)


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
            runtime.read_model(xml)  # a broken IR fails here, in one line naming the file
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


def openvino_files(path: str | Path) -> list[Path]:
    """The model IRs of an OpenVINO directory (tokenizer IRs need their extension and are left out)."""
    return sorted(p for p in Path(path).glob("openvino*.xml") if "tokenizer" not in p.name)


def display_name(path: str | Path) -> str:
    """A model directory's name for progress bars: a staging directory shows the name it will get."""
    name = Path(str(path)).name
    match = re.match(r"^\.(.+)\.partial-", name)
    return match.group(1) if match else name


def is_openvino_dir(path: str | Path) -> bool:
    path = Path(path)
    return path.is_dir() and any(p.suffix == OV_MODEL_SUFFIX for p in path.iterdir())


def is_onnx_dir(path: str | Path) -> bool:
    """A directory holding an ONNX model for ONNX Runtime (a peer row), and no OpenVINO IR."""
    return (Path(path) / onnx_runtime.ONNX_FILENAME).is_file() and not is_openvino_dir(path)


def engine_of_dir(path: str | Path) -> str:
    """The runtime a model directory runs on by default: openvino, onnxruntime or pytorch."""
    return "openvino" if is_openvino_dir(path) else "onnxruntime" if is_onnx_dir(path) else "pytorch"


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
    #: whether :meth:`workload` replays the family's real inputs (side-by-sides then serve them too)
    serves_workload: ClassVar[bool] = False
    #: progress bars while evaluating, calibrating and training (tests switch them off)
    progress: bool = True

    @property
    @abstractmethod
    def model_path(self) -> str | Path:
        """The model source resolved: a local directory (PyTorch/HF or OpenVINO), or a hub id."""

    def model_type_problem(self, model_type: str | None) -> str | None:
        """Why this family cannot take a model whose config.json has this model_type (None: it can, or
        the type is unknown); checked before anything loads the model."""
        return None

    def openvino_problem(self) -> str | None:
        """Why this pipeline, as configured, cannot measure an OpenVINO model directory (None: it can);
        a recipe that writes OpenVINO models checks it before its first stage."""
        return None

    def check_model_dir(self, model_dir: Path) -> None:
        """Fail now if a model directory measured with this pipeline's data and options (``compare``)
        cannot take them; the default checks nothing."""

    def resolve(self) -> "FamilyPipeline":
        """Resolve the model source now (building an embedded default if needed), so that a bad
        ``--model`` fails before a run starts any stage; returns the pipeline."""
        _ = self.model_path
        return self

    @abstractmethod
    def describe(self) -> dict:
        """Model source, data source and split sizes, for reports."""

    @abstractmethod
    def export(self, out_dir: Path) -> Path:
        """Write the FP32 OpenVINO IR directory (HF layout) and return it."""

    def submodel_names(self) -> list[str]:
        """Every submodel name the family has in any export mode: a recipe config may hold options
        for all of them (Whisper's names decoder_with_past, which only a stateless export has)."""
        return [s.name for s in self.submodels()]

    @abstractmethod
    def submodels(self) -> list[Submodel]:
        """The IR files of an exported directory, with their NNCF model type."""

    @abstractmethod
    def calibration_data(self, model_dir: Path, n: int) -> dict[str, Any]:
        """An ``nncf.Dataset`` per submodel name, from the calibration split."""

    @abstractmethod
    def evaluate(self, model_dir: Path, split: str = "test", limit: int | None = None, *,
                 precision: str | None = None) -> Metric:
        """The family's metric on a split for an OpenVINO or PyTorch model directory.

        ``precision`` pins OpenVINO's INFERENCE_PRECISION_HINT ("f32", "bf16", "f16"); None or
        "default" leaves the plugin's choice (bf16 on AVX512_BF16/AMX CPUs). PyTorch ignores it.
        """

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

    def teacher_inputs(self, teacher: Path, limit: int | None = None) -> TeacherInputs:
        """The train split (first ``limit`` examples) encoded for ``teacher``; a ValueError if the
        teacher's label space differs from the student's (distillation compares outputs position by position)."""
        raise self._no_training("distillation")

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

    def engine_of(self, model_dir: str | Path) -> str:
        """The runtime a model directory runs on: openvino (an IR directory), onnxruntime, or pytorch."""
        return engine_of_dir(model_dir)

    def peers_problem(self) -> str | None:
        """Why this family's peer rows cannot be measured here (no peers, a missing optional extra, a model
        they cannot be made from); None when they can. Checked before a run's first stage."""
        return f"the {self.family} family has no peer runtime to compare with"

    def peers(self, work_dir: Path) -> list[Peer]:
        """Other runtimes' models for the same job (``--compare-peers``); those that must be made (an ONNX
        export, another quantizer's INT8) are built into ``work_dir``."""
        raise ValueError(self.peers_problem() or f"the {self.family} family has no peers")

    def bench_session(self, model_dir: Path, *, precision: str | None = None, **bench_args: Any):
        """A reusable throughput/latency session (``.run(time_s)``, ``.precision``) for a model directory.

        OpenVINO: the first submodel on :meth:`benchmark_inputs`, compiled once with ``bench_args``
        (hint, streams, threads) and ``precision``; PyTorch: a synchronous loop over the module.
        """
        model_dir = Path(model_dir)
        if is_openvino_dir(model_dir):
            sub = self.submodels()[0]
            inputs = self.benchmark_inputs()[sub.name]
            shape = {k: list(v.shape) for k, v in inputs.items()}
            return runtime.OpenVINOBench(model_dir / sub.filename, inputs, shape=shape, precision=precision,
                                         **bench_args)
        if is_onnx_dir(model_dir):
            session = onnx_runtime.Session(model_dir, bench_args.get("threads"))
            return session.bench(self.benchmark_inputs()[self.submodels()[0].name])
        module, inputs = self.torch_model(model_dir)
        return runtime.pytorch_bench(module, inputs)

    # -- real-workload replay ------------------------------------------------------------------
    def workload(self, split: str = "test", limit: int | None = None) -> Workload:
        """The first ``limit`` inputs of a split as a deployment serves them (see :class:`Workload`)."""
        raise ValueError(f"the {self.family} family has no real-workload replay")

    def workload_runner(self, model_dir: Path, *, precision: str | None = None, runner: str | None = None,
                        threads: int | None = None) -> ItemRunner | None:
        """How a model directory serves one :meth:`workload` item. None for an OpenVINO directory: the
        measuring layer replays its first submodel's IR itself, under each shape policy. An ONNX
        directory runs in ONNX Runtime, anything else as the PyTorch module."""
        model_dir = Path(model_dir)
        if is_openvino_dir(model_dir):
            return None
        if is_onnx_dir(model_dir):
            session = onnx_runtime.Session(model_dir, threads)
            return ItemRunner(session.run, "onnxruntime", session.threads, session.precision)
        module, _ = self.torch_model(model_dir)
        serve, used = runtime.pytorch_serve(module)
        return ItemRunner(serve, "pytorch", used, "f32")
