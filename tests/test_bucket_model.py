"""The buckets shape policy's one compiled model: each length runs as the static IR of that length would,
the lengths share one compiled model (and one request or queue), and a plugin that cannot compile it
still serves the buckets, a static IR each. Pinned to f32 so outputs compare exactly on every CPU."""

from __future__ import annotations

import logging

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from ovrecipes.core.bucket_model import bucketed_model, shared_tables
from ovrecipes.core.openvino import compile_model, read_model, reshape
from ovrecipes.measure import workload as workload_module
from ovrecipes.measure.workload import OpenVINOServer, compile_lengths, parse_policy, per_compiled_model
from ovrecipes.pipelines.types import Workload

F32 = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
PADDED = ("input_ids", "attention_mask", "token_type_ids")


def _inputs(model: ov.Model, length: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    names = [p.get_any_name() for p in model.inputs]
    feed = {"input_ids": rng.integers(5, 90, (1, length)), "attention_mask": np.ones((1, length), np.int64),
            "token_type_ids": np.zeros((1, length), np.int64)}
    feed["attention_mask"][0, length // 2:] = 0  # padding the mask hides, as a padded request has
    return {n: feed[n] for n in names}


def test_each_length_runs_as_its_static_ir_would_in_one_model(tiny_fp32_ir):
    core = ov.Core()
    model = read_model(tiny_fp32_ir / "openvino_model.xml", core)
    routed = bucketed_model(model, [16, 4, 8, 12], PADDED)
    assert [p.get_any_name() for p in routed.inputs] == [p.get_any_name() for p in model.inputs]
    assert [p.get_names() for p in routed.outputs] == [p.get_names() for p in model.outputs]
    assert [p.get_partial_shape() for p in routed.inputs] == [p.get_partial_shape() for p in model.inputs]
    request = compile_model(routed, F32, core=core).create_infer_request()
    for length in (4, 8, 12, 16):
        static = model.clone()
        reshape(static, {n: [1, length] for n in PADDED})
        expected = compile_model(static, F32, core=core).create_infer_request()
        for seed in range(2):
            feed = _inputs(model, length, seed)
            got = request.infer(feed)[0].copy()
            np.testing.assert_allclose(got, expected.infer(feed)[0], atol=1e-6, err_msg=f"length {length}")
    # a length that is not a bucket is refused (callers pad first), not run at another shape
    with pytest.raises(RuntimeError):
        request.infer(_inputs(model, 6, 0))


def _compress(consumer: ov.Input) -> np.ndarray:
    """Store the constant feeding ``consumer`` as NNCF stores a quantized one (int8, Convert, Multiply by a
    scale per row); returns the f32 value that decompresses to."""
    table = consumer.get_source_output().get_node().get_data()
    scale = np.maximum(np.abs(table).max(axis=-1, keepdims=True) / 127, 1e-6).astype(np.float32)  # zero rows
    values = np.clip(np.round(table / scale), -127, 127).astype(np.int8)
    consumer.replace_source_output(ops.multiply(ops.convert(ops.constant(values), "f32"), ops.constant(scale))
                                   .output(0))
    return values.astype(np.float32) * scale


def _compress_embeddings_and_one_matmul(model: ov.Model) -> np.ndarray:
    """Compress the largest Gather table (the word embeddings) and one matrix multiplication's weights."""
    def weights(node: ov.Node) -> ov.Input | None:
        ports = {"Gather": 0, "MatMul": 1}
        if node.get_type_name() in ports:
            port = node.input(ports[node.get_type_name()])
            if port.get_source_output().get_node().get_type_name() == "Constant":
                return port
        return None
    found = [(node.get_type_name(), port) for node in model.get_ordered_ops() if (port := weights(node))]
    _compress(next(port for kind, port in found if kind == "MatMul"))
    return _compress(max((port for kind, port in found if kind == "Gather"),
                         key=lambda port: port.get_source_output().get_node().get_byte_size()))


def _compressed_matmuls(model: ov.Model) -> int:
    return sum(node.get_type_name() == "MatMul"
               and node.input(1).get_source_output().get_node().get_type_name() == "Multiply"
               for node in model.get_ordered_ops())


def _gather_tables(model: ov.Model) -> list[ov.Node]:
    """The node feeding each Gather's data, in ``model`` and every If body below it."""
    found = []
    for node in model.get_ordered_ops():
        if node.get_type_name() == "Gather":
            found.append(node.input(0).get_source_output().get_node())
        elif node.get_type_name() == "If":
            found += _gather_tables(node.get_then_body()) + _gather_tables(node.get_else_body())
    return found


def _is_table(node: ov.Node, table: np.ndarray) -> bool:
    return node.get_output_partial_shape(0) == ov.PartialShape(list(table.shape))


def test_copies_share_one_decompressed_lookup_table_and_answer_as_before(tiny_fp32_ir):
    core = ov.Core()
    model = read_model(tiny_fp32_ir / "openvino_model.xml", core)
    expected_table = _compress_embeddings_and_one_matmul(model)
    folded = shared_tables(model.clone())
    tables = [t for t in _gather_tables(folded) if _is_table(t, expected_table)]
    assert len(tables) == 1 and tables[0].get_type_name() == "Constant"
    np.testing.assert_array_equal(tables[0].get_data(), expected_table)
    # the original keeps its compressed table; compressed matrix weights stay compressed (the plugin runs them
    # as INT8)
    assert not any(_is_table(t, expected_table) for t in _gather_tables(model)
                   if t.get_type_name() == "Constant")
    assert _compressed_matmuls(model) == _compressed_matmuls(folded) == 1
    routed = bucketed_model(model, [4, 8, 12], PADDED)
    copies = [t for t in _gather_tables(routed) if _is_table(t, expected_table)]
    assert len(copies) == 3 and {t.get_type_name() for t in copies} == {"Constant"}
    assert len({t.get_data().__array_interface__["data"][0] for t in copies}) == 1  # one table, shared
    request = compile_model(routed, F32, core=core).create_infer_request()
    for length in (4, 12):
        static = model.clone()
        reshape(static, {n: [1, length] for n in PADDED})
        feed = _inputs(model, length, 3)
        np.testing.assert_allclose(request.infer(feed)[0].copy(),
                                   compile_model(static, F32, core=core).create_infer_request().infer(feed)[0],
                                   atol=1e-6)


def test_bucketed_model_keeps_the_runtime_options_the_ir_carries(tiny_fp32_ir):
    model = read_model(tiny_fp32_ir / "openvino_model.xml")
    model.set_rt_info("f16", ["runtime_options", "KV_CACHE_PRECISION"])
    routed = bucketed_model(model, [4, 8], PADDED)
    assert routed.get_rt_info()["runtime_options"]["KV_CACHE_PRECISION"].astype(str) == "f16"


def test_bucketed_model_refuses_what_it_cannot_route(tiny_fp32_ir):
    model = read_model(tiny_fp32_ir / "openvino_model.xml")
    with pytest.raises(ValueError, match="needs an input to pad: none of \\['pixel_values'\\]"):
        bucketed_model(model, [8, 16], ["pixel_values"])
    with pytest.raises(ValueError, match="bucket lengths must be positive integers: got \\[0, 8\\]"):
        bucketed_model(model, [0, 8], PADDED)


def test_bucket_lengths_share_one_compiled_model_and_its_requests(tiny_fp32_ir):
    core = ov.Core()
    model = read_model(tiny_fp32_ir / "openvino_model.xml", core)
    one = compile_lengths(model, [8, 4, 8, 16, None], PADDED, F32, core)
    assert list(one) == [8, 4, 16, None]
    assert one[4] is one[8] is one[16] and one[None] is not one[4]
    separate = compile_lengths(model, [8, 4, 16], PADDED, F32, core, one_model=False)
    assert len({id(c) for c in separate.values()}) == 3
    made = per_compiled_model(one, lambda compiled: object())
    assert made[4] is made[8] is made[16] and made[None] is not made[4]


def test_buckets_fall_back_to_a_static_ir_each_when_one_model_cannot_compile(tiny_fp32_ir, monkeypatch, caplog):
    def refuse(*_args, **_kwargs):
        raise ValueError("cannot compile buckets for CPU: If is not supported")

    core = ov.Core()
    model = read_model(tiny_fp32_ir / "openvino_model.xml", core)
    monkeypatch.setattr(workload_module, "bucketed_model", refuse)
    with caplog.at_level(logging.WARNING, logger="ovrecipes.measure.workload"):
        compiled = compile_lengths(model, [4, 8], PADDED, F32, core)
    assert compiled[4] is not compiled[8]
    assert "cannot compile buckets 4,8 as one model (cannot compile buckets for CPU: If is not supported); " \
           "compiling a static IR per length" in caplog.text


def test_concurrent_buckets_serve_every_item_through_one_queue(tiny_fp32_ir):
    sizes = [3, 9, 14, 5, 12, 16, 7, 11, 4, 13, 8, 10]
    model = read_model(tiny_fp32_ir / "openvino_model.xml")
    items = [_inputs(model, n, seed) for seed, n in enumerate(sizes)]
    workload = Workload(unit="sentences", items=items, prepare_s=[0.0] * len(items), sizes=sizes,
                        pad_values={n: 0 for n in items[0]}, max_size=16)
    policy = parse_policy("buckets:8,12", 16)
    server = OpenVINOServer(tiny_fp32_ir / "openvino_model.xml", workload, policy, "concurrent", precision="f32",
                            clients=2)
    assert len({id(q) for q in server.queues.values()}) == 1 and sorted(server.queues) == [8, 12, 16]
    served = server.replay()
    assert served.items == 12 and len(served.latencies_ms) == 12
