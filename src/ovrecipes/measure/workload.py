"""Real-workload replay: a family's own inputs at their natural sizes, served one at a time and concurrently.

The benchmark_app-style figure (``measure/variants``) repeats one padded random input; a service sees
real inputs of varying size. Here every variant serves the same list of items (the first N of the
test split, in order), in two modes:

* **one at a time**: one client sends the next item when the previous answer is back (LATENCY hint,
  one synchronous request); items per second and the latency distribution (p50/p90/p99);
* **concurrent**: N clients, each sending its next item when its previous answer is back (THROUGHPUT
  hint; an ``AsyncInferQueue``, N = the plugin's optimal number of requests unless given); items per
  second and the latency each client saw, from submission to completion.

For IRs whose inputs vary in length the **shape policy** is part of the deployment and is measured,
not assumed: ``dynamic`` runs each item at its own shape on the dynamic IR; ``static`` pads every
item to the longest allowed length and runs an IR reshaped to that static shape; ``buckets`` pads each
item to the smallest of a few lengths and runs it at that static shape, every length in one compiled model
(``core.bucket_model``). Padding happens before the clock starts, like tokenization, whose cost the family
reports per item.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import openvino as ov
import openvino.properties as props

from ovrecipes.core.bucket_model import bucketed_model
from ovrecipes.core.openvino import (
    compile_config,
    compile_model,
    compiled_precision,
    precision_config,
    read_model,
    reshape,
)
from ovrecipes.pipelines.types import ItemRunner, Workload

log = logging.getLogger(__name__)

MODES = ("one-at-a-time", "concurrent")
POLICY_NAMES = ("dynamic", "static", "buckets")
#: one line per policy, for help texts and reports
POLICY_HELP = {
    "dynamic": "each input at its own shape on the dynamic IR",
    "static": "every input padded to the longest allowed length, on an IR reshaped to that static shape",
    "buckets": "each input padded to the smallest bucket length that holds it, run at that static shape (one "
               "compiled model holds every bucket length)",
}


@dataclass(frozen=True)
class ShapePolicy:
    """How variable-length inputs meet an IR: ``dynamic``, or padded to one of ``lengths`` and run at that
    static shape (``static`` has one length, ``buckets`` several)."""

    name: str
    lengths: tuple[int, ...] = ()

    def __str__(self) -> str:
        return self.name if not self.lengths else f"{self.name}:{','.join(map(str, self.lengths))}"

    @classmethod
    def from_text(cls, text: str) -> "ShapePolicy":
        """The policy ``str(policy)`` wrote (``dynamic``, ``static:64``, ``buckets:8,16,64``), as recorded."""
        name, _, values = str(text).partition(":")
        if name not in POLICY_NAMES:
            raise ValueError(f"shape policy must be one of {', '.join(POLICY_NAMES)}: got {text!r}")
        try:
            return cls(name, tuple(int(v) for v in values.split(",")) if values else ())
        except ValueError:
            raise ValueError(f"bucket lengths must be positive integers: got {text!r}") from None

    def length_for(self, size: int) -> int | None:
        """The padded length an item of ``size`` runs at (None: its own, dynamic)."""
        if not self.lengths:
            return None
        for length in self.lengths:
            if length >= size:
                return length
        raise ValueError(f"an input of length {size} is longer than the largest length of shape policy {self}")


DYNAMIC = ShapePolicy("dynamic")


def default_buckets(max_size: int, count: int = 8) -> tuple[int, ...]:
    """``count`` lengths up to ``max_size``, multiples of 8 where they can be (64 -> 8, 16, ..., 64). Eight
    buckets served the embedded test sentences one at a time faster than four (16, 32, 48, 64) on the AVX-512
    VNNI EPYC: less padding, and more lengths did not cost more than the padding saved."""
    step = max(1, max_size // count)
    if step >= 8:
        step -= step % 8
    lengths = sorted({min(max_size, step * i) for i in range(1, count + 1)} | {max_size})
    return tuple(lengths)


def parse_policy(text: str, max_size: int | None) -> ShapePolicy:
    """``dynamic``, ``static``, ``buckets`` (quarters of the longest length) or ``buckets:16,32,48,64``."""
    name, _, values = str(text).strip().partition(":")
    if name not in POLICY_NAMES:
        raise ValueError(f"shape policy must be one of {', '.join(POLICY_NAMES)} (or buckets:L1,L2,...): got {text!r}")
    if name == "dynamic":
        if values:
            raise ValueError(f"shape policy 'dynamic' takes no lengths: got {text!r}")
        return DYNAMIC
    if values:
        if name == "static":
            raise ValueError(f"shape policy 'static' pads to the longest allowed length and takes no lengths: got "
                             f"{text!r} (use buckets:L1,L2,...)")
        try:
            lengths = tuple(sorted({int(v) for v in values.split(",") if v.strip()}))
        except ValueError:
            raise ValueError(f"bucket lengths must be positive integers: got {text!r}") from None
        if not lengths or lengths[0] <= 0:
            raise ValueError(f"bucket lengths must be positive integers: got {text!r}")
        if max_size is not None and lengths[-1] < max_size:
            lengths = (*lengths, max_size)  # every input must fit somewhere
        if max_size is not None and lengths[-1] > max_size:
            raise ValueError(f"bucket length {lengths[-1]} is longer than the longest input the run allows "
                             f"({max_size}, --max-length)")
        return ShapePolicy("buckets", lengths)
    if max_size is None:
        raise ValueError(f"shape policy {name!r} needs the longest input length, and this workload has none")
    return ShapePolicy("static", (max_size,)) if name == "static" else ShapePolicy("buckets", default_buckets(max_size))


def policies_to_compare(text: str, workload: Workload) -> list[ShapePolicy]:
    """``auto``: every policy (dynamic, static, buckets) where inputs vary in length, else the IR as it is;
    policies joined by ``+`` (``buckets+buckets:16,32,48,64``): those, measured against each other in the
    same rounds; anything else: that one policy."""
    if not workload.variable:
        return [DYNAMIC]
    if text == "auto":
        return [DYNAMIC, parse_policy("static", workload.max_size), parse_policy("buckets", workload.max_size)]
    policies = [parse_policy(part, workload.max_size) for part in text.split("+")]
    if len({str(p) for p in policies}) < len(policies):
        raise ValueError(f"shape policy {text!r} names the same policy twice")
    return policies


def pad_item(item: dict[str, np.ndarray], length: int, pad_values: dict[str, int]) -> dict[str, np.ndarray]:
    """The item's variable inputs padded at the end of their last axis to ``length``."""
    out = {}
    for name, value in item.items():
        if name in pad_values and value.shape[-1] < length:
            widths = [(0, 0)] * (value.ndim - 1) + [(0, length - value.shape[-1])]
            value = np.pad(value, widths, constant_values=pad_values[name])
        out[name] = value
    return out


def percentiles(latencies_ms: list[float]) -> dict[str, float]:
    """p50, p90, p99 (numpy's linear interpolation between closest ranks), mean and max, in ms."""
    if not latencies_ms:
        raise ValueError("no latencies to summarise")
    values = np.asarray(latencies_ms, dtype=float)
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(values.mean()),
            "max": float(values.max())}


@dataclass
class Pass:
    """One replay of items: how many, how long, and each item's latency in ms."""

    items: int
    duration_s: float
    latencies_ms: list[float]

    @property
    def items_per_s(self) -> float:
        return self.items / self.duration_s

    @staticmethod
    def merge(parts: list["Pass"]) -> "Pass":
        """Slices replayed one after another as one pass: their items and times add up."""
        return Pass(sum(p.items for p in parts), sum(p.duration_s for p in parts),
                    [ms for p in parts for ms in p.latencies_ms])


#: items served by one server before the next takes the same items (:func:`interleave`)
SLICE = 50
#: of those, served untimed first, so a slice starts in the server's own caches, not the previous server's
WARM = 10


def interleave(servers: list, rounds: int, chunk: int, on_round=None, warm: int = 0) -> list[list[Pass]]:
    """``rounds`` passes of every server over every item, interleaved slice by slice: items 0..chunk on
    every server in turn, then the next slice. So a burst of load from elsewhere hits every server within
    the same second, and per-round ratios between servers stay steady on a shared machine.

    A slice would start in the caches the previous server left, which a service running one model never
    sees: the embedded INT8 BERT served right after ONNX Runtime INT8 ran at 0.86x of its speed right after
    itself, and 1.01x with 10 requests first. So each server first serves the slice's first ``warm`` items
    untimed; and the order of the servers changes from slice to slice (:func:`balanced_orders`), so what
    is left of the effect falls on every server alike.
    Returns, per server, one merged :class:`Pass` per round; ``on_round(round_no, passes)`` after each."""
    counts = {len(s.items) for s in servers}
    if len(counts) != 1:
        raise ValueError(f"servers replay different numbers of items: {sorted(counts)}")
    total = counts.pop()
    orders = balanced_orders(len(servers))
    results: list[list[Pass]] = [[] for _ in servers]
    turn = 0
    for round_no in range(1, rounds + 1):
        parts: list[list[Pass]] = [[] for _ in servers]
        for start in range(0, total, chunk):
            stop = min(total, start + chunk)
            for i in orders[turn % len(orders)]:
                if warm:
                    servers[i].replay(start, min(stop, start + warm))
                parts[i].append(servers[i].replay(start, stop))
            turn += 1
        for mine, done in zip(results, parts):
            mine.append(Pass.merge(done))
        if on_round:
            on_round(round_no, [r[-1] for r in results])
    return results


def balanced_orders(n: int) -> list[list[int]]:
    """Orders of ``n`` servers in which each server comes right after every other one equally often, and
    takes every place equally often (a Williams design: n orders for even n, 2n for odd n)."""
    first, low, high = [0], 1, n - 1
    while len(first) < n:
        first.append(low)
        low += 1
        if len(first) < n:
            first.append(high)
            high -= 1
    orders = [[(place + shift) % n for place in first] for shift in range(n)]
    return orders + [order[::-1] for order in orders] if n % 2 and n > 1 else orders


def compile_lengths(model: ov.Model, lengths: Iterable[int | None], padded: Iterable[str], properties: dict,
                    core: ov.Core, *, one_model: bool = True) -> dict[int | None, ov.CompiledModel]:
    """The compiled model for each padded length: the ``padded`` inputs at ``[1, length]``, or, for ``None``,
    the IR as it is (dynamic). Several lengths (buckets) share one compiled model holding a static copy of
    the graph per length (``core.bucket_model``): one executor, built on the IR's constants, which served
    the embedded BERT's sentences concurrently 1.34-1.51x faster than a compiled model per length, one at
    a time 1.01-1.09x; ``one_model=False`` compiles a static IR per length instead (what
    ``scripts/serving_profile.py --study bucketing`` compares)."""
    names = {p.get_any_name() for p in model.inputs}
    padded = [n for n in padded if n in names]
    wanted = list(dict.fromkeys(lengths))
    fixed = [length for length in wanted if length is not None]
    compiled: dict[int | None, ov.CompiledModel] = {}
    if one_model and len(fixed) > 1:
        try:
            shared = compile_model(bucketed_model(model, fixed, padded), properties, core=core)
        except ValueError as err:  # a plugin that cannot run If: the buckets still run, a static IR each
            log.warning(f"cannot compile buckets {','.join(map(str, fixed))} as one model ({err}); compiling a "
                        f"static IR per length")
        else:
            compiled = {length: shared for length in fixed}
    for length in wanted:
        if length in compiled:
            continue
        target = model
        if length is not None:
            target = model.clone()
            reshape(target, {n: [1, length] for n in padded})
        compiled[length] = compile_model(target, properties, core=core)
    return {length: compiled[length] for length in wanted}


def per_compiled_model(compiled: dict[Any, ov.CompiledModel], make: Callable[[ov.CompiledModel], Any]) -> dict:
    """``{key: make(compiled model)}`` with one ``make`` per distinct compiled model: the bucket lengths of one
    model share its infer requests (or queue), as one service would."""
    made: dict[int, Any] = {}
    for model in compiled.values():
        if id(model) not in made:
            made[id(model)] = make(model)
    return {key: made[id(model)] for key, model in compiled.items()}


def client_count(compiled: dict[Any, ov.CompiledModel], mode: str, clients: int | None = None) -> int:
    """How many clients serve in ``mode``: one at a time 1; concurrently ``clients``, by default the
    plugin's optimal number of requests for the first compiled model."""
    if mode == "one-at-a-time":
        return 1
    first = next(iter(compiled.values()))
    return int(clients or first.get_property(props.optimal_number_of_infer_requests()))


def submit_bounded(queues: dict[Any, ov.AsyncInferQueue], entries: Iterable[tuple[Any, dict, Any]], limit: int,
                   on_done: Callable[[ov.InferRequest, Any, float], None]) -> None:
    """Start each ``(key, inputs, userdata)`` on ``queues[key]`` with at most ``limit`` requests in flight
    across all queues (a bucket policy has one queue per length; its clients do not multiply with the
    buckets), then wait for all. ``on_done(request, userdata, submitted)`` runs as each completes, with the
    ``time.perf_counter()`` of its submission; an error it raises is raised here after the wait."""
    free = threading.Semaphore(limit)
    errors: list[BaseException] = []

    def done(request: ov.InferRequest, userdata: tuple[Any, float]) -> None:
        try:
            on_done(request, *userdata)
        except BaseException as err:  # a callback runs in the plugin's thread: carry the error to the caller
            errors.append(err)
        finally:
            free.release()

    distinct = list({id(queue): queue for queue in queues.values()}.values())
    for queue in distinct:
        queue.set_callback(done)
    for key, inputs, userdata in entries:
        free.acquire()
        queues[key].start_async(inputs, (userdata, time.perf_counter()), share_inputs=True)
    for queue in distinct:
        queue.wait_all()
    if errors:
        raise errors[0]


class _Server:
    """What both servers share: a replay of a slice of the items in the server's mode, and the one-at-a-time
    loop around ``_serve`` (one item, synchronously); ``_concurrent`` is each server's own."""

    mode: str
    items: list

    def replay(self, start: int = 0, stop: int | None = None) -> Pass:
        """Serve items ``start:stop`` (all by default) in order, in this server's mode."""
        items = self.items[start:stop]
        return self._one_at_a_time(items) if self.mode == "one-at-a-time" else self._concurrent(items)

    def _one_at_a_time(self, items: list) -> Pass:
        latencies = []
        started = time.perf_counter()
        for entry in items:
            t0 = time.perf_counter()
            self._serve(entry)
            latencies.append((time.perf_counter() - t0) * 1e3)
        return Pass(len(items), time.perf_counter() - started, latencies)

    def _serve(self, entry) -> None:
        raise TypeError(f"{type(self).__name__} does not serve one item at a time")

    def _concurrent(self, items: list) -> Pass:
        raise TypeError(f"{type(self).__name__} does not serve concurrently")


class OpenVINOServer(_Server):
    """One IR served under one shape policy in one mode: compiled once (the bucket lengths in one model, or
    with ``one_model=False`` a static IR each), items prepared once, then replayed as often as asked."""

    def __init__(self, xml: Path, workload: Workload, policy: ShapePolicy, mode: str, *,
                 precision: str | None = None, threads: int | None = None, streams: int | None = None,
                 clients: int | None = None, config: dict | None = None, core: ov.Core | None = None,
                 one_model: bool = True) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}: got {mode!r}")
        core = core or ov.Core()
        model = read_model(xml, core)
        names = {p.get_any_name() for p in model.inputs}
        self.mode, self.policy = mode, policy
        hint = "latency" if mode == "one-at-a-time" else "throughput"
        properties = compile_config(hint, streams, threads, {**(config or {}), **precision_config(precision)})
        keys = [policy.length_for(size) for size in workload.sizes]
        self.compiled = compile_lengths(model, keys, workload.pad_values, properties, core, one_model=one_model)
        self.items = [(key, {k: v for k, v in (pad_item(item, key, workload.pad_values) if key else item).items()
                             if k in names}) for key, item in zip(keys, workload.items)]
        first = next(iter(self.compiled.values()))
        self.precision = compiled_precision(first)
        self.threads = _int_property(first, props.inference_num_threads())
        self.streams = _int_property(first, props.num_streams())
        self.clients = client_count(self.compiled, mode, clients)
        one = mode == "one-at-a-time"
        if one:
            self.requests, self.queues = per_compiled_model(self.compiled, lambda c: c.create_infer_request()), {}
        else:
            self.requests, self.queues = {}, per_compiled_model(self.compiled,
                                                                lambda c: ov.AsyncInferQueue(c, self.clients))
        self.hint = hint
        self.warm_up(every_shape=policy.name == "dynamic")

    def warm_up(self, every_shape: bool) -> None:
        """Untimed: each compiled model once; on a dynamic IR once per distinct input shape, since the plugin
        prepares kernels per new shape and a service that runs for hours has seen its shapes before."""
        firsts: dict = {}
        for key, item in self.items:
            shape = (key, *(v.shape for v in item.values())) if every_shape else key
            firsts.setdefault(shape, (key, item))
        for key, item in firsts.values():
            if self.mode == "one-at-a-time":
                self.requests[key].infer(item, share_inputs=True, share_outputs=True)
            else:
                # userdata shaped as submit_bounded's, for a callback left from an earlier replay
                self.queues[key].start_async(item, (None, time.perf_counter()), share_inputs=True)
                self.queues[key].wait_all()

    def _serve(self, entry) -> None:
        key, item = entry
        self.requests[key].infer(item, share_inputs=True, share_outputs=True)

    def _concurrent(self, items: list) -> Pass:
        latencies: list[float] = []

        def done(_request: ov.InferRequest, _userdata: None, submitted: float) -> None:
            latencies.append((time.perf_counter() - submitted) * 1e3)

        started = time.perf_counter()
        submit_bounded(self.queues, ((key, item, None) for key, item in items), self.clients, done)
        return Pass(len(items), time.perf_counter() - started, latencies)


class RunnerServer(_Server):
    """A model that serves items through a callable (PyTorch, ONNX Runtime, a speech pipeline): one at a
    time in a loop, or concurrently from ``clients`` threads, each taking the next item when done."""

    def __init__(self, runner: ItemRunner, workload: Workload, mode: str, clients: int | None = None) -> None:
        if mode == "concurrent" and not runner.concurrent:
            raise ValueError(f"{runner.engine} serves one item at a time here")
        self.runner, self.items, self.mode = runner, workload.items, mode
        self.policy, self.hint = DYNAMIC, "latency" if mode == "one-at-a-time" else "threads"
        self.clients = 1 if mode == "one-at-a-time" else int(clients or 2)
        self.precision = {"inference_precision": runner.precision, "execution_mode": None}
        self.threads, self.streams = runner.threads, None
        runner.serve(self.items[0])  # warm-up, untimed

    def _serve(self, entry) -> None:
        self.runner.serve(entry)

    def _concurrent(self, items: list) -> Pass:
        pending = iter(items)
        lock = threading.Lock()
        latencies: list[float] = []
        errors: list[BaseException] = []

        def client() -> None:
            while True:
                with lock:
                    item = next(pending, None)
                if item is None or errors:
                    return
                t0 = time.perf_counter()
                try:
                    self.runner.serve(item)
                except BaseException as err:  # surfaced in the caller's thread below
                    errors.append(err)
                    return
                with lock:
                    latencies.append((time.perf_counter() - t0) * 1e3)

        threads = [threading.Thread(target=client, daemon=True) for _ in range(self.clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return Pass(len(items), time.perf_counter() - started, latencies)


def _int_property(compiled: ov.CompiledModel, key: str) -> int | None:
    try:
        return int(compiled.get_property(key))
    except Exception:  # not every plugin has every property
        return None
