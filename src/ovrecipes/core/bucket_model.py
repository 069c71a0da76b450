"""One OpenVINO model that serves inputs padded to any of a few lengths (the ``buckets`` shape policy).

Compiling one static IR per bucket length gives each bucket its own compiled model: its own copy of
the repacked weights and its own executor. Served in arrival order, the buckets take turns and each
evicts the others from the shared L3 cache; served concurrently, eight executors compete. Here the
buckets live in one graph instead: the input's length picks, through ``If`` nodes (a binary search over
the lengths), a copy of the graph reshaped to ``[1, length]``, so every copy runs at a static shape and
all of them belong to one compiled model: one executor, and the copies use the IR's constants, not
copies of them. A lookup table the IR stores compressed (NNCF's INT8 word embeddings: int8 values,
Convert, Multiply by a scale) is decompressed once, before the copies are made, so they share one table
instead of the plugin folding one per copy. Measured on the embedded BERT (``python
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
    routed = _route(shared_tables(model.clone()), lengths, padded_names, names.index(padded_names[0]))
    routed.set_friendly_name(f"{model.get_friendly_name()}_buckets_{'_'.join(map(str, lengths))}")
    if model.has_rt_info(["runtime_options"]):  # properties the plugin reads from the IR itself
        for name, value in model.get_rt_info()["runtime_options"].items():
            routed.set_rt_info(value.astype(str), ["runtime_options", name])
    return routed


_ELEMENTWISE = {"Subtract": np.subtract, "Multiply": np.multiply}


def shared_tables(model: ov.Model) -> ov.Model:
    """``model`` (changed in place) with each compressed lookup table - a Gather's data computed from a
    constant by Convert, Subtract and Multiply with constants - replaced by its f32 value. The CPU plugin
    folds such a table to f32 in every copy of the graph that uses it (47 MB per copy for the embedded
    BERT's word embeddings); folded here, the copies share one. Weights of matrix multiplications are
    left compressed: the plugin runs them as INT8."""
    for node in model.get_ordered_ops():
        if node.get_type_name() != "Gather":
            continue
        source = node.input(0).get_source_output()
        if source.get_node().get_type_name() == "Constant":
            continue
        table = _constant_value(source)
        if table is None or table.dtype != np.float32:
            continue
        folded = ops.constant(table)
        folded.set_friendly_name(source.get_node().get_friendly_name())
        node.input(0).replace_source_output(folded.output(0))
    return model


def _constant_value(output: ov.Output) -> np.ndarray | None:
    """The value of ``output`` if it is a constant, or Convert, Subtract or Multiply (numpy broadcasting)
    of constants, computed in its element type as the plugin's constant folding would; else None."""
    node = output.get_node()
    kind = node.get_type_name()
    if kind == "Constant":
        return node.get_data()
    if kind == "Convert":
        value = _constant_value(node.input(0).get_source_output())
        return None if value is None else value.astype(node.get_output_element_type(0).to_dtype())
    if kind in _ELEMENTWISE and node.get_attributes().get("auto_broadcast") == "numpy":
        left, right = (_constant_value(port.get_source_output()) for port in node.inputs())
        if left is None or right is None:
            return None
        dtype = node.get_output_element_type(0).to_dtype()
        return _ELEMENTWISE[kind](left.astype(dtype), right.astype(dtype))
    return None


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
