"""The one writer of report.json, report.md and the side-by-side plot, for every command."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ovrecipes.report.model import MODE_TITLES, READABLE_VERSIONS, SCHEMA_VERSION, Report, Section
from ovrecipes.report.plots import metric_vs_throughput

log = logging.getLogger(__name__)

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
                log.info(f"== {name}")

            def __exit__(self, *exc):
                timer.stages[name] = round(time.perf_counter() - self.started, 1)

        return _Stage()


def command_line() -> str:
    return " ".join(["ovrecipes", *sys.argv[1:]]) if sys.argv else ""


def created() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z")


def serving_lines(report: Report) -> list[str]:
    """What was served, how it was measured, and the recommendation per mode."""
    w = report.workload
    if w is None:
        return []
    prep = w.prepare_ms
    clients = sorted({r.clients for v in report.variants for r in v.workload if r.mode == "concurrent"})
    warm = (f" in orders where each follows every other equally often, each first serving {w.warm} of them "
            "untimed (its own caches, not the last model's)") if w.warm else ""
    turns = (f"take turns every {w.slice} {w.unit}{warm}, {report.rounds} rounds, medians with min-max ranges; "
             f"'vs {report.reference}' is the median of per-round ratios.")
    how = (f"The models {turns}" if len(w.policies) == 1 else
           "Per mode, each OpenVINO variant's shape policies are first compared among themselves, then every "
           f"variant runs at its chosen policy; in both steps the models {turns}")
    lines = [f"Served: the first {w.items} {w.split} {w.unit} in order, {w.sizes_text()}. {how}",
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
        lines += [table.format(markdown=True), ""]
    for fig in section.figures:
        lines += [f"![{fig.caption}]({fig.file})", ""]
    return lines


def render_markdown(report: Report, plot_name: str | None) -> str:
    lines = [f"# {report.title}", "", f"Command: `{report.command}`  ", f"Created: {report.created}", ""]
    if report.pipeline:
        info = report.pipeline
        lines += [f"Model: `{info.get('model')}`; data: {info.get('data')}; splits: {info.get('splits')}", ""]
    if report.variants:
        lines += ["## Side by side", "", report.side_by_side_table().format(markdown=True), ""]
        note = _measurement_note(report)
        lines += [note, ""] if note else []
        if report.precision_note:
            lines += [report.precision_note, ""]
        lines += [f"**Warning:** {w}" for w in report.warnings] + ([""] if report.warnings else [])
        conditions = report.condition_table()
        if conditions is not None:
            lines += ["### Held-out conditions", "", f"The metric on each condition, drop from {report.reference} in "
                      "brackets; the recommendation holds every condition to the accuracy budget.", "",
                      conditions.format(markdown=True), ""]
    serving = report.serving_table()
    if serving is not None:
        lines += ["## Serving real inputs", "", serving.format(markdown=True), ""]
        lines += [f"{line}  " for line in serving_lines(report)] + [""]
        policies = report.policy_table()
        if policies is not None:
            lines += ["### Shape policies", "", policies.format(markdown=True), ""]
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


#: the logger a run's closing summary goes to: shown by the command line even with --quiet
SUMMARY_LOGGER = "ovrecipes.summary"


def summary_text(report: Report) -> str:
    """What a run says when it ends: the side-by-side table, serving figures, the recommendation."""
    lines: list[str] = []
    if report.variants:
        lines += ["", report.side_by_side_table().format()]
        if report.precision_note:
            lines.append(report.precision_note)
        lines += [f"Warning: {w}" for w in report.warnings]
        conditions = report.condition_table()
        if conditions is not None:
            lines += [f"\nHeld-out conditions (drop from {report.reference} in brackets):", conditions.format()]
    serving = report.serving_table()
    if serving is not None:
        lines += [f"\nServing real inputs ({report.workload.items} {report.workload.split} {report.workload.unit}):",
                  serving.format()]
        policies = report.policy_table()
        if policies is not None:
            lines.append(policies.format())
        lines += [line.replace("**", "") for line in serving_lines(report)[3:]]
    rec = report.recommendation
    if rec and rec.choice:
        lines.append(f"\nRecommended: {rec.choice} ({rec.reason})")
        lines += [f"Note: {note}" for note in rec.notes]
    lines += list(report.highlights)
    return "\n".join(lines)


def log_summary(report: Report) -> None:
    """The summary as one INFO record of :data:`SUMMARY_LOGGER` (a Python caller sees it only if it shows logs)."""
    logging.getLogger(SUMMARY_LOGGER).info(summary_text(report))