"""Where serving time goes, one request at a time, for each model of a run. Eight studies:

``lengths`` (default): for each length L every model serves the same N inputs of exactly L tokens
(real test sentences, truncated, or repeated to reach L), in interleaved rounds (models take turns
every 50 inputs), on an IR reshaped to [1, L] (static) and on the dynamic IR fed [1, L]; ONNX Runtime
directories run as they are. A straight line through the medians splits each model's cost into a
fixed part per request and a part per token: that decides how much a model gains from natural lengths.

``bucketing``: the real test sentences under the bucket policy, one at a time and concurrently, served
by one compiled model holding every bucket length (what ``buckets`` compiles) and by a static IR compiled
per length, with the sentences padded to the longest length beside them, in interleaved rounds: what
holding the buckets in one model is worth, and what each way gains over padding.

``switching``: the real test sentences under the bucket policy, served in input order and grouped by
bucket (the same inputs and padding; the bucket changes only when the group does). The difference per
request is what changing between buckets costs (``--separate-buckets``: between the static IRs of a
compiled model per length). A third
column feeds the same bucket-padded inputs, in input order, to the one dynamic IR: no model to
change, only a few shapes, so it shows what the dynamic path costs beside the switching it avoids.

``nodes``: time per node type (the plugin's performance counters) at [1, L] for ``--node-length``,
so the part of a request's time that does not depend on its length can be placed (e.g. in the fully
connected layers).

``residency``: what a request costs when the model's memory is not warm in the CPU caches. At [1, L]
(``--node-length``) each OpenVINO model is compiled ``--copies`` times (identical static models, as a
static IR is compiled per bucket length with ``--separate-buckets``) and a request is timed: the same
compiled model again (hot), the next of the identical copies in turn (alternating: nothing but the
compiled model changes, not the shape), and after touching a buffer of each of the ``--evict-mb``
sizes (untimed; by default one the L2 holds, one the L3 holds, one larger than both). Alternating
costing more than hot says the switching cost belongs to each compiled model's memory, not to the
change of shape; the buffer sizes say which cache level that memory falls out of.

``shapes``: what a change of input shape between requests costs, at [1, L] and [1, L + 8]
(``--node-length``): two static models (one compiled per length, as ``--separate-buckets`` does) and the one
dynamic IR, each served one length again and again and the two lengths in turn; and the plugin's own
time inside the nodes of the dynamic IR both ways. The dynamic IR costing more in turn while its node
time stays says the change is paid around the nodes (shape inference, new kernel parameters, memory),
once per change, not per request.

``config``: the real test sentences, one at a time, on the bucket policy (``--separate-buckets``: a static
IR per length) and padded to the longest length (static), each model compiled with the plugin's defaults
and with the ``--config`` properties,
all in the same interleaved rounds: what a plugin property is worth, and whether it changes what
natural lengths gain over padding.

``deployed``: each OpenVINO model with a ``deployment.json`` record, served in each mode under the
recorded policy and precision twice in the same interleaved rounds: as the report measures it (inputs
padded before the clock starts) and through ``ovrecipes.deploy`` (each request padded when it arrives,
its outputs copied out): what a service built on the directory gets of the report's figure.

    python scripts/serving_profile.py RUN_DIR [RUN_DIR/peers/ort-int8 ...] --lengths 8,16,32,64
    python scripts/serving_profile.py RUN_DIR --study config --config TBB_PARTITIONER=STATIC --samples 500
    python scripts/serving_profile.py RUN_DIR --study bucketing --samples 500
    python scripts/serving_profile.py RUN_DIR OTHER_RUN --study switching nodes --node-length 8
    python scripts/serving_profile.py RUN_DIR --study residency --node-length 16 --copies 8
    python scripts/serving_profile.py RUN_DIR --study shapes --node-length 16
    python scripts/serving_profile.py RUN_DIR --study deployed --samples 500

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
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import openvino as ov

from ovrecipes.core.cpu import host_cpu
from ovrecipes.core.memory import rss_growth
from ovrecipes.core.openvino import compile_config, compile_model, precision_config, read_model, reshape
from ovrecipes.measure.deployment import Deployment, label_at_precision
from ovrecipes.measure.workload import (
    DYNAMIC,
    MODES,
    SLICE,
    WARM,
    OpenVINOServer,
    Pass,
    RunnerServer,
    ShapePolicy,
    interleave,
    pad_item,
    parse_policy,
)
from ovrecipes.pipelines.bert import BertPipeline
from ovrecipes.pipelines.model_dirs import is_onnx_dir, is_openvino_dir
from ovrecipes.pipelines.types import ItemRunner, Workload
from ovrecipes.report.model import Table

STUDIES = ("lengths", "bucketing", "switching", "nodes", "residency", "shapes", "config", "deployed")


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


def bucket_padded(server: OpenVINOServer, policy: ShapePolicy, workload: Workload) -> OpenVINOServer:
    """A server of the dynamic IR whose items are padded to ``policy``'s bucket lengths (in input order),
    warmed up once per bucket length."""
    names = set(server.items[0][1])
    server.items = [(None, {k: v for k, v in pad_item(item, policy.length_for(size), workload.pad_values).items()
                            if k in names}) for item, size in zip(workload.items, workload.sizes)]
    server.warm_up(every_shape=True)
    return server


def openvino_models(chosen, study: str) -> list[tuple[str, Path, str | None]]:
    """The chosen models a study can compile (not the ONNX Runtime directories); none is a one-line exit."""
    found = [entry for entry in chosen if not is_onnx_dir(entry[1])]
    if not found:
        raise SystemExit(f"the {study} study needs an OpenVINO model: none of the chosen models is one")
    return found


def per_round_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """The median of the per-round ratios of two speeds measured in the same interleaved rounds."""
    return statistics.median(x / y for x, y in zip(a, b))


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
        passes = interleave(servers, rounds, SLICE, warm=WARM)
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


def bucketing_study(chosen, pipeline: BertPipeline, samples: int, rounds: int) -> dict:
    """Each OpenVINO model on the real sentences in each mode: the default buckets in one compiled model and as
    a static IR per length, and padded to the longest length (static), all in the same interleaved rounds;
    ratios are medians of per-round ratios."""
    workload = pipeline.workload("test", samples)
    buckets, static = parse_policy("buckets", workload.max_size), parse_policy("static", workload.max_size)
    ways = {"one model": (buckets, True), "per length": (buckets, False), "padded": (static, True)}
    servers, keys, grown = [], [], {}
    for label, path, precision in openvino_models(chosen, "bucketing"):
        for mode in MODES:
            for way, (policy, one_model) in ways.items():
                with rss_growth() as growth:  # compiled models, requests and the warm-up run
                    servers.append(OpenVINOServer(path / "openvino_model.xml", workload, policy, mode,
                                                  precision=precision, one_model=one_model))
                keys.append((label, mode, way))
                grown[keys[-1]] = growth.grown_mb
    fps = {key: [p.items_per_s for p in passes] for key, passes in zip(keys, interleave(servers, rounds, samples))}
    rows, data = [], {}
    for label, mode in dict.fromkeys((label, mode) for label, mode, _ in keys):
        runs = {way: fps[(label, mode, way)] for way in ways}
        entry = {f"{way} sent/s": statistics.median(values) for way, values in runs.items()}
        entry["one model / per length"] = per_round_ratio(runs["one model"], runs["per length"])
        entry["one model / padded"] = per_round_ratio(runs["one model"], runs["padded"])
        entry["per length / padded"] = per_round_ratio(runs["per length"], runs["padded"])
        entry["rss_mb_added"] = {way: grown[(label, mode, way)] for way in ways}
        entry["rounds"] = runs
        data[f"{label}, {mode}"] = entry
        rows.append([label, mode, *(f"{entry[f'{way} sent/s']:.1f}" for way in ways),
                     *(f"{entry[ratio]:.2f}x" for ratio in ("one model / per length", "one model / padded",
                                                            "per length / padded")),
                     *(f"{entry['rss_mb_added'][way]:.0f}" for way in ("one model", "per length"))])
    print(f"\n{samples} test sentences on {buckets}, sentences/s, median of {rounds} interleaved rounds: the "
          f"buckets in one compiled model, as a static IR per length, and padded to {workload.max_size} (static); "
          "MB: resident memory each server added when it was compiled and warmed up (the process's peak, servers "
          "built in turn)")
    print(Table(header=["model", "mode", "one model", "per length", "padded", "one model / per length",
                        "one model / padded", "per length / padded", "MB one model", "MB per length"],
                rows=rows).format())
    return data


def switching_study(chosen, pipeline: BertPipeline, samples: int, rounds: int, threads: int | None = None,
                    one_model: bool = True) -> dict:
    """Each OpenVINO model on the real sentences under the default buckets (one compiled model, or with
    ``one_model=False`` a static IR per length), in input order and grouped by bucket, and the one dynamic IR
    fed the same bucket-padded inputs; every server serves its whole pass per turn, so grouped stays grouped."""
    workload = pipeline.workload("test", samples)
    policy = parse_policy("buckets", workload.max_size)
    servers, labels = [], []
    for label, path, precision in openvino_models(chosen, "switching"):
        xml = path / "openvino_model.xml"
        servers += [OpenVINOServer(xml, workload, policy, "one-at-a-time", precision=precision, threads=threads,
                                   one_model=one_model),
                    grouped_by_bucket(OpenVINOServer(xml, workload, policy, "one-at-a-time", precision=precision,
                                                     threads=threads, one_model=one_model)),
                    bucket_padded(OpenVINOServer(xml, workload, DYNAMIC, "one-at-a-time", precision=precision,
                                                 threads=threads), policy, workload)]
        labels.append(label)
    passes = interleave(servers, rounds, samples)
    rows, data = [], {}
    for i, label in enumerate(labels):
        in_order, grouped, dynamic = passes[3 * i], passes[3 * i + 1], passes[3 * i + 2]
        a = statistics.median(p.items_per_s for p in in_order)
        b = statistics.median(p.items_per_s for p in grouped)
        c = statistics.median(p.items_per_s for p in dynamic)
        ratio = per_round_ratio([g.items_per_s for g in grouped], [o.items_per_s for o in in_order])
        cost = switching_cost_ms(a, b)
        data[label] = {"in_order": a, "grouped": b, "grouped_over_in_order": ratio, "switching_ms": cost,
                       "dynamic_bucket_padded": c}
        rows.append([label, f"{a:.1f}", f"{b:.1f}", f"{ratio:.2f}x", f"{cost:.2f}", f"{c:.1f}"])
    how = "one compiled model" if one_model else "a static IR per length"
    print(f"\n{samples} test sentences on {policy} ({how}), one at a time, {servers[0].threads} threads, median of "
          f"{rounds} interleaved rounds")
    print(Table(header=["model", "in order sent/s", "grouped by bucket sent/s", "grouped / in order",
                        "switching ms per request", "dynamic IR, bucket-padded sent/s"], rows=rows).format())
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


EVICTION_MB = (2, 16, 128)  # the L2 of one core, half the 32 MB L3 seen on these VMs, four times that L3


def request_ms(pairs: Sequence[tuple], count: int, before: Callable[[], object] | None = None) -> float:
    """Milliseconds per request of ``count`` requests, taking ``pairs`` ((infer request, inputs)) in turn:
    the median of each distinct input's requests, averaged over the inputs (one input: the plain median),
    so two lengths served in turn weigh alike. ``before`` runs ahead of each request, outside the timing."""
    times: dict[int, list[float]] = collections.defaultdict(list)
    for i in range(count):
        if before is not None:
            before()
        request, feed = pairs[i % len(pairs)]
        started = time.perf_counter()
        request.infer(feed, share_inputs=True, share_outputs=True)
        times[id(feed)].append(time.perf_counter() - started)
    return 1e3 * statistics.fmean(statistics.median(t) for t in times.values())


def node_us(pairs: Sequence[tuple], count: int) -> float:
    """Microseconds per request the plugin's performance counters put inside the nodes, over ``count``
    requests taking ``pairs`` in turn (their compiled models need PERF_COUNT)."""
    total = 0.0
    for i in range(count):
        request, feed = pairs[i % len(pairs)]
        request.infer(feed, share_inputs=True, share_outputs=True)
        total += sum(n.real_time.total_seconds() for n in request.profiling_info if n.status == n.Status.EXECUTED)
    return 1e6 * total / count


def evictor(size_bytes: int) -> Callable[[], None]:
    """A callable that writes one value per 64-byte line of a buffer of ``size_bytes``, pushing as much of
    what the caches held out to the next level or to memory."""
    buffer = np.zeros(size_bytes // 8)

    def evict() -> None:
        buffer[::8] += 1.0

    return evict


def residency_study(chosen, pipeline: BertPipeline, length: int, rounds: int, copies: int = 4,
                    evict_mb: Sequence[int] = EVICTION_MB, count: int = 25) -> dict:
    """Per OpenVINO model at [1, length]: ms per request hot, alternating over ``copies`` identical
    compiled models, and after touching a buffer of each of ``evict_mb`` megabytes before every request.
    Each round runs every way for ``count`` requests in turn, so a burst of load from elsewhere hits the
    ways alike; the figure is the median over rounds of each block's median."""
    workload = fixed_length_workload(pipeline, length, 1)
    policy = ShapePolicy("static", (length,))
    requests, feeds = {}, {}
    for label, path, precision in openvino_models(chosen, "residency"):
        servers = [OpenVINOServer(path / "openvino_model.xml", workload, policy, "one-at-a-time",
                                  precision=precision) for _ in range(copies)]
        requests[label] = [server.requests[length] for server in servers]
        feeds[label] = servers[0].items[0][1]  # the inputs this IR takes
    ways: dict[str, Callable] = {"hot": lambda rs, feed: request_ms([(rs[0], feed)], count),
                                 "alternating": lambda rs, feed: request_ms([(r, feed) for r in rs], count)}
    for mb in evict_mb:
        evict = evictor(mb * 2**20)
        ways[f"touched {mb} MB"] = lambda rs, feed, evict=evict: request_ms([(rs[0], feed)], count, before=evict)
    runs: dict[str, dict[str, list[float]]] = {label: {way: [] for way in ways} for label in requests}
    for _ in range(rounds):
        for label, rs in requests.items():
            for way, measure in ways.items():
                runs[label][way].append(measure(rs, feeds[label]))
    rows, data = [], {}
    for label, per_way in runs.items():
        ms = {way: statistics.median(values) for way, values in per_way.items()}
        data[label] = {**ms, "rounds": per_way}
        rows.append([label, f"{ms['hot']:.3f}", *(f"{ms[way] - ms['hot']:+.3f}" for way in list(ways)[1:])])
    print(f"\nms per request at [1, {length}], one at a time, median of {count} requests, median of {rounds} "
          f"rounds taking turns: hot, and what each other way adds (alternating over {copies} identical compiled "
          "models; a buffer touched before each request, untimed)")
    print(Table(header=["model", "hot", *(f"+ {way}" for way in list(ways)[1:])], rows=rows).format())
    return data


def shape_change_study(chosen, pipeline: BertPipeline, length: int, rounds: int, step: int = 8,
                       count: int = 40) -> dict:
    """Per OpenVINO model, what changing the input shape between requests costs, with the lengths
    ``length`` and ``length + step``: two static models (one compiled per length) and the
    one dynamic IR, each served one length again and again and the two lengths in turn. ms per request
    (each length's median, averaged over the two; the median over rounds taking turns); the change cost
    is in turn minus again and again. The plugin's node time of the dynamic IR (a PERF_COUNT copy) both
    ways says whether that cost is inside the nodes or around them (shapes, parameters, memory)."""
    lengths = (length, length + step)
    items = [fixed_length_workload(pipeline, n, 1).items[0] for n in lengths]
    workload = Workload(unit="sentences", items=items, prepare_s=[0.0, 0.0], sizes=list(lengths),
                        pad_values={k: 0 for k in items[0]}, max_size=lengths[-1])
    setups = {}
    for label, path, precision in openvino_models(chosen, "shapes"):
        xml = path / "openvino_model.xml"
        static = OpenVINOServer(xml, workload, ShapePolicy("buckets", lengths), "one-at-a-time", precision=precision,
                                one_model=False)
        dynamic = OpenVINOServer(xml, workload, DYNAMIC, "one-at-a-time", precision=precision)
        counted = OpenVINOServer(xml, workload, DYNAMIC, "one-at-a-time", precision=precision,
                                 config={"PERF_COUNT": True})
        setups[label] = {name: [(server.requests[key], feed) for key, feed in server.items]
                         for name, server in (("static", static), ("dynamic", dynamic), ("nodes", counted))}
    ways: dict[str, Callable[[list], float]] = {
        "again": lambda pairs: statistics.fmean(request_ms([pair], count) for pair in pairs),
        "in turn": lambda pairs: request_ms(pairs, 2 * count),
    }
    runs: dict[str, dict[str, list[float]]] = {label: collections.defaultdict(list) for label in setups}
    for _ in range(rounds):
        for label, setup in setups.items():
            for name in ("static", "dynamic"):
                for way, measure in ways.items():
                    runs[label][f"{name} {way}"].append(measure(setup[name]))
            runs[label]["dynamic nodes again"].append(
                1e-3 * statistics.fmean(node_us([pair], count) for pair in setup["nodes"]))
            runs[label]["dynamic nodes in turn"].append(1e-3 * node_us(setup["nodes"], 2 * count))
    rows, data = [], {}
    for label, per_way in runs.items():
        ms = {way: statistics.median(values) for way, values in per_way.items()}
        changes = {name: ms[f"{name} in turn"] - ms[f"{name} again"] for name in ("static", "dynamic", "dynamic nodes")}
        data[label] = {**ms, "change_ms": changes, "rounds": dict(per_way)}
        rows.append([label, f"{ms['static again']:.3f}", f"{changes['static']:+.3f}", f"{ms['dynamic again']:.3f}",
                     f"{changes['dynamic']:+.3f}", f"{ms['dynamic nodes again']:.3f}",
                     f"{changes['dynamic nodes']:+.3f}"])
    print(f"\nms per request at [1, {lengths[0]}] and [1, {lengths[1]}], one at a time, each length's median of "
          f"{count} requests averaged, median of {rounds} rounds taking turns: one length again and again, and what "
          "serving the two in turn adds (static: a compiled model per length; dynamic: one IR)")
    print(Table(header=["model", "static again", "+ in turn", "dynamic again", "+ in turn",
                        "dynamic in nodes again", "+ in turn"], rows=rows).format())
    return data


def parse_properties(items: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings as OpenVINO compile properties."""
    properties = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"a property is KEY=VALUE (e.g. TBB_PARTITIONER=STATIC): got {item!r}")
        properties[key.strip()] = value.strip()
    return properties


def config_study(chosen, pipeline: BertPipeline, samples: int, rounds: int, properties: dict[str, str],
                 one_model: bool = True) -> dict:
    """Each OpenVINO model on the real sentences, one at a time, on buckets and on static padding, compiled
    with the plugin defaults and with ``properties``; ratios are medians of per-round ratios."""
    workload = pipeline.workload("test", samples)
    policies = [parse_policy("buckets", workload.max_size), parse_policy("static", workload.max_size)]
    settings = {"default": {}, "with": properties}
    servers, keys = [], []
    for label, path, precision in openvino_models(chosen, "config"):
        for name, config in settings.items():
            for policy in policies:
                servers.append(OpenVINOServer(path / "openvino_model.xml", workload, policy, "one-at-a-time",
                                              precision=precision, config=config, one_model=one_model))
                keys.append((label, name, str(policy)))
    passes_per_server = interleave(servers, rounds, SLICE, warm=WARM)
    fps = {key: [p.items_per_s for p in passes] for key, passes in zip(keys, passes_per_server)}
    rows, data = [], {}
    bucket, static = (str(p) for p in policies)
    for label in dict.fromkeys(label for label, _, _ in keys):
        entry = {name: {policy: statistics.median(fps[(label, name, policy)]) for policy in (bucket, static)}
                 for name in settings}
        entry["with_over_default"] = {
            policy: per_round_ratio(fps[(label, "with", policy)], fps[(label, "default", policy)])
            for policy in (bucket, static)}
        entry["buckets_over_static"] = {name: per_round_ratio(fps[(label, name, bucket)], fps[(label, name, static)])
                                        for name in settings}
        data[label] = entry
        rows.append([label, *(f"{entry[name][policy]:.1f}" for name in settings for policy in (bucket, static)),
                     *(f"{entry['with_over_default'][policy]:.2f}x" for policy in (bucket, static)),
                     *(f"{entry['buckets_over_static'][name]:.2f}x" for name in settings)])
    shown = " ".join(f"{k}={v}" for k, v in properties.items())
    print(f"\n{samples} test sentences, one at a time, sentences/s, median of {rounds} interleaved rounds; "
          f"'with': {shown}")
    print(Table(header=["model", "default buckets", "default static", "with buckets", "with static",
                        "with / default buckets", "with / default static", "buckets / static default",
                        "buckets / static with"], rows=rows).format())
    return data


class DeployedServer(RunnerServer):
    """A :class:`~ovrecipes.measure.deployment.Deployment` replayed like the measuring servers: one request
    at a time through its call, or a slice at once through ``infer_many`` (the concurrent pass times the
    slice; it keeps no per-request latencies)."""

    def __init__(self, deployed: Deployment, workload: Workload) -> None:
        runner = ItemRunner(serve=deployed, engine="ovrecipes.deploy", threads=None,
                            precision=deployed.inference_precision)
        super().__init__(runner, workload, deployed.mode, clients=deployed.clients)
        self.deployed, self.policy = deployed, deployed.policy
        firsts: dict = {}  # warm, untimed, as the measuring server is: each bucket model (each shape if dynamic)
        for item, size in zip(workload.items, workload.sizes):
            firsts.setdefault(deployed.policy.length_for(size) or size, item)
        deployed.infer_many(list(firsts.values()))

    def _concurrent(self, items: list) -> Pass:
        started = time.perf_counter()
        self.deployed.infer_many(items)
        return Pass(len(items), time.perf_counter() - started, [])


def deployed_study(chosen, pipeline: BertPipeline, samples: int, rounds: int) -> dict:
    """Each recorded OpenVINO model in each mode: the measuring server (inputs padded before the clock) and
    ``ovrecipes.deploy`` (padded per request) in the same interleaved rounds; ratios are medians of
    per-round ratios."""
    workload = pipeline.workload("test", samples)
    found = []
    for label, path, precision in openvino_models(chosen, "deployed"):
        recorded = label_at_precision(path, precision)
        if recorded is None:
            print(f"{label}: {path} records no variant at {precision or 'the default precision'}; skipped")
        else:
            found.append((label, path, recorded))
    if not found:
        raise SystemExit("the deployed study needs a model directory with a deployment.json record")
    rows, data = [], {}
    for mode in MODES:
        servers, labels = [], []
        for label, path, recorded in found:
            deployed = Deployment(path, mode=mode, label=recorded, pad_values=workload.pad_values)
            servers += [OpenVINOServer(path / "openvino_model.xml", workload, deployed.policy, mode,
                                       precision=deployed.precision, clients=deployed.clients),
                        DeployedServer(deployed, workload)]
            labels.append((label, str(deployed.policy)))
        fps = [[p.items_per_s for p in passes] for passes in interleave(servers, rounds, SLICE, warm=WARM)]
        for i, (label, policy) in enumerate(labels):
            measured, deployed_fps = fps[2 * i], fps[2 * i + 1]
            entry = {"policy": policy, "measured": statistics.median(measured),
                     "deployed": statistics.median(deployed_fps),
                     "deployed_over_measured": per_round_ratio(deployed_fps, measured)}
            data.setdefault(label, {})[mode] = entry
            rows.append([label, mode, policy, f"{entry['measured']:.1f}", f"{entry['deployed']:.1f}",
                         f"{entry['deployed_over_measured']:.2f}x"])
    print(f"\n{samples} test sentences, sentences/s, median of {rounds} interleaved rounds; measured: inputs padded "
          "before the clock (the report's figure); deployed: ovrecipes.deploy, padded per request")
    print(Table(header=["model", "mode", "recorded policy", "measured", "deployed", "deployed / measured"],
                rows=rows).format())
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--study", nargs="+", choices=STUDIES, default=["lengths"])
    parser.add_argument("--lengths", default="8,16,24,32,48,64")
    parser.add_argument("--node-length", type=int, default=8,
                        help="input length of the nodes, residency and shapes studies (default 8)")
    parser.add_argument("--copies", type=int, default=4,
                        help="identical compiled models the residency study alternates over (default 4)")
    parser.add_argument("--evict-mb", default=",".join(map(str, EVICTION_MB)),
                        help="buffer sizes in MB the residency study touches before a request (default %(default)s)")
    parser.add_argument("--samples", type=int, default=200, help="inputs per length (default 200)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="INFERENCE_NUM_THREADS of the switching study (default: the plugin's)")
    parser.add_argument("--separate-buckets", action="store_true",
                        help="the switching and config studies compile a static IR per bucket length instead of "
                             "one model holding every length")
    parser.add_argument("--config", nargs="+", default=[], metavar="KEY=VALUE",
                        help="OpenVINO properties the config study compares with the plugin defaults")
    parser.add_argument("--only", default=None, help="profile only models whose label matches this regular "
                        "expression (labels are printed first; e.g. 'INT8|ort')")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    lengths = [int(x) for x in args.lengths.split(",")]
    if args.copies < 2:
        parser.error(f"--copies must be at least 2 (identical models to alternate over): got {args.copies}")
    try:
        evict_mb = [int(x) for x in args.evict_mb.split(",")]
    except ValueError:
        parser.error(f"--evict-mb takes sizes in MB joined by commas (e.g. 2,16,128): got {args.evict_mb!r}")
    if any(mb <= 0 for mb in evict_mb):
        parser.error(f"--evict-mb sizes must be positive: got {args.evict_mb!r}")
    try:
        properties = parse_properties(args.config)
    except ValueError as error:
        parser.error(f"--config: {error}")
    if "config" in args.study and not properties:
        parser.error("the config study needs --config KEY=VALUE (e.g. --config TBB_PARTITIONER=STATIC)")
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
    if "bucketing" in args.study:
        data["bucketing"] = bucketing_study(chosen, pipeline, args.samples, args.rounds)
    if "switching" in args.study:
        data["switching"] = switching_study(chosen, pipeline, args.samples, args.rounds, args.threads,
                                            not args.separate_buckets)
    if "nodes" in args.study:
        data["nodes"] = node_study(chosen, args.node_length)
    if "residency" in args.study:
        data["residency"] = residency_study(chosen, pipeline, args.node_length, 5 * args.rounds, args.copies,
                                            evict_mb)
    if "shapes" in args.study:
        data["shapes"] = shape_change_study(chosen, pipeline, args.node_length, 5 * args.rounds)
    if "config" in args.study:
        data["config"] = config_study(chosen, pipeline, args.samples, args.rounds, properties,
                                      not args.separate_buckets)
    if "deployed" in args.study:
        data["deployed"] = deployed_study(chosen, pipeline, args.samples, args.rounds)
    if args.json:
        args.json.write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
