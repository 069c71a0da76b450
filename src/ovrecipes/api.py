"""The public Python API: what notebooks and scripts call; the command line is a thin layer over the same runs.

The shape follows NNCF and optimum-intel: a model family's pipeline (the model and its data) and a
typed config go in, a typed :class:`~ovrecipes.report.model.Report` comes out, written to an output
directory beside the models. A report shows itself as tables in a notebook.

    import ovrecipes
    bert = ovrecipes.family("bert")                       # the embedded MiniLM sentiment model
    report = ovrecipes.ptq(bert, "int8-minilm", compare_peers=True)
    report                                                # tables and recommendations in a notebook

The sparse weight decompression tools (``sparse_stats``, ``sparse_config``, ``sparse_check``, ``sparse_sweep``,
``sparse_prune``) are defined, with their examples, in :mod:`ovrecipes.api_sparse` and exported here.

Nothing here prints; progress goes to the ``ovrecipes`` loggers (``logging.getLogger("ovrecipes")``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ovrecipes.api_sparse import sparse_check, sparse_config, sparse_prune, sparse_stats, sparse_sweep
from ovrecipes.core import openvino as ov_io
from ovrecipes.core.cpu import sparse_kernel_support, target_cpu
from ovrecipes.measure import engine
from ovrecipes.measure.deployment import Deployment
from ovrecipes.measure.serving import WorkloadOptions
from ovrecipes.measure.variants import Variant
from ovrecipes.pipelines import cgd, cgd_retrieval
from ovrecipes.pipelines.base import FamilyPipeline
from ovrecipes.pipelines.registry import FAMILIES
from ovrecipes.pipelines.registry import family as family_spec
from ovrecipes.recipes.jpqd.config import JPQDConfig
from ovrecipes.recipes.overflow import choose_overflow_fix
from ovrecipes.recipes.ptq import PTQConfig
from ovrecipes.recipes.weight_compression import WeightCompressionConfig
from ovrecipes.report.model import Report
from ovrecipes.report.writer import read_report as _read_report
from ovrecipes.runs import compare as compare_run
from ovrecipes.runs.common import MeasureOptions
from ovrecipes.runs.config import load_config
from ovrecipes.runs.ptq import run_ptq

log = logging.getLogger(__name__)

__all__ = ["family", "families", "ptq_config", "ptq", "jpqd_config", "jpqd", "compare", "compare_reports", "bench",
           "deploy", "retrieval_index", "retrieval_search", "read_report", "cpu_info", "sparse_stats", "sparse_config",
           "sparse_check", "sparse_sweep", "sparse_prune", "MeasureOptions", "WorkloadOptions", "PTQConfig", "JPQDConfig",
           "WeightCompressionConfig", "Report", "FamilyPipeline", "Deployment"]


def families() -> dict[str, dict[str, Any]]:
    """Every registered family and what it supports.

    Returns:
        ``{name: {"help": str, "jpqd": bool, "serves_workload": bool}}``.

    Example:
        >>> sorted(families())
        ['bert', 'cgd', 'whisper']
        >>> families()["bert"]["jpqd"]
        True
    """
    return {name: {"help": spec.help, "jpqd": spec.supports_jpqd, "serves_workload": spec.serves_workload}
            for name, spec in FAMILIES.items()}


def family(name: str, model: str | Path = "embedded", **options: Any) -> FamilyPipeline:
    """A model family's pipeline: the model and its data, as the command line's family options build it.

    Args:
        name: a family of :func:`families` ("bert", "whisper", "cgd").
        model: "embedded" (the offline default, built and cached on first use), a local directory
            (PyTorch/HF or OpenVINO), or a Hugging Face hub id.
        **options: the family's options by their command-line names with underscores, e.g. ``dataset``,
            ``max_length`` and ``text_column`` for BERT; ``dataset``, ``language`` for Whisper.

    Returns:
        The family's :class:`FamilyPipeline`; nothing is loaded or trained until a run needs it. The runs
        (:func:`ptq`, :func:`jpqd`, :func:`compare`) prepare it themselves; call its ``prepare()`` before
        reading it directly (``describe()``, ``tokenizer``): for the embedded default that builds the model
        once (minutes), then it is cached.

    Raises:
        ValueError: an unknown family, or an option the family does not take (the message lists them).

    Example:
        >>> bert = family("bert", max_length=32)
        >>> bert.family, bert.max_length
        ('bert', 32)
        >>> family("bert", max_len=32)
        Traceback (most recent call last):
        ...
        ValueError: the bert family takes dataset, dataset_config, label_column, max_length, split, text_column: got max_len
    """
    spec = family_spec(name)
    defaults = spec.defaults()
    allowed = sorted(k for k in defaults if k != "model")
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"the {name} family takes {', '.join(allowed)}: got {', '.join(unknown)}")
    args = SimpleNamespace(**{**defaults, **options, "model": str(model)})
    return spec.make_pipeline(args)


def ptq_config(family: str | FamilyPipeline, path: str | Path | None = None, **overrides: Any) -> PTQConfig:
    """A PTQ config for ``family`` (a name or a pipeline): the family's packaged YAML, then the file at
    ``path``, then ``overrides`` (config keys).

    Given a pipeline instead of a family name, each file's ``per_model`` settings for its model apply
    too (Whisper base keeps settings of its own; see recipes/configs/whisper-ptq.yaml).

    Raises:
        ValueError: a key or value the config does not take, with the file it came from.

    Example:
        >>> config = ptq_config("bert", preset="mixed", subset_size=100)
        >>> config.preset, config.subset_size
        ('mixed', 100)
    """
    if isinstance(family, FamilyPipeline):
        name, key = family.family, family.resolve().settings_key()
    else:
        name, key = family, None
    config, _ = load_config(PTQConfig, name, "ptq", Path(path) if path else None, overrides, model_key=key)
    return config


def ptq(pipeline: FamilyPipeline, out: str | Path, *, config: PTQConfig | None = None,
        weight_only: bool | WeightCompressionConfig = False, compare_torch: bool = False, compare_peers: bool = False,
        measure: MeasureOptions | None = None, overwrite: bool = False, title: str | None = None) -> Report:
    """Export to OpenVINO, quantize with NNCF, and measure the variants side by side.

    Args:
        pipeline: from :func:`family`.
        out: the output directory (INT8 model in HF layout, ``fp32/``, recipe.yaml, report.json/md). It
            must not exist unless ``overwrite``; it appears only when the whole run succeeded.
        config: from :func:`ptq_config` (default: the family's packaged recipe, with its settings for this model).
        weight_only: also a weight-only INT8 variant (``nncf.compress_weights``); True uses the family's
            packaged weight-compression config.
        compare_torch: also measure the PyTorch FP32 model.
        compare_peers: also the family's peer runtimes (BERT: ONNX Runtime FP32/INT8, optimum-intel INT8;
            CGD: ONNX Runtime FP32; Whisper: faster-whisper), when ``ovrecipes[peers]`` is installed.
        measure: what and how long to measure (default :class:`MeasureOptions`: metric, benchmark_app-style
            figure; add ``workload=WorkloadOptions()`` to serve the real inputs too).

    Returns:
        The :class:`Report` also written as ``out/report.json``.

    Raises:
        ValueError: a bad config, model, data or output directory, in one line, before the slow stages.

    Example (needs the embedded model: minutes on first use):
        report = ptq(family("bert"), "int8", measure=MeasureOptions(workload=WorkloadOptions(samples=200)))
    """
    config = config or ptq_config(pipeline)
    if weight_only is True:
        weight_only, _ = load_config(WeightCompressionConfig, pipeline.family, "wc", None, {})
    return run_ptq(pipeline.resolve(), config, Path(out), overwrite=overwrite, compare_torch=compare_torch,
                   weight_only=weight_only or None, compare_peers=compare_peers, options=measure,
                   title=title or f"{pipeline.family} ptq")


def jpqd_config(family: str, path: str | Path | None = None, **overrides: Any) -> JPQDConfig:
    """A JPQD config: the family's packaged YAML, then ``path`` (YAML, or a legacy NNCF/optimum-intel JSON),
    then ``overrides``; stages checked. What a legacy JSON holds that the recipe does not map is logged as warnings.

    Example:
        >>> config = jpqd_config("bert", training={"epochs": 2})
        >>> config.training.epochs
        2.0
    """
    from ovrecipes.runs.jpqd import load_jpqd_config  # imports torch

    config, notes = load_jpqd_config(family, Path(path) if path else None, overrides)
    for note in notes:  # what a legacy JSON held that this recipe does not map (shown as warnings)
        log.warning("%s: %s", path, note)
    return config


def jpqd(pipeline: FamilyPipeline, out: str | Path, *, config: JPQDConfig | None = None,
         teacher: str | Path | None = None, measure: MeasureOptions | None = None, overwrite: bool = False,
         title: str | None = None) -> Report | None:
    """Joint pruning, quantization-aware training and distillation; the deliverable(s) measured side by side.

    Args:
        pipeline: from :func:`family` (a family that trains: ``families()[name]["jpqd"]``).
        out: the output directory (as for :func:`ptq`); a work directory beside it allows a resume.
        config: from :func:`jpqd_config` (default: the family's packaged recipe).
        teacher: a PyTorch teacher directory (default: the pipeline's own model).

    Returns:
        The :class:`Report`, or None in a torchrun process other than rank 0.

    Raises:
        ValueError: a family that cannot train, a bad config, an OpenVINO student or teacher.
    """
    from ovrecipes.runs.jpqd import check_teacher, run_jpqd  # imports torch

    teacher = Path(teacher) if teacher else None
    check_teacher(teacher)  # before preparing the student, which can fine-tune for minutes
    return run_jpqd(pipeline.resolve(), config or jpqd_config(pipeline.family), Path(out),
                    teacher=teacher, overwrite=overwrite, options=measure,
                    title=title or f"{pipeline.family} jpqd")


def compare(pipeline: FamilyPipeline, models: dict[str, str | Path], *, out: str | Path | None = None,
            measure: MeasureOptions | None = None, compare_peers: bool = False, overwrite: bool = False) -> Report:
    """Existing model directories (OpenVINO or PyTorch), measured side by side on the pipeline's data.

    Args:
        models: label -> model directory.
        out: where to write report.json/md (nothing is written without it).

    Returns:
        The :class:`Report`.

    Raises:
        ValueError: a missing or foreign model directory, before anything is measured.
    """
    variants = [Variant(label, Path(path)) for label, path in models.items()]
    return compare_run.run_compare(pipeline.resolve(), variants, Path(out) if out else None, overwrite=overwrite,
                                   options=measure, compare_peers=compare_peers)


def compare_reports(reports: list[str | Path], out: str | Path | None = None, *, overwrite: bool = False) -> Report:
    """The variants of earlier reports in one table, nothing rerun (ratios between reports are marked)."""
    return compare_run.compare_reports([Path(r) for r in reports], Path(out) if out else None, overwrite=overwrite)


def bench(model: str | Path, *, time_s: float = 10.0, hint: str = "throughput", shape: str | None = None,
          precision: str | None = None, streams: int | None = None, threads: int | None = None,
          config: dict | None = None) -> engine.BenchResult:
    """A benchmark_app-style run of one IR: an AsyncInferQueue (throughput) or one synchronous request
    (latency), warm-up excluded, random inputs of ``shape``.

    Args:
        model: a .xml file or a directory holding one.
        shape: benchmark_app syntax, ``"[1,64]"`` or ``"input_ids[1,64],attention_mask[1,64]"``; needed
            for dynamic IRs.
        precision: INFERENCE_PRECISION_HINT ("f32", "bf16"); None leaves the plugin's default.

    Returns:
        :class:`~ovrecipes.measure.engine.BenchResult` (``.to_text()`` reads like benchmark_app).

    Raises:
        ValueError: an unreadable IR, a bad shape, hint or property, in one line.
        FileNotFoundError: no such model file or directory.
    """
    parsed = ov_io.parse_shape(shape) if shape else None
    return engine.benchmark_openvino(model, None, time_s=time_s, hint=hint, shape=parsed, precision=precision,
                                      streams=streams, threads=threads, config=config)


def deploy(model: str | Path, *, mode: str = "one-at-a-time", label: str | None = None, policy: str | None = None,
           precision: str | None = None, threads: int | None = None, pad_values: dict[str, int] | None = None,
           clients: int | None = None) -> Deployment:
    """A model directory compiled to serve the way its run measured best on this CPU: the shape policy and
    precision the run recorded in the directory's ``deployment.json`` for ``mode``, with its padding.

    Args:
        model: an OpenVINO model directory a run wrote (``ptq``, ``jpqd``, ``demo``: the INT8 model,
            ``fp32/``); a directory without a record serves its IR as exported (dynamic).
        mode: "one-at-a-time" (LATENCY hint, one request) or "concurrent" (THROUGHPUT hint, an async
            queue per compiled model, at most ``clients`` requests in flight).
        label: which recorded variant (``fp32/`` holds "OV FP32" and, on bf16 CPUs, "OV BF16"); default the
            first.
        policy: overrides the record: "dynamic", "static", "buckets" or "buckets:16,32,64".
        precision: overrides the recorded INFERENCE_PRECISION_HINT ("f32", "bf16", "default").
        pad_values: ``{input name: pad value}`` for records written before runs recorded them.

    Returns:
        :class:`~ovrecipes.measure.deployment.Deployment`: call it with one request's inputs (``{name:
        array}``, batch 1 under a padded policy) for ``{output name: array}``; ``.infer_many(requests)``
        serves several, concurrently in the concurrent mode; ``.policy``, ``.inference_precision``,
        ``.reason``, ``.describe()`` say how it serves. Outputs that grow with the input are cut back to
        the request's own length. A record measured on another CPU class logs a warning.

    Raises:
        ValueError: a bad mode, label, policy or precision; a padded policy without pad values; inputs
            that are not the IR's or longer than the longest bucket; an unreadable IR or record.

    Example (a one-input IR and the record a run would write: buckets of 4 and 8 tokens, ids padded with 0):
        >>> import json, tempfile, numpy as np, openvino as ov, openvino.opset13 as ops
        >>> ids = ops.parameter([-1, -1], ov.Type.i64, name="input_ids")
        >>> total = ops.reduce_sum(ops.convert(ids, ov.Type.f32), [1], keep_dims=True)
        >>> total.output(0).get_tensor().set_names({"total"})
        >>> d = tempfile.mkdtemp(); ov.save_model(ov.Model([total], [ids]), d + "/openvino_model.xml")
        >>> record = {"OV INT8": {"shape_policy": {"one-at-a-time": "buckets:4,8"},
        ...                       "inputs": {"pad_values": {"input_ids": 0}, "max_length": 8}}}
        >>> _ = open(d + "/deployment.json", "w").write(json.dumps({"variants": record}))
        >>> model = deploy(d)
        >>> str(model.policy), sorted(model.compiled)
        ('buckets:4,8', [4, 8])
        >>> model({"input_ids": np.array([[1, 2, 3]])})  # runs on the 4-token model
        {'total': array([[6.]], dtype=float32)}
    """
    return Deployment(model, mode=mode, label=label, policy=policy, precision=precision, threads=threads,
                      pad_values=pad_values, clients=clients)


def retrieval_index(model: str | Path, images: str | Path = "embedded", out: str | Path = "db", *,
                    limit: int | None = None, overwrite: bool = False) -> dict[str, Any]:
    """An image-retrieval database (CGD): every image embedded with ``model`` into ``out`` (db.npz, db.json).

    Args:
        model: a CGD model directory (OpenVINO FP32/INT8 or PyTorch), or "embedded".
        images: a folder (label = the image's parent folder), or a built-in set: "embedded", "mnist",
            "digits" (their test split, written as PNG files under ``out/images``).
        limit: embed only the first ``limit`` images.

    Returns:
        The database's metadata: count, embedding_dim, classes, paths, the model used.

    Raises:
        ValueError: a model or folder that is not one, an existing ``out`` without ``overwrite``.
    """
    source = cgd.embedded_model_dir() if str(model) == "embedded" else Path(model)
    return cgd_retrieval.build_index(source, str(images), Path(out), limit, overwrite)


def retrieval_search(db: str | Path, image: str | Path, k: int = 8, *, grid: str | Path | None = None,
                     model: str | Path | None = None) -> list[dict[str, Any]]:
    """The ``k`` nearest database entries to one image, embedded with the database's model (or ``model``).

    Returns:
        ``[{"rank", "distance", "label", "path"}, ...]``, nearest first; with ``grid`` (a .png path) the query
        and its results are also drawn there.

    Raises:
        ValueError: a damaged database, an unreadable image, a model whose embeddings do not match.
    """
    hits, _ = cgd_retrieval.search(Path(db), Path(image), k, Path(model) if model else None)
    if grid is not None:
        cgd_retrieval.save_grid(Path(image), hits, Path(grid))
    return hits


def read_report(path: str | Path) -> Report:
    """A report.json (or a run directory holding one), checked against the schema (versions 2 and 3)."""
    return _read_report(Path(path))


def cpu_info(target: str | None = None) -> dict[str, Any]:
    """This machine's CPU facts (or a named target's: avx2, vnni, vnni-bf16, amx): ISA flags, class, the
    precision OpenVINO defaults to, the overflow_fix ``auto`` picks and why, sparse-kernel support.

    Example:
        >>> facts = cpu_info("avx2")
        >>> facts["class"], facts["default_precision"], facts["overflow_fix"]
        ('AVX2', 'f32', 'enable')
    """
    cpu = target_cpu(target)
    decision = choose_overflow_fix("auto", cpu)
    sparse_ok, sparse_reason = sparse_kernel_support(cpu)
    facts = {**cpu.to_dict(), "default_precision_reason": cpu.default_precision_reason(),
             "overflow_fix": decision.value, "overflow_fix_reason": decision.reason,
             "sparse_kernels": sparse_ok, "sparse_kernels_reason": sparse_reason}
    if target is None:
        facts["plugin_default_precision"] = ov_io.plugin_default_precision()
    return facts
