"""Serving real inputs: replay order and counts, percentiles, shape policies (parsing, padding that does not
change the answer, the choice on faked timings), the recommendation per mode, and the peer rows."""

from __future__ import annotations

import csv
import json
import random
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ovrecipes.cli.main import main
from ovrecipes.core.cpu import host_cpu
from ovrecipes.measure import serving
from ovrecipes.measure.workload import (
    DYNAMIC,
    OpenVINOServer,
    Pass,
    RunnerServer,
    ShapePolicy,
    balanced_orders,
    default_buckets,
    interleave,
    pad_item,
    parse_policy,
    percentiles,
    policies_to_compare,
)
from ovrecipes.pipelines import onnx_runtime, torch_runner
from ovrecipes.pipelines.types import ItemRunner, Metric, Workload
from ovrecipes.report.machine import machine
from ovrecipes.report.model import Report, VariantResult, WorkloadRound, WorkloadRun, WorkloadSummary


@pytest.fixture(scope="module")
def varied_csv(tmp_path_factory) -> Path:
    """Labelled sentences of 3 to 14 words, so that token counts differ as in real text."""
    rng = random.Random(3)
    path = tmp_path_factory.mktemp("varied") / "varied.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i in range(200):
            mood = rng.choice(["great", "superb", "lovely"] if i % 2 else ["awful", "dull", "weak"])
            words = [mood] + [rng.choice(["film", "plot", "cast", "scene", "score"]) for _ in range(rng.randint(2, 13))]
            writer.writerow([" ".join(words), i % 2])
    return path


@pytest.fixture(scope="module")
def varied_pipeline(tiny_bert_dir, varied_csv):
    from ovrecipes.pipelines.bert import BertPipeline
    from ovrecipes.pipelines.text_data import TextDataSpec

    return BertPipeline(tiny_bert_dir, TextDataSpec(source=str(varied_csv)), max_length=16, progress=False)


def _workload(sizes: list[int], max_size: int = 16) -> Workload:
    items = [{"input_ids": np.full((1, n), i + 1, np.int64), "attention_mask": np.ones((1, n), np.int64)}
             for i, n in enumerate(sizes)]
    return Workload(unit="sentences", items=items, prepare_s=[0.001] * len(items), sizes=sizes,
                    pad_values={"input_ids": 0, "attention_mask": 0}, max_size=max_size)


def test_percentiles_match_a_hand_computed_list():
    # numpy's default rank interpolation: p90 of 1..10 sits at rank 8.1 -> 9.1, p99 at 8.91 -> 9.91
    got = percentiles([7.0, 1.0, 10.0, 3.0, 2.0, 9.0, 4.0, 6.0, 5.0, 8.0])
    assert got == pytest.approx({"p50": 5.5, "p90": 9.1, "p99": 9.91, "mean": 5.5, "max": 10.0})
    assert percentiles([4.0]) == pytest.approx({"p50": 4.0, "p90": 4.0, "p99": 4.0, "mean": 4.0, "max": 4.0})
    with pytest.raises(ValueError, match="no latencies"):
        percentiles([])


def test_one_at_a_time_serves_every_item_once_in_input_order_and_concurrent_serves_each_once():
    workload = _workload([3, 5, 2, 7, 4, 6, 1, 8])
    seen: list[int] = []
    lock = threading.Lock()

    def serve(item):
        with lock:
            seen.append(int(item["input_ids"][0, 0]))

    runner = ItemRunner(serve, "test", threads=1, precision="f32")
    one = RunnerServer(runner, workload, "one-at-a-time")
    seen.clear()  # the warm-up call served item 1 once, untimed
    done = one.replay()
    assert seen == [1, 2, 3, 4, 5, 6, 7, 8] and done.items == 8 and len(done.latencies_ms) == 8
    seen.clear()
    many = RunnerServer(runner, workload, "concurrent", clients=3)
    seen.clear()
    done = many.replay()
    assert sorted(seen) == [1, 2, 3, 4, 5, 6, 7, 8] and done.items == 8 and len(done.latencies_ms) == 8
    assert many.clients == 3 and one.clients == 1
    with pytest.raises(ValueError, match="one item at a time"):
        RunnerServer(ItemRunner(serve, "pytorch", 1, "f32", concurrent=False), workload, "concurrent")


@pytest.mark.parametrize("n", range(1, 9))
def test_balanced_orders_put_each_server_after_every_other_and_in_every_place_equally_often(n):
    orders = balanced_orders(n)
    assert all(sorted(order) == list(range(n)) for order in orders)
    follows = Counter((a, b) for order in orders for a, b in zip(order, order[1:]))
    assert set(follows) == {(a, b) for a in range(n) for b in range(n) if a != b}
    assert len(set(follows.values())) <= 1  # every pair the same number of times
    assert len(set(Counter((s, place) for order in orders for place, s in enumerate(order)).values())) == 1


class _Recorder:
    """A server that records which slices it replayed, in the order asked."""

    def __init__(self, name: str, log: list, items: int) -> None:
        self.name, self.log, self.items = name, log, list(range(items))

    def replay(self, start: int, stop: int) -> Pass:
        self.log.append((self.name, start, stop))
        return Pass(stop - start, 0.001 * (stop - start), [1.0] * (stop - start))


def test_interleave_serves_every_slice_once_per_round_and_varies_who_goes_first():
    log: list = []
    servers = [_Recorder(name, log, 25) for name in "abc"]
    passes = interleave(servers, rounds=4, chunk=10, on_round=None)
    assert [[p.items for p in mine] for mine in passes] == [[25] * 4] * 3
    slices = [log[i:i + 3] for i in range(0, len(log), 3)]
    assert len(slices) == 12 and all({start for _, start, _ in s} == {s[0][1]} for s in slices)
    assert [s[0][1] for s in slices] == [0, 10, 20] * 4
    # over the six orders of three servers each one follows each other one twice
    follows = Counter((a[0], b[0]) for s in slices[:6] for a, b in zip(s, s[1:]))
    assert set(follows.values()) == {2} and len(follows) == 6
    # warm-up: each turn starts with the slice's first items, untimed, on the same server
    log.clear()
    passes = interleave(servers, rounds=1, chunk=10, on_round=None, warm=3)
    assert [[p.items for p in mine] for mine in passes] == [[25]] * 3  # the warm-up items are not counted
    turns = [log[i:i + 2] for i in range(0, len(log), 2)]
    assert len(turns) == 9 and all(w[0] == t[0] and w[1:] == (t[1], t[1] + 3) and t[2] - t[1] in (10, 5)
                                   for w, t in turns)


def test_shape_policies_parse_with_clear_errors():
    assert parse_policy("dynamic", 64) is DYNAMIC
    assert parse_policy("static", 64) == ShapePolicy("static", (64,))
    assert parse_policy("buckets", 64) == ShapePolicy("buckets", (8, 16, 24, 32, 40, 48, 56, 64))
    assert str(parse_policy("buckets:32,16", 64)) == "buckets:16,32,64"  # sorted; the longest length added
    for text, message in (("fixed", "must be one of dynamic, static, buckets"),
                          ("static:32", "takes no lengths"), ("dynamic:8", "takes no lengths"),
                          ("buckets:0,8", "positive integers"), ("buckets:a", "positive integers"),
                          ("buckets:16,128", "longer than the longest input the run allows")):
        with pytest.raises(ValueError, match=message):
            parse_policy(text, 64)
    assert ShapePolicy("buckets", (8, 16)).length_for(9) == 16 and DYNAMIC.length_for(40) is None
    with pytest.raises(ValueError, match="longer than the largest length"):
        ShapePolicy("buckets", (8, 16)).length_for(17)


def test_default_buckets_are_multiples_of_eight_up_to_the_longest_length():
    assert default_buckets(64) == (8, 16, 24, 32, 40, 48, 56, 64)
    assert default_buckets(128) == (16, 32, 48, 64, 80, 96, 112, 128)
    assert default_buckets(512) == (64, 128, 192, 256, 320, 384, 448, 512)
    assert default_buckets(12) == (1, 2, 3, 4, 5, 6, 7, 8, 12)  # too short for steps of 8: every length kept


def test_padding_changes_the_shape_not_the_answer(varied_pipeline, tiny_fp32_ir):
    """Each policy runs the item at its padded length on its own compiled IR, and the logits stay those
    of the item at its own length (the attention mask hides the padding); pinned to f32."""
    workload = varied_pipeline.workload("test", 12)
    assert workload.variable and len(set(workload.sizes)) > 3
    assert workload.unit == "sentences" and len(workload.items) == 12 and workload.max_size == 16
    assert workload.sizes == [int(item["input_ids"].shape[1]) for item in workload.items]
    assert set(workload.pad_values) == {"input_ids", "attention_mask", "token_type_ids"}
    xml = tiny_fp32_ir / "openvino_model.xml"
    outputs = {}
    for policy in (DYNAMIC, parse_policy("static", 16), parse_policy("buckets:8,12", 16)):
        server = OpenVINOServer(xml, workload, policy, "one-at-a-time", precision="f32")
        lengths = [item["input_ids"].shape[1] for _, item in server.items]
        expected = [policy.length_for(n) or n for n in workload.sizes]
        assert lengths == expected
        assert set(server.compiled) == ({None} if policy is DYNAMIC else {policy.length_for(n) for n in workload.sizes})
        assert server.replay().items == 12
        outputs[str(policy)] = [server.compiled[key].create_infer_request().infer(item)[0].copy()
                                for key, item in server.items]
    for policy, logits in outputs.items():
        np.testing.assert_allclose(np.concatenate(logits), np.concatenate(outputs["dynamic"]), atol=1e-4,
                                   err_msg=policy)


def test_pad_item_pads_only_the_variable_inputs():
    item = {"input_ids": np.array([[5, 6]]), "attention_mask": np.array([[1, 1]]), "pixel": np.ones((1, 2))}
    padded = pad_item(item, 4, {"input_ids": 9, "attention_mask": 0})
    assert padded["input_ids"].tolist() == [[5, 6, 9, 9]] and padded["attention_mask"].tolist() == [[1, 1, 0, 0]]
    assert padded["pixel"].shape == (1, 2)


def _run(policy: str, fps: list[float], mode: str = "one-at-a-time") -> WorkloadRun:
    rounds = [WorkloadRound(items_per_s=f, duration_s=100 / f, items=100,
                            latency_ms={"p50": 1000 / f, "p90": 1200 / f, "p99": 1500 / f, "mean": 1000 / f,
                                        "max": 2000 / f}) for f in fps]
    return WorkloadRun(mode=mode, policy=policy, clients=1, hint="latency", rounds=rounds)


def test_policy_choice_on_faked_timings():
    runs = [_run("dynamic", [300, 310, 290]), _run("static:64", [200, 210, 190]), _run("buckets:8,64", [420, 400, 410])]
    chosen, reason = serving.choose_policy(runs, "sentences")
    assert chosen.policy == "buckets:8,64" and "fastest in each of 3 rounds" in reason and "dynamic 300.0" in reason
    # buckets has the higher median but dynamic won one round: a tie, so the simpler dynamic IR is deployed
    runs = [_run("dynamic", [395, 405, 400]), _run("static:64", [200, 210, 190]), _run("buckets:8,64", [410, 398, 402])]
    chosen, reason = serving.choose_policy(runs, "sentences")
    assert chosen.policy == "dynamic" and "tie" in reason and "simplest" in reason
    chosen, reason = serving.choose_policy([_run("dynamic", [100])])
    assert chosen.policy == "dynamic" and "only policy" in reason
    # two bucket sets that the rounds cannot tell apart: the one with fewer compiled models is deployed
    runs = [_run("buckets:8,16,24,32,40,48,56,64", [410, 398, 402]), _run("buckets:16,32,48,64", [400, 405, 399])]
    chosen, reason = serving.choose_policy(runs, "sentences")
    assert chosen.policy == "buckets:16,32,48,64" and "tie" in reason


def test_policies_joined_by_plus_are_measured_against_each_other(capsys):
    workload = _workload([5, 9, 14, 3])
    assert [str(p) for p in policies_to_compare("buckets+buckets:8+dynamic", workload)] == [
        "buckets:2,4,6,8,10,12,14,16", "buckets:8,16", "dynamic"]
    assert [str(p) for p in policies_to_compare("auto", workload)] == ["dynamic", "static:16", "buckets:2,4,6,8,10,12,14,16"]
    assert [str(p) for p in policies_to_compare("static", workload)] == ["static:16"]
    with pytest.raises(ValueError, match="names the same policy twice"):
        policies_to_compare("buckets:8,16+buckets:8", workload)
    with pytest.raises(SystemExit):
        main(["compare", "bert", "x", "--shape-policy", "buckets:16+fixed"])
    assert "must be one of dynamic, static, buckets" in capsys.readouterr().err


def _variant(label: str, accuracy: float, runs: list[WorkloadRun], engine: str = "openvino",
             weights: str = "int8", peer: bool = False) -> VariantResult:
    v = VariantResult(label=label, path=f"/m/{label}", engine=engine, weights=weights, requested_precision="f32"
                      if weights == "fp32" else None, metric=Metric("accuracy", accuracy, 100), size_mb=10.0,
                      workload=runs, peer=peer)
    for mode in ("one-at-a-time", "concurrent"):
        mine = [r for r in runs if r.mode == mode]
        if mine:
            chosen, why = serving.choose_policy(mine)
            v.chosen_policy[mode], v.policy_reason[mode] = chosen.policy, why
    return v


def test_recommendation_per_mode_can_differ_and_peers_are_compared():
    fp32 = _variant("OV FP32", 85.0, [_run("dynamic", [100, 101, 99]), _run("dynamic", [150, 151, 149], "concurrent")],
                    weights="fp32")
    int8 = _variant("OV INT8", 84.5, [_run("dynamic", [300, 301, 299]), _run("buckets:8,64", [400, 401, 399]),
                                      _run("dynamic", [160, 161, 159], "concurrent")])
    bf16 = _variant("OV BF16", 85.0, [_run("dynamic", [200, 201, 199]), _run("dynamic", [300, 310, 305], "concurrent")],
                    weights="fp32")
    ort = _variant("ORT INT8", 83.0, [_run("dynamic", [250, 260, 255]), _run("dynamic", [330, 331, 329], "concurrent")],
                   engine="onnxruntime", peer=True)
    optimum = _variant("optimum-intel INT8", 82.0, [_run("dynamic", [200, 201, 199]),
                                                    _run("dynamic", [100, 101, 99], "concurrent")], peer=True)
    results = [fp32, int8, bf16, ort, optimum]
    serving.set_serving_ratios(results)
    assert int8.served("one-at-a-time").policy == "buckets:8,64"
    assert int8.served("one-at-a-time").ratio == pytest.approx(4.0)
    one = serving.recommend_serving(results, "one-at-a-time", None, 1.0, "sentences")
    many = serving.recommend_serving(results, "concurrent", None, 1.0, "sentences")
    assert one.choice == "OV INT8" and "buckets:8,64" in one.reason
    assert many.choice == "OV BF16"  # ORT INT8 is faster concurrently but 2 points below the best
    notes = serving.peer_notes(results, {"one-at-a-time": one, "concurrent": many}, "sentences")
    first = "one-at-a-time: OV INT8 (buckets:8,64) serves 1.56x"
    assert any(n.startswith(first) and "ORT INT8" in n for n in notes), notes
    assert any(n.startswith("one-at-a-time: OV INT8 (buckets:8,64) serves 2.00x") and "of optimum-intel INT8" in n
               for n in notes), notes  # a peer on OpenVINO too
    assert not any("OV FP32" in n.split("of ", 1)[1] for n in notes)  # only the peers' rows
    assert len(notes) == 4
    # a peer recommended is compared with the other peers, never with itself
    notes = serving.peer_notes(results, {"concurrent": serving.recommend_serving(results[3:], "concurrent", None,
                                                                                 2.0, "sentences")}, "sentences")
    assert len(notes) == 1 and notes[0].startswith("concurrent: ORT INT8 (dynamic) serves 3.30x") and \
        "of optimum-intel INT8" in notes[0]


def _study(policy: str, fps: list[float]) -> WorkloadRun:
    run = _run(policy, fps)
    run.study = True
    return run


def test_policy_table_shows_what_the_chosen_policy_gains_over_padding():
    fp32 = _variant("OV FP32", 85.0, [_study("dynamic", [150, 160, 140]), _study("static:64", [100, 100, 60]),
                                      _study("buckets:8,64", [190, 210, 150])], weights="fp32")
    int8 = _variant("OV INT8", 84.5, [_study("dynamic", [300, 290, 310]), _study("static:64", [300, 250, 280]),
                                      _study("buckets:8,64", [450, 400, 420])])
    summary = WorkloadSummary(unit="sentences", split="test", items=100, sizes={}, prepare_ms={},
                              policies=["dynamic", "static:64", "buckets:8,64"], modes=["one-at-a-time"])
    report = Report(kind="compare", title="t", command="c", created="now", variants=[fp32, int8],
                    machine=machine(host_cpu()), workload=summary)
    table = report.policy_table()
    assert table.header[-2:] == ["chosen", "chosen / static:64"]
    rows = {row[0]: row for row in table.rows}
    # the median of per-round ratios (FP32: 1.90, 2.10, 2.50), not the ratio of the medians (190 / 100 = 1.90)
    assert rows["OV FP32"][-2:] == ["buckets:8,64", "2.10x"]
    assert rows["OV INT8"][-2:] == ["buckets:8,64", "1.50x"]
    summary.policies = ["dynamic", "buckets:8,64"]  # no static policy measured: no column
    for v in (fp32, int8):
        v.workload = [r for r in v.workload if r.policy != "static:64"]
    assert report.policy_table().header[-1] == "chosen"


def test_served_line_says_when_every_item_has_one_size():
    from ovrecipes.report.writer import serving_lines

    summary = WorkloadSummary(unit="images", split="test", items=500, prepare_ms={"mean": 0.2, "p99": 0.3},
                              sizes={"mean": 64.0, "median": 64.0, "p90": 64.0, "max": 64.0}, policies=["dynamic"],
                              modes=["one-at-a-time"])
    report = Report(kind="compare", title="t", command="c", created="now", variants=[], reference="OV FP32",
                    rounds=3, machine=machine(host_cpu()), workload=summary)
    first = serving_lines(report)[0]
    assert "all of one size (64), so each IR runs as exported" in first and "natural sizes" not in first
    assert "shape policies are first compared" not in first and ". The models take turns every 50 images, 3" in first
    summary.warm = 10  # how serving measures now; reports written before say nothing of a warm-up
    assert "take turns every 50 images in orders where each follows every other equally often, each first " \
           "serving 10 of them untimed" in serving_lines(report)[0]
    summary.sizes = {"mean": 26.4, "median": 26.0, "p90": 41.0, "max": 60.0}
    summary.policies = ["dynamic", "static:60", "buckets:8,16,24,32,40,48,56,60"]
    first = serving_lines(report)[0]
    assert "at their natural sizes (mean 26.4, median 26, p90 41, max 60). Per mode, each OpenVINO" in first


def test_peer_rows_with_a_tiny_model(tiny_pipeline, tmp_path):
    pytest.importorskip("onnxruntime")
    peers = tiny_pipeline.peers(tmp_path / "peers")
    assert [p.label for p in peers] == ["ORT FP32", "ORT INT8 (dynamic)", "optimum-intel INT8"]
    assert [tiny_pipeline.engine_of(p.path) for p in peers] == ["onnxruntime", "onnxruntime", "openvino"]
    assert onnx_runtime.weights_of(peers[0].path) == "fp32" and onnx_runtime.weights_of(peers[1].path) == "int8"
    # the ONNX export answers like the PyTorch model at any length (dynamic axes), and the INT8 one holds int8 ops
    module, _ = tiny_pipeline.torch_model()
    serve, _ = torch_runner.serve(module)
    session = onnx_runtime.Session(peers[0].path, threads=1)
    for item in tiny_pipeline.workload("test", 3).items:
        np.testing.assert_allclose(session.run(item)[0], serve(item).logits.numpy(), atol=1e-4)
    import onnx

    ops = {node.op_type for node in onnx.load(str(peers[1].path / "model.onnx")).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} & ops
    runner = tiny_pipeline.workload_runner(peers[1].path, threads=1)
    assert runner.engine == "onnxruntime" and runner.precision == "int8" and runner.threads == 1
    accuracy = tiny_pipeline.evaluate(peers[0].path, "test", limit=20)
    assert accuracy.samples == 20 and 0 <= accuracy.value <= 100


def test_compare_with_peers_and_workload_prints_every_row(tiny_pipeline, tiny_fp32_ir, varied_csv, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "cmp"
    args = ["compare", "bert", str(tiny_fp32_ir), "--labels", "OV FP32", "--model", str(tiny_pipeline.model_path),
            "--dataset", str(varied_csv), "--max-length", "16", "--eval-samples", "20", "--rounds", "1",
            "--time", "0.3",            "--workload-samples", "10", "--compare-peers", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "Serving real inputs (10 test sentences)" in printed
    for label in ("ORT FP32", "ORT INT8 (dynamic)", "optimum-intel INT8"):
        assert label in printed.split("Serving real inputs")[1]
    report = json.loads((out / "report.json").read_text())
    assert report["schema_version"] == 3 and report["workload"]["items"] == 10
    assert (report["workload"]["slice"], report["workload"]["warm"]) == (50, 10)
    assert report["workload"]["policies"] == ["dynamic", "static:16", "buckets:2,4,6,8,10,12,14,16"]
    rows = {v["label"]: v for v in report["variants"]}
    assert [label for label, v in rows.items() if v["peer"]] == ["ORT FP32", "ORT INT8 (dynamic)", "optimum-intel INT8"]
    assert {r["policy"] for r in rows["OV FP32"]["workload"]} == set(report["workload"]["policies"])
    assert [r["mode"] for r in rows["ORT INT8 (dynamic)"]["workload"]] == ["one-at-a-time", "concurrent"]
    assert all(len(r["rounds"]) == 1 and r["rounds"][0]["items"] == 10 for v in rows.values() for r in v["workload"])
    assert (out / "peers" / "ort-int8" / "model.onnx").is_file()
    assert str(out / "peers") in rows["ORT FP32"]["path"]
    assert "## Serving real inputs" in (out / "report.md").read_text()


def test_missing_peer_extra_is_one_line_and_no_rows(tiny_pipeline, tiny_fp32_ir, tiny_csv, monkeypatch, capsys):
    monkeypatch.setattr(onnx_runtime, "missing_packages", lambda: ["onnxruntime"])
    args = ["compare", "bert", str(tiny_fp32_ir), "--model", str(tiny_pipeline.model_path), "--dataset", str(tiny_csv),
            "--max-length", "16", "--eval-samples", "10", "--rounds", "1", "--time", "0.2", "--no-workload",
            "--compare-peers"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "No peer rows: ONNX Runtime and optimum-intel INT8 peer rows need onnxruntime: pip install " \
           "'ovrecipes[peers]'" in printed
    assert "ORT FP32" not in printed and "Serving real inputs" not in printed


def test_workload_flags_are_refused_where_they_do_nothing(tiny_fp32_ir, capsys):
    assert main(["compare", "bert", str(tiny_fp32_ir), "--no-workload", "--workload-samples", "10"]) == 2
    assert "--workload-samples 10 has no effect with --no-workload" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compare", "bert", str(tiny_fp32_ir), "--shape-policy", "static:8"])
    assert "takes no lengths" in capsys.readouterr().err


def test_bench_inputs_serves_one_directory_under_every_policy(tiny_fp32_ir, varied_csv, tmp_path, capsys):
    out = tmp_path / "serve.json"
    args = ["bench", str(tiny_fp32_ir), "--inputs", "bert", "--dataset", str(varied_csv), "--max-length", "16",
            "--workload-samples", "12", "--rounds", "2", "--json", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "12 test sentences of the bert family" in printed
    for policy in ("dynamic", "static:16", "buckets:2,4,6,8,10,12,14,16"):
        assert printed.count(policy) >= 2, policy  # one row per mode
    data = json.loads(out.read_text())
    assert len(data["runs"]) == 6 and all(len(r["rounds"]) == 2 for r in data["runs"])
    assert set(data["chosen_policy"]) == {"one-at-a-time", "concurrent"}
    assert main(["bench", str(tiny_fp32_ir), "--inputs", "bert", "--shape", "[1,16]"]) == 2
    assert "--shape has no effect with --inputs" in capsys.readouterr().err
