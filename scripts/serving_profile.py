"""Where serving time goes, one request at a time, for each model of a run. Three studies:

``lengths`` (default): for each length L every model serves the same N inputs of exactly L tokens
(real test sentences, truncated, or repeated to reach L), in interleaved rounds (models take turns
every 50 inputs), on an IR reshaped to [1, L] (static) and on the dynamic IR fed [1, L]; ONNX Runtime
directories run as they are. A straight line through the medians splits each model's cost into a
fixed part per request and a part per token: that decides how much a model gains from natural lengths.

``switching``: the real test sentences under the bucket policy (one static IR per length), served in
input order and grouped by bucket (the same inputs and padding; the model changes only when the
bucket does). The difference per request is what changing between the bucket models costs.

``nodes``: time per node type (the plugin's performance counters) at [1, L] for ``--node-length``,
so the part of a request's time that does not depend on its length can be placed (e.g. in the fully
connected layers).

    python scripts/serving_profile.py RUN_DIR [RUN_DIR/peers/ort-int8 ...] --lengths 8,16,32,64
    python scripts/serving_profile.py RUN_DIR OTHER_RUN --study switching nodes --node-length 8

RUN_DIR is a ``bert ptq``/``jpqd``/``demo`` output: its INT8 IR, ``fp32/`` (pinned to f32 and, on
bf16 CPUs, at the plugin default) and ``peers/`` when present are profiled; other directories are
added as given.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import statistics
from pathlib import Path

import numpy as np
import openvino as ov

from ovrecipes.core.cpu import host_cpu
from ovrecipes.core.openvino import compile_config, compile_model, precision_config, read_model, reshape
from ovrecipes.measure.workload import (
    DYNAMIC,
    OpenVINOServer,
    RunnerServer,
    ShapePolicy,
    interleave,
    parse_policy,
)
from ovrecipes.pipelines.bert import BertPipeline
from ovrecipes.pipelines.model_dirs import is_onnx_dir, is_openvino_dir
from ovrecipes.pipelines.types import Workload
from ovrecipes.report.model import Table

STUDIES = ("lengths", "switching", "nodes")


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
        prefix = f"{run.name}: " if len(run_dirs) > 1 else ""
        if is_openvino_dir(run / "fp32"):
            found.append((f"{prefix}OV FP32 (f32)", run / "fp32", "f32"))
            if bf16:
                found.append((f"{prefix}OV BF16", run / "fp32", None))
        if is_openvino_dir(run):
            found.append((f"{prefix}OV {'INT8' if (run / 'fp32').is_dir() else run.name}", run, None))
        for peer in sorted((run / "peers").glob("*")) if (run / "peers").is_dir() else []:
            found.append((f"{prefix}{peer.name}", peer, None))
        if is_onnx_dir(run):
            found.append((run.name, run, None))
    return found


def grouped_by_bucket(server: OpenVINOServer) -> OpenVINOServer:
    """The server's items reordered so that items of one bucket follow each other (stable within a
    bucket): the same inputs and padding, and the compiled model changes only when the bucket does."""
    server.items = sorted(server.items, key=lambda entry: entry[0])
    return server


def switching_cost_ms(in_order_per_s: float, grouped_per_s: float) -> float:
    """Milliseconds per request that serving in input order costs over the same items grouped by bucket."""
    return 1e3 / in_order_per_s - 1e3 / grouped_per_s


def node_times(xml: Path, length: int, precision: str | None, runs: int = 200) -> list[tuple[str, int, float]]:
    """(node type with the kernel the plugin picked, nodes of that kind, µs per inference), slowest first,
    at the static shape [1, length] with the LATENCY hint; summed from the plugin's performance counters."""
    core = ov.Core()
    model = read_model(xml, core)
    reshape(model, {p.get_any_name(): [1, length] for p in model.inputs})
    compiled = compile_model(model, compile_config("latency", None, None, {"PERF_COUNT": True,
                                                                        **precision_config(precision)}), core=core)
    request = compiled.create_infer_request()
    feed = {p.get_any_name(): np.ones((1, length), dtype=np.int64) for p in model.inputs}
    for _ in range(20):
        request.infer(feed)
    totals: dict[str, float] = collections.defaultdict(float)
    counts: dict[str, int] = collections.Counter()
    for _ in range(runs):
        request.infer(feed)
        for node in request.profiling_info:
            if node.status == node.Status.EXECUTED:
                key = f"{node.node_type} ({node.exec_type})"
                totals[key] += node.real_time.total_seconds() * 1e6 / runs
                counts[key] += 1
    return sorted(((k, counts[k] // runs, v) for k, v in totals.items()), key=lambda row: -row[2])


def length_study(chosen, pipeline: BertPipeline, lengths: list[int], samples: int, rounds: int) -> dict:
    """ms per sentence per model and length (static and dynamic IRs), and the fixed + per-token split."""
    data: dict[str, dict[int, float]] = {}
    for length in lengths:
        workload = fixed_length_workload(pipeline, length, samples)
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
        passes = interleave(servers, rounds, 50)
        for label, done in zip(labels, passes):
            data.setdefault(label, {})[length] = statistics.median(1e3 * p.duration_s / p.items for p in done)
        print(f"L={length}: " + "; ".join(f"{k} {v[length]:.2f} ms" for k, v in data.items()), flush=True)
    rows = []
    for label, per_length in data.items():
        slope, intercept = np.polyfit(np.array(list(per_length)), np.array(list(per_length.values())), 1)
        rows.append([label, *(f"{per_length[n]:.2f}" for n in lengths), f"{intercept:.2f}", f"{slope * 1e3:.1f}"])
    print(f"\nms per sentence, one at a time, median of {rounds} interleaved rounds")
    print(Table(header=["model", *(f"L={n}" for n in lengths), "fixed ms", "µs per token"], rows=rows).format())
    return data


def switching_study(chosen, pipeline: BertPipeline, samples: int, rounds: int, threads: int | None = None) -> dict:
    """Each OpenVINO model on the real sentences under the default buckets, in input order and grouped by
    bucket; every server serves its whole pass per turn, so grouped stays grouped."""
    workload = pipeline.workload("test", samples)
    policy = parse_policy("buckets", workload.max_size)
    servers, labels = [], []
    for label, path, precision in chosen:
        if is_onnx_dir(path):
            continue
        xml = path / "openvino_model.xml"
        servers += [OpenVINOServer(xml, workload, policy, "one-at-a-time", precision=precision, threads=threads),
                    grouped_by_bucket(OpenVINOServer(xml, workload, policy, "one-at-a-time", precision=precision,
                                                     threads=threads))]
        labels.append(label)
    if not servers:
        raise SystemExit("the switching study needs an OpenVINO model: none of the chosen models is one")
    passes = interleave(servers, rounds, samples)
    rows, data = [], {}
    for i, label in enumerate(labels):
        in_order, grouped = passes[2 * i], passes[2 * i + 1]
        a = statistics.median(p.items_per_s for p in in_order)
        b = statistics.median(p.items_per_s for p in grouped)
        ratio = statistics.median(g.items_per_s / o.items_per_s for o, g in zip(in_order, grouped))
        cost = switching_cost_ms(a, b)
        data[label] = {"in_order": a, "grouped": b, "grouped_over_in_order": ratio, "switching_ms": cost}
        rows.append([label, f"{a:.1f}", f"{b:.1f}", f"{ratio:.2f}x", f"{cost:.2f}"])
    print(f"\n{samples} test sentences on {policy}, one at a time, {servers[0].threads} threads, median of {rounds} "
          "interleaved rounds")
    print(Table(header=["model", "in order sent/s", "grouped by bucket sent/s", "grouped / in order",
                        "switching ms per request"], rows=rows).format())
    return data


def node_study(chosen, length: int, top: int = 6) -> dict:
    """Time per node type at [1, length] for each OpenVINO model, and the share of fully connected layers."""
    data = {}
    for label, path, precision in chosen:
        if is_onnx_dir(path):
            continue
        rows = node_times(path / "openvino_model.xml", length, precision)
        total = sum(us for _, _, us in rows)
        fc = sum(us for kind, _, us in rows if kind.startswith("FullyConnected"))
        data[label] = {"total_us": total, "fully_connected_us": fc, "nodes": rows}
        print(f"\n{label} at [1, {length}]: {total:.0f} µs in nodes, fully connected layers {fc:.0f} µs "
              f"({100 * fc / total:.0f}%)")
        print(Table(header=["node (kernel)", "nodes", "µs"],
                    rows=[[k, str(n), f"{us:.1f}"] for k, n, us in rows[:top]]).format())
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--study", nargs="+", choices=STUDIES, default=["lengths"])
    parser.add_argument("--lengths", default="8,16,24,32,48,64")
    parser.add_argument("--node-length", type=int, default=8, help="input length of the nodes study (default 8)")
    parser.add_argument("--samples", type=int, default=200, help="inputs per length (default 200)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="INFERENCE_NUM_THREADS of the switching study (default: the plugin's)")
    parser.add_argument("--only", default=None, help="profile only models whose label matches this regular "
                        "expression (labels are printed first; e.g. 'INT8|ort')")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    lengths = [int(x) for x in args.lengths.split(",")]
    pipeline = BertPipeline(progress=False)
    cpu = host_cpu()
    chosen = models(args.dirs, cpu.default_precision == "bf16")
    if args.only:
        chosen = [entry for entry in chosen if re.search(args.only, entry[0])]
        if not chosen:
            parser.error(f"--only {args.only!r} matches no model")
    print(f"{cpu.brand} ({cpu.cpu_class}), {', '.join(label for label, _, _ in chosen)}", flush=True)
    data = {"cpu": f"{cpu.brand} ({cpu.cpu_class})"}
    if "lengths" in args.study:
        data["ms"] = length_study(chosen, pipeline, lengths, args.samples, args.rounds)
    if "switching" in args.study:
        data["switching"] = switching_study(chosen, pipeline, args.samples, args.rounds, args.threads)
    if "nodes" in args.study:
        data["nodes"] = node_study(chosen, args.node_length)
    if args.json:
        args.json.write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
