"""The contract between a recipe and a model family.

A recipe only talks to a :class:`FamilyPipeline`; it never knows which family it holds. A family
knows its model inputs, data and metric, and nothing about compression techniques. The values they
hand each other are in :mod:`~ovrecipes.pipelines.types`; where models and data come from, in
:mod:`~ovrecipes.pipelines.sources` and :mod:`~ovrecipes.pipelines.model_dirs`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np

from ovrecipes.pipelines import onnx_runtime, torch_runner
from ovrecipes.pipelines.model_dirs import engine_of_dir, is_onnx_dir, is_openvino_dir
from ovrecipes.pipelines.types import (
    BenchTarget,
    Block,
    ItemRunner,
    Metric,
    Peer,
    Submodel,
    TeacherInputs,
    TrainerData,
    ValidationSet,
    Workload,
)


@dataclass(frozen=True)
class FamilyOption:
    """One option a family takes (its model, data, export), declared as data: the command line makes it a
    flag (``max_length`` becomes ``--max-length``), the Python API a keyword argument of ``family()``."""

    name: str
    help: str
    default: Any = None
    parse: Callable[[str], Any] | None = None  # text -> value; ValueError naming the bad text
    choices: tuple[str, ...] | None = None
    switch: bool = False  # given or not (False by default), no value
    required: bool = False  # no default: the command line and family() refuse to go on without it
    group: str | None = None  # a heading for related options; None: the family's model and data
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class FamilySpec:
    """How a family presents itself, declared once in the family's own module.

    ``options`` are its model/data options as data; ``make_pipeline`` builds the pipeline from an
    object carrying one attribute per option (parsed flags, or the API's keyword arguments over the
    defaults). Capabilities say which generic recipes apply.
    """

    name: str
    help: str
    options: tuple[FamilyOption, ...]
    make_pipeline: Callable[[Any], "FamilyPipeline"]
    supports_jpqd: bool = False  # trainer_data, training_outputs, transformer_blocks ... are implemented
    serves_workload: bool = False  # workload() replays its real inputs (bench --inputs)
    #: every model directory carries what the data needs (BERT: its tokenizer), so ``compare`` without
    #: ``--model`` reads the data through the first compared directory instead of building the default
    compare_reads_model_dirs: bool = False

    def defaults(self) -> dict[str, Any]:
        """Every option's default, by name."""
        return {o.name: False if o.switch else o.default for o in self.options}


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

    def prepare(self) -> "FamilyPipeline":
        """The explicit model-preparation step: build what the model source needs before anything reads it
        (an embedded default fine-tuned, a new model trained; once, then cached), logging what it does,
        and return the pipeline. Reading :attr:`model_path` never trains: before this step it fails in
        one line saying to prepare. A family whose sources need no building has nothing to do here."""
        return self

    def resolve(self) -> "FamilyPipeline":
        """Prepare the model (:meth:`prepare`) and check the source now, so that a bad ``--model`` fails
        before a run starts any stage; returns the pipeline."""
        self.prepare()
        _ = self.model_path
        return self

    def settings_key(self) -> str | None:
        """This model's key in a recipe file's ``per_model`` table, for settings chosen per model size
        (None: the family's defaults apply). Call after :meth:`resolve`."""
        return None

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

    def bench_target(self, model_dir: Path, *, precision: str | None = None, runner: str | None = None,
                     threads: int | None = None) -> BenchTarget:
        """What a throughput/latency session times for a model directory (see :class:`BenchTarget`).

        OpenVINO: the first submodel on :meth:`benchmark_inputs` (the engine compiles it with the
        session's options); ONNX Runtime and PyTorch: that input through the model in a loop.
        """
        model_dir = Path(model_dir)
        sub = self.submodels()[0]
        inputs = self.benchmark_inputs()[sub.name]
        if is_openvino_dir(model_dir):
            return BenchTarget("openvino", ir=model_dir / sub.filename, inputs=inputs)
        if is_onnx_dir(model_dir):
            return onnx_runtime.Session(model_dir, threads).bench_target(inputs)
        module, torch_inputs = self.torch_model(model_dir)
        return torch_runner.bench_target(module, torch_inputs)

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
        serve, used = torch_runner.serve(module)
        return ItemRunner(serve, "pytorch", used, "f32")
