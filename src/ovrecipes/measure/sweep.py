"""Dense vs sparse throughput of one IR over streams x threads and sequence lengths.

Each point measures the dense and the sparse config back to back in the same process (alternating
which goes first), so the ratio between them is meaningful even on a noisy shared machine; the
absolute numbers are not. Every measurement goes through :func:`ovrecipes.measure.engine.benchmark_openvino`
and records the precision the compiled model ran.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import openvino as ov

from ovrecipes.core.cpu import sparse_kernel_support
from ovrecipes.measure.engine import benchmark_openvino

log = logging.getLogger(__name__)

GRID_HEADER = ["streams", "threads", "L", "dense FPS", "sparse FPS", "sparse/dense"]
SEQ_HEADER = ["L", "streams", "threads", "dense FPS", "sparse FPS", "sparse/dense", "dense latency ms", "sparse latency ms"]


def parse_ints(text: str, flag: str) -> list[int]:
    """'16,32,64' -> [16, 32, 64]; anything else is one clear ValueError."""
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{flag} must be comma-separated positive integers: got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise ValueError(f"{flag} must be comma-separated positive integers: got {text!r}")
    return values


def grid_points(cores: int, values: list[int] | tuple[int, ...] = (1, 2, 4, 8)) -> list[tuple[int, int]]:
    """(streams, threads) pairs worth measuring: values up to the core count, streams <= threads."""
    usable = sorted({v for v in values if v <= max(1, cores)}) or [1]
    return [(s, t) for t in usable for s in usable if s <= t]


def _pair(model, sparse_cfg: dict, dense_cfg: dict, first_sparse: bool, **bench: Any) -> dict:
    order = [("sparse", sparse_cfg), ("dense", dense_cfg)]
    if not first_sparse:
        order.reverse()
    point: dict[str, Any] = {}
    try:
        for label, cfg in order:
            r = benchmark_openvino(model, None, config=cfg, **bench)
            point[label] = {"fps": r.throughput_fps, "latency_ms": r.latency_ms["median"], "count": r.count,
                            "streams": r.streams, "threads": r.threads, "nireq": r.nireq,
                            "inference_precision": r.inference_precision, "execution_mode": r.execution_mode}
        point["ratio"] = point["sparse"]["fps"] / point["dense"]["fps"]
    except Exception as err:  # one failing point (e.g. a length beyond the model's range) must not end the sweep
        point["error"] = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return point


def _check_rank2(model) -> None:
    for port in model.inputs:
        rank = port.get_partial_shape().rank
        if rank.is_dynamic or rank.get_length() != 2:
            raise ValueError(f"the sweep reshapes every input to [1, L]; input {port.get_any_name()!r} has shape "
                             f"{port.get_partial_shape()}, not rank 2")


def run_sweep(model, sparse_cfg: dict, dense_cfg: dict, *, time_s: float, seq_lens: list[int], grid_seq_len: int,
              grid_values: list[int], cores: int | None = None, hint: str = "throughput") -> dict:
    """Measure dense and sparse at each (streams, threads) at length ``grid_seq_len``, then at each length."""

    _check_rank2(model)
    core = ov.Core()
    cores = cores or os.cpu_count() or 1
    grid, seq = [], []
    points = grid_points(cores, grid_values)
    skipped = sorted({v for v in grid_values if v > cores})
    if skipped:  # said, not silently dropped: --grid 1,2,4,8 on 2 cores measures 1 and 2
        log.info(f"  grid values above the {cores} cores are skipped: {', '.join(map(str, skipped))}")
    # One discarded run first: the first measurement of a process is slower (page faults, frequency ramp),
    # which would otherwise bias the first point's ratio.
    warmup = _pair(model, sparse_cfg, dense_cfg, False, hint=hint, time_s=min(1.0, time_s),
                   shape={"*": [1, grid_seq_len]}, core=core)
    if "error" in warmup:  # every grid point would fail the same way, and the sweep would still "succeed"
        raise ValueError(f"--grid-seq-len {grid_seq_len}: {warmup['error']}")
    for i, (streams, threads) in enumerate(points):
        p = _pair(model, sparse_cfg, dense_cfg, i % 2 == 1, hint=hint, streams=streams, threads=threads,
                  time_s=time_s, shape={"*": [1, grid_seq_len]}, core=core)
        grid.append({"streams": streams, "threads": threads, "seq_len": grid_seq_len, **p})
        log.info(f"  grid streams={streams} threads={threads} L={grid_seq_len}: {_ratio_text(p)}")
    for i, length in enumerate(seq_lens):
        p = _pair(model, sparse_cfg, dense_cfg, i % 2 == 1, hint=hint, time_s=time_s, shape={"*": [1, length]},
                  core=core)
        seq.append({"seq_len": length, **p})
        log.info(f"  L={length}: {_ratio_text(p)}")
    if seq and all("error" in p for p in seq):
        raise ValueError(f"no --seq-lens value ran ({', '.join(map(str, seq_lens))}): L={seq[0]['seq_len']}: "
                         f"{seq[0]['error']}")
    supported, support = sparse_kernel_support()
    ratios = [p["ratio"] for p in grid + seq if "ratio" in p]
    return {"cores": cores, "time_s": time_s, "hint": hint, "grid_skipped": skipped, "grid": grid, "seq": seq, "sparse_config": sparse_cfg,
            "dense_config": dense_cfg, "sparse_kernels_here": supported, "sparse_kernels_reason": support,
            "ratio_range": [min(ratios), max(ratios)] if ratios else None}


def _ratio_text(p: dict) -> str:
    if "error" in p:
        return f"error: {p['error']}"
    return f"dense {p['dense']['fps']:.1f} FPS, sparse {p['sparse']['fps']:.1f} FPS, ratio {p['ratio']:.3f}"


def _cells(p: dict) -> list[str]:
    if "error" in p:
        return ["-", "-", f"error: {p['error']}"]
    return [f"{p['dense']['fps']:.1f}", f"{p['sparse']['fps']:.1f}", f"{p['ratio']:.3f}"]


def tables(result: dict) -> tuple[list[list[str]], list[list[str]]]:
    grid = [[str(p["streams"]), str(p["threads"]), str(p["seq_len"]), *_cells(p)] for p in result["grid"]]
    seq = []
    for p in result["seq"]:
        ran = p.get("dense", {})
        lat = [f"{p['dense']['latency_ms']:.2f}", f"{p['sparse']['latency_ms']:.2f}"] if "ratio" in p else ["-", "-"]
        seq.append([str(p["seq_len"]), str(ran.get("streams", "-")), str(ran.get("threads", "-")), *_cells(p), *lat])
    return grid, seq
