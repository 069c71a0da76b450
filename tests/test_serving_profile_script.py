"""scripts/serving_profile.py: grouping by bucket keeps the inputs, the switching cost per request, and the
per-node times of a tiny IR (the fully connected layers are found and timed)."""

from __future__ import annotations

import pytest
from conftest import load_script

from ovrecipes.measure.workload import OpenVINOServer, parse_policy


@pytest.fixture(scope="module")
def profile():
    return load_script("serving_profile")


def test_grouping_by_bucket_keeps_every_input_and_orders_only_by_bucket(profile, tiny_pipeline, tiny_fp32_ir):
    workload = tiny_pipeline.workload("test", 24)
    policy = parse_policy("buckets:4,8,12,16", 16)
    in_order = OpenVINOServer(tiny_fp32_ir / "openvino_model.xml", workload, policy, "one-at-a-time", precision="f32")
    original = list(in_order.items)
    keys = [key for key, _ in original]
    assert len(set(keys)) > 1 and keys != sorted(keys)  # the inputs really switch between bucket models
    grouped = profile.grouped_by_bucket(in_order)
    assert [key for key, _ in grouped.items] == sorted(keys)
    for key in set(keys):  # stable: within a bucket the input order is kept
        assert [id(item) for k, item in grouped.items if k == key] == [id(item) for k, item in original if k == key]
    assert grouped.replay().items == 24


def test_switching_cost_is_the_time_per_request_saved_by_grouping(profile):
    assert profile.switching_cost_ms(400.0, 500.0) == pytest.approx(2.5 - 2.0)
    assert profile.switching_cost_ms(500.0, 500.0) == 0.0


def test_node_times_name_the_fully_connected_layers(profile, tiny_fp32_ir):
    rows = profile.node_times(tiny_fp32_ir / "openvino_model.xml", 8, "f32", runs=5)
    assert [us for _, _, us in rows] == sorted((us for _, _, us in rows), reverse=True)
    fully_connected = [(kind, n) for kind, n, _ in rows if kind.startswith("FullyConnected")]
    # 2 layers x (Q, K, V, attention output, FFN in, FFN out) + pooler + classifier, by kernel
    assert sum(n for _, n in fully_connected) == 2 * 6 + 2
    assert all(us > 0 for _, _, us in rows)
