"""The figures reports carry, drawn with :func:`ovrecipes.core.figures.saved_figure`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ovrecipes.core.figures import saved_figure
from ovrecipes.report.model import VariantResult


def metric_vs_throughput(variants: list[VariantResult], path: Path, title: str) -> Path | None:
    """Metric against median throughput, one labelled point per variant, with the rounds' range as a bar."""
    points = [v for v in variants if v.metric and v.throughput]
    if not points:
        return None
    with saved_figure(path, figsize=(6.4, 4.2), dpi=120) as (_, ax):
        for v in points:
            t = v.throughput
            ax.errorbar(t.median_fps, v.metric.value, xerr=[[t.median_fps - t.min_fps], [t.max_fps - t.median_fps]],
                        fmt="o", markersize=7, capsize=3)
            ax.annotate(f"{v.label} ({v.precision_label})", (t.median_fps, v.metric.value),
                        textcoords="offset points", xytext=(6, 6), fontsize=8)
        ax.set_xlabel("throughput (inferences/s, median and range over rounds)")
        ax.set_ylabel(f"{points[0].metric.name} ({points[0].metric.unit})")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        values = [v.metric.value for v in points]
        pad = max(0.5, (max(values) - min(values)) * 0.5)
        ax.set_ylim(min(values) - pad, max(values) + pad)
    return path


def kept_per_layer(keeps: list[dict], path: Path) -> Path | None:
    """Bars per layer: % of attention heads and of FFN units kept by structured pruning."""
    if not keeps:
        return None
    layers = [k["layer"] for k in keeps]
    heads = [100.0 * k["heads_kept"] / k["heads"] for k in keeps]
    ffn = [100.0 * k["ffn_kept"] / k["ffn_units"] for k in keeps]
    with saved_figure(path, figsize=(6.4, 3.8), dpi=120) as (_, ax):
        width = 0.38
        ax.bar([x - width / 2 for x in layers], heads, width, label="attention heads kept")
        ax.bar([x + width / 2 for x in layers], ffn, width, label="FFN units kept")
        for x, k, head_pct, ffn_pct in zip(layers, keeps, heads, ffn):
            ax.annotate(f"{k['heads_kept']}/{k['heads']}", (x - width / 2, head_pct), ha="center", va="bottom",
                        fontsize=7)
            ax.annotate(f"{k['ffn_kept']}/{k['ffn_units']}", (x + width / 2, ffn_pct), ha="center", va="bottom",
                        fontsize=7)
        ax.set_xlabel("layer")
        ax.set_ylabel("% kept")
        ax.set_ylim(0, 125)
        ax.set_xticks(layers)
        ax.legend(fontsize=8, loc="upper center", ncol=2)
        ax.set_title("Structure kept after structured masking", fontsize=10)
    return path


def sparsity_schedule(history: list[dict], path: Path) -> Path | None:
    """Sparsity of the sparsified layers and the regularization factor over optimizer steps."""
    if not history:
        return None
    steps = [h["step"] for h in history]
    with saved_figure(path, figsize=(6.4, 3.8), dpi=120) as (_, ax):
        ax.plot(steps, [100.0 * h["sparsity"] for h in history], color="tab:blue", label="sparsity (%)")
        ax.set_xlabel("optimizer step (stage 1)")
        ax.set_ylabel("weight sparsity of sparsified layers (%)", color="tab:blue")
        ax2 = ax.twinx()
        ax2.plot(steps, [h["regularization_factor"] for h in history], color="tab:orange",
                 label="regularization factor")
        ax2.set_ylabel("importance regularization factor", color="tab:orange")
        ax.set_title("Movement sparsity warmup", fontsize=10)
        ax.grid(alpha=0.3)
    return path


def plot_sweep(result: dict, path: Path) -> Path:
    """Left: sparse/dense ratio per (streams, threads); right: both throughputs against L."""
    with saved_figure(path, 2, figsize=(10, 4), dpi=120) as (fig, (left, right)):
        grid = [p for p in result["grid"] if "ratio" in p]
        left.bar([f"s{p['streams']} t{p['threads']}" for p in grid], [p["ratio"] for p in grid], color="tab:blue")
        left.axhline(1.0, color="black", linewidth=0.8)
        left.set_ylabel("sparse / dense throughput")
        left.set_title(f"streams x threads, L={result['grid'][0]['seq_len'] if result['grid'] else '-'}", fontsize=10)
        seq = [p for p in result["seq"] if "ratio" in p]
        lengths = [p["seq_len"] for p in seq]
        right.plot(lengths, [p["dense"]["fps"] for p in seq], "o-", label="dense")
        right.plot(lengths, [p["sparse"]["fps"] for p in seq], "s--", label="sparse")
        for p in seq:
            right.annotate(f"{p['ratio']:.2f}x", (p["seq_len"], p["sparse"]["fps"]), textcoords="offset points",
                           xytext=(4, 6), fontsize=8)
        right.set_xscale("log", base=2)
        right.set_yscale("log")
        if lengths:
            right.set_xticks(lengths, [str(entry) for entry in lengths])
            right.minorticks_off()
        right.set_xlabel("sequence length L (inputs [1, L])")
        right.set_ylabel("throughput (inferences/s)")
        right.set_title("by sequence length (hint throughput)", fontsize=10)
        right.legend(fontsize=8)
        for ax in (left, right):
            ax.grid(alpha=0.3)
        fig.suptitle(f"sparse rate {result.get('rate')}: {'AMX CPU' if result['sparse_kernels_here'] else 'no AMX: ratios are noise'}",
                     fontsize=10)
    return path


def plot_zero_fractions(layers, rate: float | None, path: Path, title: str) -> Path:
    """Histogram of per-layer zero fractions, eligible and not, with the rate marked."""

    bins = np.linspace(0.0, 1.0, 21)
    groups = [[entry.zero_fraction for entry in layers if entry.eligible], [entry.zero_fraction for entry in layers if not entry.eligible]]
    with saved_figure(path, figsize=(6.4, 4.0), dpi=120) as (_, ax):
        ax.hist(groups, bins=bins, stacked=True,
                label=["eligible (i8, 2-D, 64-multiples, int8 input)", "not eligible"], color=["tab:blue", "tab:gray"])
        if rate is not None:
            ax.axvline(rate, color="tab:red", linestyle="--", label=f"rate {rate:g}")
        ax.set_xlabel("zero fraction of a MatMul's stored weights")
        ax.set_ylabel("layers")
        ax.set_xlim(0, 1)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return path
