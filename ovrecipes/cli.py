"""The ``ovrecipes`` command: one entry point for every family, recipe and tool.

Errors a user can fix (bad flags, missing files, an ignored name that is not in the model, an
existing output directory) are printed as one line and exit with status 2; set
``OVRECIPES_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from ovrecipes.families import FAMILIES, FAMILY_COMMANDS
from ovrecipes.sparse_cli import add_sparse_parser, cmd_sparse

EXAMPLES = """examples:
  ovrecipes demo                                   # the main job, offline, on the embedded MiniLM
  ovrecipes bert ptq --out int8-minilm             # PTQ of the embedded default
  ovrecipes bert ptq --model textattack/bert-base-uncased-SST-2 --dataset glue --dataset-config sst2 \\
      --text-column sentence --split validation --out int8-sst2 --max-drop 0.5
  ovrecipes bench int8-minilm --shape '[1,64]' --hint throughput --time 10
  ovrecipes compare bert int8-minilm/fp32 int8-minilm --out cmp
  ovrecipes cpu
"""


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false: got {text!r}")


def _alpha(text: str):
    if text in ("off", "auto"):
        return text
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"SmoothQuant alpha must be a number in [0, 1], 'off' or 'auto': got {text!r}") from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number: got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number: got {text!r}")
    return value


def _add_bench_args(parser: argparse.ArgumentParser, time_default: float) -> None:
    g = parser.add_argument_group("benchmark")
    g.add_argument("--hint", choices=("throughput", "latency", "none"), default="throughput")
    g.add_argument("--streams", type=int, default=None, help="NUM_STREAMS (default: from the hint)")
    g.add_argument("--threads", type=int, default=None, help="INFERENCE_NUM_THREADS (default: all cores)")
    g.add_argument("--time", type=_positive_float, default=time_default, help=f"seconds per model (default {time_default:g})")


def _bench_args(args: argparse.Namespace) -> dict:
    return {"hint": args.hint, "streams": args.streams, "threads": args.threads, "time_s": args.time}


def _add_measure_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("side-by-side measurement")
    g.add_argument("--eval-samples", type=int, default=None, help="limit the test split (default: all of it)")
    g.add_argument("--accuracy-budget", type=float, default=1.0,
                   help="metric points a faster variant may lose and still be recommended (default 1.0)")
    _add_bench_args(parser, time_default=10.0)


def _add_ptq_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("PTQ recipe (override the YAML config)")
    g.add_argument("--config", type=Path, default=None, help="recipe YAML (default: recipes/configs/<family>-ptq.yaml)")
    g.add_argument("--preset", choices=("performance", "mixed"))
    g.add_argument("--subset-size", type=int, help="NNCF statistics samples per submodel")
    g.add_argument("--calibration-samples", type=int,
                   help="family samples run for calibration, e.g. Whisper clips (default: subset size)")
    g.add_argument("--fast-bias-correction", type=_bool, metavar="true|false")
    g.add_argument("--target-device", choices=("ANY", "CPU", "CPU_SPR", "GPU", "NPU"))
    g.add_argument("--overflow-fix", choices=("auto", "enable", "disable", "first_layer_only"))
    g.add_argument("--target-cpu", choices=("avx2", "vnni", "amx"),
                   help="decide overflow_fix for this deployment CPU instead of this machine")
    g.add_argument("--submodels", nargs="+", metavar="NAME", help="submodels to quantize (default: the family's set)")
    g.add_argument("--ignored-name", action="append", default=[], metavar="NAME", help="op name kept in FP32 (repeatable)")
    g.add_argument("--ignored-pattern", action="append", default=[], metavar="REGEX",
                   help="re.match pattern over op names kept in FP32 (repeatable)")
    g.add_argument("--ignored-type", action="append", default=[], metavar="TYPE",
                   help="OpenVINO op type kept in FP32, e.g. Softmax (repeatable)")
    g.add_argument("--ignored-scope-validate", type=_bool, metavar="true|false",
                   help="error when an ignored rule matches nothing (default true)")
    g.add_argument("--ignored-scope-mode", metavar="none|auto|preset:NAME",
                   help="ops kept in FP32 besides the rules above: a family preset (e.g. preset:published) or "
                        "'auto' (per-op sensitivity search on the validation split)")
    g.add_argument("--compare-scope-modes", nargs="+", metavar="MODE",
                   help="also quantize with these modes, each an extra INT8 variant in the report")
    g.add_argument("--auto-scope-max-drop", type=float, metavar="POINTS",
                   help="'auto' mode: metric points allowed below OV FP32 on the validation split")
    g.add_argument("--auto-scope-max-ops", type=int, metavar="N", help="'auto' mode: at most N ops kept in FP32")
    g.add_argument("--sq-alpha", action="append", default=[], metavar="[SUBMODEL.][matmul|convolution=]ALPHA",
                   help="SmoothQuant alpha: a number, 'off' or 'auto'; e.g. 0.8, auto, encoder.matmul=0.5")
    g.add_argument("--alpha-grid", help="comma-separated alphas tried by 'auto', e.g. off,0.5,0.8,0.95")
    g.add_argument("--max-drop", type=float, help="accuracy control: allowed metric drop (points)")
    g.add_argument("--drop-type", choices=("absolute", "relative"))
    out = parser.add_argument_group("output")
    out.add_argument("--out", type=Path, required=True, help="output directory (must not exist unless --overwrite)")
    out.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    out.add_argument("--compare-torch", action="store_true", help="also measure the PyTorch FP32 model")
    out.add_argument("--no-eval", action="store_true", help="skip the metric on the test split")
    out.add_argument("--no-bench", action="store_true", help="skip the throughput/latency runs")


def _ptq_overrides(args: argparse.Namespace) -> dict:
    """CLI flags as a partial config, deep-merged over the YAML."""
    o: dict = {}
    for flag, key in (("preset", "preset"), ("subset_size", "subset_size"),
                      ("fast_bias_correction", "fast_bias_correction"), ("calibration_samples", "calibration_samples"), ("target_device", "target_device"),
                      ("overflow_fix", "overflow_fix"), ("target_cpu", "target_cpu"), ("submodels", "submodels")):
        if getattr(args, flag) is not None:
            o[key] = getattr(args, flag)
    scope = {}
    if args.ignored_name:
        scope["names"] = args.ignored_name
    if args.ignored_pattern:
        scope["patterns"] = args.ignored_pattern
    if args.ignored_type:
        scope["types"] = args.ignored_type
    if args.ignored_scope_validate is not None:
        scope["validate"] = args.ignored_scope_validate
    if scope:
        o["ignored_scope"] = scope
    if args.ignored_scope_mode is not None:
        o["ignored_scope_mode"] = args.ignored_scope_mode
    if args.compare_scope_modes is not None:
        o["compare_scope_modes"] = args.compare_scope_modes
    auto = {k: v for k, v in (("max_drop", args.auto_scope_max_drop), ("max_ops", args.auto_scope_max_ops))
            if v is not None}
    if auto:
        o["auto_scope"] = auto
    for spec in args.sq_alpha:
        target, _, value = spec.rpartition("=")
        submodel, _, op = target.rpartition(".") if "." in target else ("default", "", target or "matmul")
        if op not in ("matmul", "convolution"):
            raise ValueError(f"--sq-alpha target must be matmul or convolution: got {op!r} in {spec!r}")
        o.setdefault("smooth_quant", {}).setdefault(submodel or "default", {})[op] = _alpha(value)
    if args.alpha_grid:
        o["alpha_grid"] = [_alpha(v.strip()) for v in args.alpha_grid.split(",") if v.strip()]
    ac = {}
    if args.max_drop is not None:
        ac["max_drop"] = args.max_drop
    if args.drop_type is not None:
        ac["drop_type"] = args.drop_type
    if ac:
        o["accuracy_control"] = ac
    return o


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ovrecipes", description="OpenVINO/NNCF recipes with measured accuracy and throughput.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="the main job: embedded MiniLM sentiment model, PyTorch vs OV FP32 vs OV INT8")
    demo.add_argument("--out", type=Path, default=None,
                      help="output directory (default: ovrecipes-runs/demo-<time>)")
    demo.add_argument("--overwrite", action="store_true")
    _add_measure_args(demo)

    for family, (add_family_args, _) in FAMILIES.items():
        fam = sub.add_parser(family, help=f"recipes for the {family} family")
        recipes = fam.add_subparsers(dest="recipe", required=True, metavar="RECIPE")
        p = recipes.add_parser("ptq", help="NNCF post-training quantization", epilog=EXAMPLES,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        add_family_args(p)
        _add_ptq_args(p)
        _add_measure_args(p)
        for add_commands in FAMILY_COMMANDS.get(family, []):
            add_commands(recipes)

    cmp = sub.add_parser("compare", help="measure model directories side by side on one family pipeline")
    cmp_families = cmp.add_subparsers(dest="family", required=True, metavar="FAMILY")
    for family, (add_family_args, _) in FAMILIES.items():
        fam_cmp = cmp_families.add_parser(family, help=f"compare {family} models on the {family} pipeline's data")
        fam_cmp.add_argument("models", nargs="+", type=Path, help="PyTorch or OpenVINO model directories")
        fam_cmp.add_argument("--labels", nargs="+", help="names for the table (default: directory names)")
        fam_cmp.add_argument("--out", type=Path, default=None, help="write report.md/json and a plot here")
        fam_cmp.add_argument("--overwrite", action="store_true")
        add_family_args(fam_cmp)
        _add_measure_args(fam_cmp)

    bench = sub.add_parser("bench", help="benchmark_app-style throughput/latency run of one IR")
    bench.add_argument("model", type=Path, help="model directory or .xml file")
    bench.add_argument("--shape", default=None, help="benchmark_app syntax: '[1,64]' or 'input_ids[1,64],...'")
    bench.add_argument("--config-file", type=Path, default=None, help="benchmark_app -load_config JSON")
    bench.add_argument("--json", type=Path, default=None, help="also write the result as JSON here")
    bench.add_argument("--sparse-rate", type=float, default=None, metavar="R",
                       help="CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE (acts on AMX CPUs only; see 'ovrecipes sparse check')")
    _add_bench_args(bench, time_default=15.0)

    cpu = sub.add_parser("cpu", help="ISA flags, VNNI/AMX, the overflow_fix that will be used and why")
    cpu.add_argument("--target-cpu", choices=("avx2", "vnni", "amx"), default=None)
    cpu.add_argument("--json", action="store_true", help="print JSON")

    sub.add_parser("fetch", help="build every embedded default (data, BERT, speech, Whisper, CGD) into the cache")
    add_sparse_parser(sub)
    return parser


def cmd_cpu(args: argparse.Namespace) -> None:
    from ovrecipes.recipes.overflow import choose_overflow_fix, sparse_kernel_support, target_cpu

    cpu = target_cpu(args.target_cpu)
    decision = choose_overflow_fix("auto", cpu)
    sparse_ok, sparse_reason = sparse_kernel_support(cpu)
    info = {**cpu.to_dict(), "overflow_fix": decision.value, "overflow_fix_reason": decision.reason,
            "sparse_kernels": sparse_ok, "sparse_kernels_reason": sparse_reason}
    if args.json:
        print(json.dumps(info, indent=2))
        return
    print(f"CPU:                 {cpu.brand} ({cpu.source})")
    print("ISA flags:           " + "  ".join(f"{f}={'yes' if on else 'no'}" for f, on in info["flags"].items()))
    print(f"VNNI / AMX:          {'yes' if cpu.has_vnni else 'no'} / {'yes' if cpu.has_amx else 'no'}")
    print(f"int8 can saturate:   {'yes' if cpu.int8_can_saturate else 'no'}")
    print(f"overflow_fix (auto): {decision.value}")
    print(f"  why: {decision.reason}")
    print(f"sparse kernels:      {'yes' if sparse_ok else 'no'}")
    print(f"  why: {sparse_reason}")


def cmd_bench(args: argparse.Namespace) -> None:
    from ovrecipes.pipelines import runtime

    shape = runtime.parse_shape(args.shape) if args.shape else None
    config = runtime.load_config_file(args.config_file) if args.config_file else None
    if args.sparse_rate is not None:
        if not 0.0 <= args.sparse_rate <= 1.0:
            raise ValueError(f"--sparse-rate must be in [0, 1]: got {args.sparse_rate}")
        import openvino.properties.intel_cpu as intel_cpu

        config = {**(config or {}), intel_cpu.sparse_weights_decompression_rate(): args.sparse_rate}
    result = runtime.benchmark_openvino(args.model, None, shape=shape, config=config, **_bench_args(args))
    print(result.to_text())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.to_dict(), indent=2))


def cmd_fetch(args: argparse.Namespace) -> None:
    """Build every embedded default now (each is cached; later runs start warm)."""
    from ovrecipes.pipelines import bert, cgd, whisper
    from ovrecipes.pipelines.speech_data import embedded_speech
    from ovrecipes.pipelines.text_data import vader_archive

    print(f"embedded sentiment data:  {vader_archive()}")
    print(f"embedded BERT model:      {bert.embedded_model_dir()}")
    print(f"embedded speech:          {len(embedded_speech())} synthesised clips")
    print(f"embedded Whisper tiny.en: {whisper.embedded_whisper_dir()}")
    print(f"embedded CGD model:       {cgd.embedded_model_dir()}")


def cmd_family(args: argparse.Namespace) -> None:
    from ovrecipes.config import load_config
    from ovrecipes.workflow import run_ptq
    from ovrecipes.recipes.ptq import PTQConfig

    _, make_pipeline = FAMILIES[args.command]
    config = load_config(PTQConfig, args.command, args.recipe, args.config, _ptq_overrides(args))
    from ovrecipes.outdir import check_output

    check_output(args.out.resolve(), args.overwrite)
    pipeline = make_pipeline(args)
    run_ptq(pipeline, config, args.out, overwrite=args.overwrite, compare_torch=args.compare_torch,
            evaluate=not args.no_eval, bench=not args.no_bench, bench_args=_bench_args(args),
            eval_limit=args.eval_samples, budget=args.accuracy_budget,
            title=f"{args.command} {args.recipe}: {args.model}")


def cmd_compare(args: argparse.Namespace) -> None:
    from ovrecipes.compare import Variant
    from ovrecipes.workflow import run_compare

    labels = args.labels or [m.name for m in args.models]
    if len(labels) != len(args.models):
        raise ValueError(f"--labels gives {len(labels)} names for {len(args.models)} models")
    _, make_pipeline = FAMILIES[args.family]
    pipeline = make_pipeline(args)
    run_compare(pipeline, [Variant(l, m) for l, m in zip(labels, args.models)], args.out, overwrite=args.overwrite,
                bench_args=_bench_args(args), eval_limit=args.eval_samples, budget=args.accuracy_budget)


def cmd_demo(args: argparse.Namespace) -> None:
    from ovrecipes.config import load_config
    from ovrecipes.workflow import run_ptq
    from ovrecipes.pipelines.bert import BertPipeline
    from ovrecipes.recipes.ptq import PTQConfig

    out = args.out or Path("ovrecipes-runs") / time.strftime("demo-%Y%m%d-%H%M%S")
    config = load_config(PTQConfig, "bert", "ptq", None, {})
    print("ovrecipes demo: MiniLM-L6 sentiment classifier (embedded, offline) -> OpenVINO FP32 -> NNCF INT8,\n"
          "measured side by side with PyTorch FP32 on the held-out test sentences.")
    run_ptq(BertPipeline(), config, out, overwrite=args.overwrite, compare_torch=True,
            bench_args=_bench_args(args), eval_limit=args.eval_samples, budget=args.accuracy_budget,
            title="ovrecipes demo: MiniLM-L6 sentiment, PyTorch FP32 vs OV FP32 vs OV INT8")


COMMANDS = {"cpu": cmd_cpu, "bench": cmd_bench, "fetch": cmd_fetch, "compare": cmd_compare, "demo": cmd_demo,
            "sparse": cmd_sparse}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = getattr(args, "handler", None) or COMMANDS.get(args.command, cmd_family)
    try:
        handler(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        if os.environ.get("OVRECIPES_DEBUG"):
            raise
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"ovrecipes: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
