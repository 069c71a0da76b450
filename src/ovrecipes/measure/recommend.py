"""Which variant to deploy, why, and what a reader must know to trust the numbers.

The recommendation is the fastest variant within an accuracy budget of the best metric, on the split
and on every condition the metric carries (held-out voices, noise: a note names a variant they rule
out). Speed is
compared round by round, not by single numbers: a variant beats another only when it was at least
``TIE_MARGIN`` ahead in each of their shared interleaved rounds; otherwise they tie, decided by the
metric or the model size where the measurement tells them apart, then for the user's model over a peer,
then by a lead in every round, else by the higher metric as measured (:func:`break_tie`), and the reason says so.
Every explanatory note is derived from the CPU facts of the run: a note never names a cause (no
VNNI, no AMX) that the CPU does not have.
"""

from __future__ import annotations

from typing import Any, Callable

from ovrecipes.core.cpu import CpuInfo
from ovrecipes.measure.variants import reference
from ovrecipes.pipelines.types import MIN_SAMPLES_APART
from ovrecipes.report.model import NOISY_SPREAD, Recommendation, VariantResult

DEFAULT_ACCURACY_BUDGET = 1.0  # metric points a faster variant may lose and still be recommended


#: a variant less than this much faster (median of per-round ratios) than another does not beat it: on these
#: shared machines two equally fast models came out 4% apart, either way round, in repeated runs
TIE_MARGIN = 0.05


def indistinguishable(fast: Any, other: Any) -> bool:
    """Whether the rounds cannot tell two speeds apart: the faster was not ``TIE_MARGIN`` or more ahead in each
    shared round (rounds not shared: the ranges overlap, or the medians are less than ``TIE_MARGIN`` apart).
    One round under the margin makes a tie: two INT8 IRs of the same quantization came out 1.5%, 11% and 7%
    apart in three rounds of one run, the same order, and level in the next run."""
    if fast.shares_rounds(other):
        return not all(a >= b * (1 + TIE_MARGIN) for a, b in zip(fast.fps, other.fps))
    return not fast.tells_apart(other) or fast.ratio_to(other) < 1 + TIE_MARGIN


def _signed(r: VariantResult) -> float:
    return r.metric.value if r.metric.higher_is_better else -r.metric.value


def recommend(results: list[VariantResult], cpu: CpuInfo | None, budget: float = DEFAULT_ACCURACY_BUDGET, *,
              speed: Callable[[VariantResult], Any] = lambda r: r.throughput, unit: str = "FPS") -> Recommendation:
    """``cpu``: where the variants were measured (None when unknown or mixed: no CPU notes then).
    ``speed``: the measurement that ranks a variant (the benchmark by default; a serving run), in ``unit``."""
    measured = [r for r in results if speed(r) is not None]
    notes = cpu_notes(results, cpu) if cpu is not None else []
    if not measured:
        return Recommendation(choice=None, reason="no benchmark was run", budget_points=budget, notes=notes)
    scored = [r for r in measured if r.metric is not None]
    best = max(scored, key=_signed) if scored else None
    if best:
        worst = {r.label: r.metric.worst_drop_from(best.metric) for r in scored}
        eligible = [r for r in scored if worst[r.label][0] <= budget + 1e-9]
        notes = [*condition_notes(scored, best, worst, budget), *notes]
    else:
        eligible = measured
    fastest = max(eligible, key=lambda r: speed(r).median_fps)
    tie = [r for r in eligible if r is not fastest and indistinguishable(speed(fastest), speed(r))]
    t = speed(fastest)
    points = "point" if budget == 1 else "points"
    within = f" within {budget:g} {best.metric.name} {points} of the best ({best.label})" if best else ""
    if not tie:
        reason = (f"fastest variant{within}: median {t.median_fps:.1f} {unit} over {len(t.rounds)} rounds "
                  f"(range {t.min_fps:.1f}-{t.max_fps:.1f}), ahead of each other one in every round by "
                  f"{TIE_MARGIN:.0%} or more")
        return Recommendation(choice=fastest.label, reason=reason, budget_points=budget, notes=notes)
    group = [fastest, *tie]
    choice, why = break_tie(group, speed, unit)
    names = ", ".join(r.label for r in group)
    reason = (f"{names} tie on throughput{within} (over {len(t.rounds)} interleaved rounds the faster was not "
              f"{TIE_MARGIN:.0%} or more ahead in every round); {choice.label} is chosen for {why}")
    return Recommendation(choice=choice.label, reason=reason, budget_points=budget,
                          tie=[r.label for r in group if r is not choice], notes=notes)


#: a model this much larger than the smallest of a tie is not as good a choice; closer sizes do not decide
SIZE_MARGIN = 0.10


def break_tie(group: list[VariantResult], speed: Callable[[VariantResult], Any], unit: str) -> tuple[VariantResult, str]:
    """The variant to deploy among variants whose speeds tie, and why. Evidence first: the better metric where
    the split tells the metrics apart (:meth:`Metric.tells_apart`: a counted metric needs several samples
    between them), the smaller model where it is ``SIZE_MARGIN`` smaller. Then the models that are not peers
    (a peer is another runtime's or library's model, built only to compare with): a peer is recommended only
    where something measured favours it, so runs of the same models do not swap the user's model for an
    equal peer by the chance of the rounds. Then the one that led in every round (not by ``TIE_MARGIN`` in
    each, or it would not be a tie). Where nothing tells them apart, the higher metric as measured and then
    the smaller model: a model's metric on a split is the same in every run, so repeated runs choose alike,
    and a one-sample difference never overrules a lead in every round."""
    scored = [r for r in group if r.metric is not None]
    if scored:
        top = max(scored, key=_signed)
        group = [r for r in group if r.metric is None or not top.metric.tells_apart(r.metric)]  # top stays
        if len(group) == 1:
            return top, f"the higher {top.metric.name} ({top.metric.value:.2f})"
    smallest = min(group, key=lambda r: r.size_mb)
    group = [r for r in group if r.size_mb <= smallest.size_mb * (1 + SIZE_MARGIN)]
    if len(group) == 1:
        return smallest, f"the smaller model ({smallest.size_mb:.1f} MB)"
    own = [r for r in group if not r.peer]
    if len(own) == 1 and len(group) > 1:
        peers = ", ".join(r.label for r in group if r.peer)
        return own[0], f"not being a peer: nothing measured favours {peers}{_untold(group)}"
    group = own or group
    fastest = max(group, key=lambda r: speed(r).median_fps)
    if all(speed(fastest).tells_apart(speed(r)) for r in group if r is not fastest):
        return fastest, (f"leading in every round ({speed(fastest).median_fps:.1f} {unit} median), if not by "
                         f"{TIE_MARGIN:.0%} in each{_untold(group)}")
    choice = min(group, key=lambda r: ((-_signed(r)) if r.metric else 0.0, r.size_mb))
    if choice.metric and any(r.metric and _signed(r) < _signed(choice) for r in group):
        return choice, f"the higher {choice.metric.name} ({choice.metric.value:.2f}){_untold(group)}"
    return choice, f"the smaller model ({choice.size_mb:.1f} MB)"


def _untold(group: list[VariantResult]) -> str:
    """A clause saying why different metrics in ``group`` did not decide, or nothing."""
    metrics = [r.metric for r in group if r.metric is not None]
    if len({m.value for m in metrics}) < 2 or not all(m.counted for m in metrics):
        return ""
    return (f"; their {metrics[0].name} differs by fewer than {MIN_SAMPLES_APART} of {min(m.samples for m in metrics)} "
            "samples, which no paired test tells apart")


def condition_notes(scored: list[VariantResult], best: VariantResult, worst: dict[str, tuple[float, str | None]],
                    budget: float) -> list[str]:
    """One line per variant within the budget on the split that a condition (held-out voices, noise ...) rules
    out; ``worst`` maps each label to its worst drop from ``best`` and where it happens."""
    notes = []
    for r in scored:
        drop, condition = worst[r.label]
        if condition is not None and drop > budget + 1e-9 and r.metric.drop_from(best.metric) <= budget + 1e-9:
            points = "point" if budget == 1 else "points"
            notes.append(f"{r.label} is not recommended: within {budget:g} {r.metric.name} {points} of {best.label} "
                         f"on the split, but {drop:.2f} points below it on {condition}.")
    if notes and not any("weight-only" in r.label for r in scored):
        notes.append("No weight-only INT8 variant was measured: its floating-point activations can hold where static "
                     "INT8 does not (add it with --weight-only).")
    return notes


def cpu_notes(results: list[VariantResult], cpu: CpuInfo) -> list[str]:
    """Plain explanations of INT8 speed against the f32 baseline, from this CPU's flags."""
    ref = reference(results)
    if ref is None or ref.throughput is None or ref.weights != "fp32":
        return []
    notes = []
    vnni = ", ".join(cpu.vnni_flags)
    for r in results:
        if r.weights != "int8" or r.throughput is None or r.engine != "openvino":
            continue
        a, b = r.throughput, ref.throughput
        if a.median_fps >= b.median_fps:
            continue
        if indistinguishable(b, a):
            notes.append(f"{r.label} is not measurably faster than {ref.label} here: the rounds cannot tell them "
                         f"apart ({a.min_fps:.1f}-{a.max_fps:.1f} vs {b.min_fps:.1f}-{b.max_fps:.1f} FPS).")
        elif not cpu.has_vnni:
            notes.append(
                f"{r.label} is SLOWER than {ref.label} on this CPU ({a.median_fps:.1f} vs {b.median_fps:.1f} FPS, "
                f"{r.ratio or a.median_fps / b.median_fps:.2f}x): {cpu.where} has no VNNI or AMX, so "
                "OpenVINO computes int8 dot products with 16-bit intermediates and small models lose. Deploy FP32 "
                "here, or INT8 on a VNNI/AMX CPU (see 'ovrecipes cpu').")
        else:
            notes.append(
                f"{r.label} measured slower than {ref.label} ({a.median_fps:.1f} vs {b.median_fps:.1f} FPS) although "
                f"{cpu.where} has {vnni} (int8 dot products in one instruction): for this model and "
                "shape the quantize/dequantize work outweighs the int8 kernels, or the run was disturbed (see the "
                "spread and any warning).")
    return notes


def run_warnings(results: list[VariantResult], loads: list[float], cores: int | None) -> list[str]:
    """One line when the measurement is noisy (a spread over 10%, or more load than cores), and any
    variant whose compiled precision differs from what was asked."""
    warnings = []
    noisy = [f"{r.label} {r.throughput.spread:.0%}" for r in results
             if r.throughput is not None and len(r.throughput.rounds) > 1 and r.throughput.spread > NOISY_SPREAD]
    causes = []
    if noisy:
        causes.append(f"throughput varied more than {NOISY_SPREAD:.0%} across rounds ({', '.join(noisy)})")
    if loads and cores and max(loads) > cores:
        causes.append(f"the load average reached {max(loads):.1f} on {cores} cores during the measurement")
    if causes:
        warnings.append("Noisy run: " + "; ".join(causes) + ". Ratios may not repeat; rerun on a quiet machine.")
    for r in results:
        asked = r.requested_precision
        ran = r.inference_precision
        if asked not in (None, "default") and ran and ran != asked:
            warnings.append(f"{r.label} asked for {asked} but the compiled model ran {ran}.")
        if asked == "default" and "BF16" in r.label and ran and ran != "bf16":
            warnings.append(f"{r.label} ran {ran}: the plugin did not default to bf16 on this machine.")
    return warnings
