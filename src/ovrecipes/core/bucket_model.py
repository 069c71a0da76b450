"""One OpenVINO model that serves inputs padded to any of a few lengths (the ``buckets`` shape policy).

Compiling one static IR per bucket length gives each bucket its own compiled model: its own copy of
the repacked weights and its own executor. Served in arrival order, the buckets take turns and each
evicts the others from the shared L3 cache; served concurrently, eight executors compete. Here the
buckets live in one graph instead: the input's length picks, through ``If`` nodes (a binary search over
the lengths), a copy of the graph reshaped to ``[1, length]``, so every copy runs at a static shape and
all of them belong to one compiled model: one executor, and the copies of an FP32/BF16 IR share its
weights (INT8 copies keep their own quantized weights). Measured on the embedded BERT (``python
scripts/serving_profile.py RUN --study bucketing``, docs/results.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import openvino as ov
import openvino.opset8 as opset8
import openvino.opset13 as ops

from ovrecipes.core.openvino import reshape


def bucketed_model(model: ov.Model, lengths: Sequence[int], padded: Iterable[str]) -> ov.Model:
    """A model with ``model``'s inputs and outputs that runs an input of length L (axis 1 of the ``padded``
    inputs, batch 1, already padded to one of ``lengths``) on a copy of the graph reshaped to ``[1, L]``.
    An input whose length is not one of ``lengths`` is refused by the plugin (callers pad first)."""
    names = [p.get_any_name() for p in model.inputs]
    wanted = set(padded)
    padded_names = [n for n in names if n in wanted]
    if not padded_names:
        raise ValueError(f"a bucketed model needs an input to pad: none of {sorted(wanted)} is an input of the "
                         f"model ({', '.join(names)})")
    lengths = sorted(set(int(n) for n in lengths))
    if not lengths or lengths[0] <= 0:
        raise ValueError(f"bucket lengths must be positive integers: got {list(lengths)}")
    routed = _route(model, lengths, padded_names, names.index(padded_names[0]))
    routed.set_friendly_name(f"{model.get_friendly_name()}_buckets_{'_'.join(map(str, lengths))}")
    if model.has_rt_info(["runtime_options"]):  # properties the plugin reads from the IR itself
        for name, value in model.get_rt_info()["runtime_options"].items():
            routed.set_rt_info(value.astype(str), ["runtime_options", name])
    return routed


def _outer_parameters(model: ov.Model) -> list[ov.Node]:
    """Fresh parameters shaped and named as ``model``'s inputs."""
    params = []
    for port in model.inputs:
        param = ops.parameter(port.get_partial_shape(), port.get_element_type(), name=port.get_any_name())
        param.output(0).set_names(set(port.get_names()))
        params.append(param)
    return params


def _static_copy(model: ov.Model, length: int, padded: list[str]) -> ov.Model:
    """``model`` reshaped to ``[1, length]`` behind parameters that keep the original (dynamic) shapes: a
    Reshape to the fixed shape right after each padded input makes the rest of the copy static."""
    copy = model.clone()
    reshape(copy, {name: [1, length] for name in padded})
    outer = _outer_parameters(model)
    target = ops.constant(np.array([1, length], dtype=np.int64))
    for inner, param in zip(copy.get_parameters(), outer):
        source = param.output(0)
        if inner.output(0).get_any_name() in padded:
            source = ops.reshape(param, target, special_zero=False).output(0)
        for consumer in list(inner.output(0).get_target_inputs()):
            consumer.replace_source_output(source)
    return ov.Model(copy.get_results(), outer, f"bucket_{length}")


def _route(model: ov.Model, lengths: list[int], padded: list[str], key: int) -> ov.Model:
    """Lengths split in halves: an If on ``length <= the lower half's longest`` (axis 1 of input ``key``) picks
    the half."""
    if len(lengths) == 1:
        return _static_copy(model, lengths[0], padded)
    middle = len(lengths) // 2
    lower, upper = _route(model, lengths[:middle], padded, key), _route(model, lengths[middle:], padded, key)
    params = _outer_parameters(model)
    length = ops.gather(ops.shape_of(params[key]), ops.constant(np.array(1, dtype=np.int64)),
                        ops.constant(np.array(0, dtype=np.int64)))
    in_lower = ops.less_equal(length, ops.constant(np.array(lengths[middle - 1], dtype=np.int64)))
    choice = opset8.if_op(in_lower.output(0))
    choice.set_then_body(lower)
    choice.set_else_body(upper)
    for param, then_param, else_param in zip(params, lower.get_parameters(), upper.get_parameters()):
        choice.set_input(param.output(0), then_param, else_param)
    results = []
    for original, then_result, else_result in zip(model.outputs, lower.get_results(), upper.get_results()):
        output = choice.set_output(then_result, else_result)
        output.get_tensor().set_names(set(original.get_names()))
        results.append(ops.result(output))
    return ov.Model(results, params, f"buckets_{lengths[0]}_{lengths[-1]}")
