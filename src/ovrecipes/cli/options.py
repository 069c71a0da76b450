"""Option groups more than one command uses: output, benchmark, side-by-side measurement, CPU target."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Iterable

from ovrecipes.cli.argtypes import non_negative_float, positive_float, positive_int
from ovrecipes.core.cpu import TARGET_CPUS
from ovrecipes.core.openvino import HINTS, PRECISIONS
from ovrecipes.core.staging import check_output_file
from ovrecipes.measure.serving import DEFAULT_SAMPLES, WorkloadOptions
from ovrecipes.measure.variants import DEFAULT_ROUNDS, PRECISION_CHOICES
from ovrecipes.measure.workload import parse_policy
from ovrecipes.recipes.overflow import OVERFLOW_FIX_CHOICES
from ovrecipes.runs.common import MeasureOptions


def add_output_args(parser: argparse.ArgumentParser, *, required: bool = True, default: Path | None = None,
                    help: str = "output directory (must not exist unless --overwrite)", inherit: bool = False) -> None:
    """``inherit``: for a subcommand whose parent takes the same options (``compare --out X bert ...``), so
    that the values given before the subcommand survive instead of being reset to its defaults."""
    g = parser.add_argument_group("output")
    unset = {"default": argparse.SUPPRESS} if inherit else {}
    g.add_argument("--out", type=Path, required=required, **(unset or {"default": default}), help=help)
    g.add_argument("--overwrite", action="store_true", help="replace an existing output directory", **unset)


def add_json_output_arg(parser: argparse.ArgumentParser, help: str,
                        overwrite_help: str = "replace an existing --json file") -> None:
    """``--json FILE`` and the ``--overwrite`` that lets it replace an existing file (``check_json_output``)."""
    g = parser.add_argument_group("output")
    g.add_argument("--json", type=Path, default=None, help=help)
    g.add_argument("--overwrite", action="store_true", help=overwrite_help)


def check_json_output(args: argparse.Namespace) -> None:
    """Before the measurement: the --json file can be written, replaces nothing without --overwrite and
    never an input of the run."""
    check_overwrite_has_out(args, "json")
    check_output_file(args.json, "--json", overwrite=args.overwrite, inputs=input_paths(args, outputs=("json",)))


def check_overwrite_has_out(args: argparse.Namespace, output: str = "out") -> None:
    """Where the output (--out, --json) is optional, --overwrite alone would be accepted and do nothing."""
    if args.overwrite and getattr(args, output) is None:
        raise ValueError(f"--overwrite has no effect without --{output}: nothing is written")


def input_paths(args: argparse.Namespace, outputs: tuple[str, ...] = ("out",)) -> list[Path]:
    """Every existing file or directory named on the command line except the ``outputs`` options: what
    the run reads, and so what ``--overwrite`` must never delete."""
    found = []
    for dest, value in vars(args).items():
        for item in (value if isinstance(value, (list, tuple)) else [value]):
            if dest not in outputs and isinstance(item, (str, Path)) and str(item) and Path(item).exists():
                found.append(Path(item))
    return found


def add_bench_args(parser: argparse.ArgumentParser, time_default: float, *, precision_default: str = "default",
                   precision_choices: tuple[str, ...] = PRECISIONS, time_help: str | None = None,
                   hint_default: str | None = "throughput", hint_help: str | None = None) -> None:
    g = parser.add_argument_group("benchmark")
    g.add_argument("--hint", choices=HINTS, default=hint_default,
                   help=hint_help or f"PERFORMANCE_HINT; 'none' sets no hint (default {hint_default})")
    g.add_argument("--streams", type=positive_int, default=None, help="NUM_STREAMS (default: from the hint)")
    g.add_argument("--threads", type=positive_int, default=None, help="INFERENCE_NUM_THREADS (default: all cores)")
    g.add_argument("--time", type=positive_float, default=time_default,
                   help=time_help or f"seconds of measurement (default {time_default:g})")
    g.add_argument("--inference-precision", choices=precision_choices, default=precision_default,
                   help="INFERENCE_PRECISION_HINT; 'default' leaves the CPU plugin's choice (bf16 on AVX512_BF16/AMX "
                        f"CPUs, f32 elsewhere) (default {precision_default})")


def bench_args(args: argparse.Namespace) -> dict:
    """hint, streams, threads and time_s as the runtime and the pipelines take them."""
    return {"hint": args.hint, "streams": args.streams, "threads": args.threads, "time_s": args.time}


def add_measure_args(parser: argparse.ArgumentParser, *, switches: bool = False) -> None:
    """Options of every side-by-side (ptq, jpqd, compare, demo); ``switches`` adds --no-eval and --no-bench
    (a recipe run may skip a part; a compare or the demo exists to measure both)."""
    g = parser.add_argument_group("side-by-side measurement")
    if switches:
        g.add_argument("--no-eval", action="store_true", help="skip the metric on the test split")
        g.add_argument("--no-bench", action="store_true", help="skip the throughput/latency runs")
    g.add_argument("--eval-samples", type=positive_int, default=None, help="limit the test split (default: all of it)")
    g.add_argument("--accuracy-budget", type=non_negative_float, default=1.0,
                   help="metric points a faster variant may lose and still be recommended (default 1.0)")
    g.add_argument("--rounds", type=positive_int, default=DEFAULT_ROUNDS,
                   help=f"interleaved benchmark rounds (A B C, A B C, ...); --time is split over them "
                        f"(default {DEFAULT_ROUNDS})")
    add_bench_args(parser, time_default=10.0, precision_default="auto", precision_choices=PRECISION_CHOICES,
                   time_help="seconds per variant, over all rounds (default 10)")
    add_workload_args(parser)
    parser.set_defaults(measure_flags=flags_by_dest(parser._actions))


def add_workload_args(parser, *, switch: bool = True) -> None:
    """Serving the real inputs (families with a workload: BERT): one at a time, concurrently, shape policies.
    ``parser``: a parser (a group is added) or a group; ``switch`` adds --no-workload."""
    g = parser if isinstance(parser, argparse._ArgumentGroup) else parser.add_argument_group(
        "serving real inputs (the test split at natural sizes, one at a time and concurrently)")
    if switch:
        g.add_argument("--no-workload", action="store_true",
                       help="skip serving the real inputs (only the benchmark_app-style padded figure)")
    g.add_argument("--workload-samples", type=positive_int, default=DEFAULT_SAMPLES, metavar="N",
                   help=f"serve the first N test inputs, in order, in every round (default {DEFAULT_SAMPLES})")
    g.add_argument("--shape-policy", default="auto", type=shape_policy_arg, metavar="POLICY",
                   help="how inputs of varying length meet the IR: dynamic (own shape), static (padded to "
                        "--max-length), buckets or buckets:16,32,48,64 (padded to the next bucket, each length "
                        "static, all in one compiled model); auto measures all three and recommends one; several "
                        "joined by + are measured against each other, e.g. buckets+buckets:16,32,48,64 (default auto)")
    g.add_argument("--clients", type=positive_int, default=None, metavar="N",
                   help="concurrent clients (default: the plugin's optimal number of requests)")


#: measurement flags and the part of the side-by-side each one sets (None: whichever part runs)
_PART_OF = {"eval_samples": "eval", "rounds": "bench", "hint": "bench", "streams": "bench", "threads": "bench",
            "time": "bench", "accuracy_budget": "both", "inference_precision": None, "no_workload": "bench",
            "workload_samples": "workload", "shape_policy": "workload", "clients": "workload"}


def measure_options(args: argparse.Namespace) -> MeasureOptions:
    """The side-by-side's options, after refusing a measurement flag that --no-eval/--no-bench made pointless
    (``--no-bench --time 60`` would otherwise look as if it had measured for a minute)."""
    evaluate, bench = not getattr(args, "no_eval", False), not getattr(args, "no_bench", False)
    skipped = " ".join(flag for flag, on in (("--no-eval", evaluate), ("--no-bench", bench)) if not on)
    for dest, part in _PART_OF.items():
        flag, default = args.measure_flags[dest]
        if getattr(args, dest) == default:
            continue
        if not (evaluate or bench):
            why = "nothing is measured"
        elif part == "both" and not (evaluate and bench):
            why = "the recommendation weighs the metric against the throughput, and one of them is not measured"
        elif part == "eval" and not evaluate:
            why = "it limits the test split of the metric"
        elif part in ("bench", "workload") and not bench:
            why = "it sets the throughput/latency runs"
        elif part == "workload" and args.no_workload:
            why = "no real inputs are served"
            skipped = "--no-workload"
        else:
            continue
        value = getattr(args, dest)
        raise ValueError(f"{flag} {f'{value:g}' if isinstance(value, float) else value} has no effect with "
                         f"{skipped}: {why}")
    workload = None if args.no_workload else WorkloadOptions(samples=args.workload_samples, policy=args.shape_policy,
                                                             clients=args.clients)
    return MeasureOptions(evaluate=evaluate, bench=bench, bench_args=bench_args(args), eval_limit=args.eval_samples,
                          budget=args.accuracy_budget, rounds=args.rounds, precision=args.inference_precision,
                          workload=workload)


def shape_policy_arg(text: str) -> str:
    """A --shape-policy value checked for its form now (lengths are checked against --max-length later)."""
    if text != "auto":
        try:
            for part in text.split("+"):
                parse_policy(part, None if ":" in part or part == "dynamic" else 1)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    return text


def add_cpu_target_args(group, prefix: str = "") -> None:
    """--overflow-fix and --target-cpu with the choices recipes.overflow defines (``dest`` gets ``prefix``)."""
    group.add_argument("--overflow-fix", choices=OVERFLOW_FIX_CHOICES, dest=f"{prefix}overflow_fix",
                       help="NNCF overflow fix; 'auto' decides from the target CPU's VNNI/AMX flags")
    group.add_argument("--target-cpu", choices=tuple(TARGET_CPUS), dest=f"{prefix}target_cpu",
                       help="decide for this deployment CPU instead of this machine")


def flags_by_dest(actions: Iterable[argparse.Action]) -> dict[str, tuple[str, Any]]:
    """dest -> (its long flag, its default), the first action per dest (--learning-rate, not its alias --lr):
    what a "has no effect" error names, and how it tells a given flag from a default."""
    table: dict[str, tuple[str, Any]] = {}
    for action in actions:
        if action.option_strings:
            table.setdefault(action.dest, (action.option_strings[-1], action.default))
    return table
