#!/usr/bin/env python
"""Whisper PTQ settings side by side on every speech condition: validation (what a choice may look at),
the test split per voice, and the held-out conditions (other voices, noise at 10 dB) it must not.

    python scripts/whisper_trials.py --work runs/trials                       # the default trials below
    python scripts/whisper_trials.py --work runs/trials --model embedded:whisper-base
    python scripts/whisper_trials.py --work runs/trials \\
        --trial 'enc08={"smooth_quant": {"encoder": {"matmul": 0.8}}}' \\
        --trial 'fc2={"ignored_scope": {"patterns": [".*fc2.*"]}}'

A trial is a name and overrides of recipes/configs/whisper-ptq.yaml with its settings for the model's
size (``per_model``: "int8 (recipe)" is what ``whisper ptq`` quantizes with); ``clean_calibration: true``
turns the calibration variety off. ``fp32-f32`` and ``fp32-default`` are the FP32 export pinned to f32 and
at the plugin's default precision. Every INT8 trial runs at the plugin's default precision, through the
family's default engine. Writes trials.json and trials.md into --work; models are kept there.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

DEFAULT_TRIALS = {
    "fp32-f32": {},
    "fp32-default": {},
    "int8 (recipe)": {},
    "int8, clean calibration": {"clean_calibration": True},
    "int8, encoder alpha 0.8": {"smooth_quant": {"encoder": {"matmul": 0.8}}},
    "int8, fc2 in FP": {"ignored_scope": {"patterns": [".*fc2.*"]}},
}


def parse_trial(text: str) -> tuple[str, dict[str, Any]]:
    name, sep, overrides = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--trial takes NAME=JSON: got {text!r}")
    try:
        value = json.loads(overrides)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"--trial {name}: overrides are not JSON ({err})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"--trial {name}: overrides must be a JSON object, got {overrides!r}")
    return name, value


def run_trial(pipeline, fp32: Path, work: Path, name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    from ovrecipes.recipes import ptq
    from ovrecipes.runs.config import load_config

    started = time.perf_counter()
    given = dict(overrides)
    if name.startswith("fp32-"):
        target, precision = fp32, (None if name == "fp32-default" else name.split("-", 1)[1])
    else:
        target, precision = work / name.replace(" ", "_").replace(",", ""), None
        if target.exists():
            shutil.rmtree(target)
        overrides = dict(overrides)
        pipeline.clean_calibration = bool(overrides.pop("clean_calibration", False))
        ptq.quantize(pipeline, fp32, target, load_config(ptq.PTQConfig, "whisper", "ptq", None, overrides,
                                                                  model_key=pipeline.settings_key())[0])
    test = pipeline.evaluate(target, precision=precision)
    validation = pipeline.evaluate(target, "validation", precision=precision)
    wers = {k[4:]: v for k, v in test.extra.items() if k.startswith("WER ")}
    return {"trial": name, "overrides": given, "precision": test.info.get("inference_precision"),
            "validation": validation.extra["WER"], "test": test.extra["WER"], **wers,
            "seconds": round(time.perf_counter() - started)}


def markdown(rows: list[dict[str, Any]]) -> str:
    keys = [k for k in rows[0] if k not in ("trial", "overrides", "precision", "seconds")]
    ref = next((r for r in rows if r["trial"] == "fp32-f32"), None)
    lines = ["| trial | precision | " + " | ".join(f"WER {k}" for k in keys) + " |", "|---|---|" + "---|" * len(keys)]
    for r in rows:
        cells = [f"{r[k]:.2f}" + (f" ({r[k] - ref[k]:+.2f})" if ref and r is not ref and k in ref else "")
                 if k in r else "-" for k in keys]
        lines.append(f"| {r['trial']} | {r['precision']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="where the models and results go")
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--trial", type=parse_trial, action="append", default=None, metavar="NAME=JSON")
    args = parser.parse_args(argv)

    from ovrecipes.cli.quiet import quiet_third_party
    from ovrecipes.pipelines.whisper import WhisperPipeline

    quiet_third_party()
    trials = dict(args.trial) if args.trial else DEFAULT_TRIALS
    pipeline = WhisperPipeline(args.model, threads=args.threads, progress=False)
    args.work.mkdir(parents=True, exist_ok=True)
    fp32 = args.work / "fp32"
    if not (fp32 / "openvino_encoder_model.xml").exists():
        pipeline.export(fp32)
    rows = []
    for name, overrides in trials.items():
        rows.append(run_trial(pipeline, fp32, args.work, name, overrides))
        print(json.dumps(rows[-1]), flush=True)
    (args.work / "trials.json").write_text(json.dumps(rows, indent=2))
    (args.work / "trials.md").write_text(markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
