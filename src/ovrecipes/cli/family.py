"""``ovrecipes <family> ...``: a subcommand per family with its recipes (ptq; jpqd where the family
can train) and the family's own commands (e.g. ``cgd index``/``cgd query``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ovrecipes.cli import jpqd
from ovrecipes.cli.argtypes import parse_bool
from ovrecipes.cli.family_commands import FAMILY_COMMANDS, add_family_options
from ovrecipes.cli.options import (
    add_cpu_target_args,
    add_measure_args,
    add_output_args,
    input_paths,
    measure_options,
)
from ovrecipes.pipelines.base import FamilySpec
from ovrecipes.pipelines.registry import FAMILIES
from ovrecipes.recipes.ptq import PTQConfig
from ovrecipes.recipes.weight_compression import MODES, WeightCompressionConfig
from ovrecipes.runs.config import load_config
from ovrecipes.runs.outdir import check_output
from ovrecipes.runs.ptq import run_ptq

PTQ_EXAMPLES = """examples:
  ovrecipes bert ptq --out int8-minilm             # PTQ of the embedded default
  ovrecipes bert ptq --model textattack/bert-base-uncased-SST-2 --dataset glue --dataset-config sst2 \\
      --text-column sentence --split validation --out int8-sst2 --max-drop 0.5
  ovrecipes whisper ptq --out whisper-int8 --compare-torch --weight-only --compare-peers
  ovrecipes cgd ptq --out cgd-int8 --ignored-scope-mode preset:published
"""


def parse_alpha(text: str):
    if text in ("off", "auto"):
        return text
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"SmoothQuant alpha must be a number in [0, 1], 'off' or 'auto': got {text!r}") from None


def add_ptq_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("PTQ recipe (override the YAML config)")
    g.add_argument("--config", type=Path, default=None, help="recipe YAML (default: recipes/configs/<family>-ptq.yaml)")
    g.add_argument("--preset", choices=("performance", "mixed"))
    g.add_argument("--subset-size", type=int, help="NNCF statistics samples per submodel")
    g.add_argument("--calibration-samples", type=int,
                   help="family samples run for calibration, e.g. Whisper clips (default: subset size)")
    g.add_argument("--fast-bias-correction", type=parse_bool, metavar="true|false")
    g.add_argument("--target-device", choices=("ANY", "CPU", "CPU_SPR", "GPU", "NPU"))
    add_cpu_target_args(g)
    g.add_argument("--submodels", nargs="+", metavar="NAME", help="submodels to quantize (default: the family's set)")
    g.add_argument("--ignored-name", action="append", default=[], metavar="NAME", help="op name kept in FP32 (repeatable)")
    g.add_argument("--ignored-pattern", action="append", default=[], metavar="REGEX",
                   help="re.match pattern over op names kept in FP32 (repeatable)")
    g.add_argument("--ignored-type", action="append", default=[], metavar="TYPE",
                   help="OpenVINO op type kept in FP32, e.g. Softmax (repeatable)")
    g.add_argument("--ignored-scope-validate", type=parse_bool, metavar="true|false",
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
    g.add_argument("--max-drop", type=float,
                   help="accuracy control: allowed metric drop, in points (absolute, the default) or as a fraction "
                        "of the FP32 metric (--drop-type relative: 0.01 = 1%%)")
    g.add_argument("--drop-type", choices=("absolute", "relative"), help="how --max-drop is measured, as in NNCF")
    add_output_args(parser)
    r = parser.add_argument_group("what to measure")
    r.add_argument("--compare-torch", action="store_true", help="also measure the PyTorch FP32 model")
    r.add_argument("--weight-only", action="store_true",
                   help="also make a weight-only INT8 model (nncf.compress_weights, data-free; "
                        "recipes/configs/<family>-wc.yaml) and measure it in the same table")
    r.add_argument("--wc-mode", choices=MODES, help="weight-only mode (default from the config: int8_asym)")
    r.add_argument("--compare-peers", action="store_true",
                   help="also measure the family's peer runtimes on the same data (Whisper: faster-whisper "
                        "int8 and float32; pip install 'ovrecipes[peers]')")


def ptq_overrides(args: argparse.Namespace) -> dict:
    """CLI flags as a partial config, deep-merged over the YAML."""
    o: dict = {key: getattr(args, key) for key in ("preset", "subset_size", "fast_bias_correction",
                                                    "calibration_samples", "target_device", "overflow_fix",
                                                    "target_cpu", "submodels") if getattr(args, key) is not None}
    scope = {k: v for k, v in (("names", args.ignored_name), ("patterns", args.ignored_pattern),
                               ("types", args.ignored_type)) if v}
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
        o.setdefault("smooth_quant", {}).setdefault(submodel or "default", {})[op] = parse_alpha(value)
    if args.alpha_grid:
        o["alpha_grid"] = [parse_alpha(v.strip()) for v in args.alpha_grid.split(",") if v.strip()]
    ac = {k: v for k, v in (("max_drop", args.max_drop), ("drop_type", args.drop_type)) if v is not None}
    if ac:
        o["accuracy_control"] = ac
    return o


def refuse_flags_without_effect(args: argparse.Namespace, config: PTQConfig) -> None:
    """A one-line error for a flag that the resolved recipe would never use, instead of a run that
    looks as if it had: a grid no 'auto' alpha searches, a drop type with no drop, an auto-scope
    limit with no 'auto' scope mode."""
    alphas = [a for sq in config.smooth_quant.values() for a in (sq.matmul, sq.convolution)]
    if args.alpha_grid and "auto" not in alphas:
        raise ValueError(f"--alpha-grid {args.alpha_grid!r} is searched only for an 'auto' SmoothQuant alpha, and "
                         "this recipe has none: add --sq-alpha auto (or SUBMODEL.matmul=auto)")
    if args.drop_type and config.accuracy_control.max_drop is None:
        raise ValueError(f"--drop-type {args.drop_type} needs --max-drop (accuracy control is off without it)")
    modes = [config.ignored_scope_mode, *config.compare_scope_modes]
    for flag, value in (("--auto-scope-max-drop", args.auto_scope_max_drop),
                        ("--auto-scope-max-ops", args.auto_scope_max_ops)):
        if value is not None and "auto" not in modes:
            raise ValueError(f"{flag} {value:g} limits the 'auto' ignored-scope search, which this run does not do: "
                             "add --ignored-scope-mode auto (or --compare-scope-modes auto)")


def checked_ptq_config(args: argparse.Namespace, model_key: str | None = None) -> PTQConfig:
    """The recipe YAML (with its settings for ``model_key``) and the flags merged, after refusing a flag
    the run would never use."""
    config, _ = load_config(PTQConfig, args.spec.name, "ptq", args.config, ptq_overrides(args), model_key=model_key)
    refuse_flags_without_effect(args, config)
    return config


def cmd_ptq(args: argparse.Namespace) -> None:
    spec: FamilySpec = args.spec
    checked_ptq_config(args)  # a bad file or flag fails before the model is prepared
    options = measure_options(args)
    weight_only = None
    if args.weight_only or args.wc_mode:
        weight_only, _ = load_config(WeightCompressionConfig, spec.name, "wc", None,
                                     {"mode": args.wc_mode} if args.wc_mode else {})
    check_output(args.out.resolve(), args.overwrite, input_paths(args))
    pipeline = spec.make_pipeline(args).resolve()
    config = checked_ptq_config(args, pipeline.settings_key())
    run_ptq(pipeline, config, args.out, overwrite=args.overwrite, compare_torch=args.compare_torch,
            weight_only=weight_only, compare_peers=args.compare_peers,
            options=options,
            title=f"{spec.name} ptq: {args.model}")


def register(sub) -> None:
    """One subcommand per registered family."""
    for spec in FAMILIES.values():
        fam = sub.add_parser(spec.name, help=f"recipes for the {spec.name} family: {spec.help}")
        recipes = fam.add_subparsers(dest="recipe", required=True, metavar="RECIPE")
        p = recipes.add_parser("ptq", help="NNCF post-training quantization", epilog=PTQ_EXAMPLES,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        add_family_options(p, spec)
        add_ptq_args(p)
        add_measure_args(p, switches=True)
        p.set_defaults(handler=cmd_ptq, spec=spec)
        if spec.supports_jpqd:
            jpqd.add_parser(recipes, spec)
        if spec.name in FAMILY_COMMANDS:
            FAMILY_COMMANDS[spec.name](recipes)
