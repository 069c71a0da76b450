"""Side-by-side serving of real inputs: every variant, mode and shape policy in interleaved rounds, the shape
policy each variant should deploy with, and the variant to deploy for each way of serving.

Rounds interleave everything (variant A dynamic, A static, A buckets, B dynamic, ...), so load from
another job hits every candidate in the same round; ratios are medians of per-round ratios, as in
the benchmark_app-style side-by-side (``measure/variants``).
"""

from __future__ import annotations

import logging
import os
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ovrecipes.measure.recommend import recommend
from ovrecipes.measure.variants import Variant, reference
from ovrecipes.measure.workload import MODES, OpenVINOServer, Pass, RunnerServer, percentiles, policies_to_compare
from ovrecipes.pipelines.base import FamilyPipeline, Workload
from ovrecipes.recipes.overflow import CpuInfo
from ovrecipes.report.model import Recommendation, VariantResult, WorkloadRound, WorkloadRun, WorkloadSummary

log = logging.getLogger(__name__)

DEFAULT_SAMPLES = 500
#: the order in which a tie between shape policies is settled: fewer compiled models and less padding logic first
SIMPLICITY = ("dynamic", "static", "buckets")


@dataclass
class WorkloadOptions:
    """What the real-workload replay serves: the first ``samples`` items of ``split``, under ``policy``
    (``auto``: every shape policy, compared), with ``clients`` concurrent clients (None: the plugin's
    optimal number of requests)."""

    samples: int = DEFAULT_SAMPLES
    policy: str = "auto"
    clients: int | None = None
    split: str = "test"


def _run(server, passes: list[Pass]) -> WorkloadRun:
    rounds = [WorkloadRound(items_per_s=p.items_per_s, duration_s=p.duration_s, items=p.items,
                            latency_ms=percentiles(p.latencies_ms)) for p in passes]
    return WorkloadRun(mode=server.mode, policy=str(server.policy), clients=server.clients, hint=server.hint,
                       threads=server.threads, streams=server.streams,
                       inference_precision=server.precision.get("inference_precision"), rounds=rounds)


def serve_side_by_side(pipeline: FamilyPipeline, variants: list[Variant], results: list[VariantResult],
                       options: WorkloadOptions, *, rounds: int, threads: int | None = None,
                       streams: int | None = None, cpu: CpuInfo | None = None,
                       budget: float = 1.0) -> WorkloadSummary:
    """Serve the family's workload with every variant (``results`` in the same order get their runs, chosen
    policies and ratios) and return what was served and the recommendation per mode."""
    workload = pipeline.workload(options.split, options.samples)
    if not workload.items:
        raise ValueError(f"the {options.split} split has no items to serve")
    policies = policies_to_compare(options.policy, workload)
    servers: list[tuple[VariantResult, object]] = []
    clients = options.clients
    for v, r in zip(variants, results):
        runner = pipeline.workload_runner(v.path, precision=v.precision, runner=v.runner, threads=threads)
        if runner is None:
            xml = Path(v.path) / pipeline.submodels()[0].filename
            for mode in MODES:
                for policy in policies:
                    server = OpenVINOServer(xml, workload, policy, mode, precision=v.precision, threads=threads,
                                            streams=streams, clients=clients)
                    if mode == "concurrent" and clients is None:
                        clients = server.clients  # every engine gets as many clients as the first IR asks for
                    servers.append((r, server))
        else:
            servers.append((r, RunnerServer(runner, workload, "one-at-a-time")))
            if runner.concurrent:
                servers.append((r, RunnerServer(runner, workload, "concurrent", clients or os.cpu_count())))
    passes: list[list[Pass]] = [[] for _ in servers]
    for round_no in range(1, rounds + 1):
        for (r, server), done in zip(servers, passes):
            done.append(server.replay())
            log.info("  serving round %d/%d %s %s %s: %.1f %s/s", round_no, rounds, r.label, server.mode,
                     server.policy, done[-1].items_per_s, workload.unit)
    for (r, server), done in zip(servers, passes):
        r.workload.append(_run(server, done))
    for r in results:
        for mode in MODES:
            runs = [w for w in r.workload if w.mode == mode]
            if runs:
                chosen, reason = choose_policy(runs, workload.unit)
                r.chosen_policy[mode], r.policy_reason[mode] = chosen.policy, reason
    set_serving_ratios(results)
    recommendations = {mode: recommend_serving(results, mode, cpu, budget, workload.unit) for mode in MODES
                       if any(r.served(mode) for r in results)}
    return WorkloadSummary(unit=workload.unit, split=options.split, items=len(workload.items),
                           sizes=size_summary(workload), prepare_ms=prepare_summary(workload),
                           policies=[str(p) for p in policies], modes=list(recommendations),
                           recommendation=recommendations, notes=peer_notes(results, recommendations, workload.unit))


def size_summary(workload: Workload) -> dict[str, float]:
    sizes = np.asarray(workload.sizes, dtype=float)
    return {"mean": float(sizes.mean()), "median": float(np.median(sizes)), "p90": float(np.percentile(sizes, 90)),
            "max": float(sizes.max())}


def prepare_summary(workload: Workload) -> dict[str, float]:
    ms = np.asarray(workload.prepare_s, dtype=float) * 1e3
    return {"mean": float(ms.mean()), "p50": float(np.median(ms)), "p99": float(np.percentile(ms, 99))}


def choose_policy(runs: list[WorkloadRun], unit: str = "items") -> tuple[WorkloadRun, str]:
    """The run a variant deploys with in one mode: the fastest policy; when the ranges of others overlap
    it, the simplest of them (dynamic, then static, then buckets), since the rounds cannot tell them apart."""
    fastest = max(runs, key=lambda w: w.median_fps)
    tie = [w for w in runs if w is not fastest and w.overlaps(fastest)]
    others = "; ".join(f"{w.policy} {w.median_fps:.1f}" for w in runs if w is not fastest)
    if len(runs) == 1:
        return fastest, f"{fastest.policy} is the only policy measured"
    if not tie:
        return fastest, (f"{fastest.policy} is fastest: {fastest.median_fps:.1f} {unit}/s (range {fastest.min_fps:.1f}-"
                         f"{fastest.max_fps:.1f}) against {others}; no other range overlaps it")
    group = [fastest, *tie]
    choice = min(group, key=lambda w: SIMPLICITY.index(w.policy.split(":")[0]))
    names = ", ".join(w.policy for w in group)
    return choice, (f"{names} tie (their ranges over {len(choice.rounds)} rounds overlap; fastest median "
                    f"{fastest.policy} {fastest.median_fps:.1f} {unit}/s); {choice.policy} is the simplest of them")


def set_serving_ratios(results: list[VariantResult]) -> None:
    """Each variant's chosen run against the reference's chosen run in the same mode: median per-round ratio."""
    ref = reference(results)
    for mode in MODES:
        base = ref.served(mode) if ref else None
        for r in results:
            run = r.served(mode)
            if run is None or base is None or len(run.rounds) != len(base.rounds):
                continue
            run.ratio = float(statistics.median(a / b for a, b in zip(run.fps, base.fps)))


def recommend_serving(results: list[VariantResult], mode: str, cpu: CpuInfo | None, budget: float,
                      unit: str) -> Recommendation:
    """The variant to deploy for this way of serving (with its shape policy), by the same rule as the
    benchmark recommendation: fastest within the accuracy budget, ties by metric then size."""
    rec = recommend(results, None, budget, speed=lambda r: r.served(mode), unit=f"{unit}/s")
    if rec.choice:
        chosen = next(r for r in results if r.label == rec.choice)
        rec.reason = f"shape policy {chosen.chosen_policy[mode]}; {rec.reason}"
    return rec


def peer_notes(results: list[VariantResult], recommendations: dict[str, Recommendation], unit: str) -> list[str]:
    """How the recommended variant compares with every other runtime's row, per mode (median per-round ratios)."""
    notes = []
    for mode, rec in recommendations.items():
        chosen = next((r for r in results if r.label == rec.choice), None)
        run = chosen.served(mode) if chosen else None
        if run is None:
            continue
        for r in results:
            other = r.served(mode)
            if r.engine in ("openvino", "pytorch") or other is None or len(other.rounds) != len(run.rounds):
                continue
            ratio = statistics.median(a / b for a, b in zip(run.fps, other.fps))
            notes.append(f"{mode}: {chosen.label} ({run.policy}) serves {ratio:.2f}x the {unit}/s of {r.label} "
                         f"({run.median_fps:.1f} vs {other.median_fps:.1f}; p99 {run.latency('p99'):.2f} vs "
                         f"{other.latency('p99'):.2f} ms)")
    return notes
