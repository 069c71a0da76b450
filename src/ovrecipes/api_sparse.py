"""The public Python API of sparse int8 weight decompression (re-exported by :mod:`ovrecipes.api`, used as
``ovrecipes.sparse_stats`` ...): what ``ovrecipes sparse stats/config/check/sweep/prune`` do, on one IR.

    import ovrecipes
    pruned = ovrecipes.sparse_prune("int8-minilm", 0.8, "pruned", family="bert")  # zeros, and what they cost
    config = ovrecipes.sparse_config(pruned.out, "sparse-cfg")                   # the rate, as a runtime config
    ovrecipes.sparse_check(pruned.out, config=config.config).headline            # did sparse kernels run here?

Each call returns a typed result (``.report`` is the :class:`~ovrecipes.report.model.Report`, ``.data`` its
payload) that shows itself as tables in a notebook; with ``out`` the report is also written there, into a
directory that appears complete or not at all. Sparse kernels run only on AMX CPUs; elsewhere the rate is
accepted and ignored, and the results say so. Nothing here prints; progress goes to the ``ovrecipes`` loggers.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Sequence

from ovrecipes.pipelines.base import FamilyPipeline
from ovrecipes.pipelines.registry import family as family_spec
from ovrecipes.runs import sparse as runs
from ovrecipes.runs.sparse_prune import SparsePruneResult, run_prune

__all__ = ["sparse_stats", "sparse_config", "sparse_check", "sparse_sweep", "sparse_prune"]

DEFAULT_EVAL_SAMPLES = 500


def sparse_stats(model: str | Path, out: str | Path | None = None, *, rate: float | str = "auto",
                 coverage: float | None = None, overwrite: bool = False) -> runs.SparseStatsResult:
    """Every MatMul weight of an IR: shape, type, zero fraction, whether the sparse kernel can take it.

    Args:
        model: an OpenVINO IR: a .xml file, or a directory holding one.
        out: where to write report.json, report.md and a zero-fraction histogram (nothing is written without
            it). It must not exist unless ``overwrite``.
        rate: the rate the layers are shown against: "auto" (the rate :func:`sparse_config` would choose) or a
            number in [0, 1].
        coverage: for "auto": the share of eligible weight bytes that must stay sparse (default 0.5).

    Returns:
        :class:`~ovrecipes.runs.sparse.SparseStatsResult`: ``.layers`` (per MatMul), ``.rate`` (None when
        nothing is eligible), ``.summary``, ``.table()``, ``.report``.

    Raises:
        ValueError: a bad rate or coverage, an unreadable IR, an ``out`` that exists without ``overwrite``.
        FileNotFoundError: no such model file or directory.

    Example (a one-layer int8 IR, 75% of its weights zero):
        >>> import tempfile, numpy as np, openvino as ov, openvino.opset13 as ops
        >>> x = ops.parameter([1, 64], ov.Type.f32, name="x")
        >>> w = ops.convert(ops.constant(np.tile(np.int8([0, 0, 0, 1]), (64, 16))), ov.Type.f32)
        >>> y = ops.matmul(ops.fake_quantize(x, -4.0, 4.0, -4.0, 4.0, 256), w, False, True)
        >>> ir = tempfile.mkdtemp() + "/model.xml"; ov.save_model(ov.Model([y], [x]), ir)
        >>> stats = sparse_stats(ir)
        >>> stats.rate, stats.summary["eligible_layers"], stats.layers[0].zero_fraction
        (0.75, 1, 0.75)
        >>> sparse_stats(ir, rate=1.5)
        Traceback (most recent call last):
        ...
        ValueError: sparse rate must be 'auto' or a number in [0, 1] (1 = off): got 1.5
    """
    return runs.run_stats(model, out, rate=rate, coverage=coverage, overwrite=overwrite)


def sparse_config(model: str | Path, out: str | Path | None = None, *, rate: float | str = "auto",
                  coverage: float | None = None, streams: int | None = None, threads: int | None = None,
                  overwrite: bool = False) -> runs.SparseConfigResult:
    """Choose CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE for an IR and build the runtime config that applies it.

    Args:
        model: an OpenVINO IR: a .xml file, or a directory holding one.
        out: where to write sparse_config.json (a ``benchmark_app -load_config`` file, also taken by
            ``ovrecipes bench --config-file``), compile_model.py (the same properties in Python) and
            report.json/md; nothing is written without it. It must not exist unless ``overwrite``.
        rate: "auto" (the largest rate at which the sparsest eligible layers hold ``coverage`` of the
            eligible weight bytes) or a number in [0, 1] (1 = off).
        coverage: for "auto" (default 0.5).
        streams: NUM_STREAMS to record in the config.
        threads: INFERENCE_NUM_THREADS to record in the config.

    Returns:
        :class:`~ovrecipes.runs.sparse.SparseConfigResult`: ``.config`` (``{"CPU": {...}}``), ``.rate`` and
        ``.rate_reason``, ``.snippet``, ``.config_file`` (with ``out``), ``.report``.

    Raises:
        ValueError: a bad rate, coverage, streams or threads; "auto" on an IR with no eligible layer (an
            FP32 model: quantize it first); an unreadable IR; an ``out`` that exists without ``overwrite``.

    Example (the IR of :func:`sparse_stats`'s example):
        >>> import tempfile, numpy as np, openvino as ov, openvino.opset13 as ops
        >>> x = ops.parameter([1, 64], ov.Type.f32, name="x")
        >>> w = ops.convert(ops.constant(np.tile(np.int8([0, 0, 0, 1]), (64, 16))), ov.Type.f32)
        >>> y = ops.matmul(ops.fake_quantize(x, -4.0, 4.0, -4.0, 4.0, 256), w, False, True)
        >>> ir = tempfile.mkdtemp() + "/model.xml"; ov.save_model(ov.Model([y], [x]), ir)
        >>> config = sparse_config(ir, tempfile.mkdtemp() + "/cfg", streams=2)
        >>> config.config
        {'CPU': {'CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE': '0.75', 'NUM_STREAMS': '2'}}
        >>> sorted(p.name for p in config.out.iterdir())
        ['compile_model.py', 'report.json', 'report.md', 'sparse_config.json']
    """
    return runs.run_config(model, out, rate=rate, coverage=coverage, streams=streams, threads=threads,
                           overwrite=overwrite)


def sparse_check(model: str | Path, *, config: str | Path | dict | None = None, rate: float | str | None = None,
                 coverage: float | None = None, shape: str | None = None) -> runs.SparseCheckResult:
    """Compile an IR with a sparse runtime config, run it once with performance counters, and say per layer
    whether a sparse kernel ran, and why not.

    Args:
        model: an OpenVINO IR: a .xml file, or a directory holding one.
        config: the runtime config: a sparse_config.json path, or its contents (``sparse_config(...).config``).
        rate: without ``config``: "auto" (default) or a number in [0, 1].
        coverage: for an "auto" rate (default 0.5).
        shape: benchmark_app syntax for dynamic inputs (default: first dimension 1, the others 128).

    Returns:
        :class:`~ovrecipes.runs.sparse.SparseCheckResult`: ``.headline`` (one plain verdict), ``.verdict``
        (per layer: eligible, expected, ran, exec type, reason; the compiled precision), ``.table()``.

    Raises:
        ValueError: a rate or coverage given with ``config``, a bad rate, a missing or bad config file, an
            unreadable IR, a bad shape.

    Example (the IR of :func:`sparse_stats`'s example):
        >>> import tempfile, numpy as np, openvino as ov, openvino.opset13 as ops
        >>> x = ops.parameter([1, 64], ov.Type.f32, name="x")
        >>> w = ops.convert(ops.constant(np.tile(np.int8([0, 0, 0, 1]), (64, 16))), ov.Type.f32)
        >>> y = ops.matmul(ops.fake_quantize(x, -4.0, 4.0, -4.0, 4.0, 256), w, False, True)
        >>> ir = tempfile.mkdtemp() + "/model.xml"; ov.save_model(ov.Model([y], [x]), ir)
        >>> check = sparse_check(ir, config={"CPU": {"CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE": "0.5"}})
        >>> check.rate, check.verdict["eligible_layers"], check.verdict["layers_reaching_rate"]
        (0.5, 1, 1)
        >>> check.verdict["layers_sparse"] == (1 if check.verdict["amx"] else 0)  # sparse kernels: AMX CPUs only
        True
    """
    return runs.run_check(model, config=config, rate=rate, coverage=coverage, shape=shape)


def sparse_sweep(model: str | Path, out: str | Path | None = None, *, config: str | Path | dict | None = None,
                 rate: float | str | None = None, coverage: float | None = None, time_s: float = 2.0,
                 seq_lens: Sequence[int] | str = runs.SEQ_LENS, grid_seq_len: int = 128,
                 grid: Sequence[int] | str = runs.GRID, overwrite: bool = False) -> runs.SparseSweepResult:
    """Dense vs sparse throughput of an IR with inputs [1, L], over streams x threads and sequence lengths; each
    point measures both back to back in this process, so their ratio holds on a noisy machine.

    Args:
        model: an OpenVINO IR whose inputs all have rank 2 (reshaped to [1, L]).
        out: where to write report.json/md and sweep.png (nothing is written without it).
        config: the sparse runtime config (as for :func:`sparse_check`); the dense runs use it without the rate.
        rate: without ``config``: "auto" (default) or a number in [0, 1].
        coverage: for an "auto" rate (default 0.5).
        time_s: seconds per measurement.
        seq_lens: the lengths L measured at the best grid point ("16,64" or [16, 64]).
        grid_seq_len: the L of the streams x threads grid.
        grid: candidate streams/threads values, capped at the core count.

    Returns:
        :class:`~ovrecipes.runs.sparse.SparseSweepResult`: ``.tables()`` (grid, lengths), ``.data`` (every
        point: FPS, latency, precision, ratio), ``.report``.

    Raises:
        ValueError: bad lengths or grid, a length the model cannot take, a rate given with ``config``, an
            unreadable IR, an ``out`` that exists without ``overwrite``.

    Example (the IR of :func:`sparse_stats`'s example; a second or two):
        >>> import tempfile, numpy as np, openvino as ov, openvino.opset13 as ops
        >>> x = ops.parameter([1, 64], ov.Type.f32, name="x")
        >>> w = ops.convert(ops.constant(np.tile(np.int8([0, 0, 0, 1]), (64, 16))), ov.Type.f32)
        >>> y = ops.matmul(ops.fake_quantize(x, -4.0, 4.0, -4.0, 4.0, 256), w, False, True)
        >>> ir = tempfile.mkdtemp() + "/model.xml"; ov.save_model(ov.Model([y], [x]), ir)
        >>> result = sparse_sweep(ir, time_s=0.1, seq_lens=[64], grid_seq_len=64, grid=[1])
        >>> [p["seq_len"] for p in result.data["seq"]], result.data["sparse_config"]
        ([64], {'CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE': '0.75'})
    """
    return runs.run_sweep(model, out, config=config, rate=rate, coverage=coverage, time_s=time_s, seq_lens=seq_lens,
                          grid_seq_len=grid_seq_len, grid=grid, overwrite=overwrite)


def sparse_prune(model: str | Path, target: float, out: str | Path, *, family: FamilyPipeline | str | None = None,
                 eval_samples: int | None = None, overwrite: bool = False) -> SparsePruneResult:
    """Magnitude pruning: in every MatMul weight that is (or, quantized, will be) eligible, the smallest values
    become zero until the layer reaches ``target``; no retraining, so the accuracy change shows the cost.

    Args:
        model: an OpenVINO IR (INT8 or FP32): a .xml file, or a directory holding one.
        target: the zero fraction each pruned weight reaches, in (0, 1).
        out: the output directory: the pruned IR with the source's other model files (config, tokenizer),
            report.json/md and a zero-fraction histogram. It must not exist unless ``overwrite``.
        family: measures the accuracy before and after: a pipeline from :func:`ovrecipes.family`, or a family
            name ("bert"), whose model source is then the IR's own directory, with the family's defaults.
        eval_samples: test samples per evaluation (default 500; only with ``family``).

    Returns:
        :class:`~ovrecipes.runs.sparse_prune.SparsePruneResult`: ``.model`` (the pruned .xml), ``.layers``,
        ``.accuracy`` (None without ``family``), ``.lines()``, ``.report``.

    Raises:
        ValueError: a target outside (0, 1), ``eval_samples`` without ``family``, an unknown family, an IR with
            nothing to prune, an ``out`` that exists without ``overwrite``.

    Example (the IR of :func:`sparse_stats`'s example; a family needs its model and data, so it is skipped):
        >>> import tempfile, numpy as np, openvino as ov, openvino.opset13 as ops
        >>> x = ops.parameter([1, 64], ov.Type.f32, name="x")
        >>> w = ops.convert(ops.constant(np.tile(np.int8([0, 0, 0, 1]), (64, 16))), ov.Type.f32)
        >>> y = ops.matmul(ops.fake_quantize(x, -4.0, 4.0, -4.0, 4.0, 256), w, False, True)
        >>> ir = tempfile.mkdtemp() + "/model.xml"; ov.save_model(ov.Model([y], [x]), ir)
        >>> pruned = sparse_prune(ir, 0.9, tempfile.mkdtemp() + "/pruned")
        >>> pruned.data["pruned_layers"], round(pruned.data["zero_fraction_after"], 3), pruned.model.name
        (1, 0.9, 'model.xml')
        >>> sparse_prune(ir, 1.5, tempfile.mkdtemp() + "/pruned")
        Traceback (most recent call last):
        ...
        ValueError: target must be a zero fraction in (0, 1): got 1.5
        >>> sparse_prune("int8-minilm", 0.8, "pruned80", family="bert").accuracy  # doctest: +SKIP
        {'name': 'accuracy', 'before': 84.4, 'after': 49.8, 'drop': -34.6, 'samples': 500, 'unit': '%'}
    """
    if eval_samples is not None and family is None:
        raise ValueError("eval_samples has no effect without family: it sets how many test samples the family's "
                         "pipeline evaluates before and after pruning")
    source = _family_source(family) if isinstance(family, str) else family
    return run_prune(model, target, out, family=source,
                     eval_samples=DEFAULT_EVAL_SAMPLES if eval_samples is None else eval_samples, overwrite=overwrite)


def _family_source(name: str) -> Callable[[Path], FamilyPipeline]:
    """A family by name: its defaults, its model source the pruned IR's own directory (tokenizer, config)."""
    spec = family_spec(name)  # an unknown name fails here, before any work
    return lambda src: spec.make_pipeline(SimpleNamespace(**{**spec.defaults(), "model": str(src)}))
