"""``ovrecipes sparse ...``: sparse int8 weight decompression from the command line.

stats -> config -> check -> sweep on a quantized IR, and prune to create the zeros first. The
technique lives in :mod:`ovrecipes.recipes.sparse` and the sweep's measurement in
:mod:`ovrecipes.measure.sweep`; this module reads arguments, prints tables and writes output
directories (staged, with the one report writer).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ovrecipes.cli.argtypes import positive_float, positive_int
from ovrecipes.cli.family_commands import add_family_options
from ovrecipes.cli.options import (
    add_json_output_arg,
    add_output_args,
    check_json_output,
    check_overwrite_has_out,
    flags_by_dest,
    input_paths,
)
from ovrecipes.core import openvino as runtime
from ovrecipes.core.cpu import host_cpu, sparse_kernel_support
from ovrecipes.core.paths import require_file
from ovrecipes.measure.sweep import (
    GRID_HEADER,
    SEQ_HEADER,
    parse_ints,
    run_sweep,
    tables,
)
from ovrecipes.pipelines.model_dirs import copy_model_dir
from ovrecipes.pipelines.registry import FAMILIES
from ovrecipes.recipes import sparse
from ovrecipes.recipes.ir import save
from ovrecipes.report.machine import machine
from ovrecipes.report.model import Figure, Report, Section, Table
from ovrecipes.report.plots import plot_sweep, plot_zero_fractions
from ovrecipes.report.writer import command_line, created, write_report
from ovrecipes.runs.outdir import check_output, staged_output

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
ELIGIBILITY = ("Eligible: i8 weight constant, 2-D, both dims multiples of 64, u8/i8 activations (a FakeQuantize "
               "upstream). On an AMX CPU such a layer is decompressed sparsely for any "
               "CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE at or below its zero fraction (1 = off).")


# -- parser -----------------------------------------------------------------------------------------
def register(subparsers) -> None:
    """``sparse`` and its five subcommands."""
    fmt = argparse.RawDescriptionHelpFormatter
    sp = subparsers.add_parser("sparse", help="sparse int8 weights: stats, runtime config, check, sweep, prune",
                               epilog=SPARSE_EXAMPLES, formatter_class=fmt)
    cmds = sp.add_subparsers(dest="sparse_command", required=True, metavar="SUBCOMMAND")

    def model_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("model_path", metavar="MODEL", type=Path, help="OpenVINO model directory or .xml file")

    def rate_arg(p: argparse.ArgumentParser, what: str) -> None:
        p.add_argument("--rate", default=None, help=f"{what}: 'auto' or a number in [0, 1] (default auto)")
        p.add_argument("--coverage", type=float, default=None,
                       help="auto rate: share of eligible weight bytes that must stay sparse (default 0.5)")

    st = cmds.add_parser("stats", help="per-MatMul weight shape, type, zero fraction, eligibility; histogram PNG")
    model_arg(st)
    rate_arg(st, "rate shown in the table and plot")
    add_output_args(st, required=False)
    st.add_argument("--json", action="store_true", help="print the statistics as JSON")
    st.set_defaults(handler=cmd_stats)

    cf = cmds.add_parser("config", help="choose the rate and write a -load_config JSON and a compile_model snippet")
    model_arg(cf)
    rate_arg(cf, "CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE")
    cf.add_argument("--streams", type=int, default=None, help="NUM_STREAMS to record in the config")
    cf.add_argument("--threads", type=positive_int, default=None, help="INFERENCE_NUM_THREADS to record in the config")
    add_output_args(cf)
    cf.set_defaults(handler=cmd_config)

    ck = cmds.add_parser("check", help="compile, run once, and say per layer whether a sparse kernel ran")
    model_arg(ck)
    ck.add_argument("--config-file", type=Path, default=None, help="runtime config JSON (default: --rate)")
    rate_arg(ck, "rate when no --config-file is given")
    ck.add_argument("--shape", default=None,
                    help="benchmark_app syntax for dynamic inputs (default: first dim 1, other dynamic dims 128)")
    add_json_output_arg(ck, "also write the verdicts as JSON here (must not exist unless --overwrite)")
    ck.set_defaults(handler=cmd_check)

    sw = cmds.add_parser("sweep", help="dense vs sparse throughput over streams x threads and sequence lengths")
    model_arg(sw)
    sw.add_argument("--config-file", type=Path, default=None, help="runtime config JSON for the sparse runs")
    rate_arg(sw, "rate of the sparse runs when no --config-file is given")
    sw.add_argument("--time", type=positive_float, default=2.0, help="seconds per measurement (default 2)")
    sw.add_argument("--seq-lens", default="16,32,64,128,256,512", help="comma-separated lengths L for inputs [1, L]")
    sw.add_argument("--grid-seq-len", type=int, default=128, help="L used for the streams x threads grid (default 128)")
    sw.add_argument("--grid", default="1,2,4,8", help="candidate streams/threads values, capped at the core count")
    add_output_args(sw)
    sw.set_defaults(handler=cmd_sweep)

    # conflict_handler: every family's options are accepted; those they share (--model, --dataset) once.
    pr = cmds.add_parser("prune", help="magnitude-prune eligible MatMul weights of an IR to a zero fraction",
                         conflict_handler="resolve")
    model_arg(pr)
    pr.add_argument("--target", type=float, required=True, help="zero fraction per pruned weight, e.g. 0.8")
    pr.add_argument("--family", choices=sorted(FAMILIES), default=None,
                    help="evaluate before and after with this family's pipeline")
    add_output_args(pr)
    before = list(pr._actions)
    pr.add_argument("--eval-samples", type=int, default=500, help="test samples for the accuracy change (default 500)")
    for spec in FAMILIES.values():
        add_family_options(pr, spec)
    fam = pr.add_argument_group("family pipeline (with --family)")
    fam.add_argument("--model", default=None, help="the family's model source (tokenizer, config; default: MODEL)")
    fam.add_argument("--dataset", default="embedded", help="the family's dataset (default: its embedded data)")
    # what only the --family evaluation reads: refused without --family rather than ignored
    family_flags = flags_by_dest(a for a in pr._actions if a not in before)
    pr.set_defaults(handler=cmd_prune, family_flags=family_flags, family_dests=_family_dests())


# -- helpers ----------------------------------------------------------------------------------------
def _family_dests() -> dict[str, set[str]]:
    """Each family's own option dests (``prune`` accepts every family's options on one parser)."""
    return {name: {o.name for o in spec.options} for name, spec in FAMILIES.items()}


def _rate(args: argparse.Namespace) -> float | str:
    """--rate checked ('auto' when absent); --coverage only shapes an 'auto' rate, so it is refused with a number."""
    requested = sparse.parse_rate("auto" if args.rate is None else args.rate)
    if args.coverage is not None and requested != "auto":
        raise ValueError(f"--coverage {args.coverage:g} has no effect with --rate {args.rate}: it sets how an 'auto' "
                         "rate is chosen")
    return requested


def _coverage(args: argparse.Namespace) -> float:
    value = sparse.AUTO_COVERAGE if args.coverage is None else args.coverage
    if not 0.0 < value <= 1.0:
        raise ValueError(f"--coverage must be in (0, 1]: got {value}")
    return value


def _read(model_path: Path):
    xml = runtime.resolve_model_xml(model_path).resolve()
    return xml, runtime.read_model(xml)


def short_name(name: str) -> str:
    """'__module.bert.encoder.layer.0.attention.self.query/aten::linear/MatMul' -> 'bert.encoder...query'."""
    head = name.split("/")[0] if "/" in name else name
    return head.removeprefix("__module.") or name


def _layer_table(layers, rate: float | None) -> Table:
    header = ["layer", "shape", "type", "activations", "zeros", "eligible",
              f"sparse at rate {rate if rate is not None else '-'}", "sparse at rates / why not"]
    rows = [[short_name(entry.name), "x".join(map(str, entry.shape)), entry.dtype, entry.activations, f"{entry.zero_fraction:.1%}",
             "yes" if entry.eligible else "no", "yes" if entry.sparse_at(rate) else "no",
             f"any rate <= {entry.zero_fraction:.3f} (below 1)" if entry.eligible else "; ".join(entry.reasons)]
            for entry in layers]
    return Table(header=header, rows=rows)


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


def _report(kind: str, title: str, sections: list[Section], data: dict[str, Any],
            timings: dict[str, float] | None = None) -> Report:
    return Report(kind=kind, title=title, command=command_line(), created=created(), sections=sections,
                  machine=machine(), timings_s=timings or {}, data=data)


def _stats_section(xml: Path, layers, summary: dict, why: str | None, plot: Path | None) -> Section:
    lines = [f"Model: `{xml}`", *_summary_lines(summary), *([why] if why else []),
             f"This machine: {sparse_kernel_support()[1]}", ELIGIBILITY]
    figures = [Figure(file=plot.name, caption="zero fractions")] if plot else []
    return Section(title="Weights", lines=lines, tables=[_layer_table(layers, summary["rate"])], figures=figures)


# -- stats ------------------------------------------------------------------------------------------
def cmd_stats(args: argparse.Namespace) -> None:
    requested = _rate(args)
    coverage = _coverage(args)
    check_overwrite_has_out(args)
    if args.out:
        check_output(args.out.resolve(), args.overwrite, input_paths(args))
    xml, model = _read(args.model_path)
    layers = sparse.weight_stats(model)
    rate, why = None, None
    if requested != "auto" or any(entry.eligible for entry in layers):
        rate, why = sparse.resolve_rate(requested, layers, coverage)
    summary = sparse.summarize(layers, rate, coverage)
    data = {"model": str(xml), "summary": summary, "rate_reason": why, "layers": [entry.to_dict() for entry in layers]}
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(_layer_table(layers, rate).format())
        print()
        print("\n".join(_summary_lines(summary) + ([why] if why else [])))
    if args.out:
        with staged_output(args.out, args.overwrite) as stage:
            plot = plot_zero_fractions(layers, rate, stage / HIST_NAME, f"zero fractions: {xml.parent.name}/{xml.name}")
            write_report(stage, _report("sparse-stats", "Sparse weight statistics",
                                        [_stats_section(xml, layers, summary, why, plot)], data))
        print(f"\nWrote {args.out.resolve()} (report.json, report.md, {HIST_NAME})")


# -- config -----------------------------------------------------------------------------------------
def cmd_config(args: argparse.Namespace) -> None:
    requested = _rate(args)
    coverage = _coverage(args)
    sparse.runtime_config(0.5, args.streams, args.threads)  # validates streams/threads before any work
    out = args.out.resolve()
    check_output(out, args.overwrite, input_paths(args))
    xml, model = _read(args.model_path)
    layers = sparse.weight_stats(model)
    rate, why = sparse.resolve_rate(requested, layers, coverage)
    config = sparse.runtime_config(rate, args.streams, args.threads)
    supported, support = sparse_kernel_support()
    summary = sparse.summarize(layers, rate, coverage)
    with staged_output(out, args.overwrite) as stage:
        (stage / CONFIG_NAME).write_text(json.dumps(config, indent=2))
        (stage / SNIPPET_NAME).write_text(sparse.compile_snippet(str(xml), config["CPU"]))
        section = _stats_section(xml, layers, summary, why, None)
        section.lines.append(f"Config (`{CONFIG_NAME}`): `{json.dumps(config)}`")
        write_report(stage, _report("sparse-config", "Sparse runtime config", [section], {
            "model": str(xml), "config": config, "rate": rate, "rate_reason": why, "sparse_kernels_here": supported,
            "sparse_kernels_reason": support, "summary": summary, "layers": [entry.to_dict() for entry in layers]}))
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
    if spec:
        return runtime.parse_shape(spec)
    shapes = {}
    for port in model.inputs:
        pshape = port.get_partial_shape()
        if pshape.is_dynamic:
            if pshape.rank.is_dynamic:
                raise ValueError(f"input {port.get_any_name()!r} has a dynamic rank; pass --shape")
            shapes[port.get_any_name()] = [d.get_length() if d.is_static else (1 if i == 0 else default_len)
                                           for i, d in enumerate(pshape)]
    return shapes or None


def sparse_configs(args: argparse.Namespace, layers) -> tuple[dict, dict, float, str]:
    """(sparse config, dense config, rate, why) from --config-file or --rate."""
    if args.config_file is not None:
        config = runtime.load_config_file(args.config_file)
        rate = float(sparse.parse_rate(config.get(sparse.RATE_KEY, "1"), allow_auto=False))
        why = f"rate {rate:g} from {args.config_file}" + ("" if sparse.RATE_KEY in config else " (key absent: off)")
    else:
        rate, why = sparse.resolve_rate(_rate(args), layers, _coverage(args))
        config = {sparse.RATE_KEY: f"{rate:g}"}
    dense = {k: v for k, v in config.items() if k != sparse.RATE_KEY}
    return config, dense, rate, why


def _check_config_file(args: argparse.Namespace) -> None:
    if args.config_file is None:
        _rate(args)
        _coverage(args)
    elif args.rate is not None or args.coverage is not None:
        flag = "--rate" if args.rate is not None else "--coverage"
        raise ValueError(f"{flag} has no effect with --config-file: the file's {sparse.RATE_KEY} sets the rate")
    else:
        require_file(args.config_file, "config file")


def cmd_check(args: argparse.Namespace) -> None:
    _check_config_file(args)
    check_json_output(args)
    xml, model = _read(args.model_path)
    layers = sparse.weight_stats(model)
    config, _, rate, why = sparse_configs(args, layers)
    shapes = static_shapes(model, args.shape)
    if shapes:
        runtime.reshape(model, shapes)
    observed, precision = sparse.probe_kernels(model, config)
    report = sparse.decide(layers, rate, host_cpu(), observed)
    report.update(model=str(xml), rate_reason=why, config=config, **precision)
    header = ["layer", "shape", "zeros", "eligible", "exec type", "sparse kernel", "why"]
    rows = [[short_name(r["name"]), "x".join(map(str, r["shape"])), f"{r['zero_fraction']:.1%}",
             "yes" if r["eligible"] else "no", r["exec_type"] or "-",
             "ran" if r["ran"] else "not used", r["reason"]] for r in report["layers"]]
    print(Table(header=header, rows=rows).format())
    print(f"\n{why}")
    print(f"inference precision: {precision['inference_precision']} (execution mode {precision['execution_mode']})")
    print(report["headline"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str))


# -- sweep ------------------------------------------------------------------------------------------
def _sweep_section(result: dict, plot: Path) -> Section:
    grid, seq = tables(result)
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
    return Section(title="Sparse vs dense", lines=lines,
                   tables=[Table(header=GRID_HEADER, rows=grid), Table(header=SEQ_HEADER, rows=seq)],
                   figures=[Figure(file=plot.name, caption="sweep")])


def cmd_sweep(args: argparse.Namespace) -> None:
    seq_lens = parse_ints(args.seq_lens, "--seq-lens")
    grid = parse_ints(args.grid, "--grid")
    if args.grid_seq_len <= 0:
        raise ValueError(f"--grid-seq-len must be positive: got {args.grid_seq_len}")
    _check_config_file(args)
    out = args.out.resolve()
    check_output(out, args.overwrite, input_paths(args))
    xml, model = _read(args.model_path)
    layers = sparse.weight_stats(model)
    config, dense, rate, why = sparse_configs(args, layers)
    started = time.perf_counter()
    result = run_sweep(model, config, dense, time_s=args.time, seq_lens=seq_lens, grid_seq_len=args.grid_seq_len,
                       grid_values=grid)
    result.update(model=str(xml), rate=rate, rate_reason=why, wall_s=round(time.perf_counter() - started, 1))
    with staged_output(out, args.overwrite) as stage:
        plot = plot_sweep(result, stage / "sweep.png")
        write_report(stage, _report("sparse-sweep", "Sparse vs dense sweep", [_sweep_section(result, plot)], result,
                                    {"sweep": result["wall_s"]}))
    grid_rows, seq_rows = tables(result)
    print()
    print(Table(header=GRID_HEADER, rows=grid_rows).format())
    print()
    print(Table(header=SEQ_HEADER, rows=seq_rows).format())
    print(f"\nSweep took {result['wall_s']:.0f} s. Wrote {out} (report.md, report.json, sweep.png)")


# -- prune ------------------------------------------------------------------------------------------
def cmd_prune(args: argparse.Namespace) -> None:
    if not 0.0 < args.target < 1.0:
        raise ValueError(f"--target must be a zero fraction in (0, 1): got {args.target}")
    if args.eval_samples is not None and args.eval_samples <= 0:
        raise ValueError(f"--eval-samples must be positive: got {args.eval_samples}")
    shared = {"eval_samples", "model", "dataset"}
    for dest, (flag, default) in args.family_flags.items():
        if getattr(args, dest) == default:
            continue
        if not args.family:
            raise ValueError(f"{flag} has no effect without --family: it configures the family pipeline that "
                             "measures accuracy before and after pruning")
        if dest not in shared and dest not in args.family_dests[args.family]:
            owners = sorted(name for name, dests in args.family_dests.items() if dest in dests)
            raise ValueError(f"{flag} has no effect with --family {args.family}: it is an option of the "
                             f"{' and '.join(owners)} family")
    out = args.out.resolve()
    check_output(out, args.overwrite, input_paths(args))
    xml, model = _read(args.model_path)
    src = xml.parent
    if out == src:
        raise ValueError(f"--out {out} is the input model directory; choose another one")
    pipeline = None
    if args.family:
        family_args = argparse.Namespace(**{**vars(args), "model": args.model or str(src)})
        pipeline = FAMILIES[args.family].make_pipeline(family_args).resolve()
    results = sparse.prune_model(model, args.target)
    pruned = [r for r in results if r.skipped is None]
    if not pruned:
        raise ValueError(f"{xml}: no prunable MatMul weight (2-D, both dims multiples of 64, symmetric i8 or float); "
                         "nothing written")
    timings: dict[str, float] = {}
    with staged_output(out, args.overwrite) as stage:
        skip = [xml.name, xml.with_suffix(".bin").name, *_REPORT_FILES] + [p.name for p in src.glob("*.png")]
        copy_model_dir(src, stage, skip=skip)
        save(model, stage / xml.name)
        metrics = {}
        if pipeline is not None:
            for label, path in (("before", src), ("after", stage)):
                t0 = time.perf_counter()
                metrics[label] = pipeline.evaluate(path, split="test", limit=args.eval_samples)
                timings[f"evaluate {label}"] = round(time.perf_counter() - t0, 1)
                print(f"  {label}: {metrics[label].name} {metrics[label].value:.2f}{metrics[label].unit} "
                      f"on {metrics[label].samples} test samples")
        layers = sparse.weight_stats(runtime.read_model(stage / xml.name))
        summary = sparse.summarize(layers)
        plot = plot_zero_fractions(layers, summary["auto_rate"], stage / HIST_NAME, f"after pruning to {args.target:g}")
        data = _prune_data(xml, out, args, results, summary, metrics)
        if metrics:  # the accuracy change was measured at the plugin's default precision: say which
            data.update(runtime.compiled_precision(runtime.compile_model(stage / xml.name)))
        write_report(stage, _report("sparse-prune", f"Magnitude pruning to {args.target:g}",
                                    [_prune_section(data, plot)], data, timings))
    print("\n".join(_prune_lines(data)))
    print(f"\nWrote {out} (pruned IR, model files, report.json, report.md, {HIST_NAME})")


def _prune_data(xml: Path, out: Path, args, results, summary: dict, metrics: dict) -> dict:
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
            "accuracy": change, "summary_after": summary, "layers": [r.to_dict() for r in results]}


def _prune_lines(data: dict) -> list[str]:
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


def _prune_section(data: dict, plot: Path) -> Section:
    header = ["layer", "shape", "type", "zeros before", "zeros after", "skipped because"]
    rows = [[short_name(entry["name"]), "x".join(map(str, entry["shape"])), entry["dtype"], f"{entry['before']:.1%}",
             f"{entry['after']:.1%}", entry["skipped"] or ""] for entry in data["layers"]]
    lines = [f"Source: `{data['source']}`", f"Output: `{data['out']}`", *_prune_lines(data),
             "Unstructured, per layer: in each 2-D MatMul weight whose dims are multiples of 64, the smallest values "
             "by dequantized magnitude are set to zero until the layer reaches the target."]
    return Section(title="Pruning", lines=lines, tables=[Table(header=header, rows=rows)],
                   figures=[Figure(file=plot.name, caption="zero fractions")])
