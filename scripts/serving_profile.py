"""Where serving time goes: latency at fixed sentence lengths for each model, one request at a time.

For each length L, every model serves the same N inputs of exactly L tokens (real test sentences,
truncated, or repeated to reach L), in interleaved rounds (models take turns every 50 inputs), on
an IR reshaped to [1, L] (static) and on the dynamic IR fed [1, L]; ONNX Runtime directories run as
they are. A straight line through the medians splits each model's cost into a fixed part per
request and a part per token: that is what decides how much a model gains from natural lengths.

    python scripts/serving_profile.py RUN_DIR [RUN_DIR/peers/ort-int8 ...] --lengths 8,16,32,64

RUN_DIR is a ``bert ptq``/``demo`` output: its INT8 IR, ``fp32/`` (pinned to f32 and, on bf16 CPUs,
at the plugin default) and ``peers/`` when present are profiled; other directories are added as given.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np

from ovrecipes.core.cpu import host_cpu
from ovrecipes.measure.workload import DYNAMIC, OpenVINOServer, RunnerServer, ShapePolicy, interleave
from ovrecipes.pipelines.bert import BertPipeline
from ovrecipes.pipelines.model_dirs import is_onnx_dir, is_openvino_dir
from ovrecipes.pipelines.types import Workload
from ovrecipes.report.model import Table


def fixed_length_workload(pipeline: BertPipeline, length: int, count: int) -> Workload:
    """``count`` test sentences as exactly ``length`` tokens: truncated, or their tokens repeated."""
    items = []
    for item in pipeline.workload("test", count).items:
        n = item["input_ids"].shape[1]
        reps = -(-length // n)
        out = {k: np.tile(v, (1, reps))[:, :length].copy() for k, v in item.items()}
        out["attention_mask"][:] = 1
        items.append(out)
    return Workload(unit="sentences", items=items, prepare_s=[0.0] * count, sizes=[length] * count,
                    pad_values={k: 0 for k in items[0]}, max_size=length)


def models(run_dirs: list[Path], bf16: bool) -> list[tuple[str, Path, str | None]]:
    """(label, directory, precision) for each model to profile."""
    found = []
    for run in run_dirs:
        if is_openvino_dir(run / "fp32"):
            found.append(("OV FP32 (f32)", run / "fp32", "f32"))
            if bf16:
                found.append(("OV BF16", run / "fp32", None))
        if is_openvino_dir(run):
            found.append((f"OV {'INT8' if (run / 'fp32').is_dir() else run.name}", run, None))
        for peer in sorted((run / "peers").glob("*")) if (run / "peers").is_dir() else []:
            found.append((peer.name, peer, None))
        if is_onnx_dir(run):
            found.append((run.name, run, None))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--lengths", default="8,16,24,32,48,64")
    parser.add_argument("--samples", type=int, default=200, help="inputs per length (default 200)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    lengths = [int(x) for x in args.lengths.split(",")]
    pipeline = BertPipeline(progress=False)
    cpu = host_cpu()
    chosen = models(args.dirs, cpu.default_precision == "bf16")
    rows, data = [], {}
    for length in lengths:
        workload = fixed_length_workload(pipeline, length, args.samples)
        servers, labels = [], []
        for label, path, precision in chosen:
            if is_onnx_dir(path):
                servers.append(RunnerServer(pipeline.workload_runner(path), workload, "one-at-a-time"))
                labels.append(label)
                continue
            for policy, name in ((ShapePolicy("static", (length,)), "static"), (DYNAMIC, "dynamic")):
                servers.append(OpenVINOServer(path / "openvino_model.xml", workload, policy, "one-at-a-time",
                                              precision=precision))
                labels.append(f"{label} {name}")
        passes = interleave(servers, args.rounds, 50)
        for label, done in zip(labels, passes):
            ms = statistics.median(1e3 * p.duration_s / p.items for p in done)
            data.setdefault(label, {})[length] = ms
        print(f"L={length}: " + "; ".join(f"{k} {v[length]:.2f} ms" for k, v in data.items()), flush=True)
    for label, per_length in data.items():
        xs, ys = np.array(list(per_length)), np.array(list(per_length.values()))
        slope, intercept = np.polyfit(xs, ys, 1)
        rows.append([label, *(f"{per_length[n]:.2f}" for n in lengths), f"{intercept:.2f}", f"{slope * 1e3:.1f}"])
    print(f"\nms per sentence, one at a time, median of {args.rounds} interleaved rounds on {cpu.brand} ({cpu.cpu_class})")
    print(Table(header=["model", *(f"L={n}" for n in lengths), "fixed ms", "µs per token"], rows=rows).format())
    if args.json:
        args.json.write_text(json.dumps({"cpu": f"{cpu.brand} ({cpu.cpu_class})", "ms": data}, indent=2))


if __name__ == "__main__":
    main()
