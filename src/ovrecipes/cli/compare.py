"""``ovrecipes compare <family> DIR...`` (measure now) and ``ovrecipes compare --from-reports R...``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ovrecipes.cli.family_commands import add_family_options
from ovrecipes.cli.options import add_measure_args, add_output_args, check_overwrite_has_out, measure_options
from ovrecipes.measure.variants import Variant
from ovrecipes.pipelines.registry import FAMILIES
from ovrecipes.runs.compare import compare_reports, run_compare

EXAMPLES = """examples:
  ovrecipes compare bert int8-minilm/fp32 int8-minilm --labels "OV FP32" "OV INT8" --out cmp
  ovrecipes compare bert fp32-dir int8-dir --inference-precision f32 --rounds 5 --time 30
  ovrecipes compare --from-reports run1 run2/report.json --out both
"""


def variant_labels(models: list[Path], labels: list[str] | None) -> list[str]:
    """One distinct name per model: --labels as given, else directory names with as many parent
    folders as it takes to tell them apart (``a/int8``, ``b/int8`` rather than ``int8`` twice)."""
    if labels is not None:
        if len(labels) != len(models):
            raise ValueError(f"--labels gives {len(labels)} names for {len(models)} models")
        twice = next((x for x in labels if labels.count(x) > 1), None)
        if twice is not None:
            raise ValueError(f"--labels names {twice!r} twice: each model needs its own name in the table")
        return labels
    parts = [m.resolve().parts for m in models]
    twice = next((m for m, p in zip(models, parts) if parts.count(p) > 1), None)
    if twice is not None:
        raise ValueError(f"model directory {twice} is given twice")
    for depth in range(1, max(len(p) for p in parts) + 1):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [str(m) for m in models]  # unreachable: distinct paths differ at some depth


def cmd_compare(args: argparse.Namespace) -> None:
    check_overwrite_has_out(args)
    if args.from_reports:
        if args.family:
            raise ValueError("--from-reports puts earlier reports side by side; do not name a family and models too")
        compare_reports(args.from_reports, args.out, overwrite=args.overwrite)
        return
    if not args.family:
        raise ValueError("name a family and model directories (ovrecipes compare bert DIR...), or pass --from-reports")
    labels = variant_labels(args.models, args.labels)
    spec = FAMILIES[args.family]
    if spec.compare_reads_model_dirs and not args.compare_peers and args.model == spec.defaults()["model"]:
        # the compared models' own tokenizer, and nothing to build (the peers need the PyTorch model: --model)
        args.model = str(args.models[0])
    pipeline = spec.make_pipeline(args).resolve()
    variants = [Variant(label, path) for label, path in zip(labels, args.models)]
    run_compare(pipeline, variants, args.out, overwrite=args.overwrite, options=measure_options(args),
                compare_peers=args.compare_peers)


def register(sub) -> None:
    cmp = sub.add_parser("compare", help="measure model directories side by side, or merge earlier reports",
                         epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmp.add_argument("--from-reports", nargs="+", type=Path, metavar="REPORT",
                     help="report.json files (or run directories) of earlier runs, shown side by side")
    add_output_args(cmp, required=False, help="write report.md/json and a plot here")
    cmp.set_defaults(handler=cmd_compare, family=None)
    families = cmp.add_subparsers(dest="family", required=False, metavar="FAMILY")
    for spec in FAMILIES.values():
        fam = families.add_parser(spec.name, help=f"compare {spec.name} models on the {spec.name} pipeline's data")
        reads = (" (without --model and --compare-peers the data is read through the first one, e.g. with its "
                 "tokenizer)") if spec.compare_reads_model_dirs else ""
        fam.add_argument("models", nargs="+", type=Path, help=f"PyTorch or OpenVINO model directories{reads}")
        fam.add_argument("--labels", nargs="+", help="names for the table (default: directory names)")
        fam.add_argument("--compare-peers", action="store_true",
                         help="also measure the family's peer runtimes on the same data (BERT: ONNX Runtime FP32 and "
                              "dynamic INT8, optimum-intel INT8; Whisper: faster-whisper; pip install "
                              "'ovrecipes[peers]')")
        add_output_args(fam, required=False, help="write report.md/json and a plot here", inherit=True)
        add_family_options(fam, spec)
        add_measure_args(fam)
