"""Side-by-side serving of real inputs: every variant, mode and shape policy in interleaved rounds, the shape
policy each variant should deploy with, and the variant to deploy for each way of serving.

Rounds interleave everything (variant A dynamic, A static, A buckets, B dynamic, ...), so load from
another job hits every candidate in the same round; ratios are medians of per-round ratios, as in
the benchmark_app-style side-by-side (``measure/variants``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ovrecipes.core.cpu import CpuInfo
from ovrecipes.measure.recommend import recommend
from ovrecipes.measure.variants import Variant, reference
from ovrecipes.measure.workload import (
    MODES,
    SLICE,
    WARM,
    OpenVINOServer,
    Pass,
    RunnerServer,
    ShapePolicy,
    interleave,
    percentiles,
    policies_to_compare,
)
from ovrecipes.pipelines.base import FamilyPipeline
from ovrecipes.pipelines.types import Workload
from ovrecipes.report.model import Recommendation, VariantResult, WorkloadRound, WorkloadRun, WorkloadSummary

log = logging.getLogger(__name__)

DEFAULT_SAMPLES = 500
#: the order in which a tie between shape policies is settled: fewer compiled models and less padding logic first
SIMPLICITY = ("dynamic", "static", "buckets")


@dataclass
class WorkloadOptions:
    """What the real-workload replay serves: the first ``samples`` items of ``split``, under ``policy``
    (``auto``: every shape policy, compared; policies joined by ``+``: those, compared), with ``clients``
    concurrent clients (None: the plugin's optimal number of requests)."""

    samples: int = DEFAULT_SAMPLES
    policy: str = "auto"
    clients: int | None = None
    split: str = "test"


def _run(server, passes: list[Pass], study: bool = False) -> WorkloadRun:
    rounds = [WorkloadRound(items_per_s=p.items_per_s, duration_s=p.duration_s, items=p.items,
                            latency_ms=percentiles(p.latencies_ms)) for p in passes]
    return WorkloadRun(mode=server.mode, policy=str(server.policy), clients=server.clients, hint=server.hint,
                       threads=server.threads, streams=server.streams,
                       inference_precision=server.precision.get("inference_precision"), rounds=rounds, study=study)


def serve_side_by_side(pipeline: FamilyPipeline, variants: list[Variant], results: list[VariantResult],
                       options: WorkloadOptions, *, rounds: int, threads: int | None = None,
                       streams: int | None = None, cpu: CpuInfo | None = None,
                       budget: float = 1.0) -> WorkloadSummary:
    """Serve the family's workload with every variant (``results`` in the same order get their runs, chosen
    policies and ratios) and return what was served and the recommendation per mode.

    Per mode, two steps, so that no more than one variant's policy study is compiled at a time: first each
    OpenVINO variant's shape policies in interleaved rounds among themselves (the policy study, which picks
    the policy), then every variant at its chosen policy in rounds interleaved across variants (the runs
    the table, ratios and recommendation use)."""
    workload = pipeline.workload(options.split, options.samples)
    if not workload.items:
        raise ValueError(f"the {options.split} split has no items to serve")
    policies = policies_to_compare(options.policy, workload)
    runners = [pipeline.workload_runner(v.path, precision=v.precision, runner=v.runner, threads=threads)
               for v in variants]
    clients = options.clients

    def openvino(v: Variant, policy: ShapePolicy, mode: str) -> OpenVINOServer:
        nonlocal clients
        server = OpenVINOServer(Path(v.path) / pipeline.submodels()[0].filename, workload, policy, mode,
                                precision=v.precision, threads=threads,
                                streams=streams if mode == "concurrent" else None, clients=clients)
        if mode == "concurrent" and clients is None:
            clients = server.clients  # every engine gets as many clients as the first IR asks for
        return server

    def progress(step: str):
        return lambda round_no, done: log.info("  serving %s, round %d/%d: %s", step, round_no, rounds, "; ".join(
            f"{p.items_per_s:.1f}" for p in done))

    for mode in MODES:
        chosen: dict[int, ShapePolicy] = {}
        for i, (v, r, runner) in enumerate(zip(variants, results, runners)):
            if runner is not None:
                continue
            if len(policies) == 1:
                chosen[i] = policies[0]
                r.policy_reason[mode] = f"{policies[0]} is the only policy measured"
                continue
            servers = [openvino(v, policy, mode) for policy in policies]
            passes = interleave(servers, rounds, SLICE, progress(f"{mode}, {v.label}: {', '.join(map(str, policies))}"),
                                WARM)
            study = [_run(server, done, study=True) for server, done in zip(servers, passes)]
            r.workload.extend(study)
            best, r.policy_reason[mode] = choose_policy(study, workload.unit)
            chosen[i] = next(p for p in policies if str(p) == best.policy)
            del servers  # the next variant's study compiles its own models
        if len(variants) == 1 and any(w.study and w.mode == mode for w in results[0].workload):
            # one variant: its policy study already is the run at the chosen policy; nothing to interleave with
            best = next(w for w in results[0].workload if w.study and w.mode == mode and w.policy == str(chosen[0]))
            results[0].workload.append(best.model_copy(update={"study": False}))
            results[0].chosen_policy[mode] = best.policy
            continue
        owners, servers = [], []
        for i, (v, r, runner) in enumerate(zip(variants, results, runners)):
            if runner is None:
                servers.append(openvino(v, chosen[i], mode))
            elif mode == "one-at-a-time" or runner.concurrent:
                servers.append(RunnerServer(runner, workload, mode, clients or os.cpu_count()))
            else:
                continue
            owners.append(r)
        if not servers:  # nothing serves this mode (a speech pipeline object serves one clip at a time)
            continue
        passes = interleave(servers, rounds, SLICE, progress(f"{mode}, every variant"), WARM)
        for r, server, done in zip(owners, servers, passes):
            r.workload.append(_run(server, done))
            r.chosen_policy[mode] = str(server.policy)
        del servers
    set_serving_ratios(results)
    recommendations = {mode: recommend_serving(results, mode, cpu, budget, workload.unit) for mode in MODES
                       if any(r.served(mode) for r in results)}
    return WorkloadSummary(unit=workload.unit, split=options.split, items=len(workload.items),
                           sizes=size_summary(workload), prepare_ms=prepare_summary(workload),
                           policies=[str(p) for p in policies], modes=list(recommendations),
                           pad_values=workload.pad_values, max_size=workload.max_size, slice=SLICE, warm=WARM,
                           recommendation=recommendations, notes=peer_notes(results, recommendations, workload.unit))


def size_summary(workload: Workload) -> dict[str, float]:
    sizes = np.asarray(workload.sizes, dtype=float)
    return {"mean": float(sizes.mean()), "median": float(np.median(sizes)), "p90": float(np.percentile(sizes, 90)),
            "max": float(sizes.max())}


def prepare_summary(workload: Workload) -> dict[str, float]:
    ms = np.asarray(workload.prepare_s, dtype=float) * 1e3
    return {"mean": float(ms.mean()), "p50": float(np.median(ms)), "p99": float(np.percentile(ms, 99))}


def _simplicity(run: WorkloadRun) -> tuple[int, int]:
    """Order of preference in a tie: the kind of policy, then fewer bucket lengths (fewer copies of the graph
    in the compiled model: less memory)."""
    name, _, lengths = run.policy.partition(":")
    return SIMPLICITY.index(name), len(lengths.split(",")) if lengths else 0


def choose_policy(runs: list[WorkloadRun], unit: str = "items") -> tuple[WorkloadRun, str]:
    """The shape policy a variant deploys with in one mode: the one with the highest median that was faster than
    each other policy in every round. A policy that beat it in some round ties with it (the rounds cannot
    tell them apart), and the simplest of a tie wins (dynamic, then static, then buckets, fewer buckets first)."""
    if len(runs) == 1:
        return runs[0], f"{runs[0].policy} is the only policy measured"
    fastest = max(runs, key=lambda w: w.median_fps)
    tie = [w for w in runs if w is not fastest and not fastest.faster_each_round(w)]
    others = "; ".join(f"{w.policy} {w.median_fps:.1f}" for w in runs if w is not fastest)
    rounds = len(fastest.rounds)
    if not tie:
        return fastest, (f"{fastest.policy} was fastest in each of {rounds} rounds: median {fastest.median_fps:.1f} "
                         f"{unit}/s (range {fastest.min_fps:.1f}-{fastest.max_fps:.1f}) against {others}")
    group = [fastest, *tie]
    choice = min(group, key=_simplicity)
    names = ", ".join(w.policy for w in group)
    return choice, (f"{names} tie (each was faster in some of the {rounds} rounds; highest median {fastest.policy} "
                    f"{fastest.median_fps:.1f} {unit}/s against {others}); {choice.policy} is the simplest of them")


def set_serving_ratios(results: list[VariantResult]) -> None:
    """Each variant's chosen run against the reference's chosen run in the same mode: median per-round ratio."""
    ref = reference(results)
    for mode in MODES:
        base = ref.served(mode) if ref else None
        for r in results:
            run = r.served(mode)
            if run is None or base is None or len(run.rounds) != len(base.rounds):
                continue
            run.ratio = run.ratio_to(base)


def recommend_serving(results: list[VariantResult], mode: str, cpu: CpuInfo | None, budget: float,
                      unit: str) -> Recommendation:
    """The variant to deploy for this way of serving (with its shape policy), by the same rule as the
    benchmark recommendation: fastest within the accuracy budget, ties broken as :func:`break_tie` says."""
    rec = recommend(results, None, budget, speed=lambda r: r.served(mode), unit=f"{unit}/s")
    if rec.choice:
        chosen = next(r for r in results if r.label == rec.choice)
        rec.reason = f"shape policy {chosen.chosen_policy[mode]}; {rec.reason}"
    return rec


def peer_notes(results: list[VariantResult], recommendations: dict[str, Recommendation], unit: str) -> list[str]:
    """How the recommended variant compares with every peer's row, per mode (median per-round ratios). Reports
    written before rows were marked as peers: every row of another runtime."""
    notes = []
    for mode, rec in recommendations.items():
        chosen = next((r for r in results if r.label == rec.choice), None)
        run = chosen.served(mode) if chosen else None
        if run is None:
            continue
        for r in results:
            other = r.served(mode)
            is_peer = r.peer or r.engine not in ("openvino", "pytorch")
            if r is chosen or not is_peer or other is None or len(other.rounds) != len(run.rounds):
                continue
            ratio = run.ratio_to(other)
            notes.append(f"{mode}: {chosen.label} ({run.policy}) serves {ratio:.2f}x the {unit}/s of {r.label} "
                         f"({run.median_fps:.1f} vs {other.median_fps:.1f}; p99 {run.latency('p99'):.2f} vs "
                         f"{other.latency('p99'):.2f} ms)")
    return notes
