"""``ovrecipes sparse ...``: sparse int8 weight decompression from the command line.

stats -> config -> check -> sweep on a quantized IR, and prune to create the zeros first. The runs live
in :mod:`ovrecipes.runs.sparse` and :mod:`ovrecipes.runs.sparse_prune` (the technique in
:mod:`ovrecipes.recipes.sparse`); this module reads arguments, refuses flags that would have no effect,
calls one run per command and prints what it found.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

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
from ovrecipes.core.paths import require_file
from ovrecipes.measure.sweep import parse_ints
from ovrecipes.pipelines.registry import FAMILIES
from ovrecipes.recipes import sparse
from ovrecipes.runs.sparse import CONFIG_NAME, HIST_NAME, SNIPPET_NAME, run_check, run_config, run_stats, run_sweep
from ovrecipes.runs.sparse_prune import run_prune

SPARSE_EXAMPLES = """examples:
  ovrecipes sparse prune int8-minilm --target 0.8 --out pruned --family bert
  ovrecipes sparse stats pruned --out pruned-stats
  ovrecipes sparse config pruned --rate auto --streams 2 --out sparse-cfg
  ovrecipes sparse check pruned --config-file sparse-cfg/sparse_config.json
  ovrecipes sparse sweep pruned --out sweep --time 2
  ovrecipes bench pruned --shape '[1,128]' --config-file sparse-cfg/sparse_config.json
"""


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


# -- flag checks ----------------------------------------------------------------------------------
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


def _check_config_file(args: argparse.Namespace) -> None:
    if args.config_file is None:
        _rate(args)
        _coverage(args)
    elif args.rate is not None or args.coverage is not None:
        flag = "--rate" if args.rate is not None else "--coverage"
        raise ValueError(f"{flag} has no effect with --config-file: the file's {sparse.RATE_KEY} sets the rate")
    else:
        require_file(args.config_file, "config file")


# -- the commands -----------------------------------------------------------------------------------
def cmd_stats(args: argparse.Namespace) -> None:
    _rate(args)
    _coverage(args)
    check_overwrite_has_out(args)
    result = run_stats(args.model_path, args.out, rate=args.rate, coverage=args.coverage, overwrite=args.overwrite,
                       inputs=input_paths(args))
    if args.json:
        print(json.dumps(result.data, indent=2))
    else:
        print(result.table().format())
        print()
        print("\n".join(result.lines()))
    if args.out:
        print(f"\nWrote {args.out.resolve()} (report.json, report.md, {HIST_NAME})")


def cmd_config(args: argparse.Namespace) -> None:
    _rate(args)
    _coverage(args)
    out = args.out.resolve()
    result = run_config(args.model_path, out, rate=args.rate, coverage=args.coverage, streams=args.streams,
                        threads=args.threads, overwrite=args.overwrite, inputs=input_paths(args))
    print(result.rate_reason)
    print(result.data["sparse_kernels_reason"])
    print(json.dumps(result.config))
    shape = result.shape
    print(f"\nWrote {out} ({CONFIG_NAME}, {SNIPPET_NAME}, report.json, report.md). Use it with:")
    print(f"  ovrecipes bench {args.model_path} --config-file {out / CONFIG_NAME}" + (f" --shape '{shape}'" if shape else ""))
    print(f"  benchmark_app -m {result.model} -load_config {out / CONFIG_NAME}" + (f" -shape '{shape}'" if shape else ""))
    print(f"  python {out / SNIPPET_NAME}")


def cmd_check(args: argparse.Namespace) -> None:
    _check_config_file(args)
    check_json_output(args)
    result = run_check(args.model_path, config=args.config_file, rate=args.rate, coverage=args.coverage,
                       shape=args.shape)
    print(result.table().format())
    print()
    print("\n".join(result.lines()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.verdict, indent=2, default=str))


def cmd_sweep(args: argparse.Namespace) -> None:
    seq_lens = parse_ints(args.seq_lens, "--seq-lens")
    grid = parse_ints(args.grid, "--grid")
    if args.grid_seq_len <= 0:
        raise ValueError(f"--grid-seq-len must be positive: got {args.grid_seq_len}")
    _check_config_file(args)
    out = args.out.resolve()
    result = run_sweep(args.model_path, out, config=args.config_file, rate=args.rate, coverage=args.coverage,
                       time_s=args.time, seq_lens=seq_lens, grid_seq_len=args.grid_seq_len, grid=grid,
                       overwrite=args.overwrite, inputs=input_paths(args))
    grid_table, seq_table = result.tables()
    print()
    print(grid_table.format())
    print()
    print(seq_table.format())
    print(f"\nSweep took {result.data['wall_s']:.0f} s. Wrote {out} (report.md, report.json, sweep.png)")


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

    def pipeline(src: Path):  # the family's model source defaults to the IR's own directory (tokenizer, config)
        return FAMILIES[args.family].make_pipeline(argparse.Namespace(**{**vars(args), "model": args.model or str(src)}))

    result = run_prune(args.model_path, args.target, out, family=pipeline if args.family else None,
                       eval_samples=args.eval_samples, overwrite=args.overwrite, inputs=input_paths(args))
    print("\n".join(result.lines()))
    print(f"\nWrote {out} (pruned IR, model files, report.json, report.md, {HIST_NAME})")
