"""JPQD extras for report.md: structure kept per layer, compression, and the training curves as PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ovrecipes.compare import format_table
from ovrecipes.plots import saved_figure


def plot_kept(keeps: list[dict], path: Path) -> Path | None:
    """Bars per layer: % of attention heads and of FFN units kept."""
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


def plot_training(history: list[dict], path: Path) -> Path | None:
    """Sparsity of the sparsified layers and the regularization factor over optimizer steps."""
    if not history:
        return None
    steps = [h["step"] for h in history]
    with saved_figure(path, figsize=(6.4, 3.8), dpi=120) as (_, ax):
        ax.plot(steps, [100.0 * h["sparsity"] for h in history], color="tab:blue", label="sparsity (%)")
        ax.set_xlabel("optimizer step (stage 1)")
        ax.set_ylabel("weight sparsity of sparsified layers (%)", color="tab:blue")
        ax2 = ax.twinx()
        ax2.plot(steps, [h["regularization_factor"] for h in history], color="tab:orange", label="regularization factor")
        ax2.set_ylabel("importance regularization factor", color="tab:orange")
        ax.set_title("Movement sparsity warmup", fontsize=10)
        ax.grid(alpha=0.3)
    return path


def markdown(recipe: dict[str, Any], kept_png: str | None, curve_png: str | None) -> str:
    mv = recipe.get("movement", {})
    lines = ["## JPQD", ""]
    params_fp32, params_pruned = recipe.get("params_fp32"), recipe.get("params_pruned")
    if params_fp32 and params_pruned:
        lines.append(f"- Parameters: {params_fp32:,} -> {params_pruned:,} "
                     f"({100.0 * (1 - params_pruned / params_fp32):.1f}% removed by structured pruning)")
    deploy = recipe.get("deploy")
    if deploy:
        lines.append(f"- **deploy = {deploy['value']}** (requested: {deploy['requested']}; stage 2 trained: "
                     f"{', '.join(deploy['trained'])}). {deploy['reason']}")
    teacher = recipe.get("teacher") or {}
    if teacher.get("source"):
        cached = (f"; {teacher['examples']} examples, {'read from' if teacher['hit'] else 'written to'} "
                  f"{teacher['path']} in {teacher['seconds']} s. {teacher['precision']['reason']}"
                  if "path" in teacher else "")
        lines.append(f"- Distillation targets: {teacher['source']}{cached}")
    sizes = recipe.get("ir_size_mb", {})
    if sizes:
        reference = next((v for k, v in sizes.items() if k.startswith("OV FP32")), None)
        int8 = next((v for k, v in sizes.items() if "INT8" in k), None)
        lines.append("- IR size (MB): " + ", ".join(f"{k} {v:.1f}" for k, v in sizes.items())
                     + (f"; compression vs OV FP32: {reference / int8:.2f}x" if reference and int8 else ""))
    if "sparsity_unstructured" in mv:
        lines.append(f"- Sparsity of the {mv.get('layers')} sparsified Linear layers at the end of warmup: "
                     f"{100 * mv['sparsity_unstructured']:.1f}% unstructured, {100 * mv['sparsity_structured']:.1f}% "
                     "after structured masking (whole heads / FFN units, the rest rewound)")
    if recipe.get("fake_quantize_nodes") is not None:
        lines.append(f"- QAT: {recipe['fake_quantize_nodes']} FakeQuantize nodes before weight compression; "
                     f"MatMul weight elements in the INT8 IR: {recipe.get('matmul_weight_elements', 0):,}")
    if recipe.get("training_processes", 1) > 1:
        lines.append(f"- Trained data-parallel on {recipe['training_processes']} processes (torchrun/accelerate); "
                     f"{mv.get('steps_per_epoch')} optimizer steps per epoch on each")
    overflow = (recipe.get("quantization") or {}).get("overflow_fix")
    if overflow:
        lines.append(f"- overflow_fix = {overflow['value']}: {overflow['reason']}")
    for note in recipe.get("legacy_notes", []):
        lines.append(f"- legacy config: {note}")
    keeps = mv.get("keeps") or []
    if keeps:
        rows = [[str(k["layer"]), f"{k['heads_kept']}/{k['heads']}", f"{k['ffn_kept']}/{k['ffn_units']}",
                 ", ".join(map(str, k["heads_kept_ids"]))] for k in keeps]
        lines += ["", format_table(["layer", "heads kept", "FFN units kept", "head ids"], rows, markdown=True)]
    lines.append("")
    if kept_png:
        lines += [f"![kept per layer]({kept_png})", ""]
    if curve_png:
        lines += [f"![sparsity and regularization]({curve_png})", ""]
    return "\n".join(lines)
