"""Side by side without a recipe: model directories measured now, or reports of earlier runs."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from ovrecipes.core.cpu import CpuInfo
from ovrecipes.core.memory import peak_rss_mb
from ovrecipes.measure.recommend import DEFAULT_ACCURACY_BUDGET, recommend, run_warnings
from ovrecipes.measure.variants import Variant, reference, set_ratios
from ovrecipes.pipelines.base import FamilyPipeline
from ovrecipes.pipelines.model_dirs import is_openvino_dir
from ovrecipes.pipelines.sources import check_model_type
from ovrecipes.report.machine import machine
from ovrecipes.report.model import Report, Section
from ovrecipes.report.writer import (
    Timer,
    command_line,
    created,
    log_summary,
    read_report,
    report_file,
    write_report,
)
from ovrecipes.runs.common import PEERS_SUBDIR, MeasureOptions, peer_variants, side_by_side
from ovrecipes.runs.outdir import check_output, staged_output

log = logging.getLogger(__name__)


def _write(report: Report, out: Path | None, overwrite: bool, peers: Path | None = None) -> None:
    """The report (and the peer models it measured, as ``peers/``) into ``out``, staged."""
    if out is not None:
        with staged_output(Path(out), overwrite) as stage:
            if peers is not None and peers.is_dir():
                shutil.copytree(peers, stage / PEERS_SUBDIR)
                for v in report.variants:
                    v.path = v.path.replace(str(peers), str(Path(out).resolve() / PEERS_SUBDIR))
            write_report(stage, report)


def run_compare(pipeline: FamilyPipeline, variants: list[Variant], out: Path | None, *, overwrite: bool = False,
                options: MeasureOptions | None = None, compare_peers: bool = False) -> Report:
    """Measure existing model directories side by side (with the family's peer runtimes when
    ``compare_peers``: built in a temporary directory, kept as ``out/peers``); write the report if ``out``."""
    for v in variants:
        if not Path(v.path).exists():
            raise ValueError(f"model directory {v.path} does not exist")
        if Path(v.path).is_dir():
            if not is_openvino_dir(v.path) and not (Path(v.path) / "config.json").is_file():
                raise ValueError(f"model directory {v.path} holds no model (no OpenVINO IR and no config.json)")
            check_model_type(Path(v.path), pipeline.model_type_problem)
            pipeline.check_model_dir(Path(v.path))
    if out is not None:
        check_output(Path(out).resolve(), overwrite, [Path(v.path) for v in variants if Path(v.path).exists()])
    with tempfile.TemporaryDirectory(prefix="ovrecipes-peers-") as tmp:
        peers, notes = [], []
        timer = Timer()
        if compare_peers:
            if pipeline.peers_problem():
                log.info("No peer rows: %s", pipeline.peers_problem())
            with timer.stage("peer runtimes"):
                peers, notes = peer_variants(pipeline, Path(tmp))
        report = side_by_side(pipeline, variants + peers, options or MeasureOptions(), kind="compare",
                              title=f"{pipeline.family} comparison", timer=timer,
                              sections=[Section(title="Peer runtimes", lines=notes)] if notes else None)
        _write(report, out, overwrite, Path(tmp) if peers else None)
    log_summary(report)
    return report


def compare_reports(paths: list[Path], out: Path | None, *, overwrite: bool = False,
                    budget: float = DEFAULT_ACCURACY_BUDGET) -> Report:
    """The variants of earlier reports in one table, without rerunning anything.

    Ratios between reports compare medians measured at different times (possibly on different
    machines), so the report says so; within one report they stay the per-round medians.
    """
    if out is not None:
        check_output(Path(out).resolve(), overwrite, paths)
    files = [report_file(p).resolve() for p in paths]
    twice = next((p for p, f in zip(paths, files) if files.count(f) > 1), None)
    if twice is not None:
        raise ValueError(f"report {twice} is given twice")
    reports = [read_report(p) for p in paths]
    empty = [str(p) for p, r in zip(paths, reports) if not r.variants]
    if empty:
        raise ValueError(f"{' and '.join(empty)} hold{'s' if len(empty) == 1 else ''} no measured variants "
                         "(runs with --no-eval --no-bench?): nothing to put side by side")
    variants = []
    for path, report in zip(paths, reports):
        for v in report.variants:
            labels = {x.label for x in variants}
            label = v.label if v.label not in labels else f"{v.label} ({Path(path).name})"
            variants.append(v.model_copy(update={"label": label, "source": str(path)}))
            for speed in (v.throughput, *v.workload):
                if speed is not None:
                    speed.from_run(str(path))
    set_ratios(variants)
    cpus = sorted({r.machine.cpu["brand"] + f" ({r.machine.cpu_class})" for r in reports})
    measured_on = reports[0].machine.cpu if len(cpus) == 1 else None  # notes only when one CPU measured them all
    cpu = CpuInfo(measured_on["brand"], frozenset(f for f, on in measured_on["flags"].items() if on),
                  source="the reports' machine") if measured_on else None
    ref = reference(variants)
    warnings = run_warnings(variants, [], os.cpu_count())
    if len(reports) > 1:
        warnings.insert(0, "Rows come from separate runs: ratios between them compare medians taken at different "
                           f"times (CPUs: {'; '.join(cpus)}); within one run they are per-round medians.")
    report = Report(kind="compare", title="comparison of earlier reports", command=command_line(), created=created(),
                    variants=variants, reference=ref.label if ref else None,
                    rounds=max((r.rounds for r in reports), default=0), warnings=warnings,
                    precision_note="Precision as each run recorded it.",
                    recommendation=recommend(variants, cpu, budget), machine=machine(),
                    data={"reports": [str(p) for p in paths]}, peak_rss_mb=round(peak_rss_mb(), 1))
    _write(report, out, overwrite)
    log_summary(report)
    return report
