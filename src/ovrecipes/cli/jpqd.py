"""``ovrecipes <family> jpqd``: options, config (YAML or legacy NNCF JSON) and the run."""

from __future__ import annotations

import argparse
from pathlib import Path

from ovrecipes.cli.argtypes import parse_bool
from ovrecipes.cli.family_commands import add_family_options
from ovrecipes.cli.options import (
    add_cpu_target_args,
    add_measure_args,
    add_output_args,
    flags_by_dest,
    input_paths,
    measure_options,
)
from ovrecipes.pipelines.base import FamilySpec
from ovrecipes.runs.outdir import check_output

JPQD_EXAMPLES = """examples:
  ovrecipes bert jpqd --out jpqd-minilm                                  # embedded MiniLM, teacher = itself
  ovrecipes bert jpqd --out jpqd-minilm --compare-deploy                 # INT8 and pruned FP32 side by side
  ovrecipes bert jpqd --out jpqd-avx2 --target-cpu avx2                  # deliverable for an AVX2 server (fp32)
  ovrecipes bert jpqd --model ./student --teacher ./bert-base-sst2 --config bert-base-jpqd.json --out jpqd
  ovrecipes bert jpqd --out jpqd-minilm --epochs 3 --warmup-end-epoch 2 --resume-from-checkpoint last
  torchrun --nproc-per-node 2 -m ovrecipes.cli bert jpqd --out jpqd-ddp     # data-parallel training
"""
#: flag-name prefixes -> config sections (argparse dests carry the prefix)
SECTIONS = {"t_": "training", "m_": "movement", "q_": "quantization", "d_": "distillation"}
#: training flags that act only through one section (the QAT stage)
ACTS_THROUGH = {"quantization": ("t_qat_learning_rate", "t_freeze_embeddings_in_qat")}
#: flags that shape only the INT8 variant (--target-cpu also picks the deliverable, so it is not one)
QAT_ONLY = ("q_preset", "q_overflow_fix", *ACTS_THROUGH["quantization"])
PARTS = {"movement": "movement sparsity", "quantization": "QAT", "distillation": "distillation"}
SWITCHES = {"movement": "no-sparsity", "quantization": "no-quantization", "distillation": "no-distillation"}


EPOCHS_HELP = ("epochs of both stages for every deliverable (default: the recipe config's, per deliverable; stage 2 "
               "trains what is left after stage 1's warmup_end_epoch)")


def add_parser(recipes, spec: FamilySpec) -> None:
    p = recipes.add_parser("jpqd", help="joint movement pruning, QAT and distillation -> pruned INT8 or FP32 IR",
                           epilog=JPQD_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_family_options(p, spec)
    g = p.add_argument_group("JPQD recipe (override the config)")
    g.add_argument("--config", type=Path, default=None,
                   help=f"recipe YAML (default recipes/configs/{spec.name}-jpqd.yaml) or an NNCF JSON list with "
                        "movement_sparsity/quantization entries (optimum-intel <= 1.22)")
    g.add_argument("--teacher", default=None,
                   help="PyTorch teacher directory (default: the student model); any architecture or size with "
                        "the student's labels")
    g.add_argument("--deploy", choices=("auto", "int8", "fp32"), dest="deploy",
                   help="deliverable: int8 (QAT), fp32 (pruned + distilled, no QAT), auto (by --target-cpu or this CPU)")
    g.add_argument("--compare-deploy", action="store_true", default=None, dest="compare_deploy",
                   help="train both stage-2 variants from one stage-1 model and measure them side by side")
    t = p.add_argument_group("training")
    for flag, kind, key in (("--epochs", float, "epochs"), ("--learning-rate", float, "learning_rate"),
                            ("--qat-learning-rate", float, "qat_learning_rate"), ("--batch-size", int, "batch_size"),
                            ("--gradient-accumulation-steps", int, "gradient_accumulation_steps"),
                            ("--seed", int, "seed"), ("--eval-steps", int, "eval_steps"),
                            ("--save-steps", int, "save_steps"), ("--logging-steps", int, "logging_steps"),
                            ("--max-steps", int, "max_steps"), ("--train-limit", int, "train_limit")):
        t.add_argument(flag, type=kind, dest=f"t_{key}", default=None, metavar=key.upper(),
                       help=EPOCHS_HELP if key == "epochs" else None)
    t.add_argument("--lr", type=float, dest="t_learning_rate", default=None, help="alias of --learning-rate")
    t.add_argument("--sampling", choices=("random", "group_by_length"), dest="t_sampling")
    t.add_argument("--freeze-embeddings", type=parse_bool, metavar="true|false", dest="t_freeze_embeddings_in_qat",
                   help="keep the input embeddings (and their quantizer) fixed during QAT (default true)")
    t.add_argument("--eval-strategy", choices=("no", "steps", "epoch"), dest="t_eval_strategy")
    t.add_argument("--save-strategy", choices=("no", "steps", "epoch"), dest="t_save_strategy")
    t.add_argument("--resume-from-checkpoint", dest="t_resume_from_checkpoint", metavar="DIR|last")
    t.add_argument("--work-dir", dest="t_work_dir", help="trainer checkpoints (default: <out>.jpqd-work)")
    m = p.add_argument_group("movement sparsity, quantization, distillation")
    m.add_argument("--warmup-start-epoch", type=float, dest="m_warmup_start_epoch")
    m.add_argument("--warmup-end-epoch", type=float, dest="m_warmup_end_epoch")
    m.add_argument("--regularization-factor", type=float, dest="m_importance_regularization_factor",
                   help="importance regularization factor for every deliverable (default: the recipe config's, per "
                        "deliverable; stage 1 uses the factor of the run's deliverable)")
    m.add_argument("--structured-masking", type=parse_bool, metavar="true|false", dest="m_enable_structured_masking")
    m.add_argument("--no-sparsity", action="store_true", help="skip movement sparsity (QAT + distillation only)")
    m.add_argument("--no-quantization", action="store_true", help="skip QAT (pruned FP32 only)")
    m.add_argument("--preset", choices=("performance", "mixed"), dest="q_preset")
    add_cpu_target_args(m, prefix="q_")
    m.add_argument("--distillation-weight", type=float, dest="d_weight")
    m.add_argument("--temperature", type=float, dest="d_temperature")
    m.add_argument("--distillation-loss", choices=("kl", "mse"), dest="d_loss")
    m.add_argument("--no-distillation", action="store_true")
    m.add_argument("--teacher-cache", type=parse_bool, metavar="true|false", dest="d_teacher_cache",
                   help="compute the teacher's logits once with OpenVINO and train against them (default true)")
    m.add_argument("--teacher-precision", choices=("auto", "f32", "bf16"), dest="d_teacher_precision")
    add_output_args(p)
    r = p.add_argument_group("what to measure")
    r.add_argument("--no-teacher-eval", action="store_true", help="do not measure the PyTorch teacher")
    add_measure_args(p, switches=True)
    p.set_defaults(handler=cmd_jpqd, spec=spec, flags=flags_by_dest(p._actions))


def overrides(args: argparse.Namespace) -> dict:
    """CLI flags as a partial config, deep-merged over the YAML/JSON config."""
    out: dict = {}
    for name, value in vars(args).items():
        if value is None or name[:2] not in SECTIONS:
            continue
        out.setdefault(SECTIONS[name[:2]], {})[name[2:]] = value
    for key in ("deploy", "compare_deploy"):
        if getattr(args, key, None) is not None:
            out[key] = getattr(args, key)
    for section, switch in SWITCHES.items():
        if getattr(args, switch.replace("-", "_")):
            out.setdefault(section, {})["enabled"] = False
    return out


def refuse_flags_of_disabled_parts(args: argparse.Namespace, config) -> None:
    """A one-line error for a flag of a part the config switched off (--no-distillation --temperature 4),
    which the run would silently ignore."""
    for prefix, section in SECTIONS.items():
        if getattr(getattr(config, section), "enabled", True):
            continue
        for dest, value in vars(args).items():
            if value is not None and (dest.startswith(prefix) or dest in ACTS_THROUGH.get(section, ())):
                raise ValueError(f"{args.flags[dest][0]} has no effect: {PARTS[section]} is switched off "
                                 f"(--{SWITCHES[section]}, or {section}.enabled: false in the config)")


def refuse_qat_flags_without_int8(args: argparse.Namespace, decision, trained: tuple[str, ...]) -> None:
    """A QAT flag in a run that trains no INT8 variant (the deliverable is fp32, e.g. picked by ``auto``
    for an AVX2 CPU) is refused, naming why the run is FP32 and how to train INT8 too."""
    if "int8" in trained:
        return
    for dest in QAT_ONLY:
        if getattr(args, dest, None) is not None:
            raise ValueError(f"{args.flags[dest][0]} has no effect: this run trains no INT8 variant "
                             f"(deploy {decision.value}: {decision.reason.rstrip('.')}); add --compare-deploy "
                             "or --deploy int8")


def checked_config(args: argparse.Namespace):
    """The run's config (YAML or legacy JSON, flags merged) and its notes, after refusing every flag the
    run would ignore on this CPU (or --target-cpu): what a JPQD run checks before anything loads."""
    # Imported here: the JPQD run imports torch and transformers (seconds), which no other command needs.
    from ovrecipes.recipes.jpqd.recipe import plan_deploy
    from ovrecipes.runs.jpqd import load_jpqd_config

    config, notes = load_jpqd_config(args.spec.name, args.config, overrides(args))
    refuse_flags_of_disabled_parts(args, config)
    if args.d_teacher_precision is not None and not config.distillation.teacher_cache:
        raise ValueError(f"--teacher-precision {args.d_teacher_precision} has no effect without the teacher cache: "
                         "the live PyTorch teacher runs in f32 (drop --teacher-cache false)")
    refuse_qat_flags_without_int8(args, *plan_deploy(config))
    return config, notes


def cmd_jpqd(args: argparse.Namespace) -> None:
    from ovrecipes.runs.jpqd import check_teacher, run_jpqd  # torch and transformers: only this command pays for them

    spec: FamilySpec = args.spec
    config, notes = checked_config(args)
    options = measure_options(args)
    for note in notes:
        print(f"legacy config: {note}")
    check_output(args.out.resolve(), args.overwrite, input_paths(args))
    teacher = Path(args.teacher) if args.teacher else None
    check_teacher(teacher)  # before preparing the student, which can fine-tune for minutes
    run_jpqd(spec.make_pipeline(args).resolve(), config, args.out, teacher=teacher,
             overwrite=args.overwrite, measure_teacher=not args.no_teacher_eval,
             options=options,
             title=f"{spec.name} jpqd: {args.model}", legacy_notes=notes)
