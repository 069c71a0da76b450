"""Sparse int8 weight decompression on one OpenVINO IR: its weight statistics, a runtime config, whether the
sparse kernels ran, and dense vs sparse throughput (magnitude pruning: :mod:`ovrecipes.runs.sparse_prune`).

Each run reads an IR (a .xml, or a directory holding one), applies :mod:`ovrecipes.recipes.sparse` and returns
a typed result whose ``report`` is the :class:`~ovrecipes.report.model.Report` written to ``out`` when an
output directory is given: staged, so that it appears complete or not at all, and an existing one is
replaced only with ``overwrite``. Nothing here prints; progress goes to the ``ovrecipes`` loggers.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import openvino as ov

from ovrecipes.core import openvino as runtime
from ovrecipes.core.cpu import host_cpu, sparse_kernel_support
from ovrecipes.core.paths import require_file
from ovrecipes.measure import sweep
from ovrecipes.recipes import sparse
from ovrecipes.recipes.sparse import WeightInfo
from ovrecipes.recipes.sparse_kernels import decide, probe_kernels
from ovrecipes.report.model import Report, Table
from ovrecipes.report.plots import plot_sweep, plot_zero_fractions
from ovrecipes.report.writer import write_report
from ovrecipes.runs import sparse_report as text
from ovrecipes.runs.outdir import check_output, staged_output

log = logging.getLogger(__name__)

CONFIG_NAME = "sparse_config.json"
SNIPPET_NAME = "compile_model.py"
HIST_NAME = "zero_fraction.png"
SWEEP_PLOT = "sweep.png"
SEQ_LENS = (16, 32, 64, 128, 256, 512)  # the sweep's default lengths L of inputs [1, L]
GRID = (1, 2, 4, 8)  # the sweep's default streams/threads candidates
#: a runtime config: a benchmark_app -load_config JSON file, or its contents ({"CPU": {...}} or the properties)
ConfigSource = str | Path | dict


class SparseResult:
    """What every sparse result shares: its report's payload, and how a notebook shows it."""

    report: Report

    @property
    def data(self) -> dict[str, Any]:
        """The report's payload (report.json's ``data``)."""
        return self.report.data

    def _repr_markdown_(self) -> str:
        return text.report_markdown(self.report)


@dataclass
class SparseStatsResult(SparseResult):
    """Every MatMul weight of an IR: shape, type, zeros, eligibility; the rate they are shown against."""

    model: Path  # the IR's .xml
    layers: list[WeightInfo] = field(repr=False)
    rate: float | None  # None: 'auto' with no eligible layer
    rate_reason: str | None
    summary: dict[str, Any] = field(repr=False)  # :func:`ovrecipes.recipes.sparse.summarize`
    report: Report = field(repr=False)
    out: Path | None  # where report.json/md and the histogram were written (None: nowhere)

    def table(self) -> Table:
        return text.layer_table(self.layers, self.rate)

    def lines(self) -> list[str]:
        return text.summary_lines(self.summary) + ([self.rate_reason] if self.rate_reason else [])


@dataclass
class SparseConfigResult(SparseResult):
    """The chosen rate and the runtime config that applies it (``benchmark_app -load_config`` JSON)."""

    model: Path
    rate: float
    rate_reason: str
    config: dict[str, dict[str, str]]  # {"CPU": {"CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE": "0.8", ...}}
    snippet: str = field(repr=False)  # a Python file that compiles the model with the config
    shape: str  # benchmark_app shape of the dynamic inputs ('' when static): what bench needs
    report: Report = field(repr=False)
    out: Path | None  # holds sparse_config.json, compile_model.py, report.json/md (None: nothing written)

    @property
    def config_file(self) -> Path | None:
        return self.out / CONFIG_NAME if self.out else None


@dataclass
class SparseCheckResult(SparseResult):
    """Per layer: would a sparse kernel run, did it, and why (read back from the compiled model)."""

    model: Path
    rate: float
    rate_reason: str
    config: dict[str, str]  # the properties the model was compiled with
    verdict: dict[str, Any] = field(repr=False)  # :func:`ovrecipes.recipes.sparse_kernels.decide`, compiled precision
    report: Report = field(repr=False)

    @property
    def headline(self) -> str:
        return self.verdict["headline"]

    def table(self) -> Table:
        return text.check_table(self.verdict)

    def lines(self) -> list[str]:
        return text.check_lines(self.verdict)


@dataclass
class SparseSweepResult(SparseResult):
    """Dense vs sparse throughput over streams x threads and sequence lengths; ``data`` holds every point."""

    model: Path
    rate: float
    rate_reason: str
    report: Report = field(repr=False)
    out: Path | None

    def tables(self) -> tuple[Table, Table]:
        return text.sweep_tables(self.report.data)


# -- shared checks ----------------------------------------------------------------------------------
def read_ir(model: str | Path) -> tuple[Path, ov.Model]:
    """The IR's resolved .xml and the model read from it (one clear line when it cannot be read)."""
    xml = runtime.resolve_model_xml(model).resolve()
    return xml, runtime.read_model(xml)


def requested_rate(rate: float | str | None, coverage: float | None) -> tuple[float | str, float]:
    """``rate`` checked ('auto' when None) and the coverage an 'auto' rate keeps; a coverage that would have no
    effect (a numeric rate) is refused."""
    requested = sparse.parse_rate("auto" if rate is None else rate)
    if coverage is not None and requested != "auto":
        raise ValueError(f"coverage {coverage:g} has no effect with rate {rate}: it sets how an 'auto' rate is chosen")
    value = sparse.AUTO_COVERAGE if coverage is None else coverage
    if not 0.0 < value <= 1.0:
        raise ValueError(f"coverage must be in (0, 1]: got {value}")
    return requested, value


def check_source(config: ConfigSource | None, rate: float | str | None, coverage: float | None) -> None:
    """Before any work: the rate comes from ``config`` or from ``rate``/``coverage``, never both."""
    if config is None:
        requested_rate(rate, coverage)
    elif rate is not None or coverage is not None:
        name = "rate" if rate is not None else "coverage"
        raise ValueError(f"{name} has no effect with a config: its {sparse.RATE_KEY} sets the rate")
    elif not isinstance(config, dict):
        require_file(config, "config file")


def runtime_configs(config: ConfigSource | None, rate: float | str | None, coverage: float | None,
                    layers: list[WeightInfo]) -> tuple[dict, dict, float, str]:
    """(sparse properties, dense properties, rate, why) from ``config`` or from ``rate``."""
    if config is None:
        requested, coverage = requested_rate(rate, coverage)
        chosen, why = sparse.resolve_rate(requested, layers, coverage)
        section = {sparse.RATE_KEY: f"{chosen:g}"}
    else:
        if isinstance(config, dict):
            given = config["CPU"] if isinstance(config.get("CPU"), dict) else config
            section, source = {str(k): str(v) for k, v in given.items()}, "the given config"
        else:
            section, source = runtime.load_config_file(config), config
        chosen = float(sparse.parse_rate(section.get(sparse.RATE_KEY, "1"), allow_auto=False))
        why = f"rate {chosen:g} from {source}" + ("" if sparse.RATE_KEY in section else " (key absent: off)")
    dense = {k: v for k, v in section.items() if k != sparse.RATE_KEY}
    return section, dense, chosen, why


def checked_out(out: str | Path | None, overwrite: bool, inputs: Iterable[str | Path]) -> Path | None:
    """``out`` resolved and checked before any work (None: nothing is written; then ``overwrite`` is refused)."""
    if out is None:
        if overwrite:
            raise ValueError("overwrite has no effect without out: nothing is written")
        return None
    out = Path(out).resolve()
    check_output(out, overwrite, [Path(p) for p in inputs])
    return out


def static_shapes(model: ov.Model, spec: str | None, default_len: int = 128) -> dict[str, list[int]] | None:
    """Shapes for inputs that are dynamic: ``spec`` (benchmark_app syntax) if given, else first dim 1 and
    others ``default_len``."""
    if spec:
        return runtime.parse_shape(spec)
    shapes = {}
    for port in model.inputs:
        pshape = port.get_partial_shape()
        if pshape.is_dynamic:
            if pshape.rank.is_dynamic:
                raise ValueError(f"input {port.get_any_name()!r} has a dynamic rank; pass --shape")
            shapes[port.get_any_name()] = [d.get_length() if d.is_static else (1 if i == 0 else default_len)
                                           for i, d in enumerate(pshape)]
    return shapes or None


def _shape_text(model: ov.Model) -> str:
    try:
        shapes = static_shapes(model, None)
    except ValueError:  # a dynamic rank: no shape to suggest
        return ""
    return ",".join(f"{k}[{','.join(map(str, v))}]" for k, v in shapes.items()) if shapes else ""


def _ints(values: Sequence[int] | str, name: str) -> list[int]:
    return sweep.parse_ints(values if isinstance(values, str) else ",".join(map(str, values)), name)


def _config_inputs(config: ConfigSource | None) -> list[Path]:
    return [Path(config)] if isinstance(config, (str, Path)) else []


# -- the runs ---------------------------------------------------------------------------------------
def run_stats(model: str | Path, out: str | Path | None = None, *, rate: float | str | None = "auto",
              coverage: float | None = None, overwrite: bool = False, inputs: Iterable[Path] = ()) -> SparseStatsResult:
    """Per-MatMul weight statistics; with ``out``, report.json/md and a zero-fraction histogram there."""
    requested, coverage = requested_rate(rate, coverage)
    out = checked_out(out, overwrite, [model, *inputs])
    xml, ir = read_ir(model)
    layers = sparse.weight_stats(ir)
    chosen, why = None, None
    if requested != "auto" or any(entry.eligible for entry in layers):
        chosen, why = sparse.resolve_rate(requested, layers, coverage)
    summary = sparse.summarize(layers, chosen, coverage)
    data = {"model": str(xml), "summary": summary, "rate_reason": why, "layers": [entry.to_dict() for entry in layers]}

    def build(plot: Path | None) -> Report:
        return text.sparse_report("sparse-stats", "Sparse weight statistics",
                                  [text.stats_section(xml, layers, summary, why, plot)], data)

    if out is None:
        report = build(None)
    else:
        with staged_output(out, overwrite) as stage:
            report = build(plot_zero_fractions(layers, chosen, stage / HIST_NAME,
                                               f"zero fractions: {xml.parent.name}/{xml.name}"))
            write_report(stage, report)
    return SparseStatsResult(xml, layers, chosen, why, summary, report, out)


def run_config(model: str | Path, out: str | Path | None = None, *, rate: float | str | None = "auto",
               coverage: float | None = None, streams: int | None = None, threads: int | None = None,
               overwrite: bool = False, inputs: Iterable[Path] = ()) -> SparseConfigResult:
    """Choose the rate and build the runtime config; with ``out``, write it (sparse_config.json, a
    compile_model.py snippet, report.json/md)."""
    requested, coverage = requested_rate(rate, coverage)
    sparse.runtime_config(0.5, streams, threads)  # validates streams/threads before any work
    out = checked_out(out, overwrite, [model, *inputs])
    xml, ir = read_ir(model)
    layers = sparse.weight_stats(ir)
    chosen, why = sparse.resolve_rate(requested, layers, coverage)
    config = sparse.runtime_config(chosen, streams, threads)
    supported, support = sparse_kernel_support()
    summary = sparse.summarize(layers, chosen, coverage)
    snippet = text.compile_snippet(str(xml), config["CPU"])
    section = text.stats_section(xml, layers, summary, why, None)
    section.lines.append(f"Config (`{CONFIG_NAME}`): `{json.dumps(config)}`")
    report = text.sparse_report("sparse-config", "Sparse runtime config", [section], {
        "model": str(xml), "config": config, "rate": chosen, "rate_reason": why, "sparse_kernels_here": supported,
        "sparse_kernels_reason": support, "summary": summary, "layers": [entry.to_dict() for entry in layers]})
    if out is not None:
        with staged_output(out, overwrite) as stage:
            (stage / CONFIG_NAME).write_text(json.dumps(config, indent=2))
            (stage / SNIPPET_NAME).write_text(snippet)
            write_report(stage, report)
    return SparseConfigResult(xml, chosen, why, config, snippet, _shape_text(ir), report, out)


def run_check(model: str | Path, *, config: ConfigSource | None = None, rate: float | str | None = None,
              coverage: float | None = None, shape: str | None = None) -> SparseCheckResult:
    """Compile with the config (or ``rate``), run once with performance counters, and decide per layer."""
    check_source(config, rate, coverage)
    xml, ir = read_ir(model)
    layers = sparse.weight_stats(ir)
    section, _, chosen, why = runtime_configs(config, rate, coverage, layers)
    shapes = static_shapes(ir, shape)
    if shapes:
        runtime.reshape(ir, shapes)
    observed, precision = probe_kernels(ir, section)
    verdict = decide(layers, chosen, host_cpu(), observed)
    verdict.update(model=str(xml), rate_reason=why, config=section, **precision)
    report = text.sparse_report("sparse-check", "Sparse kernel check", [text.check_section(verdict)], verdict)
    return SparseCheckResult(xml, chosen, why, section, verdict, report)


def run_sweep(model: str | Path, out: str | Path | None = None, *, config: ConfigSource | None = None,
              rate: float | str | None = None, coverage: float | None = None, time_s: float = 2.0,
              seq_lens: Sequence[int] | str = SEQ_LENS, grid_seq_len: int = 128, grid: Sequence[int] | str = GRID,
              overwrite: bool = False, inputs: Iterable[Path] = ()) -> SparseSweepResult:
    """Dense and sparse back to back at each (streams, threads) and each length; with ``out``, report.json/md
    and sweep.png there."""
    seq_lens, grid = _ints(seq_lens, "seq_lens"), _ints(grid, "grid")
    if grid_seq_len <= 0:
        raise ValueError(f"grid_seq_len must be positive: got {grid_seq_len}")
    if not time_s > 0:
        raise ValueError(f"time_s must be positive: got {time_s}")
    check_source(config, rate, coverage)
    out = checked_out(out, overwrite, [model, *_config_inputs(config), *inputs])
    xml, ir = read_ir(model)
    layers = sparse.weight_stats(ir)
    section, dense, chosen, why = runtime_configs(config, rate, coverage, layers)
    started = time.perf_counter()
    result = sweep.run_sweep(ir, section, dense, time_s=time_s, seq_lens=seq_lens, grid_seq_len=grid_seq_len,
                             grid_values=grid)
    result.update(model=str(xml), rate=chosen, rate_reason=why, wall_s=round(time.perf_counter() - started, 1))

    def build(plot: Path | None) -> Report:
        return text.sparse_report("sparse-sweep", "Sparse vs dense sweep", [text.sweep_section(result, plot)], result,
                                  {"sweep": result["wall_s"]})

    if out is None:
        report = build(None)
    else:
        with staged_output(out, overwrite) as stage:
            report = build(plot_sweep(result, stage / SWEEP_PLOT))
            write_report(stage, report)
    return SparseSweepResult(xml, chosen, why, report, out)
