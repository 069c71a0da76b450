"""Magnitude pruning of an IR's MatMul weights, to create the zeros sparse weight decompression skips.

Unstructured and per layer: in each weight that is (or, once quantized, will be) eligible for the
sparse kernel, the smallest values by dequantized magnitude become zero until the layer reaches the
target zero fraction. No retraining: the accuracy cost shows what sparsity costs (JPQD trains it in).
It knows no model family.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import openvino as ov

from ovrecipes.recipes.sparse import FLOAT_TYPES, WeightChain, WeightInfo, eligibility, weight_chain, weight_info


# -- magnitude pruning ------------------------------------------------------------------------------
def _prunable(info: WeightInfo, chain: WeightChain) -> list[str]:
    """Why a layer is not pruned: pruning targets weights that are (or, once quantized, will be) eligible."""
    reasons = eligibility(info.shape, "i8", True)
    if info.dtype not in ("i8", *FLOAT_TYPES):
        reasons.append(f"{info.dtype} weights are not pruned")
    if info.dtype == "i8" and chain.zero_point is not None and np.any(chain.zero_point != 0):
        reasons.append("asymmetric int8 weights: an int8 zero is not a zero weight")
    if chain.fake_quantized:
        reasons.append("weights behind a FakeQuantize are not pruned")
    return reasons


def _magnitude(values: np.ndarray, chain: WeightChain) -> np.ndarray:
    """|dequantized weight|: int8 values times their per-channel scale when it broadcasts."""
    mag = np.abs(values.astype(np.float32))
    if chain.scale is not None:
        try:
            mag = mag * np.abs(np.broadcast_to(chain.scale, mag.shape)).astype(np.float32)
        except ValueError:  # scale laid out for a reshaped tensor: int8 magnitude alone
            pass
    return mag


@dataclass
class PruneResult:
    name: str
    shape: list[int]
    dtype: str
    zeros_before: int
    zeros_after: int
    elements: int
    skipped: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(before=self.zeros_before / self.elements, after=self.zeros_after / self.elements)
        return d


def prune_model(model, target: float) -> list[PruneResult]:
    """Unstructured magnitude pruning, in place: in every prunable MatMul weight, zero the smallest
    ``ceil(target * n)`` values (by dequantized magnitude) so each reaches at least ``target``.

    Per layer rather than global, so every eligible layer clears the same rate. A Constant shared by
    several MatMuls is pruned once.
    """
    if not 0.0 < float(target) < 1.0:
        raise ValueError(f"prune target must be a zero fraction in (0, 1): got {target}")
    results: list[PruneResult] = []
    done: set[str] = set()
    for op in model.get_ordered_ops():
        if op.get_type_name() != "MatMul" or (chain := weight_chain(op)) is None:
            continue
        const = chain.constant
        key = const.get_friendly_name()
        if key in done:
            continue
        done.add(key)
        info = weight_info(op, chain)
        why = _prunable(info, chain)
        if why:
            results.append(PruneResult(info.name, info.shape, info.dtype, info.zeros, info.zeros, info.elements,
                                       "; ".join(why)))
            continue
        values = np.array(const.get_data())
        flat = values.reshape(-1)
        k = min(flat.size, math.ceil(float(target) * flat.size))
        order = np.argpartition(_magnitude(values, chain).reshape(-1), k - 1)[:k]
        flat[order] = 0
        new = ov.op.Constant(values)
        new.set_friendly_name(key)
        for target_input in list(const.output(0).get_target_inputs()):
            target_input.replace_source_output(new.output(0))
        results.append(PruneResult(info.name, info.shape, info.dtype, info.zeros,
                                   int(np.count_nonzero(values == 0)), info.elements))
    model.validate_nodes_and_infer_types()
    return results
