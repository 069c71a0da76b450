"""What every run shares: measure variants side by side into a report, and the skeleton of a recipe
run (staged output directory, recipe, side-by-side, report files, summary)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ovrecipes.core.cpu import host_cpu
from ovrecipes.core.memory import peak_rss_mb
from ovrecipes.measure.deployment import DEPLOYMENT_FILE, deployment_entry, write_deployment
from ovrecipes.measure.recommend import DEFAULT_ACCURACY_BUDGET, recommend, run_warnings
from ovrecipes.measure.serving import WorkloadOptions, serve_side_by_side
from ovrecipes.measure.variants import (
    DEFAULT_ROUNDS,
    Variant,
    measure,
    reference,
    with_precisions,
)
from ovrecipes.pipelines.base import FamilyPipeline
from ovrecipes.pipelines.model_dirs import is_openvino_dir
from ovrecipes.report.machine import machine
from ovrecipes.report.model import MODE_TITLES, Report, Section, Table, VariantResult
from ovrecipes.report.writer import (
    PLOT_NAME,
    Timer,
    command_line,
    created,
    log_summary,
    write_report,
)
from ovrecipes.runs.outdir import staged_output

log = logging.getLogger(__name__)

#: where a run keeps the peer runtimes' models it built (ONNX exports, another quantizer's INT8)
PEERS_SUBDIR = "peers"


@dataclass
class MeasureOptions:
    """How a side-by-side measures: which parts, how long, how often, at which precision."""

    evaluate: bool = True
    bench: bool = True
    bench_args: dict[str, Any] = field(default_factory=dict)  # hint, streams, threads, time_s (per variant)
    eval_limit: int | None = None
    budget: float = DEFAULT_ACCURACY_BUDGET
    rounds: int = DEFAULT_ROUNDS
    precision: str = "auto"  # see ovrecipes.measure.variants.with_precisions
    #: real inputs served one at a time and concurrently (None: not measured); needs ``bench`` and a family
    #: that has a workload (``FamilyPipeline.serves_workload``)
    workload: WorkloadOptions | None = None


def side_by_side(pipeline: FamilyPipeline, variants: list[Variant], options: MeasureOptions, *, kind: str,
                 title: str, timer: Timer, recipe: dict | None = None, sections: list[Section] | None = None,
                 highlights: list[str] | None = None) -> Report:
    """Measure the variants (with the precision rows this CPU calls for) and build the report."""
    cpu = host_cpu()
    variants, precision_note = with_precisions(variants, options.precision, cpu)
    results, loads = [], []
    if options.evaluate or options.bench:
        with timer.stage("evaluate and benchmark side by side"):
            results, loads = measure(pipeline, variants, limit=options.eval_limit, evaluate=options.evaluate,
                                     bench=options.bench, bench_args=options.bench_args, rounds=options.rounds)
    summary = None
    if options.workload is not None and options.bench and results and pipeline.serves_workload:
        with timer.stage("serve the real inputs side by side"):
            summary = serve_side_by_side(pipeline, variants, results, options.workload, rounds=options.rounds,
                                         threads=options.bench_args.get("threads"),
                                         streams=options.bench_args.get("streams"), cpu=cpu, budget=options.budget)
    ref = reference(results)
    details = metric_details(results)
    return Report(
        kind=kind, title=title, command=command_line(), created=created(), pipeline=pipeline.describe(),
        variants=results, reference=ref.label if ref else None, rounds=options.rounds if options.bench else 0,
        load_average=loads, warnings=run_warnings(results, loads, os.cpu_count()),
        precision_note=precision_note if results else None,
        recommendation=recommend(results, cpu, options.budget) if results else None,
        highlights=highlights or [], recipe=recipe, sections=[*([details] if details else []), *(sections or [])],
        machine=machine(cpu),
        timings_s=timer.stages, peak_rss_mb=round(peak_rss_mb(), 1), workload=summary)


def metric_details(results: list[VariantResult]) -> Section | None:
    """Every number of metrics that carry more than one (recall@1/2/4/8, WER and RTF ...), per variant."""
    scored = [v for v in results if v.metric and v.metric.extra]
    if not scored:
        return None
    keys = list(dict.fromkeys(k for v in scored for k in v.metric.extra))
    rows = [[v.label, *(f"{v.metric.extra[k]:.2f}" if k in v.metric.extra else "-" for k in keys)] for v in scored]
    return Section(title="Metric details", tables=[Table(header=["variant", *keys], rows=rows)])


def peer_variants(pipeline: FamilyPipeline, work_dir: Path) -> tuple[list[Variant], list[str]]:
    """The family's peer runtimes as variants (built into ``work_dir`` where they must be made), and where
    their differences come from; when they cannot be had here, no variants and one line saying why."""
    problem = pipeline.peers_problem()
    if problem:
        return [], [f"No peer rows: {problem}"]
    peers = pipeline.peers(work_dir)
    return ([Variant(p.label, p.path, p.precision, p.runner, peer=True) for p in peers],
            list(dict.fromkeys(f"{p.label}: {p.note}" for p in peers if p.note)))


@dataclass
class RecipeOutcome:
    """What a recipe run produced inside the staging directory, for the side-by-side and the report."""

    variants: list[Variant]
    recipe: dict[str, Any] | None = None
    sections: list[Section] = field(default_factory=list)
    highlights: list[str] = field(default_factory=list)
    config: dict[str, Any] | None = None  # the resolved recipe config, written as recipe.yaml
    contents: str = ""  # what the output directory holds, for the closing line


def record_shape_policies(report: Report, stage: Path) -> set[str]:
    """Each OpenVINO directory the run wrote and served gets ``deployment.json``: the shape policy chosen per
    serving mode for each variant measured from it (FP32 and BF16 rows share fp32/), and how its inputs pad,
    so :class:`~ovrecipes.measure.deployment.Deployment` serves the directory the same way."""
    by_dir: dict[Path, dict[str, dict]] = {}
    for v in report.variants:
        path = Path(v.path)
        if v.chosen_policy and is_openvino_dir(path) and path.resolve().is_relative_to(stage.resolve()):
            by_dir.setdefault(path, {})[v.label] = deployment_entry(v, report.workload, report.machine.cpu["brand"],
                                                                    report.machine.cpu_class)
    for path, entries in by_dir.items():
        write_deployment(path, entries)
    return {label for entries in by_dir.values() for label in entries}


def deploy_hints(report: Report, recorded: set[str]) -> list[str]:
    """Per serving mode whose recommended variant the run recorded: the call that serves it as measured."""
    hints = []
    for mode, rec in (report.workload.recommendation.items() if report.workload else []):
        chosen = next((v for v in report.variants if v.label == rec.choice and v.label in recorded), None)
        if chosen is None:
            continue
        shared = sum(v.path == chosen.path for v in report.variants) > 1  # fp32/ holds OV FP32 and OV BF16
        label = f', label="{chosen.label}"' if shared else ""
        hints.append(f"Serve the {MODE_TITLES.get(mode, mode)} choice as measured: "
                     f'ovrecipes.deploy("{chosen.path}", mode="{mode}"{label})')
    return hints


def _relocate(report: Report, stage: Path, out: Path) -> None:
    """Paths measured inside the staging directory, rewritten to where the results now live."""
    for v in report.variants:
        v.path = v.path.replace(str(stage), str(out))


def recipe_run(pipeline: FamilyPipeline, out: Path, *, overwrite: bool, kind: str, title: str,
               options: MeasureOptions, produce: Callable[[Path, Timer], RecipeOutcome]) -> Report:
    """Stage ``out``, let ``produce`` write the models into it, measure them side by side, write the report.

    ``out`` appears only when everything succeeded; an error or an interrupt leaves nothing behind.
    """
    out = Path(out).resolve()
    timer = Timer()
    with staged_output(out, overwrite) as stage:
        outcome = produce(stage, timer)
        for copied in stage.rglob(DEPLOYMENT_FILE):  # from a source model that is an earlier run's output:
            copied.unlink()  # its record describes that run's measurement, not this one's
        report = side_by_side(pipeline, outcome.variants, options, kind=kind, title=title, timer=timer,
                              recipe=outcome.recipe, sections=outcome.sections, highlights=outcome.highlights)
        recorded = record_shape_policies(report, stage)
        _relocate(report, stage, out)
        report.highlights += deploy_hints(report, recorded)
        write_report(stage, report, outcome.config)
    log_summary(report)
    plot = [PLOT_NAME] if (out / PLOT_NAME).exists() else []  # none with --no-eval or --no-bench
    log.info(f"\nWrote {out} ({', '.join([outcome.contents or 'models', *plot, 'report.md', 'report.json'])})")
    return report
