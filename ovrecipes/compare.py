"""Side-by-side measurement of model variants on one family pipeline: metric, speed, size.

Every variant is evaluated on the same split and benchmarked with the same input shape in the same
process, so ratios between them are meaningful even on a noisy machine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ovrecipes.pipelines.base import FamilyPipeline, Metric, is_openvino_dir

DEFAULT_ACCURACY_BUDGET = 1.0  # metric points a faster variant may lose and still be recommended


@dataclass
class Variant:
    label: str
    path: Path
    precision: str | None = None  # OpenVINO INFERENCE_PRECISION_HINT to pin ("f32"); None: plugin default

    @property
    def engine(self) -> str:
        return "openvino" if is_openvino_dir(self.path) else "pytorch"


@dataclass
class VariantResult:
    variant: Variant
    metric: Metric | None
    bench: Any | None  # ovrecipes.pipelines.runtime.BenchResult
    size_mb: float
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "label": self.variant.label,
            "path": str(self.variant.path),
            "engine": self.variant.engine,
            "precision": self.variant.precision,
            "metric": self.metric.to_dict() if self.metric else None,
            "bench": self.bench.to_dict() if self.bench else None,
            "size_mb": round(self.size_mb, 2),
            "seconds": self.seconds,
        }


def model_size_mb(path: Path) -> float:
    """Bytes of the model's weights and graph files (IR .xml/.bin, or PyTorch weights)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size / 2**20
    suffixes = {".xml", ".bin"} if is_openvino_dir(path) else {".safetensors", ".bin", ".pt", ".pth"}
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file() and p.suffix in suffixes) / 2**20


def measure(
    pipeline: FamilyPipeline,
    variants: list[Variant],
    *,
    split: str = "test",
    limit: int | None = None,
    evaluate: bool = True,
    bench: bool = True,
    bench_args: dict | None = None,
) -> list[VariantResult]:
    results = []
    for variant in variants:
        seconds: dict[str, float] = {}
        metric = bench_result = None
        pinned = {"precision": variant.precision} if variant.precision else {}
        if evaluate:
            started = time.perf_counter()
            metric = pipeline.evaluate(variant.path, split=split, limit=limit, **pinned)
            seconds["evaluate"] = round(time.perf_counter() - started, 1)
            print(f"  {variant.label}: {metric.name} {metric.value:.2f}{metric.unit} on {metric.samples} {split} samples")
        if bench:
            started = time.perf_counter()
            args = dict(bench_args or {})
            if variant.precision:
                from ovrecipes.pipelines.runtime import precision_config

                args["config"] = {**(args.get("config") or {}), **precision_config(variant.precision)}
            bench_result = pipeline.benchmark(variant.path, **args)
            seconds["benchmark"] = round(time.perf_counter() - started, 1)
            print(f"  {variant.label}: {bench_result.throughput_fps:.1f} FPS, "
                  f"median latency {bench_result.latency_ms['median']:.2f} ms")
        results.append(VariantResult(variant, metric, bench_result, model_size_mb(variant.path), seconds))
    return results


def _reference(results: list[VariantResult], engine: str = "openvino") -> VariantResult:
    """The FP32 baseline ratios refer to: the first OpenVINO variant, else the first one."""
    return next((r for r in results if r.variant.engine == engine), results[0])


def recommend(results: list[VariantResult], budget: float = DEFAULT_ACCURACY_BUDGET) -> dict[str, Any]:
    """The fastest variant whose metric is within ``budget`` points of the best one, and plain notes."""
    notes: list[str] = []
    measured = [r for r in results if r.bench is not None]
    if not measured:
        return {"choice": None, "reason": "no benchmark was run", "notes": notes}
    scored = [r for r in measured if r.metric is not None]
    if scored:
        best = max(scored, key=lambda r: r.metric.value if r.metric.higher_is_better else -r.metric.value)
        eligible = [r for r in scored if r.metric.drop_from(best.metric) <= budget + 1e-9]
    else:
        best, eligible = None, measured
    choice = max(eligible, key=lambda r: r.bench.throughput_fps)
    ref = _reference(measured)
    for r in measured:
        if r is ref or r.variant.engine != "openvino":
            continue
        ratio = r.bench.throughput_fps / ref.bench.throughput_fps
        if ratio < 1.0:
            notes.append(
                f"{r.variant.label} is SLOWER than {ref.variant.label} on this CPU "
                f"({r.bench.throughput_fps:.1f} vs {ref.bench.throughput_fps:.1f} FPS, {ratio:.2f}x). INT8 pays off "
                "with VNNI/AMX (int8 dot products in one instruction); without them OpenVINO emulates int8 "
                "dot products with 16-bit intermediates, and small models can lose. Deploy FP32 here, or INT8 "
                "on a VNNI/AMX CPU (see 'ovrecipes cpu')."
            )
    reason = f"fastest variant ({choice.bench.throughput_fps:.1f} FPS)"
    if best is not None:
        reason += f" within {budget:.1f} {best.metric.name} points of the best ({best.variant.label})"
    return {"choice": choice.variant.label, "reason": reason, "budget_points": budget, "notes": notes}


def table_rows(results: list[VariantResult]) -> tuple[list[str], list[list[str]]]:
    """The side-by-side table: the same rows go to the terminal, report.md and the plot."""
    ref = _reference(results)
    metric_name = next((r.metric.name for r in results if r.metric), "metric")
    header = ["variant", "engine", metric_name, "drop", "throughput FPS", "vs OV FP32", "latency median ms",
              "size MB"]
    rows = []
    for r in results:
        drop = r.metric.drop_from(ref.metric) if (r.metric and ref.metric) else None
        ratio = (r.bench.throughput_fps / ref.bench.throughput_fps) if (r.bench and ref.bench) else None
        rows.append([
            r.variant.label,
            r.variant.engine,
            f"{r.metric.value:.2f}" if r.metric else "-",
            f"{drop:+.2f}" if drop is not None else "-",
            f"{r.bench.throughput_fps:.1f}" if r.bench else "-",
            f"{ratio:.2f}x" if ratio is not None else "-",
            f"{r.bench.latency_ms['median']:.2f}" if r.bench else "-",
            f"{r.size_mb:.1f}",
        ])
    return header, rows


def format_table(header: list[str], rows: list[list[str]], markdown: bool = False) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in rows])


def plot(results: list[VariantResult], path: Path, title: str) -> Path | None:
    """Metric against throughput, one labelled point per variant."""
    points = [r for r in results if r.metric and r.bench]
    if not points:
        return None
    from ovrecipes.plots import saved_figure

    with saved_figure(path, figsize=(6.4, 4.2), dpi=120) as (_, ax):
        for r in points:
            ax.scatter(r.bench.throughput_fps, r.metric.value, s=60)
            ax.annotate(r.variant.label, (r.bench.throughput_fps, r.metric.value), textcoords="offset points",
                        xytext=(6, 6), fontsize=9)
        ax.set_xlabel("throughput (inferences/s, higher is better)")
        ax.set_ylabel(f"{points[0].metric.name} ({points[0].metric.unit})")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        values = [r.metric.value for r in points]
        pad = max(0.5, (max(values) - min(values)) * 0.5)
        ax.set_ylim(min(values) - pad, max(values) + pad)
    return path
