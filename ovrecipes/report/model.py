"""The one report every command writes: a typed model, saved as report.json and rendered as report.md.

A report holds the variants measured side by side (metric, throughput rounds, the precision that
really ran), the recommendation and its notes, the recipe's own section, free sections for what a
command adds (tables, figures), the machine and the timings. ``schema_version`` changes when a
field changes meaning, so ``ovrecipes compare --from-reports`` can read reports of earlier runs.
"""

from __future__ import annotations

import statistics
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ovrecipes.pipelines.base import Metric

SCHEMA_VERSION = 2
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


class Throughput(_Model):
    """A variant's speed over interleaved rounds, with the settings that produced it."""

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

    @property
    def latency_median_ms(self) -> float:
        return float(statistics.median(r.latency_ms["median"] for r in self.rounds))

    def overlaps(self, other: "Throughput") -> bool:
        """Whether the two min-max ranges overlap: the rounds cannot tell the variants apart."""
        return self.min_fps <= other.max_fps and other.min_fps <= self.max_fps


class VariantResult(_Model):
    """One model measured in a side-by-side."""

    label: str
    path: str
    engine: str  # openvino | pytorch | another runtime (ctranslate2 ...)
    runner: str | None = None  # how the family ran it, when it has several ways (Whisper: genai, optimum)
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

    @property
    def precision_label(self) -> str:
        """'f32', 'bf16', 'int8+bf16' ...: what ran, as one short word for the table."""
        ran = self.inference_precision or "?"
        return f"int8+{ran}" if self.weights == "int8" else ran


class Recommendation(_Model):
    choice: str | None
    reason: str
    budget_points: float | None = None
    tie: list[str] = Field(default_factory=list)  # variants whose throughput ranges overlap the choice's
    notes: list[str] = Field(default_factory=list)  # explanations derived from this run's CPU facts


class Table(_Model):
    header: list[str]
    rows: list[list[str]]


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

    def variant(self, label: str) -> VariantResult:
        for v in self.variants:
            if v.label == label:
                return v
        raise KeyError(label)
