"""``ovrecipes sparse ...``: sparse int8 weight decompression from the command line.

stats -> config -> check -> sweep on a quantized IR, and prune to create the zeros first. The
technique lives in :mod:`ovrecipes.recipes.sparse`; this module reads arguments, prints tables and writes
output directories (staged, so a failed run leaves nothing half-written).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ovrecipes.families import FAMILIES

SPARSE_EXAMPLES = """examples:
  ovrecipes sparse prune int8-minilm --target 0.8 --out pruned --family bert
  ovrecipes sparse stats pruned --out pruned-stats
  ovrecipes sparse config pruned --rate auto --streams 2 --out sparse-cfg
  ovrecipes sparse check pruned --config-file sparse-cfg/sparse_config.json
  ovrecipes sparse sweep pruned --out sweep --time 2
  ovrecipes bench pruned --shape '[1,128]' --config-file sparse-cfg/sparse_config.json
"""
CONFIG_NAME = "sparse_config.json"
SNIPPET_NAME = "compile_model.py"
HIST_NAME = "zero_fraction.png"
_REPORT_FILES = {"report.json", "report.md", "recipe.yaml"}


# -- parser -----------------------------------------------------------------------------------------
def add_sparse_parser(subparsers) -> None:
    """Register ``sparse`` and its five subcommands on the top-level subparsers."""
    fmt = argparse.RawDescriptionHelpFormatter
    sp = subparsers.add_parser("sparse", help="sparse int8 weights: stats, runtime config, check, sweep, prune",
                               epilog=SPARSE_EXAMPLES, formatter_class=fmt)
    cmds = sp.add_subparsers(dest="sparse_command", required=True, metavar="SUBCOMMAND")

    def model_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("model_path", metavar="MODEL", type=Path, help="OpenVINO model directory or .xml file")

    def rate_arg(p: argparse.ArgumentParser, what: str) -> None:
        p.add_argument("--rate", default="auto", help=f"{what}: 'auto' or a number in [0, 1] (default auto)")
        p.add_argument("--coverage", type=float, default=None,
                       help="auto rate: share of eligible weight bytes that must stay sparse (default 0.5)")

    def out_args(p: argparse.ArgumentParser, required: bool) -> None:
        p.add_argument("--out", type=Path, required=required, help="output directory (must not exist unless --overwrite)")
        p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")

    st = cmds.add_parser("stats", help="per-MatMul weight shape, type, zero fraction, eligibility; histogram PNG")
    model_arg(st)
    rate_arg(st, "rate shown in the table and plot")
    out_args(st, required=False)
    st.add_argument("--json", action="store_true", help="print the statistics as JSON")

    cf = cmds.add_parser("config", help="choose the rate and write a -load_config JSON and a compile_model snippet")
    model_arg(cf)
    rate_arg(cf, "CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE")
    cf.add_argument("--streams", type=int, default=None, help="NUM_STREAMS to record in the config")
    cf.add_argument("--threads", type=int, default=None, help="INFERENCE_NUM_THREADS to record in the config")
    out_args(cf, required=True)

    ck = cmds.add_parser("check", help="compile, run once, and say per layer whether a sparse kernel ran")
    model_arg(ck)
    ck.add_argument("--config-file", type=Path, default=None, help="runtime config JSON (default: --rate)")
    rate_arg(ck, "rate when no --config-file is given")
    ck.add_argument("--shape", default=None,
                    help="benchmark_app syntax for dynamic inputs (default: first dim 1, other dynamic dims 128)")
    ck.add_argument("--json", type=Path, default=None, help="also write the verdicts as JSON here")

    sw = cmds.add_parser("sweep", help="dense vs sparse throughput over streams x threads and sequence lengths")
    model_arg(sw)
    sw.add_argument("--config-file", type=Path, default=None, help="runtime config JSON for the sparse runs")
    rate_arg(sw, "rate of the sparse runs when no --config-file is given")
    sw.add_argument("--time", type=float, default=2.0, help="seconds per measurement (default 2)")
    sw.add_argument("--seq-lens", default="16,32,64,128,256,512", help="comma-separated lengths L for inputs [1, L]")
    sw.add_argument("--grid-seq-len", type=int, default=128, help="L used for the streams x threads grid (default 128)")
    sw.add_argument("--grid", default="1,2,4,8", help="candidate streams/threads values, capped at the core count")
    out_args(sw, required=True)

    # conflict_handler: every family's options are accepted; those they share (--model, --dataset) once.
    pr = cmds.add_parser("prune", help="magnitude-prune eligible MatMul weights of an IR to a zero fraction",
                         conflict_handler="resolve")
    model_arg(pr)
    pr.add_argument("--target", type=float, required=True, help="zero fraction per pruned weight, e.g. 0.8")
    pr.add_argument("--family", choices=sorted(FAMILIES), default=None,
                    help="evaluate before and after with this family's pipeline")
    pr.add_argument("--eval-samples", type=int, default=500, help="test samples for the accuracy change (default 500)")
    out_args(pr, required=True)
    for add_family_args, _ in FAMILIES.values():
        add_family_args(pr)
    fam = pr.add_argument_group("family pipeline (with --family)")
    fam.add_argument("--model", default=None, help="the family's model source (tokenizer, config; default: MODEL)")
    fam.add_argument("--dataset", default="embedded", help="the family's dataset (default: its embedded data)")


def cmd_sparse(args: argparse.Namespace) -> None:
    handler = {"stats": _stats, "config": _config, "check": _check, "sweep": _sweep, "prune": _prune}
    handler[args.sparse_command](args)


# -- helpers ----------------------------------------------------------------------------------------
def _coverage(args: argparse.Namespace) -> float:
    from ovrecipes.recipes.sparse import AUTO_COVERAGE

    value = AUTO_COVERAGE if args.coverage is None else args.coverage
    if not 0.0 < value <= 1.0:
        raise ValueError(f"--coverage must be in (0, 1]: got {value}")
    return value


def _read(model_path: Path):
    import openvino as ov

    from ovrecipes.pipelines.runtime import resolve_model_xml

    xml = resolve_model_xml(model_path).resolve()
    return xml, ov.Core().read_model(xml)


def short_name(name: str) -> str:
    """'__module.bert.encoder.layer.0.attention.self.query/aten::linear/MatMul' -> 'bert.encoder...query'."""
    head = name.split("/")[0] if "/" in name else name
    return head.removeprefix("__module.") or name


def _layer_table(layers, rate: float | None) -> tuple[list[str], list[list[str]]]:
    header = ["layer", "shape", "type", "activations", "zeros", "eligible", f"sparse at rate {rate if rate is not None else '-'}",
              "sparse at rates / why not"]
    rows = []
    for l in layers:
        rows.append([short_name(l.name), "x".join(map(str, l.shape)), l.dtype, l.activations,
                     f"{l.zero_fraction:.1%}", "yes" if l.eligible else "no", "yes" if l.sparse_at(rate) else "no",
                     f"any rate <= {l.zero_fraction:.3f} (below 1)" if l.eligible else "; ".join(l.reasons)])
    return header, rows


def _summary_lines(summary: dict) -> list[str]:
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


def plot_zero_fractions(layers, rate: float | None, path: Path, title: str) -> Path:
    """Histogram of per-layer zero fractions, eligible and not, with the rate marked."""
    import numpy as np

    from ovrecipes.plots import saved_figure

    bins = np.linspace(0.0, 1.0, 21)
    groups = [[l.zero_fraction for l in layers if l.eligible], [l.zero_fraction for l in layers if not l.eligible]]
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


def _stats_markdown(title: str, xml: Path, layers, summary: dict, why: str | None, plot: str | None) -> str:
    from ovrecipes.compare import format_table
    from ovrecipes.recipes.overflow import sparse_kernel_support

    header, rows = _layer_table(layers, summary["rate"])
    lines = [f"# {title}", "", f"Model: `{xml}`", ""] + [f"- {l}" for l in _summary_lines(summary)]
    if why:
        lines.append(f"- {why}")
    lines += [f"- This machine: {sparse_kernel_support()[1]}", "",
              "Eligible: i8 weight constant, 2-D, both dims multiples of 64, u8/i8 activations (a FakeQuantize "
              "upstream). On an AMX CPU such a layer is decompressed sparsely for any "
              "CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE at or below its zero fraction (1 = off).", "",
              format_table(header, rows, markdown=True), ""]
    if plot:
        lines += [f"![zero fractions]({plot})", ""]
    return "\n".join(lines)


def _dump(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=str))


# -- stats ------------------------------------------------------------------------------------------
def _stats(args: argparse.Namespace) -> None:
    from ovrecipes.compare import format_table
    from ovrecipes.outdir import check_output, staged_output
    from ovrecipes.recipes import sparse

    requested = sparse.parse_rate(args.rate)
    coverage = _coverage(args)
    if args.out:
        check_output(args.out.resolve(), args.overwrite)
    xml, model = _read(args.model_path)
    layers = sparse.weight_stats(model)
    rate, why = None, None
    if requested != "auto" or any(l.eligible for l in layers):
        rate, why = sparse.resolve_rate(requested, layers, coverage)
    summary = sparse.summarize(layers, rate, coverage)
    data = {"model": str(xml), "summary": summary, "rate_reason": why, "layers": [l.to_dict() for l in layers]}
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(format_table(*_layer_table(layers, rate)))
        print()
        print("\n".join(_summary_lines(summary) + ([why] if why else [])))
    if args.out:
        with staged_output(args.out, args.overwrite) as stage:
            plot = plot_zero_fractions(layers, rate, stage / HIST_NAME, f"zero fractions: {xml.parent.name}/{xml.name}")
            _dump(stage / "stats.json", data)
            (stage / "report.md").write_text(_stats_markdown("Sparse weight statistics", xml, layers, summary, why,
                                                             plot.name))
        print(f"\nWrote {args.out.resolve()} (stats.json, report.md, {HIST_NAME})")


# -- config -----------------------------------------------------------------------------------------
def _config(args: argparse.Namespace) -> None:
    from ovrecipes.outdir import check_output, staged_output
    from ovrecipes.recipes import sparse
    from ovrecipes.recipes.overflow import sparse_kernel_support

    requested = sparse.parse_rate(args.rate)
    coverage = _coverage(args)
    sparse.runtime_config(0.5, args.streams, args.threads)  # validates streams/threads before any work
    out = args.out.resolve()
    check_output(out, args.overwrite)
    xml, model = _read(args.model_path)
    layers = sparse.weight_stats(model)
    rate, why = sparse.resolve_rate(requested, layers, coverage)
    config = sparse.runtime_config(rate, args.streams, args.threads)
    supported, support = sparse_kernel_support()
    summary = sparse.summarize(layers, rate, coverage)
    with staged_output(out, args.overwrite) as stage:
        _dump(stage / CONFIG_NAME, config)
        (stage / SNIPPET_NAME).write_text(sparse.compile_snippet(str(xml), config["CPU"]))
        _dump(stage / "report.json", {"model": str(xml), "config": config, "rate": rate, "rate_reason": why,
                                      "sparse_kernels_here": supported, "sparse_kernels_reason": support,
                                      "summary": summary, "layers": [l.to_dict() for l in layers]})
        (stage / "report.md").write_text(_stats_markdown("Sparse runtime config", xml, layers, summary, why, None)
                                         + f"\nConfig (`{CONFIG_NAME}`):\n\n```json\n{json.dumps(config, indent=2)}\n```\n")
    print(why)
    print(support)
    print(json.dumps(config))
    shapes = static_shapes(model, None)
    shape = ",".join(f"{k}[{','.join(map(str, v))}]" for k, v in shapes.items()) if shapes else ""
    print(f"\nWrote {out} ({CONFIG_NAME}, {SNIPPET_NAME}, report.json, report.md). Use it with:")
    print(f"  ovrecipes bench {args.model_path} --config-file {out / CONFIG_NAME}" + (f" --shape '{shape}'" if shape else ""))
    print(f"  benchmark_app -m {xml} -load_config {out / CONFIG_NAME}" + (f" -shape '{shape}'" if shape else ""))
    print(f"  python {out / SNIPPET_NAME}")


# -- check ------------------------------------------------------------------------------------------
def static_shapes(model, spec: str | None, default_len: int = 128) -> dict[str, list[int]] | None:
    """Shapes for inputs that are dynamic: ``--shape`` if given, else first dim 1 and others ``default_len``."""
    from ovrecipes.pipelines.runtime import parse_shape

    if spec:
        return parse_shape(spec)
    shapes = {}
    for port in model.inputs:
        pshape = port.get_partial_shape()
        if pshape.is_dynamic:
            if pshape.rank.is_dynamic:
                raise ValueError(f"input {port.get_any_name()!r} has a dynamic rank; pass --shape")
            shapes[port.get_any_name()] = [d.get_length() if d.is_static else (1 if i == 0 else default_len)
                                           for i, d in enumerate(pshape)]
    return shapes or None


def reshape(model, shapes: dict[str, list[int]] | None) -> None:
    import openvino as ov

    if not shapes:
        return
    if "*" in shapes:
        model.reshape({p.get_any_name(): ov.PartialShape(shapes["*"]) for p in model.inputs})
    else:
        model.reshape({name: ov.PartialShape(dims) for name, dims in shapes.items()})


def sparse_configs(args: argparse.Namespace, layers) -> tuple[dict, dict, float, str]:
    """(sparse config, dense config, rate, why) from --config-file or --rate."""
    from ovrecipes.pipelines.runtime import load_config_file
    from ovrecipes.recipes import sparse

    if args.config_file is not None:
        config = load_config_file(args.config_file)
        rate = float(sparse.parse_rate(config.get(sparse.RATE_KEY, "1"), allow_auto=False))
        why = f"rate {rate:g} from {args.config_file}" + ("" if sparse.RATE_KEY in config else " (key absent: off)")
    else:
        rate, why = sparse.resolve_rate(sparse.parse_rate(args.rate), layers, _coverage(args))
        config = {sparse.RATE_KEY: f"{rate:g}"}
    dense = {k: v for k, v in config.items() if k != sparse.RATE_KEY}
    return config, dense, rate, why


def _check(args: argparse.Namespace) -> None:
    from ovrecipes.compare import format_table
    from ovrecipes.recipes import sparse
    from ovrecipes.recipes.overflow import host_cpu

    if args.config_file is None:
        sparse.parse_rate(args.rate)
        _coverage(args)
    elif not args.config_file.is_file():
        raise FileNotFoundError(f"{args.config_file}: no such config file")
    xml, model = _read(args.model_path)
    layers = sparse.weight_stats(model)
    config, _, rate, why = sparse_configs(args, layers)
    reshape(model, static_shapes(model, args.shape))
    observed, precision = sparse.probe_kernels(model, config)
    report = sparse.decide(layers, rate, host_cpu(), observed)
    report.update(model=str(xml), rate_reason=why, config=config, **precision)
    header = ["layer", "shape", "zeros", "eligible", "exec type", "sparse kernel", "why"]
    rows = [[short_name(r["name"]), "x".join(map(str, r["shape"])), f"{r['zero_fraction']:.1%}",
             "yes" if r["eligible"] else "no", r["exec_type"] or "-",
             "ran" if r["ran"] else "not used", r["reason"]] for r in report["layers"]]
    print(format_table(header, rows))
    print(f"\n{why}")
    print(report["headline"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        _dump(args.json, report)


# -- sweep ------------------------------------------------------------------------------------------
def _sweep(args: argparse.Namespace) -> None:
    from ovrecipes.outdir import check_output, staged_output
    from ovrecipes.sparse_sweep import parse_ints, run_sweep, write_sweep
    from ovrecipes.recipes import sparse

    if args.time <= 0:
        raise ValueError(f"--time must be positive: got {args.time}")
    seq_lens = parse_ints(args.seq_lens, "--seq-lens")
    grid = parse_ints(args.grid, "--grid")
    if args.grid_seq_len <= 0:
        raise ValueError(f"--grid-seq-len must be positive: got {args.grid_seq_len}")
    if args.config_file is None:
        sparse.parse_rate(args.rate)
    elif not args.config_file.is_file():
        raise FileNotFoundError(f"{args.config_file}: no such config file")
    out = args.out.resolve()
    check_output(out, args.overwrite)
    xml, model = _read(args.model_path)
    layers = sparse.weight_stats(model)
    config, dense, rate, why = sparse_configs(args, layers)
    started = time.perf_counter()
    result = run_sweep(model, config, dense, time_s=args.time, seq_lens=seq_lens, grid_seq_len=args.grid_seq_len,
                       grid_values=grid)
    result.update(model=str(xml), rate=rate, rate_reason=why, wall_s=round(time.perf_counter() - started, 1))
    with staged_output(out, args.overwrite) as stage:
        write_sweep(stage, result)
    print(f"\nSweep took {result['wall_s']:.0f} s. Wrote {out} (report.md, report.json, sweep.png)")


# -- prune ------------------------------------------------------------------------------------------
def _prune(args: argparse.Namespace) -> None:
    import openvino as ov

    from ovrecipes.outdir import check_output, staged_output
    from ovrecipes.pipelines.base import copy_model_dir
    from ovrecipes.recipes import sparse

    if not 0.0 < args.target < 1.0:
        raise ValueError(f"--target must be a zero fraction in (0, 1): got {args.target}")
    if args.eval_samples is not None and args.eval_samples <= 0:
        raise ValueError(f"--eval-samples must be positive: got {args.eval_samples}")
    out = args.out.resolve()
    check_output(out, args.overwrite)
    xml, model = _read(args.model_path)
    src = xml.parent
    if out == src:
        raise ValueError(f"--out {out} is the input model directory; choose another one")
    pipeline = None
    if args.family:
        family_args = argparse.Namespace(**{**vars(args), "model": args.model or str(src)})
        pipeline = FAMILIES[args.family][1](family_args)
    results = sparse.prune_model(model, args.target)
    pruned = [r for r in results if r.skipped is None]
    if not pruned:
        raise ValueError(f"{xml}: no prunable MatMul weight (2-D, both dims multiples of 64, symmetric i8 or float); "
                         "nothing written")
    timings: dict[str, float] = {}
    with staged_output(out, args.overwrite) as stage:
        skip = [xml.name, xml.with_suffix(".bin").name, *_REPORT_FILES] + [p.name for p in src.glob("*.png")]
        copy_model_dir(src, stage, skip=skip)
        ov.save_model(model, str(stage / xml.name), compress_to_fp16=False)
        metrics = {}
        if pipeline is not None:
            for label, path in (("before", src), ("after", stage)):
                t0 = time.perf_counter()
                metrics[label] = pipeline.evaluate(path, split="test", limit=args.eval_samples)
                timings[f"evaluate {label}"] = round(time.perf_counter() - t0, 1)
                print(f"  {label}: {metrics[label].name} {metrics[label].value:.2f}{metrics[label].unit} "
                      f"on {metrics[label].samples} test samples")
        layers = sparse.weight_stats(ov.Core().read_model(stage / xml.name))
        summary = sparse.summarize(layers)
        plot_zero_fractions(layers, summary["auto_rate"], stage / HIST_NAME, f"after pruning to {args.target:g}")
        report = _prune_report(xml, out, args, results, summary, metrics, timings)
        _dump(stage / "report.json", report)
        (stage / "report.md").write_text(_prune_markdown(report))
    print("\n".join(_prune_lines(report)))
    print(f"\nWrote {out} (pruned IR, model files, report.json, report.md, {HIST_NAME})")


def _prune_report(xml: Path, out: Path, args, results, summary: dict, metrics: dict, timings: dict) -> dict:
    from ovrecipes.report import system_info

    pruned = [r for r in results if r.skipped is None]
    n_before = sum(r.zeros_before for r in pruned)
    n_after = sum(r.zeros_after for r in pruned)
    n = sum(r.elements for r in pruned)
    change = None
    if metrics:
        before, after = metrics["before"], metrics["after"]
        change = {"name": before.name, "before": before.value, "after": after.value,
                  "drop": after.drop_from(before), "samples": before.samples, "unit": before.unit}
    return {"source": str(xml), "out": str(out / xml.name), "target": args.target, "family": args.family,
            "pruned_layers": len(pruned), "skipped_layers": len(results) - len(pruned),
            "zero_fraction_before": n_before / n, "zero_fraction_after": n_after / n,
            "min_layer_zero_fraction_after": min(r.zeros_after / r.elements for r in pruned),
            "accuracy": change, "summary_after": summary, "layers": [r.to_dict() for r in results],
            "timings_s": timings, "system": system_info()}


def _prune_lines(report: dict) -> list[str]:
    lines = [f"pruned {report['pruned_layers']} MatMul weights to >= {report['target']:g} zeros each "
             f"({report['skipped_layers']} skipped): zero fraction {report['zero_fraction_before']:.1%} -> "
             f"{report['zero_fraction_after']:.1%} (lowest layer {report['min_layer_zero_fraction_after']:.1%})"]
    acc = report["accuracy"]
    if acc:
        lines.append(f"{acc['name']} on {acc['samples']} test samples: {acc['before']:.2f}{acc['unit']} -> "
                     f"{acc['after']:.2f}{acc['unit']} (drop {acc['drop']:+.2f} points)")
    s = report["summary_after"]
    if s["eligible_layers"] == 0:
        lines.append("No layer is sparse-eligible yet (weights are not int8): quantize the pruned model "
                     f"(e.g. ovrecipes {report['family'] or '<family>'} ptq --model {Path(report['out']).parent} "
                     "--out DIR) before 'sparse config'.")
    else:
        lines.append(f"{s['eligible_layers']} eligible int8 layers; auto rate {s['auto_rate']:g}")
    return lines


def _prune_markdown(report: dict) -> str:
    from ovrecipes.compare import format_table

    header = ["layer", "shape", "type", "zeros before", "zeros after", "skipped because"]
    rows = [[short_name(l["name"]), "x".join(map(str, l["shape"])), l["dtype"], f"{l['before']:.1%}",
             f"{l['after']:.1%}", l["skipped"] or ""] for l in report["layers"]]
    lines = [f"# Magnitude pruning to {report['target']:g}", "", f"Source: `{report['source']}`  ",
             f"Output: `{report['out']}`", ""] + [f"- {l}" for l in _prune_lines(report)]
    lines += ["", "Unstructured, per layer: in each 2-D MatMul weight whose dims are multiples of 64, the smallest "
              "values by dequantized magnitude are set to zero until the layer reaches the target.", "",
              format_table(header, rows, markdown=True), "", f"![zero fractions]({HIST_NAME})", ""]
    return "\n".join(lines)
