"""Sparse int8 weight decompression on OpenVINO's CPU plugin: what qualifies, which rate, did it run.

The CPU plugin can keep the int8 weights of a FullyConnected layer (a MatMul with constant weights)
in a packed format without the zeros and unpack them inside the matrix kernel, which reads fewer
weight bytes. It does so only if, at compile time, all of these hold (plugin source, 2024-2026):

* the CPU has AMX (Sapphire Rapids or later); elsewhere the property is accepted and ignored;
* ``CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE`` is below 1 (1, the default, means off);
* the weights are a 2-D i8 constant whose two dimensions are multiples of 64;
* the activations entering the layer are u8/i8 (a quantized model, not weight-only int8);
* the fraction of int8 zeros in the weights is at least the rate (compared in float32).

This module measures those conditions on an IR (eligibility, zero fractions), chooses a rate and
builds the runtime config; :mod:`.sparse_kernels` reads back which kernels the plugin picked and
decides per layer, and :mod:`.sparse_prune` prunes weights by magnitude to create the zeros. None of
them knows a model family.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import numpy as np

#: The property's name; equals ``openvino.properties.intel_cpu.sparse_weights_decompression_rate()``.
RATE_KEY = "CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE"
BLOCK = 64  # both weight dimensions must be multiples of this
AUTO_COVERAGE = 0.5  # share of eligible weight bytes the auto rate must keep sparse
RATE_STEP = 0.01  # auto rates are rounded down to this step
_WALK_LIMIT = 16
_WEIGHT_PASS = ("Convert", "Reshape", "Transpose", "Squeeze", "Unsqueeze")
_ACTIVATION_PASS = ("Reshape", "Transpose", "Squeeze", "Unsqueeze")
FLOAT_TYPES = ("f32", "f16", "bf16")  # weights that quantize to i8


# -- rates ------------------------------------------------------------------------------------------
def parse_rate(text: str | float, allow_auto: bool = True) -> float | str:
    """'auto' or a number in [0, 1]; anything else is one clear ValueError (1 = off, 0 = every layer)."""
    if allow_auto and str(text).strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= 1.0:  # also rejects nan
        allowed = "'auto' or a number" if allow_auto else "a number"
        raise ValueError(f"sparse rate must be {allowed} in [0, 1] (1 = off): got {text!r}")
    return value


def reaches(zeros: int, elements: int, rate: float) -> bool:
    """The plugin's test, in float32 as it computes it: zeros / elements >= rate, and rate < 1."""
    if rate >= 1.0 or elements == 0:
        return False
    return bool(np.float32(zeros) / np.float32(elements) >= np.float32(rate))


# -- graph walking ----------------------------------------------------------------------------------
@dataclass
class WeightChain:
    """The weight Constant behind a MatMul's second input and the decompression ops on the way."""

    constant: Any  # openvino Constant node
    ops: list[str]  # op types from the MatMul back to the Constant
    scale: np.ndarray | None = None  # Multiply's other operand (dequantization scale)
    zero_point: np.ndarray | None = None  # Subtract's second operand
    fake_quantized: bool = False  # an f32 constant behind a FakeQuantize (int8 only after compile)


def _through_convert(output) -> Any | None:
    """The Constant an output comes from through Convert ops only, else None."""
    node = output.get_node()
    for _ in range(_WALK_LIMIT):
        kind = node.get_type_name()
        if kind == "Constant":
            return node
        if kind != "Convert":
            return None
        node = node.input(0).get_source_output().get_node()
    return None


def _values(node) -> np.ndarray:
    return np.array(node.get_data(), dtype=np.float64)


def weight_chain(matmul) -> WeightChain | None:
    """Walk back from a MatMul's weight input through Convert/Subtract/Multiply/Reshape/Transpose.

    NNCF's int8 IR stores ``i8 Constant -> Convert -> (Subtract) -> Multiply -> (Reshape) -> MatMul``;
    an FP32 IR has the f32 (or f16 + Convert) Constant directly. Returns None when the input is
    not a constant (attention's activation x activation MatMuls).
    """
    output = matmul.input(1).get_source_output()
    ops: list[str] = []
    scale = zero_point = None
    fake_quantized = False
    for _ in range(_WALK_LIMIT):
        node = output.get_node()
        kind = node.get_type_name()
        ops.append(kind)
        if kind == "Constant":
            return WeightChain(node, ops, scale, zero_point, fake_quantized)
        if kind in _WEIGHT_PASS or kind == "FakeQuantize":
            fake_quantized |= kind == "FakeQuantize"
            output = node.input(0).get_source_output()
        elif kind == "Subtract":
            zp = _through_convert(node.input(1).get_source_output())
            if zp is None:
                return None
            zero_point = _values(zp)
            output = node.input(0).get_source_output()
        elif kind == "Multiply":
            a, b = (node.input(i).get_source_output() for i in (0, 1))
            ca, cb = _through_convert(a), _through_convert(b)
            if ca is not None and cb is not None:  # both constant: the bigger one holds the weights
                big_a = int(np.prod(ca.get_output_shape(0))) >= int(np.prod(cb.get_output_shape(0)))
                (output, other) = (a, cb) if big_a else (b, ca)
            elif ca is not None or cb is not None:
                (output, other) = (b, ca) if ca is not None else (a, cb)
            else:
                return None
            scale = _values(other)
        else:
            return None
    return None


def activations_int8(matmul) -> bool:
    """Whether the MatMul's data input is quantized (a FakeQuantize upstream, through layout ops)."""
    node = matmul.input(0).get_source_output().get_node()
    for _ in range(_WALK_LIMIT):
        kind = node.get_type_name()
        if kind == "FakeQuantize":
            return node.get_attributes().get("levels", 256) <= 256
        if kind not in _ACTIVATION_PASS:
            return False
        node = node.input(0).get_source_output().get_node()
    return False


# -- statistics -------------------------------------------------------------------------------------
def eligibility(shape: Iterable[int], dtype: str, activations_are_int8: bool) -> list[str]:
    """Why a weight cannot use the sparse kernel; an empty list means eligible."""
    shape = list(shape)
    reasons = []
    if dtype != "i8":
        hint = "; quantize the model to int8 first" if dtype in FLOAT_TYPES else ""
        reasons.append(f"{dtype} weights, the sparse kernel takes i8{hint}")
    if len(shape) != 2:
        reasons.append(f"{len(shape)}-D weights, the sparse kernel takes 2-D")
    elif any(d % BLOCK for d in shape):
        reasons.append(f"dims {shape[0]}x{shape[1]} are not both multiples of {BLOCK}")
    if not activations_are_int8:
        reasons.append("activations are not quantized (u8/i8 input needed)")
    return reasons


@dataclass
class WeightInfo:
    """One MatMul's constant weights as the CPU plugin will see them."""

    name: str  # the MatMul's friendly name
    shape: list[int]
    dtype: str  # element type of the stored constant: i8, f32, f16 ...
    elements: int
    zeros: int  # exact zeros among the stored values (int8 zeros for an int8 IR)
    nbytes: int
    chain: str  # e.g. "MatMul <- Multiply <- Convert <- Constant"
    activations: str  # "int8" or "float"
    reasons: list[str] = field(default_factory=list)

    @property
    def eligible(self) -> bool:
        return not self.reasons

    @property
    def zero_fraction(self) -> float:
        return self.zeros / self.elements if self.elements else 0.0

    def sparse_at(self, rate: float | None) -> bool:
        """Whether an AMX CPU would decompress this layer sparsely at ``rate``."""
        return rate is not None and self.eligible and reaches(self.zeros, self.elements, rate)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(eligible=self.eligible, zero_fraction=round(self.zero_fraction, 6),
                 sparse_at_rates=f"<= {self.zero_fraction:.4f}" if self.eligible else None)
        return d


def _dtype(node) -> str:
    return node.get_output_element_type(0).get_type_name()


def _count_zeros(node) -> int:
    try:
        return int(np.count_nonzero(np.asarray(node.get_data()) == 0))
    except Exception:  # element types numpy cannot view (e.g. bf16): count on a converted copy
        return int(np.count_nonzero(np.asarray(node.get_data(dtype=np.float32)) == 0))


def weight_info(matmul, chain: WeightChain) -> WeightInfo:
    """One MatMul's weights (found by :func:`weight_chain`) measured: shape, type, zeros, eligibility."""
    const = chain.constant
    shape = [int(d) for d in const.get_output_shape(0)]
    dtype = _dtype(const)
    act = activations_int8(matmul)
    reasons = eligibility(shape, dtype, act)
    if chain.fake_quantized:
        reasons.insert(0, "weights pass through a FakeQuantize (int8 only at compile time); "
                          "save the quantized IR with int8 constants")
    return WeightInfo(name=matmul.get_friendly_name(), shape=shape, dtype=dtype, elements=int(np.prod(shape)),
                      zeros=_count_zeros(const), nbytes=int(const.get_byte_size()),
                      chain=" <- ".join(["MatMul", *chain.ops]), activations="int8" if act else "float",
                      reasons=reasons)


def weight_stats(model) -> list[WeightInfo]:
    """Every MatMul with constant weights, in graph order, with its eligibility."""
    layers = []
    for op in model.get_ordered_ops():
        if op.get_type_name() == "MatMul" and (chain := weight_chain(op)) is not None:
            layers.append(weight_info(op, chain))
    return layers


def _floor_rate(info: WeightInfo) -> float:
    """The layer's zero fraction rounded down to RATE_STEP, still passing the plugin's float32 test."""
    steps = math.floor(info.zero_fraction / RATE_STEP + 1e-9)
    rate = min(round(steps * RATE_STEP, 2), 1.0 - RATE_STEP)
    while rate > 0 and not reaches(info.zeros, info.elements, rate):
        rate = round(rate - RATE_STEP, 2)
    return max(rate, 0.0)


def auto_rate(layers: list[WeightInfo], coverage: float = AUTO_COVERAGE) -> float | None:
    """The largest rate r such that eligible layers with zero fraction >= r hold >= ``coverage`` of
    the eligible weight bytes, rounded down to a multiple of 0.01 (at most 0.99, since 1 means off).

    Sorting eligible layers by zero fraction (highest first) and adding their bytes, r is the zero
    fraction of the layer at which the running total first reaches ``coverage`` of the total: a
    byte-weighted quantile. A higher rate would leave most weight bytes dense; a lower one would
    also send barely sparse layers to the sparse kernel. None when no layer is eligible.
    """
    if not 0.0 < coverage <= 1.0:
        raise ValueError(f"coverage must be in (0, 1]: got {coverage}")
    eligible = sorted((entry for entry in layers if entry.eligible), key=lambda entry: entry.zero_fraction, reverse=True)
    total = sum(entry.nbytes for entry in eligible)
    running = 0
    for info in eligible:
        running += info.nbytes
        if running >= coverage * total - 1e-9:
            return _floor_rate(info)
    return None


def summarize(layers: list[WeightInfo], rate: float | None = None, coverage: float = AUTO_COVERAGE) -> dict:
    """Model-level figures: what is eligible, how sparse, the auto rate and what a rate covers."""
    eligible = [entry for entry in layers if entry.eligible]
    all_bytes = sum(entry.nbytes for entry in layers)
    el_bytes = sum(entry.nbytes for entry in eligible)
    auto = auto_rate(layers, coverage)
    used = auto if rate is None else rate
    covered = [entry for entry in eligible if entry.sparse_at(used)]
    return {
        "matmul_weights": len(layers),
        "eligible_layers": len(eligible),
        "weight_bytes": all_bytes,
        "eligible_bytes": el_bytes,
        "eligible_byte_share": el_bytes / all_bytes if all_bytes else 0.0,
        "zero_fraction_all": sum(entry.zeros for entry in layers) / max(1, sum(entry.elements for entry in layers)),
        "zero_fraction_eligible": sum(entry.zeros for entry in eligible) / max(1, sum(entry.elements for entry in eligible)),
        "auto_rate": auto,
        "auto_coverage": coverage,
        "rate": used,
        "layers_sparse_at_rate": len(covered),
        "bytes_sparse_at_rate": sum(entry.nbytes for entry in covered),
        "byte_share_sparse_at_rate": sum(entry.nbytes for entry in covered) / el_bytes if el_bytes else 0.0,
        "ineligible_reasons": sorted({r for entry in layers for r in entry.reasons}),
    }


def resolve_rate(requested: float | str, layers: list[WeightInfo], coverage: float = AUTO_COVERAGE) -> tuple[float, str]:
    """The rate to use and a sentence that says why; 'auto' with nothing eligible is an error."""
    if requested != "auto":
        rate = float(requested)
        n = sum(entry.sparse_at(rate) for entry in layers)
        note = " (1 disables sparse decompression)" if rate >= 1.0 else ""
        return rate, f"rate {rate:g} was requested{note}: {n} of {sum(entry.eligible for entry in layers)} eligible layers reach it"
    rate = auto_rate(layers, coverage)
    if rate is None:
        reasons = "; ".join(sorted({r for entry in layers for r in entry.reasons})[:3]) or "no MatMul with constant weights"
        raise ValueError(f"no eligible layer for sparse decompression, so there is no auto rate ({reasons}); "
                         "pass --rate to write a config anyway")
    s = summarize(layers, rate, coverage)
    why = (f"auto rate {rate:g}: the largest rate (step {RATE_STEP:g}) at which eligible layers with at least that "
           f"zero fraction hold >= {coverage:.0%} of eligible weight bytes; {s['layers_sparse_at_rate']} of "
           f"{s['eligible_layers']} eligible layers, {s['byte_share_sparse_at_rate']:.0%} of their bytes")
    if rate < 0.5:
        why += ("; most eligible weights are dense, and the kernel saves weight reads in proportion to the zeros, "
                "so expect little gain (prune first: ovrecipes sparse prune)")
    return rate, why


# -- runtime config ---------------------------------------------------------------------------------
def runtime_config(rate: float, streams: int | None = None, threads: int | None = None, device: str = "CPU") -> dict:
    """benchmark_app -load_config / ``ovrecipes bench --config-file`` JSON (values as strings)."""
    rate = parse_rate(rate, allow_auto=False)
    section = {RATE_KEY: f"{rate:g}"}
    for key, value in (("NUM_STREAMS", streams), ("INFERENCE_NUM_THREADS", threads)):
        if value is not None:
            if int(value) <= 0:
                raise ValueError(f"{key} must be a positive integer: got {value}")
            section[key] = str(int(value))
    return {device: section}
