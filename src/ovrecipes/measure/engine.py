"""The benchmark engine: in-process, benchmark_app-style throughput/latency measurement.

The aim is numbers that can be compared directly with OpenVINO's ``benchmark_app``
(same hint, shape and duration) without leaving Python, plus a synchronous loop
with the same report format for PyTorch baselines.

What mirrors benchmark_app (Python edition, "inference only" mode):
* input tensors are filled once per infer request before the measurement, so
  data preparation is not timed;
* the first inference is a warm-up and is excluded from the statistics;
* requests are kept in flight with an ``AsyncInferQueue`` of
  OPTIMAL_NUMBER_OF_INFER_REQUESTS requests until the time is up, and the number
  of iterations is rounded up to a multiple of the number of requests; for the
  latency hint one request runs synchronously (benchmark_app's default -api);
* per-request latency is ``InferRequest.latency``, read when a request is reused
  (no Python completion callback), and the duration is the wall time from the
  first start to the end of ``wait_all()``.

Precision is pinned and read back with :mod:`ovrecipes.core.openvino`.

One difference: ``throughput_fps`` here counts inference requests per second.
benchmark_app multiplies by the batch it finds from an 'N' layout dimension (1
when there is none, as for text models); ``BenchResult.samples_per_s`` multiplies
by ``batch`` (the first dimension of the first input).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import openvino as ov
import openvino.properties as props

from ovrecipes.core.openvino import (
    compile_config,
    compile_model,
    compiled_precision,
    port_matches,
    port_name,
    precision_config,
    random_inputs,
    read_model,
    reshape,
)


@dataclass
class BenchResult:
    """One measurement; the field set is shared by the OpenVINO and PyTorch runs."""

    count: int  # measured inferences (warm-up excluded)
    duration_s: float  # wall time of the measured phase
    latency_ms: dict[str, float]  # median, average, min, max
    throughput_fps: float  # count / duration_s: inference requests (batches) per second
    batch: int
    hint: str  # "throughput" | "latency" | "none"
    streams: int | None  # NUM_STREAMS read back from the compiled model
    threads: int | None  # INFERENCE_NUM_THREADS read back (torch threads for PyTorch)
    nireq: int
    device: str
    shapes: dict[str, list[int]]
    engine: str  # "openvino" or "pytorch"
    inference_precision: str | None = None  # what the compiled model reports back ("f32", "bf16", ...)
    execution_mode: str | None = None  # EXECUTION_MODE_HINT read back (PERFORMANCE / ACCURACY)

    @property
    def samples_per_s(self) -> float:
        """Throughput in samples: requests per second times the batch size."""
        return self.throughput_fps * self.batch

    def to_dict(self) -> dict:
        d = asdict(self)
        d["samples_per_s"] = self.samples_per_s
        return d

    def to_text(self) -> str:
        """benchmark_app-like summary, so outputs can be compared line by line."""
        lat = self.latency_ms
        shapes = ",".join(f"{k}{v}".replace(" ", "") for k, v in self.shapes.items())
        lines = [
            f"Engine:           {self.engine} on {self.device}, hint {self.hint}, "
            f"streams {self.streams}, threads {self.threads}, nireq {self.nireq}, "
            f"batch {self.batch}, shapes {shapes or '-'}",
            f"Precision:        {self.inference_precision or '-'} (execution mode {self.execution_mode or '-'})",
            f"Count:            {self.count} iterations",
            f"Duration:         {self.duration_s * 1e3:.2f} ms",
            "Latency:",
            f"   Median:        {lat['median']:.2f} ms",
            f"   Average:       {lat['average']:.2f} ms",
            f"   Min:           {lat['min']:.2f} ms",
            f"   Max:           {lat['max']:.2f} ms",
            f"Throughput:   {self.throughput_fps:.2f} FPS",
        ]
        if self.batch != 1:
            lines.append(f"Samples/s:    {self.samples_per_s:.2f} (batch {self.batch})")
        return "\n".join(lines)


# ---------------------------------------------------------------- parsing helpers


def _read_int_property(compiled: ov.CompiledModel, key: str) -> int | None:
    try:
        return int(compiled.get_property(key))
    except Exception:  # property not supported by this device/plugin
        return None


def _latency_stats(latencies_ms: list[float]) -> dict[str, float]:
    return {
        "median": float(statistics.median(latencies_ms)),
        "average": float(statistics.fmean(latencies_ms)),
        "min": float(min(latencies_ms)),
        "max": float(max(latencies_ms)),
    }


def _batch_of(shapes: dict[str, list[int]]) -> int:
    first = next(iter(shapes.values()), [])
    return int(first[0]) if first and first[0] > 0 else 1


def _run_sync(request: ov.InferRequest, time_s: float) -> tuple[int, float, list[float]]:
    latencies: list[float] = []
    t0 = time.perf_counter()
    while True:
        request.infer()
        latencies.append(request.latency)
        if time.perf_counter() - t0 >= time_s:
            break
    return len(latencies), time.perf_counter() - t0, latencies


def _run_async(queue: ov.AsyncInferQueue, n: int, time_s: float) -> tuple[int, float, list[float]]:
    # Latency is read from a request when it is reused and from all in flight at the end,
    # as benchmark_app does, not in a completion callback: a Python callback takes the GIL
    # on every completion and halved the throughput of small models in our measurements.
    latencies: list[float] = []
    in_flight: set[int] = set()
    count = 0
    t0 = time.perf_counter()
    while True:
        idle = queue.get_idle_request_id()  # blocks until a request is free
        if idle in in_flight:
            latencies.append(queue[idle].latency)
        else:
            in_flight.add(idle)
        queue.start_async()  # starts that idle request with the tensors set above
        count += 1
        if count % n == 0 and time.perf_counter() - t0 >= time_s:  # whole rounds, like benchmark_app
            break
    queue.wait_all()
    duration = time.perf_counter() - t0
    latencies.extend(queue[i].latency for i in in_flight)
    return count, duration, latencies


# ---------------------------------------------------------------- reading models



# ---------------------------------------------------------------- benchmarks

class OpenVINOBench:
    """One compiled model with its requests filled, measured as often as asked.

    Compiling and filling happen once, so a side-by-side can run every variant in interleaved
    rounds (A B C, A B C, ...) and compare rounds that saw the same machine load.
    """

    def __init__(self, model, inputs: dict[str, np.ndarray] | None = None, *, hint: str = "throughput",
                 streams: int | None = None, threads: int | None = None, shape: dict[str, list[int]] | None = None,
                 config: dict | None = None, precision: str | None = None, device: str = "CPU",
                 nireq: int | None = None, core: ov.Core | None = None) -> None:
        properties = compile_config(hint, streams, threads, {**(config or {}), **precision_config(precision)})
        core = core or ov.Core()
        if isinstance(model, ov.Model):
            ov_model = model.clone() if shape else model  # do not reshape the caller's model
        else:
            ov_model = read_model(model, core)
        if shape:
            reshape(ov_model, shape)
        if inputs is None:
            inputs = random_inputs(ov_model)  # fails before the (slow) compile if a shape is dynamic
        self.compiled = compile_model(ov_model, properties, device, core)
        ports = list(self.compiled.inputs)
        arrays: dict[int, np.ndarray] = {}
        for name, value in inputs.items():
            idx = next((i for i, p in enumerate(ports) if port_matches(p, name)), None)
            if idx is None:
                raise ValueError(f"unknown input {name!r}; model inputs: {', '.join(port_name(p) for p in ports)}")
            arrays[idx] = np.ascontiguousarray(value, dtype=ports[idx].get_element_type().to_dtype())
        missing = [port_name(p) for i, p in enumerate(ports) if i not in arrays]
        if missing:
            raise ValueError(f"no data for input(s) {', '.join(missing)}")
        # benchmark_app's default API is sync for the latency hint and async otherwise; follow it,
        # since a sync infer() on one request skips the thread hand-off of start_async and is
        # much faster for small models.
        self.hint, self.device = hint.lower(), device
        self.sync = self.hint == "latency" and nireq in (None, 1)
        self.nireq = 1 if self.sync else int(nireq or self.compiled.get_property(props.optimal_number_of_infer_requests()))
        self.requests = [self.compiled.create_infer_request()] if self.sync else ov.AsyncInferQueue(self.compiled, self.nireq)
        for r in range(self.nireq):  # fill once per request: data preparation is not measured
            for idx, arr in arrays.items():
                self.requests[r].set_input_tensor(idx, ov.Tensor(arr))  # ov.Tensor copies: one buffer per request
        self.shapes = {port_name(p): list(arrays[i].shape) for i, p in enumerate(ports)}
        self.precision = compiled_precision(self.compiled)

    def run(self, time_s: float) -> BenchResult:
        """One measurement of ``time_s`` seconds after one warm-up inference (excluded, as benchmark_app does)."""
        if time_s <= 0:
            raise ValueError(f"time_s must be positive: got {time_s}")
        self.requests[0].infer()
        if self.sync:
            count, duration, latencies = _run_sync(self.requests[0], time_s)
        else:
            count, duration, latencies = _run_async(self.requests, self.nireq, time_s)
        return BenchResult(
            count=count, duration_s=duration, latency_ms=_latency_stats(latencies), throughput_fps=count / duration,
            batch=_batch_of(self.shapes), hint=self.hint,
            streams=_read_int_property(self.compiled, props.num_streams()),
            threads=_read_int_property(self.compiled, props.inference_num_threads()),
            nireq=self.nireq, device=self.device, shapes=self.shapes, engine="openvino",
            inference_precision=self.precision["inference_precision"],
            execution_mode=self.precision["execution_mode"],
        )


def benchmark_openvino(model, inputs: dict[str, np.ndarray] | None = None, *, time_s: float = 10.0,
                       **session: Any) -> BenchResult:
    """benchmark_app-style run of one IR (a path, a directory holding one, or an ov.Model).

    ``session`` takes :class:`OpenVINOBench`'s options: hint ("throughput": an AsyncInferQueue of
    OPTIMAL_NUMBER_OF_INFER_REQUESTS requests; "latency": one synchronous request), streams,
    threads, shape (key '*' = every input), config (benchmark_app -load_config properties),
    precision (INFERENCE_PRECISION_HINT; None = the plugin's default), device, nireq, core.
    Random data fills static inputs when ``inputs`` is None.
    """
    if time_s <= 0:
        raise ValueError(f"time_s must be positive: got {time_s}")
    return OpenVINOBench(model, inputs, **session).run(time_s)


class CallableBench:
    """A synchronous loop over ``fn`` (one inference per call), with the same result fields."""

    def __init__(self, fn: Callable[[], object], *, batch: int = 1, shapes: dict[str, list[int]] | None = None,
                 engine: str = "pytorch", threads: int | None = None, precision: dict | None = None) -> None:
        self.fn, self.batch, self.shapes, self.engine, self.threads = fn, batch, dict(shapes or {}), engine, threads
        self.precision = precision or {"inference_precision": "f32" if engine == "pytorch" else None,
                                       "execution_mode": None}

    def run(self, time_s: float) -> BenchResult:
        if time_s <= 0:
            raise ValueError(f"time_s must be positive: got {time_s}")
        self.fn()  # warm-up
        latencies: list[float] = []
        t0 = time.perf_counter()
        while True:
            start = time.perf_counter()
            self.fn()
            end = time.perf_counter()
            latencies.append((end - start) * 1e3)
            if end - t0 >= time_s:
                break
        duration = end - t0
        return BenchResult(
            count=len(latencies), duration_s=duration, latency_ms=_latency_stats(latencies),
            throughput_fps=len(latencies) / duration, batch=self.batch, hint="latency", streams=None,
            threads=self.threads, nireq=1, device="CPU", shapes=self.shapes, engine=self.engine,
            inference_precision=self.precision["inference_precision"], execution_mode=self.precision["execution_mode"],
        )


def benchmark_callable(fn: Callable[[], object], *, time_s: float = 10.0, **session: Any) -> BenchResult:
    """Synchronous loop (hint 'latency', nireq 1) with the warm-up call excluded; see :class:`CallableBench`."""
    return CallableBench(fn, **session).run(time_s)


def session_for(target, *, precision: str | None = None, **session: Any):
    """A reusable session (``.run(time_s)``, ``.precision``) for a family's
    :class:`~ovrecipes.pipelines.base.BenchTarget`: an IR compiled with ``session``'s options (hint,
    streams, threads, nireq) and ``precision`` on the target's inputs, or the target's callable in a
    synchronous loop (the callable already runs at its own precision and threads)."""
    if target.ir is not None:
        shape = {k: list(np.shape(v)) for k, v in (target.inputs or {}).items()}
        return OpenVINOBench(target.ir, target.inputs, shape=shape or None, precision=precision, **session)
    return CallableBench(target.call, batch=_batch_of(target.shapes), shapes=target.shapes, engine=target.engine,
                         threads=target.threads, precision=target.precision)
