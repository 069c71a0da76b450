"""scripts/serving_profile.py: grouping by bucket keeps the inputs, the switching cost per request, and the
per-node times of a tiny IR (the fully connected layers are found and timed)."""

from __future__ import annotations

import time

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


class _FakeRequest:
    def __init__(self, seconds: float, log: list) -> None:
        self.seconds, self.log = seconds, log

    def infer(self, feed, share_inputs=False, share_outputs=False):
        self.log.append(self)
        time.sleep(self.seconds)


def test_request_timing_takes_the_copies_in_turn_and_leaves_the_eviction_out(profile):
    log: list = []
    copies = [_FakeRequest(0.002, log) for _ in range(3)]
    evictions = []
    feed: dict = {}
    ms = profile.request_ms([(c, feed) for c in copies], 7,
                            before=lambda: (evictions.append(len(log)), time.sleep(0.03)))
    assert log == [copies[i % 3] for i in range(7)]
    assert evictions == list(range(7))  # one eviction ahead of every request
    assert 2.0 <= ms < 25.0  # the request's own 2 ms, not the 30 ms eviction before it


def test_request_timing_weighs_each_input_alike_when_inputs_take_turns(profile):
    log: list = []
    short, long = _FakeRequest(0.002, log), _FakeRequest(0.02, log)
    ms = profile.request_ms([(short, {"n": 1}), (long, {"n": 2})], 6)
    assert log == [short, long] * 3
    # the mean of the two medians (about 11 ms), not the median of all six (the slow one's half decides it)
    assert 10.0 <= ms < 20.0


def test_shapes_study_times_static_and_dynamic_again_and_in_turn(profile, tiny_pipeline, tiny_fp32_ir):
    chosen = [("tiny", tiny_fp32_ir, "f32")]
    data = profile.shape_change_study(chosen, tiny_pipeline, 8, rounds=2, count=3)
    ways = {f"{name} {way}" for name in ("static", "dynamic", "dynamic nodes") for way in ("again", "in turn")}
    assert set(data) == {"tiny"} and set(data["tiny"]["rounds"]) == ways
    assert all(len(data["tiny"]["rounds"][way]) == 2 and data["tiny"][way] > 0 for way in ways)
    for name, change in data["tiny"]["change_ms"].items():
        assert change == pytest.approx(data["tiny"][f"{name} in turn"] - data["tiny"][f"{name} again"])


def test_residency_study_times_each_model_every_way(profile, tiny_pipeline, tiny_fp32_ir):
    chosen = [("tiny", tiny_fp32_ir, "f32")]
    data = profile.residency_study(chosen, tiny_pipeline, 8, rounds=2, copies=2, evict_mb=(1, 2), count=3)
    ways = ("hot", "alternating", "touched 1 MB", "touched 2 MB")
    assert set(data) == {"tiny"} and set(data["tiny"]["rounds"]) == set(ways)
    assert all(len(data["tiny"]["rounds"][way]) == 2 and data["tiny"][way] > 0 for way in ways)


def test_bucket_padded_feeds_the_dynamic_ir_the_bucket_lengths_in_input_order(profile, tiny_pipeline, tiny_fp32_ir):
    from ovrecipes.measure.workload import DYNAMIC

    workload = tiny_pipeline.workload("test", 24)
    policy = parse_policy("buckets:4,8,12,16", 16)
    server = OpenVINOServer(tiny_fp32_ir / "openvino_model.xml", workload, DYNAMIC, "one-at-a-time", precision="f32")
    padded = profile.bucket_padded(server, policy, workload)
    assert list(padded.compiled) == [None]  # one dynamic model, no bucket models
    lengths = [item["input_ids"].shape[1] for _, item in padded.items]
    assert lengths == [policy.length_for(size) for size in workload.sizes]
    assert len(set(lengths)) > 1
    for (_, item), original in zip(padded.items, workload.items):  # the sentence first, then padding
        n = original["input_ids"].shape[1]
        assert (item["input_ids"][:, :n] == original["input_ids"]).all()
        assert (item["attention_mask"][:, n:] == 0).all()
    assert padded.replay().items == 24


def test_bucketing_study_serves_one_model_per_length_and_padded_in_each_mode(profile, tiny_pipeline, tiny_fp32_ir,
                                                                             monkeypatch):
    import statistics

    built = []
    original = profile.OpenVINOServer

    def recording(*args, **kwargs):
        server = original(*args, **kwargs)
        built.append((str(server.policy), server.mode, len({id(c) for c in server.compiled.values()})))
        return server

    monkeypatch.setattr(profile, "OpenVINOServer", recording)
    data = profile.bucketing_study([("tiny", tiny_fp32_ir, "f32")], tiny_pipeline, 12, 2)
    assert set(data) == {"tiny, one-at-a-time", "tiny, concurrent"}
    # per mode, the buckets once in one compiled model and once as a static IR per length
    bucket_models = sorted(models for policy, _, models in built if policy.startswith("buckets"))
    assert len(bucket_models) == 4 and bucket_models[:2] == [1, 1] and all(m > 1 for m in bucket_models[2:])
    for entry in data.values():
        runs = entry["rounds"]
        assert set(runs) == {"one model", "per length", "padded"} and all(len(r) == 2 for r in runs.values())
        assert entry["one model / padded"] == pytest.approx(
            statistics.median(a / b for a, b in zip(runs["one model"], runs["padded"])))
        assert entry["one model sent/s"] == pytest.approx(statistics.median(runs["one model"]))
        assert set(entry["rss_mb_added"]) == set(runs) and all(mb >= 0 for mb in entry["rss_mb_added"].values())


def test_properties_are_key_value_pairs(profile):
    assert profile.parse_properties(["TBB_PARTITIONER=STATIC", " PERF_COUNT = YES"]) == {
        "TBB_PARTITIONER": "STATIC", "PERF_COUNT": "YES"}
    for bad in ("TBB_PARTITIONER", "=STATIC", "TBB_PARTITIONER="):
        with pytest.raises(ValueError, match="KEY=VALUE"):
            profile.parse_properties([bad])


def test_config_study_compares_defaults_with_the_properties_on_both_policies(profile, tiny_pipeline, tiny_fp32_ir):
    chosen = [("tiny", tiny_fp32_ir, "f32")]
    data = profile.config_study(chosen, tiny_pipeline, 12, 1, {"PERF_COUNT": "YES"})
    entry = data["tiny"]
    policies = set(entry["default"])
    assert len(policies) == 2 and policies == set(entry["with"]) == set(entry["with_over_default"])
    assert any(p.startswith("buckets") for p in policies) and any(p.startswith("static") for p in policies)
    assert all(v > 0 for name in ("default", "with") for v in entry[name].values())
    assert set(entry["buckets_over_static"]) == {"default", "with"}


def test_deployed_study_serves_each_recorded_model_both_ways_in_each_mode(profile, tiny_pipeline, tiny_fp32_ir,
                                                                          tmp_path, capsys):
    import shutil

    from ovrecipes.measure.deployment import write_deployment

    run = tmp_path / "run"
    shutil.copytree(tiny_fp32_ir, run)
    write_deployment(run, {"OV FP32": {"precision": "f32", "shape_policy": {"one-at-a-time": "buckets:8,16",
                                                                            "concurrent": "dynamic"}}})
    chosen = [("OV FP32 (f32)", run, "f32"), ("OV BF16", run, None)]  # no record at the default precision
    data = profile.deployed_study(chosen, tiny_pipeline, 12, 1)
    assert list(data) == ["OV FP32 (f32)"] and set(data["OV FP32 (f32)"]) == {"one-at-a-time", "concurrent"}
    assert [data["OV FP32 (f32)"][m]["policy"] for m in ("one-at-a-time", "concurrent")] == ["buckets:8,16", "dynamic"]
    assert all(e["measured"] > 0 and e["deployed"] > 0 for e in data["OV FP32 (f32)"].values())
    assert "OV BF16: " in capsys.readouterr().out  # skipped, and said so
