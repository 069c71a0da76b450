"""The one report every command writes: a typed model, saved as report.json and rendered as report.md.

A report holds the variants measured side by side (metric, throughput rounds, the precision that
really ran), the recommendation and its notes, the recipe's own section, free sections for what a
command adds (tables, figures), the machine and the timings. ``schema_version`` changes when a
field changes meaning, so ``ovrecipes compare --from-reports`` can read reports of earlier runs.
"""

from __future__ import annotations

import statistics
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from ovrecipes.pipelines.types import Metric

SCHEMA_VERSION = 3
#: versions read_report accepts: 2 has no real-workload fields, which read as absent
READABLE_VERSIONS = (2, 3)
#: how a serving mode is named in tables and lines
MODE_TITLES = {"one-at-a-time": "one at a time", "concurrent": "concurrent"}
#: a variant whose throughput rounds spread more than this (max - min over median) makes the run "noisy"
NOISY_SPREAD = 0.10


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Round(_Model):
    """One benchmark measurement of a variant (one round of an interleaved side-by-side)."""

    throughput_fps: float
    latency_ms: dict[str, float]  # median, average, min, max
    count: int
    duration_s: float


class _RoundSpeed(_Model):
    """Speed over interleaved rounds: median, range, spread, overlap. A subclass gives ``fps``, the items
    or inferences per second of each round."""

    fps: ClassVar[property]
    #: the run whose interleaved rounds these are (None: the run being reported); ``compare --from-reports``
    #: marks rows from earlier runs, whose round i did not run beside another report's round i
    _run: str | None = PrivateAttr(default=None)

    def from_run(self, run: str) -> None:
        """Mark these rounds as another run's, so no ratio or comparison pairs them with this run's rounds."""
        self._run = run

    def shares_rounds(self, other: "_RoundSpeed") -> bool:
        """Whether round i of both ran within the same seconds (the same interleaved run, as many rounds)."""
        return self._run == other._run and len(self.fps) == len(other.fps)

    @property
    def median_fps(self) -> float:
        return float(statistics.median(self.fps))

    @property
    def min_fps(self) -> float:
        return min(self.fps)

    @property
    def max_fps(self) -> float:
        return max(self.fps)

    @property
    def spread(self) -> float:
        """(max - min) / median over the rounds: 0 for one round."""
        return (self.max_fps - self.min_fps) / self.median_fps if self.median_fps else 0.0

    def ratio_to(self, other: "_RoundSpeed") -> float:
        """This speed over ``other``'s: the median of per-round ratios when both ran in the same interleaved
        rounds (a burst of load hits both alike), else the ratio of the medians."""
        if self.shares_rounds(other):
            return float(statistics.median(a / b for a, b in zip(self.fps, other.fps)))
        return self.median_fps / other.median_fps

    def overlaps(self, other: "_RoundSpeed") -> bool:
        """Whether the two min-max ranges overlap (what is left to compare when the rounds were not shared)."""
        return self.min_fps <= other.max_fps and other.min_fps <= self.max_fps

    def faster_each_round(self, other: "_RoundSpeed") -> bool | None:
        """Whether this speed beat ``other`` in every one of their shared interleaved rounds (round i of both
        ran within the same seconds, so a burst of load hit both); None when they did not share rounds."""
        if not self.shares_rounds(other):
            return None
        return all(a > b for a, b in zip(self.fps, other.fps))

    def tells_apart(self, other: "_RoundSpeed") -> bool:
        """Whether the rounds show this speed above ``other``'s: faster in each shared round (rounds not
        shared: min-max ranges apart). Ranges of a shared-round run overlap whenever the machine's load
        moved between rounds, however clearly one variant led in every round."""
        each = self.faster_each_round(other)
        return not self.overlaps(other) if each is None else each


class Throughput(_RoundSpeed):
    """A variant's benchmark_app-style speed over interleaved rounds, with the settings that produced it."""

    rounds: list[Round]
    hint: str
    streams: int | None = None
    threads: int | None = None
    nireq: int = 1
    batch: int = 1
    shapes: dict[str, list[int]] = Field(default_factory=dict)

    @property
    def fps(self) -> list[float]:
        return [r.throughput_fps for r in self.rounds]

    @property
    def latency_median_ms(self) -> float:
        return float(statistics.median(r.latency_ms["median"] for r in self.rounds))


class WorkloadRound(_Model):
    """One replay of the real inputs: items per second and latency percentiles (p50, p90, p99, mean, max)."""

    items_per_s: float
    duration_s: float
    items: int
    latency_ms: dict[str, float]


class WorkloadRun(_RoundSpeed):
    """A variant serving the real inputs in one mode under one shape policy, over interleaved rounds."""

    mode: str  # one-at-a-time | concurrent
    policy: str  # dynamic | static:64 | buckets:16,32,48,64
    clients: int
    hint: str
    threads: int | None = None
    streams: int | None = None
    inference_precision: str | None = None
    rounds: list[WorkloadRound]
    ratio: float | None = None  # median over rounds of items/s against the reference variant's run in this mode
    #: a run of the variant's shape-policy study (interleaved with its other policies, not with other variants)
    study: bool = False

    @property
    def fps(self) -> list[float]:
        return [r.items_per_s for r in self.rounds]

    def latency(self, key: str) -> float:
        """A latency percentile ("p50", "p99" ...): its median over the rounds."""
        return float(statistics.median(r.latency_ms[key] for r in self.rounds))


class VariantResult(_Model):
    """One model measured in a side-by-side."""

    label: str
    path: str
    engine: str  # openvino | pytorch | another runtime (ctranslate2 ...)
    runner: str | None = None  # how the family ran it, when it has several ways (Whisper: genai, optimum)
    peer: bool = False  # another runtime's or library's model, built only to compare with (ORT, optimum-intel ...)
    weights: str  # what the model stores: fp32, int8, int8-weights ...
    requested_precision: str | None = None  # INFERENCE_PRECISION_HINT asked for (None: the plugin default)
    inference_precision: str | None = None  # what the compiled model reported back
    execution_mode: str | None = None
    metric: Metric | None = None  # the family's own type
    throughput: Throughput | None = None
    ratio: float | None = None  # median over rounds of this variant's FPS / the reference's FPS
    size_mb: float
    seconds: dict[str, float] = Field(default_factory=dict)
    source: str | None = None  # the report it came from (compare --from-reports)
    workload: list[WorkloadRun] = Field(default_factory=list)  # real inputs served, per mode and shape policy
    #: per mode, the shape policy whose run represents the variant (the fastest, or the simplest of a tie), and why
    chosen_policy: dict[str, str] = Field(default_factory=dict)
    policy_reason: dict[str, str] = Field(default_factory=dict)

    def served(self, mode: str) -> WorkloadRun | None:
        """The run that represents this variant in a serving mode (its chosen shape policy)."""
        policy = self.chosen_policy.get(mode)
        return next((w for w in self.workload if w.mode == mode and w.policy == policy and not w.study), None)

    @property
    def mode_label(self) -> str:
        """The execution mode that ran, short: perf, acc or -."""
        return {"PERFORMANCE": "perf", "ACCURACY": "acc"}.get(self.execution_mode or "", self.execution_mode or "-")

    @property
    def precision_label(self) -> str:
        """'f32', 'bf16', 'int8+bf16' ...: what ran, as one short word for the table."""
        ran = self.inference_precision or "?"
        return f"int8+{ran}" if self.weights == "int8" else ran


class Recommendation(_Model):
    choice: str | None
    reason: str
    budget_points: float | None = None
    tie: list[str] = Field(default_factory=list)  # variants the rounds could not tell apart from the choice
    notes: list[str] = Field(default_factory=list)  # explanations derived from this run's CPU facts


class WorkloadSummary(_Model):
    """What the real-workload replay served and what it concluded, per serving mode."""

    unit: str  # sentences, images, clips
    split: str
    items: int
    sizes: dict[str, float]  # mean, median, p90, max of the items' natural sizes
    prepare_ms: dict[str, float]  # per-item tokenization/preprocessing: mean, p50, p99 (not in the timings)
    policies: list[str]  # shape policies compared (dynamic only when inputs do not vary)
    modes: list[str]
    #: inputs whose length varies, with the value that pads them, and the longest length allowed: what a
    #: deployment of a padded policy needs (empty/None in reports written before they were recorded)
    pad_values: dict[str, int] = Field(default_factory=dict)
    max_size: int | None = None
    #: how the models took turns: items per slice, of which the first ``warm`` ran untimed (0 in reports
    #: written before the warm-up)
    slice: int = 50
    warm: int = 0
    recommendation: dict[str, Recommendation] = Field(default_factory=dict)  # per mode
    notes: list[str] = Field(default_factory=list)

    def sizes_text(self) -> str:
        """How big the served items were, as a reader should read it (images a family resizes are all of one
        size: no shape policy to choose)."""
        s = self.sizes
        if s["mean"] == s["max"]:
            return f"all of one size ({s['max']:.0f}), so each IR runs as exported (no shape policy to choose)"
        return (f"at their natural sizes (mean {s['mean']:.1f}, median {s['median']:.0f}, p90 {s['p90']:.0f}, "
                f"max {s['max']:.0f})")


class Table(_Model):
    header: list[str]
    rows: list[list[str]]

    def format(self, markdown: bool = False) -> str:
        """Aligned plain-text columns, or a Markdown table."""
        if markdown:
            lines = ["| " + " | ".join(self.header) + " |", "|" + "|".join("---" for _ in self.header) + "|"]
            return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in self.rows])
        widths = [max(len(str(c)) for c in col) for col in zip(self.header, *self.rows)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        return "\n".join([fmt.format(*self.header), fmt.format(*("-" * w for w in widths))]
                         + [fmt.format(*r) for r in self.rows])


class Figure(_Model):
    file: str  # a PNG next to report.md
    caption: str


class Section(_Model):
    """A titled part of report.md that a command adds: bullet lines, tables, figures, in that order."""

    title: str
    lines: list[str] = Field(default_factory=list)
    tables: list[Table] = Field(default_factory=list)
    figures: list[Figure] = Field(default_factory=list)


class Machine(_Model):
    cpu: dict[str, Any]
    cpu_class: str  # "AVX2", "AVX-512 VNNI+BF16", "AMX" ...
    cores: int | None
    default_precision: str  # the CPU plugin's INFERENCE_PRECISION_HINT default here
    default_precision_reason: str
    sparse_weights_decompression: dict[str, Any]
    python: str
    platform: str
    versions: dict[str, str | None]


class Report(_Model):
    schema_version: int = SCHEMA_VERSION
    kind: str  # ptq | jpqd | compare | sparse-stats | sparse-config | sparse-check | sparse-sweep | sparse-prune ...
    title: str
    command: str
    created: str
    pipeline: dict[str, Any] | None = None
    variants: list[VariantResult] = Field(default_factory=list)
    reference: str | None = None  # label that ratios and drops refer to
    rounds: int = 0
    load_average: list[float] = Field(default_factory=list)  # 1-minute load sampled at each round
    warnings: list[str] = Field(default_factory=list)  # noisy measurement, precision mismatches
    precision_note: str | None = None  # why there is (no) BF16 row
    recommendation: Recommendation | None = None
    highlights: list[str] = Field(default_factory=list)  # printed after the table (e.g. the overflow_fix chosen)
    recipe: dict[str, Any] | None = None  # the recipe's typed result, dumped
    sections: list[Section] = Field(default_factory=list)
    machine: Machine
    timings_s: dict[str, float] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)  # a command's own payload (sparse layers, sweep points)
    peak_rss_mb: float | None = None  # the process's peak resident memory when the report was made
    workload: WorkloadSummary | None = None  # real inputs served one at a time and concurrently

    def variant(self, label: str) -> VariantResult:
        for v in self.variants:
            if v.label == label:
                return v
        raise KeyError(label)

    # -- views: the same rows printed, written to report.md and shown in a notebook ----------------------
    def side_by_side_table(self) -> Table:
        """The benchmark side-by-side: metric, drop, padded FPS with its range, ratio, latency, size."""
        ref = next((v for v in self.variants if v.label == self.reference), None)
        metric_name = next((v.metric.name for v in self.variants if v.metric), "metric")
        header = ["variant", "engine", "precision (mode)", metric_name, "drop", "FPS median", "FPS range",
                  f"vs {self.reference or 'reference'}", "latency median ms", "size MB"]
        rows = []
        for v in self.variants:
            drop = v.metric.drop_from(ref.metric) if (v.metric and ref and ref.metric) else None
            t = v.throughput
            rows.append([
                v.label, f"{v.engine}/{v.runner}" if v.runner else v.engine, f"{v.precision_label} ({v.mode_label})",
                f"{v.metric.value:.2f}" if v.metric else "-",
                f"{drop:+.2f}" if drop is not None else "-",
                f"{t.median_fps:.1f}" if t else "-",
                f"{t.min_fps:.1f}-{t.max_fps:.1f}" if t else "-",
                f"{v.ratio:.2f}x" if v.ratio is not None else "-",
                f"{t.latency_median_ms:.2f}" if t else "-",
                f"{v.size_mb:.1f}",
            ])
        return Table(header=header, rows=rows)

    def condition_table(self) -> Table | None:
        """The metric on each held-out condition (voices, noise ...) beside the split, with the drop from the
        reference in brackets and each variant's worst drop: a loss that hides in the split's average shows."""
        names = list(dict.fromkeys(c for v in self.variants if v.metric and v.metric.conditions
                                   for c in v.metric.conditions))
        if not names:
            return None
        ref = next((v for v in self.variants if v.label == self.reference and v.metric), None)

        def cell(value: float | None, reference: float | None, metric) -> str:
            if value is None:
                return "-"
            if reference is None:
                return f"{value:.2f}"
            return f"{value:.2f} ({metric.drop_of(reference, value):+.2f})"

        metric_name = next(v.metric.name for v in self.variants if v.metric)
        rows = []
        for v in self.variants:
            if not v.metric:
                continue
            mine, theirs = v.metric.conditions or {}, (ref.metric.conditions or {}) if ref else {}
            worst = "-"
            if ref:
                drop, where = v.metric.worst_drop_from(ref.metric)
                worst = f"{drop:+.2f} ({where or 'split'})"
            rows.append([v.label, cell(v.metric.value, ref.metric.value if ref else None, v.metric),
                         *(cell(mine.get(n), theirs.get(n), v.metric) for n in names), worst])
        return Table(header=["variant", f"{metric_name} split (drop)", *names, "worst drop"], rows=rows)

    def serving_table(self) -> Table | None:
        """Per variant: metric, the padded benchmark figure, and the real inputs served one at a time (items/s,
        p50/p99) and concurrently, each under the variant's chosen shape policy."""
        w = self.workload
        if w is None:
            return None
        metric_name = next((v.metric.name for v in self.variants if v.metric), "metric")
        header = ["variant", "precision", metric_name, "padded FPS"]
        for mode in w.modes:
            latencies = ["p50 ms", "p99 ms"] if mode == "one-at-a-time" else []
            header += [f"{MODE_TITLES.get(mode, mode)} {w.unit}/s", "range", *latencies, f"vs {self.reference}",
                       "policy"]
        rows = []
        for v in self.variants:
            row = [v.label, v.precision_label, f"{v.metric.value:.2f}" if v.metric else "-",
                   f"{v.throughput.median_fps:.1f}" if v.throughput else "-"]
            for mode in w.modes:
                run = v.served(mode)
                width = 6 if mode == "one-at-a-time" else 4
                if run is None:
                    row += ["-"] * width
                    continue
                latencies = [f"{run.latency('p50'):.2f}", f"{run.latency('p99'):.2f}"] if width == 6 else []
                row += [f"{run.median_fps:.1f}", f"{run.min_fps:.1f}-{run.max_fps:.1f}", *latencies,
                        f"{run.ratio:.2f}x" if run.ratio is not None else "-", run.policy]
            rows.append(row)
        return Table(header=header, rows=rows)

    def policy_table(self) -> Table | None:
        """Every shape policy measured, per variant and mode: items/s median (range), the chosen one, and, when
        a static policy was measured, what the chosen policy gains over padding every input to it."""
        w = self.workload
        if w is None or len(w.policies) < 2:
            return None
        static = next((p for p in w.policies if p.startswith("static")), None)
        rows = []
        for v in self.variants:
            for mode in w.modes:
                runs = {r.policy: r for r in v.workload if r.mode == mode and r.study}
                if len(runs) < 2:
                    continue
                chosen = v.chosen_policy.get(mode, "-")
                row = [v.label, MODE_TITLES.get(mode, mode),
                       *(f"{runs[p].median_fps:.1f} ({runs[p].min_fps:.0f}-{runs[p].max_fps:.0f})" if p in runs
                         else "-" for p in w.policies), chosen]
                if static:
                    gain = runs[chosen].ratio_to(runs[static]) if chosen in runs and static in runs else None
                    row.append(f"{gain:.2f}x" if gain is not None else "-")
                rows.append(row)
        if not rows:
            return None
        return Table(header=["variant", "mode", *(f"{p} {w.unit}/s" for p in w.policies), "chosen",
                             *([f"chosen / {static}"] if static else [])], rows=rows)

    def _repr_markdown_(self) -> str:
        """How a notebook shows a report: its tables and recommendations (report.md has everything)."""
        parts = [f"**{self.title}**"]
        if self.variants:
            parts.append(self.side_by_side_table().format(markdown=True))
        if self.recommendation and self.recommendation.choice:
            parts.append(f"Recommended: **{self.recommendation.choice}** ({self.recommendation.reason})")
        serving = self.serving_table()
        if serving is not None:
            parts.append(f"Serving real inputs ({self.workload.items} {self.workload.split} {self.workload.unit}):")
            parts.append(serving.format(markdown=True))
            parts += [f"Recommended {MODE_TITLES.get(mode, mode)}: **{rec.choice}** ({rec.reason})"
                      for mode, rec in self.workload.recommendation.items() if rec.choice]
        return "\n\n".join(parts)
