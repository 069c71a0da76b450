"""What the sparse runs report: the sections of their report.md, the tables the command line prints and
the lines that explain them, built from the recipe's figures (:mod:`ovrecipes.recipes.sparse`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ovrecipes.core.cpu import sparse_kernel_support
from ovrecipes.measure.sweep import GRID_HEADER, SEQ_HEADER, tables
from ovrecipes.recipes import sparse
from ovrecipes.recipes.sparse import WeightInfo
from ovrecipes.recipes.sparse_prune import PruneResult
from ovrecipes.report.machine import machine
from ovrecipes.report.model import Figure, Report, Section, Table
from ovrecipes.report.writer import command_line, created

ELIGIBILITY = ("Eligible: i8 weight constant, 2-D, both dims multiples of 64, u8/i8 activations (a FakeQuantize "
               "upstream). On an AMX CPU such a layer is decompressed sparsely for any "
               "CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE at or below its zero fraction (1 = off).")


def short_name(name: str) -> str:
    """'__module.bert.encoder.layer.0.attention.self.query/aten::linear/MatMul' -> 'bert.encoder...query'."""
    head = name.split("/")[0] if "/" in name else name
    return head.removeprefix("__module.") or name


def sparse_report(kind: str, title: str, sections: list[Section], data: dict[str, Any],
                  timings: dict[str, float] | None = None) -> Report:
    """A sparse command's report: no variants, its own sections, its payload in ``data``."""
    return Report(kind=kind, title=title, command=command_line(), created=created(), sections=sections,
                  machine=machine(), timings_s=timings or {}, data=data)


def report_markdown(report: Report) -> str:
    """How a notebook shows a sparse result: the title, then each section's lines and tables."""
    parts = [f"**{report.title}**"]
    for section in report.sections:
        parts.append("\n".join(f"- {line}" for line in section.lines))
        parts += [table.format(markdown=True) for table in section.tables]
    return "\n\n".join(p for p in parts if p)


# -- stats and config -------------------------------------------------------------------------------
def layer_table(layers: list[WeightInfo], rate: float | None) -> Table:
    """Per MatMul weight: shape, type, zeros, eligibility, and whether ``rate`` makes it sparse."""
    header = ["layer", "shape", "type", "activations", "zeros", "eligible",
              f"sparse at rate {rate if rate is not None else '-'}", "sparse at rates / why not"]
    rows = [[short_name(entry.name), "x".join(map(str, entry.shape)), entry.dtype, entry.activations,
             f"{entry.zero_fraction:.1%}", "yes" if entry.eligible else "no", "yes" if entry.sparse_at(rate) else "no",
             f"any rate <= {entry.zero_fraction:.3f} (below 1)" if entry.eligible else "; ".join(entry.reasons)]
            for entry in layers]
    return Table(header=header, rows=rows)


def summary_lines(summary: dict) -> list[str]:
    """The model-level figures of :func:`ovrecipes.recipes.sparse.summarize`, in words."""
    s = summary
    rate = "none (no eligible layer)" if s["auto_rate"] is None else f"{s['auto_rate']:g}"
    lines = [f"MatMul weights: {s['matmul_weights']}, eligible: {s['eligible_layers']} "
             f"({s['eligible_byte_share']:.0%} of weight bytes)",
             f"zero fraction: {s['zero_fraction_all']:.1%} of all MatMul weights, "
             f"{s['zero_fraction_eligible']:.1%} of eligible ones",
             f"auto rate (coverage {s['auto_coverage']:.0%} of eligible bytes): {rate}"]
    if s["rate"] is not None:
        lines.append(f"at rate {s['rate']:g}: {s['layers_sparse_at_rate']} of {s['eligible_layers']} eligible layers, "
                     f"{s['byte_share_sparse_at_rate']:.0%} of eligible bytes would be decompressed sparsely (AMX CPUs)")
    return lines


def stats_section(xml: Path, layers: list[WeightInfo], summary: dict, why: str | None, plot: Path | None) -> Section:
    lines = [f"Model: `{xml}`", *summary_lines(summary), *([why] if why else []),
             f"This machine: {sparse_kernel_support()[1]}", ELIGIBILITY]
    figures = [Figure(file=plot.name, caption="zero fractions")] if plot else []
    return Section(title="Weights", lines=lines, tables=[layer_table(layers, summary["rate"])], figures=figures)


# -- check ------------------------------------------------------------------------------------------
def check_table(verdict: dict) -> Table:
    """Per layer of :func:`ovrecipes.recipes.sparse_kernels.decide`: did a sparse kernel run, and why (not)."""
    header = ["layer", "shape", "zeros", "eligible", "exec type", "sparse kernel", "why"]
    rows = [[short_name(r["name"]), "x".join(map(str, r["shape"])), f"{r['zero_fraction']:.1%}",
             "yes" if r["eligible"] else "no", r["exec_type"] or "-",
             "ran" if r["ran"] else "not used", r["reason"]] for r in verdict["layers"]]
    return Table(header=header, rows=rows)


def check_lines(verdict: dict) -> list[str]:
    return [verdict["rate_reason"], f"inference precision: {verdict['inference_precision']} (execution mode "
            f"{verdict['execution_mode']})", verdict["headline"]]


def check_section(verdict: dict) -> Section:
    return Section(title="Sparse kernels", lines=[f"Model: `{verdict['model']}`", *check_lines(verdict)],
                   tables=[check_table(verdict)])


# -- sweep ------------------------------------------------------------------------------------------
def sweep_tables(result: dict) -> tuple[Table, Table]:
    """The streams x threads grid and the sequence lengths, dense and sparse side by side."""
    grid, seq = tables(result)
    return Table(header=GRID_HEADER, rows=grid), Table(header=SEQ_HEADER, rows=seq)


def sweep_section(result: dict, plot: Path | None) -> Section:
    lo_hi = result["ratio_range"]
    verdict = f"Sparse/dense ratios span {lo_hi[0]:.3f}-{lo_hi[1]:.3f}." if lo_hi else "No point was measured."
    if not result["sparse_kernels_here"]:
        verdict += (" This CPU has no AMX, so the sparse config runs the same dense kernels: the spread is "
                    "measurement noise, not an effect of sparsity.")
    precisions = sorted({p[k]["inference_precision"] for p in result["grid"] + result["seq"] for k in ("dense", "sparse")
                         if k in p and p[k].get("inference_precision")})
    lines = [f"Model: `{result.get('model')}`", f"Rate: {result.get('rate')} ({result.get('rate_reason')})",
             f"Sparse config: `{json.dumps(result['sparse_config'])}`; dense: the same without the rate.",
             f"{result['time_s']:g} s per measurement, dense and sparse back to back in one process; hint "
             f"{result['hint']}; inference precision {', '.join(precisions) or '-'}; sweep wall time "
             f"{result.get('wall_s', '-')} s.", f"**{verdict}**", result["sparse_kernels_reason"]]
    if result.get("grid_skipped"):
        lines.append(f"Grid values above the {result['cores']} cores were skipped: "
                     f"{', '.join(map(str, result['grid_skipped']))}.")
    return Section(title="Sparse vs dense", lines=lines, tables=list(sweep_tables(result)),
                   figures=[Figure(file=plot.name, caption="sweep")] if plot else [])


# -- prune ------------------------------------------------------------------------------------------
def prune_data(xml: Path, pruned_xml: Path, target: float, family: str | None, results: list[PruneResult],
               summary: dict, metrics: dict) -> dict:
    """report.json's ``data`` of a pruning run: what was pruned, zero fractions, the accuracy change."""
    pruned = [r for r in results if r.skipped is None]
    n_before = sum(r.zeros_before for r in pruned)
    n_after = sum(r.zeros_after for r in pruned)
    n = sum(r.elements for r in pruned)
    change = None
    if metrics:
        before, after = metrics["before"], metrics["after"]
        change = {"name": before.name, "before": before.value, "after": after.value,
                  "drop": after.drop_from(before), "samples": before.samples, "unit": before.unit}
    return {"source": str(xml), "out": str(pruned_xml), "target": target, "family": family,
            "pruned_layers": len(pruned), "skipped_layers": len(results) - len(pruned),
            "zero_fraction_before": n_before / n, "zero_fraction_after": n_after / n,
            "min_layer_zero_fraction_after": min(r.zeros_after / r.elements for r in pruned),
            "accuracy": change, "summary_after": summary, "layers": [r.to_dict() for r in results]}


def prune_lines(data: dict) -> list[str]:
    lines = [f"pruned {data['pruned_layers']} MatMul weights to >= {data['target']:g} zeros each "
             f"({data['skipped_layers']} skipped): zero fraction {data['zero_fraction_before']:.1%} -> "
             f"{data['zero_fraction_after']:.1%} (lowest layer {data['min_layer_zero_fraction_after']:.1%})"]
    acc = data["accuracy"]
    if acc:
        lines.append(f"{acc['name']} on {acc['samples']} test samples: {acc['before']:.2f}{acc['unit']} -> "
                     f"{acc['after']:.2f}{acc['unit']} (drop {acc['drop']:+.2f} points; inference precision "
                     f"{data.get('inference_precision', '-')})")
    s = data["summary_after"]
    if s["eligible_layers"] == 0:
        lines.append("No layer is sparse-eligible yet (weights are not int8): quantize the pruned model "
                     f"(e.g. ovrecipes {data['family'] or '<family>'} ptq --model {Path(data['out']).parent} "
                     "--out DIR) before 'sparse config'.")
    else:
        lines.append(f"{s['eligible_layers']} eligible int8 layers; auto rate {s['auto_rate']:g}")
    return lines


def prune_section(data: dict, plot: Path) -> Section:
    header = ["layer", "shape", "type", "zeros before", "zeros after", "skipped because"]
    rows = [[short_name(entry["name"]), "x".join(map(str, entry["shape"])), entry["dtype"], f"{entry['before']:.1%}",
             f"{entry['after']:.1%}", entry["skipped"] or ""] for entry in data["layers"]]
    lines = [f"Source: `{data['source']}`", f"Output: `{data['out']}`", *prune_lines(data),
             "Unstructured, per layer: in each 2-D MatMul weight whose dims are multiples of 64, the smallest values "
             "by dequantized magnitude are set to zero until the layer reaches the target."]
    return Section(title="Pruning", lines=lines, tables=[Table(header=header, rows=rows)],
                   figures=[Figure(file=plot.name, caption="zero fractions")])


def compile_snippet(xml_path: str, section: dict[str, str], device: str = "CPU") -> str:
    """A Python file that compiles the model with the same properties, for applications."""
    lines = [f'"""Compile {xml_path} with sparse int8 weight decompression (written by ovrecipes sparse config)."""',
             "import openvino as ov", "import openvino.properties as props",
             "import openvino.properties.intel_cpu as intel_cpu", "", "config = {"]
    names = {sparse.RATE_KEY: "intel_cpu.sparse_weights_decompression_rate()",
             "NUM_STREAMS": "props.num_streams()", "INFERENCE_NUM_THREADS": "props.inference_num_threads()"}
    for key, value in section.items():
        literal = value if key == sparse.RATE_KEY else int(value) if value.isdigit() else repr(value)
        lines.append(f"    {names.get(key, repr(key))}: {literal},")
    lines += ["}", "# Effective only on CPUs with AMX; elsewhere the rate is accepted and ignored.",
              "core = ov.Core()", f"compiled = core.compile_model({xml_path!r}, {device!r}, config)",
              f"print('{sparse.RATE_KEY} =', compiled.get_property(intel_cpu.sparse_weights_decompression_rate()))", ""]
    return "\n".join(lines)
