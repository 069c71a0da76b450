"""report.json and report.md of a run: what was done, what was measured, on which machine."""

from __future__ import annotations

import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from ovrecipes.compare import VariantResult, format_table, plot, recommend, table_rows
from ovrecipes.recipes.overflow import host_cpu, sparse_kernel_support

LIBRARIES = ("ovrecipes", "openvino", "nncf", "optimum-intel", "optimum", "transformers", "torch", "numpy")


def system_info() -> dict[str, Any]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    import os

    sparse_ok, sparse_reason = sparse_kernel_support()
    return {
        "cpu": host_cpu().to_dict(),
        "cores": os.cpu_count(),
        "sparse_weights_decompression": {"supported": sparse_ok, "reason": sparse_reason},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


class Timer:
    """Wall time of each stage of a run, in order, for the report."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}

    def stage(self, name: str):
        timer = self

        class _Stage:
            def __enter__(self):
                self.started = time.perf_counter()
                print(f"== {name}")

            def __exit__(self, *exc):
                timer.stages[name] = round(time.perf_counter() - self.started, 1)

        return _Stage()


def build_report(
    *,
    title: str,
    pipeline_info: dict,
    results: list[VariantResult],
    recipe: dict | None,
    timer: Timer,
    budget: float,
) -> dict[str, Any]:
    header, rows = table_rows(results) if results else ([], [])
    return {
        "title": title,
        "command": " ".join(["ovrecipes", *sys.argv[1:]]) if sys.argv else "",
        "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "pipeline": pipeline_info,
        "variants": [r.to_dict() for r in results],
        "table": {"header": header, "rows": rows},
        "recommendation": recommend(results, budget) if results else None,
        "recipe": recipe,
        "system": system_info(),
        "timings_s": timer.stages,
    }


def _recipe_markdown(recipe: dict) -> list[str]:
    lines = ["## Recipe", ""]
    overflow = recipe.get("overflow_fix")
    if overflow:
        lines += [f"- **overflow_fix = {overflow['value']}** (requested: {overflow['requested']}). {overflow['reason']}"]
    for name, sub in recipe.get("submodels", {}).items():
        sq = sub.get("smooth_quant", {})
        lines.append(
            f"- submodel `{name}` ({sub['file']}): {sub['fake_quantize']} FakeQuantize nodes; quantized ops "
            f"{', '.join(f'{t} {n}' for t, n in sorted(sub['quantized_ops'].items()))}; SmoothQuant alpha "
            f"matmul={sq.get('matmul')} convolution={sq.get('convolution')}; {len(sub['ignored_nodes'])} ignored "
            f"nodes; {sub['seconds']} s"
        )
        if sub.get("ignored_nodes"):
            shown = ", ".join(f"`{n}`" for n in sub["ignored_nodes"][:20])
            more = f" and {len(sub['ignored_nodes']) - 20} more" if len(sub["ignored_nodes"]) > 20 else ""
            lines.append(f"  - ignored: {shown}{more}")
        reverted = sub.get("reverted_by_accuracy_control")
        if reverted is not None:
            lines.append(f"  - accuracy control reverted {len(reverted)} ops to FP32: "
                         + (", ".join(f"`{r['name']}` ({r['type']})" for r in reverted) or "none"))
    if recipe.get("alpha_search"):
        lines += ["", "SmoothQuant alpha search (validation split):", "",
                  "| submodel | op | alpha | metric | samples |", "|---|---|---|---|---|"]
        lines += [f"| {p['submodel']} | {p['op']} | {p['alpha']} | {p['metric']:.2f} | {p['samples']} |"
                  for p in recipe["alpha_search"]]
    return lines + [""]


def _scope_modes(recipe: dict) -> dict[str, dict]:
    """Ignored-scope mode -> {label, nodes, search} for the main INT8 model and each compared mode."""
    extra = recipe.get("scope_variants") or {}
    found: dict[str, dict] = {}
    for mode_label, subs in [(None, recipe.get("submodels", {}))] + [(m, v["submodels"]) for m, v in extra.items()]:
        for sub in subs.values():
            info = sub.get("ignored_scope_mode") or {"mode": "none"}
            mode = mode_label or info["mode"]
            label = f"OV INT8 [{mode}]" if extra else "OV INT8"
            entry = found.setdefault(mode, {"label": label, "nodes": [], "search": None})
            entry["nodes"] += sub.get("ignored_nodes", [])
            entry["search"] = entry["search"] or info.get("search")
    return found


def _metric_details(report: dict[str, Any]) -> list[str]:
    """All numbers of a metric with extras (recall@1/2/4/8) and the ops each INT8 variant kept in FP32."""
    scored = [v for v in report["variants"] if v.get("metric") and v["metric"].get("extra")]
    modes = _scope_modes(report.get("recipe") or {})
    if not scored and len(modes) < 2:
        return []
    keys = list(scored[0]["metric"]["extra"]) if scored else []
    kept = {m["label"]: (mode, len(m["nodes"])) for mode, m in modes.items()}
    header = ["variant", *keys, "ignored scope", "ops kept FP32"]
    rows = [[v["label"], *(f"{v['metric']['extra'].get(k, float('nan')):.2f}" for k in keys),
             kept.get(v["label"], ("-", 0))[0], str(kept[v["label"]][1]) if v["label"] in kept else "-"]
            for v in (scored or report["variants"])]
    lines = ["## Metric details and ignored scopes", "", format_table(header, rows, True), ""]
    for mode, m in modes.items():
        shown = ", ".join(f"`{n}`" for n in m["nodes"][:30]) or "none"
        lines.append(f"- `{mode}`: {len(m['nodes'])} ops kept in FP32: {shown}")
        if m["search"]:
            s = m["search"]
            lines.append(f"  - auto search on {s['samples']} validation samples: FP32 {s['fp32']:.2f}, all quantized "
                         f"{s['all_quantized']:.2f}, with the chosen ops {s['metric_with_chosen']:.2f} (budget "
                         f"{s['max_drop']} points, {'met' if s['met_budget'] else 'NOT met'}; {len(s['per_op'])} single-op "
                         f"trials, {s['seconds']} s)")
    return lines + [""]


def render_markdown(report: dict[str, Any], plot_name: str | None) -> str:
    lines = [f"# {report['title']}", "", f"Command: `{report['command']}`  ", f"Created: {report['created']}", ""]
    info = report["pipeline"]
    lines += [f"Model: `{info.get('model')}`; data: {info.get('data')}; splits: {info.get('splits')}", ""]
    if report["table"]["rows"]:
        lines += ["## Side by side", "", format_table(report["table"]["header"], report["table"]["rows"], True), ""]
        lines += ["Throughput: benchmark_app-style asynchronous run (OpenVINO) or a synchronous loop (PyTorch), "
                  "same input shape, same process; 'drop' and 'vs OV FP32' refer to the first OpenVINO variant.", ""]
    lines += _metric_details(report)
    rec = report.get("recommendation")
    if rec and rec.get("choice"):
        lines += [f"**Recommended: {rec['choice']}**: {rec['reason']}.", ""]
        lines += [f"- {note}" for note in rec["notes"]] + ([""] if rec["notes"] else [])
    if plot_name:
        lines += [f"![metric vs throughput]({plot_name})", ""]
    if report.get("recipe"):
        lines += _recipe_markdown(report["recipe"])
    system = report["system"]
    cpu = system["cpu"]
    flags = ", ".join(f for f, on in cpu["flags"].items() if on) or "none of the tracked flags"
    lines += ["## Machine", "",
              f"- CPU: {cpu['brand']}, {system['cores']} cores; flags: {flags}; VNNI: {cpu['vnni']}; AMX: {cpu['amx']}",
              f"- Sparse weight decompression: {system['sparse_weights_decompression']['reason']}",
              "- Versions: " + ", ".join(f"{k} {v}" for k, v in system["versions"].items() if v), "",
              "## Timings (s)", "", ", ".join(f"{k}: {v}" for k, v in report["timings_s"].items()), ""]
    return "\n".join(lines)


def write_report(out_dir: Path, report: dict[str, Any], results: list[VariantResult],
                 config: dict | None = None) -> None:
    """Write report.json, report.md, the plot and (if given) recipe.yaml into ``out_dir``."""
    plot_path = plot(results, out_dir / "accuracy_vs_throughput.png", report["title"]) if results else None
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (out_dir / "report.md").write_text(render_markdown(report, plot_path.name if plot_path else None))
    if config is not None:
        (out_dir / "recipe.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def print_summary(report: dict[str, Any]) -> None:
    if report["table"]["rows"]:
        print()
        print(format_table(report["table"]["header"], report["table"]["rows"]))
    rec = report.get("recommendation")
    if rec and rec.get("choice"):
        print(f"\nRecommended: {rec['choice']} ({rec['reason']})")
        for note in rec["notes"]:
            print(f"Note: {note}")
    overflow = (report.get("recipe") or {}).get("overflow_fix")
    if overflow:
        print(f"overflow_fix={overflow['value']}: {overflow['reason']}")
