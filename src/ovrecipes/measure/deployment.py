"""Serving a model directory the way its run measured it best: the record in ``deployment.json``.

A run serves each OpenVINO variant's real inputs under every shape policy on this CPU and writes, into
the model's directory, the policy that won for each serving mode, the precision the variant ran at, and
how its inputs pad. :class:`Deployment` reads that record and serves with it: the bucket lengths (one
compiled model running each at its static shape) or the dynamic IR, each request padded to its bucket
before it runs, outputs that grow with the input cut back to the request's own length. So the figure in
the report is the one a service built on the directory gets, without writing the padding and the bucket
model again.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from ovrecipes.core.cpu import host_cpu
from ovrecipes.core.openvino import compile_config, compiled_precision, precision_config, read_model
from ovrecipes.measure.workload import (
    MODES,
    ShapePolicy,
    client_count,
    compile_lengths,
    pad_item,
    parse_policy,
    per_compiled_model,
    submit_bounded,
)
from ovrecipes.report.model import VariantResult, WorkloadSummary

log = logging.getLogger(__name__)

DEPLOYMENT_FILE = "deployment.json"


def write_deployment(model_dir: Path, entries: dict[str, dict]) -> Path:
    """``deployment.json`` in a model directory: per variant label, the precision it ran at, the shape
    policy chosen for each serving mode (with the reason and the CPU) and how its inputs pad, so a
    deployment can reuse them."""
    path = Path(model_dir) / DEPLOYMENT_FILE
    partial = path.with_name(f".{DEPLOYMENT_FILE}.partial")  # replaced whole: a reader never sees half of it
    partial.write_text(json.dumps({"variants": entries}, indent=2))
    partial.replace(path)
    return path


def deployment_entry(result: VariantResult, workload: WorkloadSummary | None, cpu_brand: str, cpu_class: str) -> dict:
    """What a run records of one served variant: the precision it ran at, the shape policy chosen per mode
    with the reason, how its inputs pad, and the CPU it was measured on."""
    inputs = {"pad_values": workload.pad_values, "max_length": workload.max_size} if workload else {}
    ran = result.inference_precision or next((w.inference_precision for w in result.workload if w.inference_precision),
                                             None)
    return {"precision": result.requested_precision or "default", "inference_precision": ran,
            "shape_policy": result.chosen_policy, "reason": result.policy_reason, "inputs": inputs,
            "measured_on": f"{cpu_brand} ({cpu_class})", "cpu_class": cpu_class}


def label_at_precision(model_dir: Path, precision: str | None) -> str | None:
    """The variant of the directory's record that ran at ``precision`` (None: the plugin's default)."""
    wanted = precision or "default"
    return next((label for label, entry in read_deployment(model_dir).items() if entry.get("precision") == wanted),
                None)


def check_record(model_dir: Path, label: str, overwrite: bool) -> dict[str, dict]:
    """Before measuring: a record of ``label`` is replaced only with ``overwrite``. Returns the records read."""
    variants = read_deployment(model_dir)
    recorded = variants.get(label)
    if recorded is not None and not overwrite:
        raise ValueError(f"{Path(model_dir) / DEPLOYMENT_FILE} already records {label!r} (measured on "
                         f"{recorded.get('measured_on', 'an unnamed CPU')}): add --overwrite to replace it")
    return variants


def record_variant(model_dir: Path, label: str, entry: dict, overwrite: bool) -> Path:
    """``entry`` written as ``label``'s record in the directory's ``deployment.json``, the other variants
    kept."""
    return write_deployment(model_dir, {**check_record(model_dir, label, overwrite), label: entry})


def read_deployment(model_dir: Path) -> dict[str, dict]:
    """The variants ``deployment.json`` records, by label; empty when the directory holds none."""
    path = Path(model_dir) / DEPLOYMENT_FILE
    if not path.is_file():
        return {}
    try:
        variants = json.loads(path.read_text())["variants"]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a deployment record (a 'variants' object): {err}") from None
    if not isinstance(variants, dict):
        raise ValueError(f"{path} is not a deployment record: 'variants' is not an object")
    return variants


def _entry(model_dir: Path, label: str | None) -> tuple[str | None, dict]:
    """``label``'s record (the first variant's without one); ``(None, {})`` when nothing is recorded."""
    variants = read_deployment(model_dir)
    if not variants:
        if label:
            raise ValueError(f"label {label!r} given, but {Path(model_dir)} holds no {DEPLOYMENT_FILE}")
        return None, {}
    if label is None:
        label = next(iter(variants))
    elif label not in variants:
        raise ValueError(f"label must be one of the variants {Path(model_dir) / DEPLOYMENT_FILE} records "
                         f"({', '.join(map(repr, variants))}): got {label!r}")
    return label, variants[label]


def deployment_policy(model_dir: Path, mode: str = "one-at-a-time", label: str | None = None) -> ShapePolicy:
    """The shape policy a run recorded for a model directory and serving mode (the first variant's, or
    ``label``'s); ``DYNAMIC`` when the directory holds no record."""
    _, entry = _entry(Path(model_dir), label)
    return _recorded_policy(entry, mode)


def _recorded_policy(entry: dict, mode: str) -> ShapePolicy:
    """The policy a record chose for ``mode``; dynamic (the IR as exported) when it holds none."""
    return ShapePolicy.from_text(entry.get("shape_policy", {}).get(mode, "dynamic"))


def _measured_class(entry: dict) -> str | None:
    """The CPU class the record was measured on (older records hold it only inside ``measured_on``)."""
    if entry.get("cpu_class"):
        return entry["cpu_class"]
    found = re.search(r"\(([^()]*)\)\s*$", entry.get("measured_on", ""))
    return found.group(1) if found else None


class Deployment:
    """An OpenVINO model directory compiled for one serving mode as its run recorded: shape policy,
    precision, padding. Call it with one request's inputs (from any number of threads); :meth:`infer_many`
    serves several concurrently.

    Attributes: ``label``, ``mode``, ``policy``, ``precision`` (requested: "f32", "bf16" or "default"),
    ``inference_precision`` (what the compiled model runs), ``pad_values``, ``max_length``, ``clients``,
    ``reason`` (why the run chose the policy), ``measured_on``.
    """

    def __init__(self, model_dir: str | Path, *, mode: str = "one-at-a-time", label: str | None = None,
                 policy: str | None = None, precision: str | None = None, threads: int | None = None,
                 pad_values: Mapping[str, int] | None = None, clients: int | None = None,
                 core: ov.Core | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}: got {mode!r}")
        self.model_dir, self.mode = Path(model_dir), mode
        core = core or ov.Core()
        model = read_model(self.model_dir, core)
        self.label, entry = _entry(self.model_dir, label)
        inputs = entry.get("inputs", {})
        self.pad_values: dict[str, int] = dict(pad_values if pad_values is not None else inputs.get("pad_values", {}))
        self.max_length: int | None = inputs.get("max_length")
        if policy is not None:
            self.policy = parse_policy(policy, self.max_length)
        else:
            self.policy = _recorded_policy(entry, mode)
        self.precision = precision or entry.get("precision", "default")
        self.reason = entry.get("reason", {}).get(mode)
        self.measured_on = entry.get("measured_on")
        self._check(model, entry)

        hint = "latency" if mode == "one-at-a-time" else "throughput"
        properties = compile_config(hint, None, threads, precision_config(self.precision))
        self.input_names = [p.get_any_name() for p in model.inputs]
        self.output_names = [next(iter(p.get_names()), str(i)) for i, p in enumerate(model.outputs)]
        #: per output, the axes (after the batch) that are dynamic in the IR: those grow with a padded input
        self._growing = [[i for i, d in enumerate(p.get_partial_shape()) if i and d.is_dynamic] for p in model.outputs]
        self.compiled = compile_lengths(model, self.policy.lengths or [None], self.pad_values, properties, core)
        first = next(iter(self.compiled.values()))
        self.inference_precision = compiled_precision(first)["inference_precision"]
        self.clients = client_count(self.compiled, mode, clients)
        #: per compiled model (the bucket lengths share one), its idle infer requests: callers in several
        #: threads each take one
        self._idle: dict[int | None, queue.SimpleQueue] = per_compiled_model(self.compiled, self._requests)
        self._queues: dict[int | None, ov.AsyncInferQueue] | None = None  # infer_many's, made when first used
        self._many = threading.Lock()
        log.info(self.describe())

    def _requests(self, compiled: ov.CompiledModel) -> queue.SimpleQueue:
        """``clients`` idle infer requests of one compiled model."""
        idle: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(self.clients):
            idle.put(compiled.create_infer_request())
        return idle

    def _check(self, model: ov.Model, entry: dict) -> None:
        """Clear errors for a padded policy that cannot pad; a warning when the record is from another CPU."""
        names = {p.get_any_name() for p in model.inputs}
        if self.policy.lengths:
            if not self.pad_values:
                raise ValueError(f"shape policy {self.policy} pads inputs, but {self.model_dir / DEPLOYMENT_FILE} "
                                 f"records no pad values (written before they were recorded): pass "
                                 f"pad_values={{input name: pad value}}, e.g. the tokenizer's pad id for input_ids")
            unknown = sorted(set(self.pad_values) - names)
            if unknown:
                raise ValueError(f"pad values name inputs the IR does not have: {', '.join(unknown)} (inputs: "
                                 f"{', '.join(sorted(names))})")
        if not entry:
            log.info(f"{self.model_dir} holds no {DEPLOYMENT_FILE}: serving the IR as exported (shape policy "
                     f"{self.policy}, precision {self.precision})")
            return
        measured, here = _measured_class(entry), host_cpu().cpu_class
        if measured and measured != here:
            log.warning(f"the shape policy of {self.model_dir} was chosen on a {measured} CPU; this one is "
                        f"{here}: measure it here before relying on it (ovrecipes bench {self.model_dir} --inputs "
                        f"<family> --record --overwrite records this CPU's choice)")

    def describe(self) -> str:
        """One line: what serves, how, and why."""
        why = f"; {self.reason}" if self.reason else ""
        return (f"{self.label or self.model_dir.name}: {self.mode}, shape policy {self.policy}, "
                f"{self.inference_precision} ({self.clients} client{'s' if self.clients > 1 else ''}){why}")

    def _prepare(self, inputs: Mapping[str, Any]) -> tuple[int | None, dict[str, np.ndarray], int | None]:
        """The compiled model's key, the inputs padded for it, and the request's own length."""
        given = {name: np.asarray(value) for name, value in inputs.items()}
        missing = [n for n in self.input_names if n not in given]
        unknown = [n for n in given if n not in self.input_names]
        if missing or unknown:
            raise ValueError(f"inputs must be exactly the IR's ({', '.join(self.input_names)}): "
                             + "; ".join(f"{what} {', '.join(names)}" for what, names in
                                         (("missing", missing), ("unknown", unknown)) if names))
        if not self.policy.lengths:
            return None, given, None
        padded = [given[n] for n in self.pad_values if n in given]
        size = int(padded[0].shape[-1])
        if any(v.ndim != 2 or v.shape[0] != 1 or v.shape[-1] != size for v in padded):
            shapes = ", ".join(f"{n} {list(given[n].shape)}" for n in self.pad_values if n in given)
            raise ValueError(f"shape policy {self.policy} serves one input per request, shaped [1, length] "
                             f"alike: got {shapes}")
        length = self.policy.length_for(size)
        return length, pad_item(given, length, self.pad_values), size

    def _outputs(self, request: ov.InferRequest, key: int | None, size: int | None) -> dict[str, np.ndarray]:
        """Each output copied out of the request, cut back to the request's own length on the axes that
        grow with the input (dynamic in the IR)."""
        out = {}
        for number, (name, growing) in enumerate(zip(self.output_names, self._growing)):
            value = np.array(request.get_output_tensor(number).data)
            if key is not None and size is not None and size < key:
                value = value[tuple(slice(0, size) if i in growing and value.shape[i] == key else slice(None)
                                    for i in range(value.ndim))]
            out[name] = value
        return out

    def __call__(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """One request: ``{input name: array}`` (batch 1 for a padded policy) -> ``{output name: array}``.
        Safe to call from several threads: each takes an idle request of the compiled model (one one at a
        time, ``clients`` concurrently; the bucket lengths share them) and waits while all are busy."""
        return self._run(*self._prepare(inputs))

    def _run(self, key: int | None, ready: dict[str, np.ndarray], size: int | None) -> dict[str, np.ndarray]:
        idle = self._idle[key]
        request = idle.get()
        try:
            request.infer(ready)
            return self._outputs(request, key, size)
        finally:
            idle.put(request)

    def infer_many(self, requests: Iterable[Mapping[str, Any]]) -> list[dict[str, np.ndarray]]:
        """Several requests, each its own inference (as separate clients would send them), outputs in the
        order given: concurrently through an async queue per compiled model, at most ``clients`` in flight
        (one call at a time; several threads may still call the model itself); one at a time, in turn."""
        prepared = [self._prepare(inputs) for inputs in requests]
        if self.mode == "one-at-a-time":
            return [self._run(*entry) for entry in prepared]
        results: list[dict[str, np.ndarray] | None] = [None] * len(prepared)

        def done(request: ov.InferRequest, index: int, _submitted: float) -> None:
            key, _, size = prepared[index]
            results[index] = self._outputs(request, key, size)

        with self._many:
            if self._queues is None:
                self._queues = per_compiled_model(self.compiled, lambda c: ov.AsyncInferQueue(c, self.clients))
            submit_bounded(self._queues, ((key, ready, i) for i, (key, ready, _) in enumerate(prepared)),
                           self.clients, done)
        return results  # type: ignore[return-value]
