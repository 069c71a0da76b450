"""``ovrecipes demo``: the README's main job, offline, on the embedded MiniLM sentiment model."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ovrecipes.cli.options import add_measure_args, add_output_args, measure_options
from ovrecipes.pipelines.bert import BertPipeline
from ovrecipes.recipes.ptq import PTQConfig
from ovrecipes.runs.config import load_config
from ovrecipes.runs.outdir import check_output
from ovrecipes.runs.ptq import run_ptq

TITLE = "ovrecipes demo: MiniLM-L6 sentiment, PyTorch FP32 vs OV FP32/BF16 vs OV INT8"


def cmd_demo(args: argparse.Namespace) -> None:
    out = args.out or Path("ovrecipes-runs") / time.strftime("demo-%Y%m%d-%H%M%S")
    config, _ = load_config(PTQConfig, "bert", "ptq", None, {})
    check_output(out.resolve(), args.overwrite)  # before preparing: a first run fine-tunes for minutes
    print("ovrecipes demo: MiniLM-L6 sentiment classifier (embedded, offline) -> OpenVINO FP32 -> NNCF INT8,\n"
          "measured side by side with PyTorch FP32 on the held-out test sentences.")
    pipeline = BertPipeline().resolve()  # fine-tunes the embedded model on first use (cached after)
    run_ptq(pipeline, config, out, overwrite=args.overwrite, compare_torch=True, options=measure_options(args),
            compare_peers=not args.no_peers, title=TITLE)


def register(sub) -> None:
    demo = sub.add_parser("demo", help="the main job: embedded MiniLM sentiment model, PyTorch vs OV FP32/BF16/INT8")
    add_output_args(demo, required=False, help="output directory (default: ovrecipes-runs/demo-<time>)")
    add_measure_args(demo)
    demo.add_argument("--no-peers", action="store_true",
                      help="leave out the ONNX Runtime and optimum-intel INT8 rows (measured when 'ovrecipes[peers]' is "
                           "installed)")
    demo.set_defaults(handler=cmd_demo)
