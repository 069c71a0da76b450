"""The one writer of report.json, report.md and the side-by-side plot, for every command."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ovrecipes.report.model import READABLE_VERSIONS, SCHEMA_VERSION, Report, Section, Table, VariantResult
from ovrecipes.report.plots import metric_vs_throughput

PLOT_NAME = "accuracy_vs_throughput.png"


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


def command_line() -> str:
    return " ".join(["ovrecipes", *sys.argv[1:]]) if sys.argv else ""


def created() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z")


def _mode(v: VariantResult) -> str:
    return {"PERFORMANCE": "perf", "ACCURACY": "acc"}.get(v.execution_mode or "", v.execution_mode or "-")


def side_by_side_table(report: Report) -> Table:
    """The table printed, written to report.md and drawn: the same rows everywhere."""
    ref = next((v for v in report.variants if v.label == report.reference), None)
    metric_name = next((v.metric.name for v in report.variants if v.metric), "metric")
    header = ["variant", "engine", "precision (mode)", metric_name, "drop", "FPS median", "FPS range",
              f"vs {report.reference or 'reference'}", "latency median ms", "size MB"]
    rows = []
    for v in report.variants:
        drop = v.metric.drop_from(ref.metric) if (v.metric and ref and ref.metric) else None
        t = v.throughput
        rows.append([
            v.label, f"{v.engine}/{v.runner}" if v.runner else v.engine, f"{v.precision_label} ({_mode(v)})",
            f"{v.metric.value:.2f}" if v.metric else "-",
            f"{drop:+.2f}" if drop is not None else "-",
            f"{t.median_fps:.1f}" if t else "-",
            f"{t.min_fps:.1f}-{t.max_fps:.1f}" if t else "-",
            f"{v.ratio:.2f}x" if v.ratio is not None else "-",
            f"{t.latency_median_ms:.2f}" if t else "-",
            f"{v.size_mb:.1f}",
        ])
    return Table(header=header, rows=rows)


MODE_TITLES = {"one-at-a-time": "one at a time", "concurrent": "concurrent"}


def serving_table(report: Report) -> Table | None:
    """Per variant: metric, the padded benchmark figure, and the real inputs served one at a time (items/s,
    p50/p99) and concurrently, each under the variant's chosen shape policy."""
    w = report.workload
    if w is None:
        return None
    metric_name = next((v.metric.name for v in report.variants if v.metric), "metric")
    header = ["variant", "precision", metric_name, "padded FPS"]
    for mode in w.modes:
        latencies = ["p50 ms", "p99 ms"] if mode == "one-at-a-time" else []
        header += [f"{MODE_TITLES.get(mode, mode)} {w.unit}/s", "range", *latencies, f"vs {report.reference}",
                   "policy"]
    rows = []
    for v in report.variants:
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


def policy_table(report: Report) -> Table | None:
    """Every shape policy measured, per variant and mode: items/s median and the chosen one."""
    w = report.workload
    if w is None or len(w.policies) < 2:
        return None
    rows = []
    for v in report.variants:
        for mode in w.modes:
            runs = {r.policy: r for r in v.workload if r.mode == mode and r.study}
            if len(runs) < 2:
                continue
            rows.append([v.label, MODE_TITLES.get(mode, mode),
                         *(f"{runs[p].median_fps:.1f} ({runs[p].min_fps:.0f}-{runs[p].max_fps:.0f})" if p in runs
                           else "-" for p in w.policies), v.chosen_policy.get(mode, "-")])
    if not rows:
        return None
    return Table(header=["variant", "mode", *(f"{p} {w.unit}/s" for p in w.policies), "chosen"], rows=rows)


def serving_lines(report: Report) -> list[str]:
    """What was served, how it was measured, and the recommendation per mode."""
    w = report.workload
    if w is None:
        return []
    sizes, prep = w.sizes, w.prepare_ms
    clients = sorted({r.clients for v in report.variants for r in v.workload if r.mode == "concurrent"})
    lines = [f"Served: the first {w.items} {w.split} {w.unit} in order, at their natural sizes (mean "
             f"{sizes['mean']:.1f}, median {sizes['median']:.0f}, p90 {sizes['p90']:.0f}, max {sizes['max']:.0f}). Per "
             "mode, each OpenVINO variant's shape policies are first compared among themselves, then every variant "
             f"runs at its chosen policy; in both steps the models take turns every 50 {w.unit}, {report.rounds} "
             f"rounds, medians with min-max ranges; 'vs {report.reference}' is the median of per-round ratios.",
             "One at a time: one client, the next request after the answer (LATENCY hint, one synchronous request). "
             f"Concurrent: {', '.join(map(str, clients)) or '-'} clients, each sending its next request after its "
             "answer (THROUGHPUT hint, AsyncInferQueue; other runtimes: client threads on one session).",
             f"Preparing each input (tokenization, preprocessing) took {prep['mean']:.3f} ms on average (p99 "
             f"{prep['p99']:.3f} ms), not included above. 'padded FPS' is the benchmark_app-style figure (one padded "
             "random input, asynchronous)."]
    for mode, rec in w.recommendation.items():
        if rec.choice:
            lines.append(f"**Recommended {MODE_TITLES.get(mode, mode)}: {rec.choice}** ({rec.reason}).")
    lines += w.notes
    return lines


def format_table(table: Table, markdown: bool = False) -> str:
    header, rows = table.header, table.rows
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in rows])


def _measurement_note(report: Report) -> str:
    measured = [v for v in report.variants if v.throughput]
    if not measured:
        return ""
    t = next((v.throughput for v in measured if v.engine == "openvino"), measured[0].throughput)
    per_round = t.rounds[0].duration_s if t.rounds else 0.0
    return (f"Throughput: median of {report.rounds} interleaved rounds (every variant once per round, about "
            f"{per_round:.1f} s each; benchmark_app-style asynchronous run for OpenVINO, a synchronous loop otherwise), "
            f"hint {t.hint}, same input shape, same process. 'FPS range' is min-max over the rounds; "
            f"'vs {report.reference}' is the median of the per-round ratios; 'drop' refers to {report.reference}.")


def _section_markdown(section: Section) -> list[str]:
    lines = [f"## {section.title}", ""]
    lines += [line if line.startswith(("- ", "  -", "|", "**")) else f"- {line}" for line in section.lines]
    if section.lines:
        lines.append("")
    for table in section.tables:
        lines += [format_table(table, markdown=True), ""]
    for fig in section.figures:
        lines += [f"![{fig.caption}]({fig.file})", ""]
    return lines


def render_markdown(report: Report, plot_name: str | None) -> str:
    lines = [f"# {report.title}", "", f"Command: `{report.command}`  ", f"Created: {report.created}", ""]
    if report.pipeline:
        info = report.pipeline
        lines += [f"Model: `{info.get('model')}`; data: {info.get('data')}; splits: {info.get('splits')}", ""]
    if report.variants:
        lines += ["## Side by side", "", format_table(side_by_side_table(report), markdown=True), ""]
        note = _measurement_note(report)
        lines += [note, ""] if note else []
        if report.precision_note:
            lines += [report.precision_note, ""]
        lines += [f"**Warning:** {w}" for w in report.warnings] + ([""] if report.warnings else [])
    serving = serving_table(report)
    if serving is not None:
        lines += ["## Serving real inputs", "", format_table(serving, markdown=True), ""]
        lines += [f"{line}  " for line in serving_lines(report)] + [""]
        policies = policy_table(report)
        if policies is not None:
            lines += ["### Shape policies", "", format_table(policies, markdown=True), ""]
            lines += [f"- {v.label}, {MODE_TITLES.get(m, m)}: {why}" for v in report.variants
                      for m, why in v.policy_reason.items() if len({r.policy for r in v.workload}) > 1] + [""]
    rec = report.recommendation
    if rec and rec.choice:
        lines += [f"**Recommended: {rec.choice}**: {rec.reason}.", ""]
        lines += [f"- {note}" for note in rec.notes] + ([""] if rec.notes else [])
    lines += [f"- {line}" for line in report.highlights] + ([""] if report.highlights else [])
    if plot_name:
        lines += [f"![metric vs throughput]({plot_name})", ""]
    for section in report.sections:
        lines += _section_markdown(section)
    m = report.machine
    flags = ", ".join(f for f, on in m.cpu["flags"].items() if on) or "none of the tracked flags"
    lines += ["## Machine", "",
              f"- CPU: {m.cpu['brand']} ({m.cpu_class}), {m.cores} cores; flags: {flags}",
              f"- Default inference precision: {m.default_precision}. {m.default_precision_reason}",
              f"- Sparse weight decompression: {m.sparse_weights_decompression['reason']}",
              "- Versions: " + ", ".join(f"{k} {v}" for k, v in m.versions.items() if v), ""]
    if report.load_average:
        lines.insert(-1, f"- Load average (1 min) after each round: {', '.join(f'{x:.2f}' for x in report.load_average)}")
    if report.timings_s:
        # a key indented with spaces is a part of the stage above it (JPQD's training stages)
        lines += ["## Timings (s)", ""] + [f"{'  ' if k.startswith(' ') else ''}- {k.strip()}: {v}"
                                          for k, v in report.timings_s.items()] + [""]
    if report.peak_rss_mb is not None:
        lines += [f"Peak resident memory of the run: {report.peak_rss_mb:,.0f} MB", ""]
    return "\n".join(lines)


def write_report(out_dir: Path, report: Report, config: dict[str, Any] | None = None) -> None:
    """report.json, report.md, the metric-vs-throughput plot (when there is something to draw) and,
    when given, recipe.yaml (the fully resolved config, reusable as --config)."""
    out_dir = Path(out_dir)
    plot = metric_vs_throughput(report.variants, out_dir / PLOT_NAME, report.title) if report.variants else None
    (out_dir / "report.json").write_text(report.model_dump_json(indent=2))
    (out_dir / "report.md").write_text(render_markdown(report, plot.name if plot else None))
    if config is not None:
        (out_dir / "recipe.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def report_file(path: Path) -> Path:
    """The report.json a path names: the file itself, or the one in a run directory."""
    path = Path(path)
    return path / "report.json" if path.is_dir() else path


def read_report(path: Path) -> Report:
    """A report.json (or the directory holding one), checked against this schema."""
    path = Path(path)
    file = report_file(path)
    if not file.is_file():
        raise ValueError(f"{path} has no report.json")
    try:
        data = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{file} is not a report.json: it is not JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{file} is not a report.json: it holds a JSON {type(data).__name__}, not an object")
    version = data.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise ValueError(f"{file} has report schema version {version!r}; this ovrecipes reads versions "
                         f"{', '.join(map(str, READABLE_VERSIONS))} (rerun the command that wrote it)")
    data = {**data, "schema_version": SCHEMA_VERSION}  # version 2 lacks only the serving fields, which default
    try:
        return Report.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{file} is not a valid report: {where}: {first['msg']}") from None


def print_summary(report: Report) -> None:
    if report.variants:
        print()
        print(format_table(side_by_side_table(report)))
        if report.precision_note:
            print(report.precision_note)
        for w in report.warnings:
            print(f"Warning: {w}")
    serving = serving_table(report)
    if serving is not None:
        print(f"\nServing real inputs ({report.workload.items} {report.workload.split} {report.workload.unit}):")
        print(format_table(serving))
        policies = policy_table(report)
        if policies is not None:
            print(format_table(policies))
        for line in serving_lines(report)[3:]:
            print(line.replace("**", ""))
    rec = report.recommendation
    if rec and rec.choice:
        print(f"\nRecommended: {rec.choice} ({rec.reason})")
        for note in rec.notes:
            print(f"Note: {note}")
    for line in report.highlights:
        print(line)
