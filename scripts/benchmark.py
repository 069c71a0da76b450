#!/usr/bin/env python
"""Run ovrecipes.measure.engine.benchmark_openvino and OpenVINO's benchmark_app side by side.

Both get the same model, device, shape, hint, duration, inference precision and (optionally)
streams, threads and config file. They run in interleaved rounds (ours, benchmark_app, ours, ...)
so both see the same machine load; the script compares the median throughputs, prints the
per-round figures and the ratio, and exits 1 when they differ by more than --tolerance. This is
the check that our in-process numbers can be quoted as benchmark_app numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from ovrecipes.core.openvino import load_config_file, parse_shape, resolve_hint, resolve_model_xml
from ovrecipes.core.staging import check_output_file
from ovrecipes.measure.engine import BenchResult, OpenVINOBench

EXAMPLE = """example:
  python scripts/benchmark.py ovrecipes-runs/bert-int8 \\
      --shape 'input_ids[1,64],attention_mask[1,64],token_type_ids[1,64]' --hint throughput --time 10

exit status: 0 when |median ours / median benchmark_app - 1| <= tolerance, 1 when not, 2 on errors.
"""


def find_benchmark_app() -> list[str]:
    """The benchmark_app of this interpreter's environment first, so both sides use one OpenVINO."""
    local = Path(sys.executable).parent / "benchmark_app"
    if local.is_file():
        return [str(local)]
    on_path = shutil.which("benchmark_app")
    if on_path:
        return [on_path]
    return [sys.executable, "-m", "openvino.tools.benchmark.main"]


def run_benchmark_app(cmd: list[str]) -> dict:
    """Run benchmark_app and pick throughput, batch and latency median out of its log."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    fps = re.search(r"Throughput:\s*([0-9.]+)\s*FPS", out)
    if proc.returncode != 0 or fps is None:
        tail = "\n".join(out.strip().splitlines()[-20:])
        raise RuntimeError(f"benchmark_app failed (rc={proc.returncode}): {' '.join(cmd)}\n{tail}")
    batch = re.search(r"Model batch size:\s*(\d+)", out)
    median = re.search(r"Median:\s*([0-9.]+)\s*(ms|us)", out)  # it switches to us below 1 ms
    count = re.search(r"Count:\s*(\d+)", out)
    return {
        "throughput_fps": float(fps.group(1)),
        "batch": int(batch.group(1)) if batch else 1,
        "latency_median_ms": (float(median.group(1)) / (1000.0 if median.group(2) == "us" else 1.0)
                              if median else None),
        "count": int(count.group(1)) if count else None,
        "command": cmd,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=EXAMPLE,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="OpenVINO IR .xml, or a directory with one (openvino_model.xml)")
    ap.add_argument("--shape", help="benchmark_app -shape syntax: 'input_ids[1,64],attention_mask[1,64]' or '[1,16]'")
    ap.add_argument("--hint", default=None, choices=["throughput", "latency", "none"],
                    help="PERFORMANCE_HINT for both (default: the --load-config file's, else throughput)")
    ap.add_argument("--time", type=int, default=10, help="seconds per run (benchmark_app -t takes whole seconds)")
    ap.add_argument("--device", default="CPU")
    ap.add_argument("--streams", type=int, help="NUM_STREAMS for both (benchmark_app -nstreams)")
    ap.add_argument("--threads", type=int, help="INFERENCE_NUM_THREADS for both (benchmark_app -nthreads)")
    ap.add_argument("--load-config", help="benchmark_app -load_config JSON, applied to both")
    ap.add_argument("--inference-precision", choices=["f32", "bf16", "f16", "default"], default="default",
                    help="INFERENCE_PRECISION_HINT for both (benchmark_app -infer_precision); default: the plugin's")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each (default 3)")
    ap.add_argument("--tolerance", type=float, default=0.05, help="allowed |ratio - 1| of the medians (default 0.05)")
    ap.add_argument("--json", help="write both results and the ratio to this file (must not exist unless --overwrite)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    args = ap.parse_args(argv)
    if args.time < 1:
        ap.error("--time must be at least 1 second")
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    return args


def verdict(ours_fps: float, app_fps: float, tolerance: float) -> tuple[float, bool]:
    """Ratio ours/benchmark_app and whether it is within the tolerance."""
    ratio = ours_fps / app_fps if app_fps > 0 else math.inf
    return ratio, abs(ratio - 1.0) <= tolerance


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        xml = resolve_model_xml(args.model)
        shape = parse_shape(args.shape) if args.shape else None
        config = load_config_file(args.load_config, args.device) if args.load_config else None
        args.hint = resolve_hint(args.hint, config)
        inputs = [xml, *([Path(args.load_config)] if args.load_config else [])]
        check_output_file(Path(args.json) if args.json else None, "--json", overwrite=args.overwrite, inputs=inputs)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    cmd = find_benchmark_app() + ["-m", str(xml), "-d", args.device, "-hint", args.hint, "-t", str(args.time)]
    if args.shape:
        cmd += ["-shape", args.shape]
    if args.streams is not None:
        cmd += ["-nstreams", str(args.streams)]
    if args.threads is not None:
        cmd += ["-nthreads", str(args.threads)]
    if args.load_config:
        cmd += ["-load_config", args.load_config]
    if args.inference_precision != "default":
        cmd += ["-infer_precision", args.inference_precision]

    ours_runs: list[BenchResult] = []
    app_runs: list[dict] = []
    try:
        session = OpenVINOBench(xml, hint=args.hint, streams=args.streams, threads=args.threads, shape=shape,
                                config=config, device=args.device, precision=args.inference_precision)
        for round_no in range(1, args.rounds + 1):
            ours_runs.append(session.run(args.time))
            app_runs.append(run_benchmark_app(cmd))
            print(f"round {round_no}: ours {ours_runs[-1].throughput_fps * app_runs[-1]['batch']:.2f} FPS, "
                  f"benchmark_app {app_runs[-1]['throughput_fps']:.2f} FPS")
    except (ValueError, RuntimeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ours = ours_runs[len(ours_runs) // 2]
    print("== ours (ovrecipes.measure.engine.OpenVINOBench), one round")
    print(ours.to_text())

    # benchmark_app multiplies by the batch of an 'N' layout dimension (1 for e.g. text
    # models); scale ours the same way so the two numbers mean the same thing.
    batch = app_runs[0]["batch"]
    ours_fps = statistics.median(r.throughput_fps * batch for r in ours_runs)
    app_fps = statistics.median(r["throughput_fps"] for r in app_runs)
    ratio, ok = verdict(ours_fps, app_fps, args.tolerance)
    ours_median = statistics.median(r.latency_ms["median"] for r in ours_runs)
    app_medians = [r["latency_median_ms"] for r in app_runs if r["latency_median_ms"] is not None]
    ref_median = statistics.median(app_medians) if app_medians else float("nan")

    print()
    print(f"{'median of ' + str(args.rounds):16}{'FPS':>12}{'median ms':>12}")
    print(f"{'ours':16}{ours_fps:12.2f}{ours_median:12.3f}")
    print(f"{'benchmark_app':16}{app_fps:12.2f}{ref_median:12.3f}")
    print(f"inference precision: {ours.inference_precision} (execution mode {ours.execution_mode})")
    print(f"ratio ours/benchmark_app = {ratio:.3f} (tolerance {args.tolerance:.0%}): {'OK' if ok else 'MISMATCH'}")

    if args.json:
        report = {
            "model": str(xml),
            "hint": args.hint,
            "time_s": args.time,
            "shape": args.shape,
            "inference_precision": ours.inference_precision,
            "rounds": args.rounds,
            "ours": [r.to_dict() for r in ours_runs],
            "ours_throughput_fps": ours_fps,
            "benchmark_app": app_runs,
            "benchmark_app_throughput_fps": app_fps,
            "ratio": ratio,
            "tolerance": args.tolerance,
            "ok": ok,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
