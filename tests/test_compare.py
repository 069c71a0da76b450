"""Side-by-side logic on hand-made measurements: precision rows per CPU class, ratios from rounds,
ties, noisy-run warnings, and notes that only name causes the (faked) CPU really has."""

from __future__ import annotations

import json

import pytest

from ovrecipes.core.cpu import CpuInfo, target_cpu
from ovrecipes.measure import variants as variants_mod
from ovrecipes.measure.recommend import cpu_notes, recommend, run_warnings
from ovrecipes.measure.variants import Variant, set_ratios, with_precisions
from ovrecipes.pipelines.types import Metric
from ovrecipes.report.machine import machine
from ovrecipes.report.model import Report, Round, Throughput, VariantResult
from ovrecipes.report.writer import render_markdown, summary_text

AVX2 = target_cpu("avx2")
VNNI_BF16 = target_cpu("vnni-bf16")
AMX = target_cpu("amx")
CLASSES = {"AVX2": AVX2, "AVX-512 VNNI+BF16": VNNI_BF16, "AMX": AMX}


def _result(label: str, accuracy: float, fps: list[float], *, weights: str = "fp32", size: float = 10.0,
            precision: str | None = "f32", peer: bool = False) -> VariantResult:
    rounds = [Round(throughput_fps=f, latency_ms={"median": 1000 / f, "average": 1000 / f, "min": 1.0, "max": 99.0},
                    count=int(f), duration_s=1.0) for f in fps]
    return VariantResult(label=label, path=f"/models/{label}", engine="openvino", weights=weights,
                         requested_precision=precision, inference_precision=precision or "bf16", metric=Metric(
                             "accuracy", accuracy, 2000, counted=True), throughput=Throughput(rounds=rounds, hint="throughput"),
                         size_mb=size, peer=peer)


def test_cpu_classes_are_what_the_target_names_say():
    assert [c.cpu_class for c in CLASSES.values()] == list(CLASSES)
    assert [c.default_precision for c in CLASSES.values()] == ["f32", "bf16", "bf16"]
    assert "no AVX512_BF16 or AMX" in AVX2.default_precision_reason()
    assert "avx512_bf16" in VNNI_BF16.default_precision_reason()


@pytest.mark.parametrize("name", list(CLASSES))
def test_bf16_row_only_where_the_plugin_defaults_to_bf16(tmp_path, monkeypatch, name):
    cpu = CLASSES[name]
    monkeypatch.setattr(variants_mod, "weights_format", lambda path: "int8" if "int8" in str(path) else "fp32")
    fp32 = tmp_path / "fp32"
    int8 = tmp_path / "int8"
    for d in (fp32, int8):
        d.mkdir()
        (d / "openvino_model.xml").write_text("<net/>")
    out, note = with_precisions([Variant("OV FP32", fp32), Variant("OV INT8", int8)], "auto", cpu)
    rows = [(v.label, v.precision) for v in out]
    if cpu.default_precision == "bf16":
        assert rows == [("OV FP32", "f32"), ("OV BF16", "default"), ("OV INT8", None)]
        assert "pinned to f32" in note
    else:
        assert rows == [("OV FP32", "f32"), ("OV INT8", None)]
        assert note.startswith("No BF16 row:") and "no AVX512_BF16 or AMX" in note
    pinned, note = with_precisions([Variant("OV FP32", fp32), Variant("OV INT8", int8)], "f32", cpu)
    assert [v.precision for v in pinned] == ["f32", "f32"] and "--inference-precision" in note


def test_ratio_is_the_median_of_per_round_ratios():
    fp32 = _result("OV FP32", 86.5, [100.0, 50.0, 100.0])
    int8 = _result("OV INT8", 86.4, [200.0, 150.0, 190.0], weights="int8", precision=None)
    set_ratios([fp32, int8])
    # per round: 2.0, 3.0, 1.9 -> median 2.0 (the ratio of medians would be 1.9)
    assert int8.ratio == pytest.approx(2.0) and fp32.ratio == pytest.approx(1.0)


def test_fastest_within_budget_wins_when_it_leads_in_every_round():
    fp32 = _result("OV FP32", 86.5, [69.0, 70.0, 71.0])
    int8 = _result("OV INT8", 86.2, [148.0, 150.0, 152.0], weights="int8", precision=None)
    lossy = _result("OV INT4", 80.0, [390.0, 400.0, 410.0], weights="int8", precision=None)
    rec = recommend([fp32, int8, lossy], VNNI_BF16, budget=0.5)
    assert rec.choice == "OV INT8" and rec.tie == [] and "ahead of each other one in every round" in rec.reason


def test_a_lead_in_every_shared_round_wins_although_the_ranges_overlap():
    # a load burst in round 3 slowed both: the ranges overlap, but INT8 led by 13-16% in each interleaved round
    # (the serving replay of the CGD images on the AVX-512 EPYC looked like this and was called a tie)
    bf16 = _result("OV BF16", 93.71, [1691.0, 1818.7, 1580.6], precision="bf16")
    int8 = _result("OV INT8", 93.35, [1966.9, 2103.1, 1727.5], weights="int8", precision=None)
    assert int8.throughput.overlaps(bf16.throughput)
    rec = recommend([bf16, int8], VNNI_BF16)
    assert rec.choice == "OV INT8" and rec.tie == []
    # one round where BF16 led: the rounds cannot tell them apart, and the higher accuracy (7 samples of 2,000)
    # decides
    mixed = _result("OV INT8", 93.35, [1966.9, 2103.1, 1570.0], weights="int8", precision=None)
    rec = recommend([bf16, mixed], VNNI_BF16)
    assert rec.choice == "OV BF16" and rec.tie == ["OV INT8"] and "not 5% or more ahead in every round" in rec.reason
    # not measured in the same rounds (different counts): only ranges apart tell them apart
    unpaired = _result("OV INT8", 93.35, [1966.9, 2103.1, 1727.5, 2000.0], weights="int8", precision=None)
    assert recommend([bf16, unpaired], VNNI_BF16).choice == "OV BF16"
    apart = _result("OV INT8", 93.35, [1966.9, 2103.1, 1900.0, 2000.0], weights="int8", precision=None)
    assert recommend([bf16, apart], VNNI_BF16).choice == "OV INT8"


def test_a_condition_drop_over_budget_rules_a_variant_out_and_says_why():
    from dataclasses import replace

    fp32 = _result("OV FP32", 90.0, [69.0, 70.0, 71.0])
    int8 = _result("OV INT8", 89.8, [148.0, 150.0, 152.0], weights="int8", precision=None)
    wo = _result("OV weight-only INT8", 89.7, [118.0, 120.0, 122.0], weights="int8", precision=None)
    held = {"held-out voices": 97.0, "noise 10 dB": 78.0}
    fp32.metric = replace(fp32.metric, conditions=held)
    wo.metric = replace(wo.metric, conditions={"held-out voices": 96.5, "noise 10 dB": 78.2})
    int8.metric = replace(int8.metric, conditions={"held-out voices": 94.4, "noise 10 dB": 77.9})
    assert int8.metric.worst_drop_from(fp32.metric) == (pytest.approx(2.6), "held-out voices")
    assert wo.metric.worst_drop_from(fp32.metric) == (pytest.approx(0.5), "held-out voices")
    assert fp32.metric.worst_drop_from(fp32.metric) == (0.0, None)
    rec = recommend([fp32, int8, wo], VNNI_BF16)
    assert rec.choice == "OV weight-only INT8"
    assert ("OV INT8 is not recommended: within 1 accuracy point of OV FP32 on the split, but 2.60 points below "
            "it on held-out voices.") in rec.notes
    report = Report(kind="compare", title="t", command="c", created="now", variants=[fp32, int8, wo],
                    reference="OV FP32", rounds=3, recommendation=rec, machine=machine(VNNI_BF16))
    table = report.condition_table()
    assert table.header == ["variant", "accuracy split (drop)", "held-out voices", "noise 10 dB", "worst drop"]
    assert table.rows[1] == ["OV INT8", "89.80 (+0.20)", "94.40 (+2.60)", "77.90 (+0.10)", "+2.60 (held-out voices)"]
    assert table.rows[0][-1] == "+0.00 (split)"
    assert "### Held-out conditions" in render_markdown(report, None) and "Held-out conditions" in summary_text(report)
    report.variants = [_result("OV FP32", 90.0, [70.0])]
    assert report.condition_table() is None and "Held-out" not in summary_text(report)
    assert not any("--weight-only" in n for n in rec.notes)  # it was measured
    assert any("add it with --weight-only" in n for n in recommend([fp32, int8], VNNI_BF16).notes)
    int8.metric = replace(int8.metric, conditions={"held-out voices": 96.2, "noise 10 dB": 77.9})  # holds now
    assert recommend([fp32, int8, wo], VNNI_BF16).choice == "OV INT8"
    int8.metric = replace(int8.metric, conditions=None)  # no conditions measured: the split decides
    assert recommend([fp32, int8, wo], VNNI_BF16).choice == "OV INT8"


def test_overlapping_ranges_are_a_tie_decided_by_metric_then_size_then_a_lead_in_every_round():
    a = _result("INT8 a", 84.60, [324.0, 325.0, 330.0], weights="int8", size=16.0, precision=None)
    b = _result("INT8 b", 84.95, [320.0, 325.2, 327.0], weights="int8", size=16.0, precision=None)  # 7 of 2000
    rec = recommend([a, b], VNNI_BF16)
    assert rec.choice == "INT8 b" and rec.tie == ["INT8 a"]
    assert "tie on throughput" in rec.reason and "higher accuracy (84.95)" in rec.reason
    same_a = _result("INT8 a", 84.6, [324.0, 325.0, 330.0], weights="int8", size=20.0, precision=None)
    same_b = _result("INT8 b", 84.6, [320.0, 325.2, 327.0], weights="int8", size=16.0, precision=None)
    rec = recommend([same_a, same_b], VNNI_BF16)
    assert rec.choice == "INT8 b" and "smaller model (16.0 MB)" in rec.reason
    # one sentence apart and 5% apart in size: neither decides; b led in every round (by under 5%), so b
    near_a = _result("INT8 a", 84.65, [324.0, 325.0, 320.0], weights="int8", size=16.8, precision=None)
    near_b = _result("INT8 b", 84.60, [326.0, 327.0, 330.0], weights="int8", size=16.0, precision=None)
    rec = recommend([near_a, near_b], VNNI_BF16)
    assert rec.choice == "INT8 b" and rec.tie == ["INT8 a"]
    assert "leading in every round (327.0 FPS median)" in rec.reason and "fewer than 6 of 2000 samples" in rec.reason
    # and where the lead changed sides between rounds nothing measured decides: the higher accuracy as
    # measured does, the same in every run of these two models
    mixed_b = _result("INT8 b", 84.60, [326.0, 327.0, 318.0], weights="int8", size=16.0, precision=None)
    rec = recommend([near_a, mixed_b], VNNI_BF16)
    assert rec.choice == "INT8 a" and "higher accuracy (84.65); their accuracy differs by fewer than 6" in rec.reason


def test_a_lead_under_five_percent_is_a_tie_that_recommends_what_a_clear_lead_would():
    # 3% faster in every round, ranges apart: a tie; the accuracies are one sentence of 2,000 apart, which is no
    # evidence, so the one that led in every round is chosen - as it is when the lead is clear, so runs on either
    # side of the 5% line recommend the same variant
    fast = _result("optimum INT8", 84.50, [412.0, 402.0, 407.0], weights="int8", precision=None)
    slow = _result("OV INT8", 84.55, [400.0, 390.0, 395.0], weights="int8", precision=None)
    rec = recommend([fast, slow], VNNI_BF16)
    assert rec.choice == "optimum INT8" and rec.tie == ["OV INT8"] and "not 5% or more ahead in every" in rec.reason
    assert "chosen for leading in every round" in rec.reason
    clear = _result("optimum INT8", 84.50, [440.0, 430.0, 436.0], weights="int8", precision=None)  # 10% ahead
    assert recommend([clear, slow], VNNI_BF16).choice == "optimum INT8"
    # six sentences more accurate is evidence: within a tie it decides
    accurate = _result("OV INT8", 84.80, [400.0, 390.0, 395.0], weights="int8", precision=None)
    assert recommend([fast, accurate], VNNI_BF16).choice == "OV INT8"
    assert recommend([clear, accurate], VNNI_BF16).choice == "optimum INT8"  # a clear lead still wins


def test_a_tie_keeps_the_users_model_unless_something_measured_favours_the_peer():
    # the same NNCF quantization twice: the peer is one sentence more accurate and led every round by under 5%
    ours = _result("OV INT8", 84.50, [400.0, 390.0, 395.0], weights="int8", size=22.4, precision=None)
    peer = _result("optimum-intel INT8", 84.55, [410.0, 400.0, 405.0], weights="int8", size=22.4, precision=None,
                   peer=True)
    rec = recommend([ours, peer], VNNI_BF16)
    assert rec.choice == "OV INT8" and rec.tie == ["optimum-intel INT8"]
    assert "not being a peer: nothing measured favours optimum-intel INT8" in rec.reason
    assert "fewer than 6 of 2000 samples" in rec.reason
    # what is measured still decides: six sentences, a model 10% smaller, a clear lead
    accurate = peer.model_copy(update={"metric": Metric("accuracy", 84.80, 2000, counted=True)})
    assert recommend([ours, accurate], VNNI_BF16).choice == "optimum-intel INT8"
    smaller = peer.model_copy(update={"size_mb": 20.0})
    assert recommend([ours, smaller], VNNI_BF16).choice == "optimum-intel INT8"
    clear = _result("optimum-intel INT8", 84.55, [440.0, 430.0, 436.0], weights="int8", size=22.4, precision=None,
                    peer=True)
    assert recommend([ours, clear], VNNI_BF16).choice == "optimum-intel INT8"
    # two models of the user's tie with a peer: the peer drops out, the user's decide as before (a lead in every round)
    jpqd = _result("JPQD INT8", 84.50, [402.0, 392.0, 396.0], weights="int8", size=22.0, precision=None)
    rec = recommend([ours, peer, jpqd], VNNI_BF16)
    assert rec.choice == "JPQD INT8" and "leading in every round" in rec.reason


def test_one_round_under_five_percent_makes_a_tie_whatever_the_median():
    # a run of two INT8 IRs of the same quantization: 1.5%, 11% and 7% apart, the same one ahead each time
    ahead = _result("INT8 b", 84.55, [437.1, 353.7, 337.3], weights="int8", precision=None)
    behind = _result("INT8 a", 84.50, [430.8, 318.6, 315.2], weights="int8", precision=None)
    assert ahead.throughput.ratio_to(behind.throughput) > 1.05  # the median alone would call it a win
    rec = recommend([ahead, behind], VNNI_BF16)
    assert rec.tie == ["INT8 a"] and "tie on throughput" in rec.reason
    clear = _result("INT8 b", 84.55, [453.0, 353.7, 337.3], weights="int8", precision=None)  # 5% in each round
    assert recommend([clear, behind], VNNI_BF16).tie == []


@pytest.mark.parametrize("apart, told", [(0, False), (1, False), (5, False), (6, True), (40, True)])
def test_counted_metrics_need_six_samples_between_them(apart, told):
    base = Metric("accuracy", 84.50, 2000, counted=True)
    assert base.tells_apart(Metric("accuracy", 84.50 + 100.0 * apart / 2000, 2000, counted=True)) is told
    # the smaller split decides: 6 samples of 2,000 are 0.3 points, of 500 they are 1.2
    assert base.tells_apart(Metric("accuracy", 84.80, 500, counted=True)) is False
    # a rate over other units (words): any difference counts
    wer = Metric("100-WER", 90.0, 60)
    assert wer.tells_apart(Metric("100-WER", 90.0 + 0.01 * apart, 60)) is (apart > 0)


def _slower_int8() -> list[VariantResult]:
    fp32 = _result("OV FP32", 86.5, [69.0, 70.0, 69.5])
    int8 = _result("OV INT8", 86.45, [61.0, 62.0, 62.5], weights="int8", precision=None)
    set_ratios([fp32, int8])
    return [fp32, int8]


def test_slower_int8_note_without_vnni_names_the_missing_instructions():
    notes = cpu_notes(_slower_int8(), AVX2)
    assert len(notes) == 1 and "SLOWER" in notes[0] and "has no VNNI or AMX" in notes[0]
    assert recommend(_slower_int8(), AVX2, budget=0.5).choice == "OV FP32"


@pytest.mark.parametrize("cpu, flag", [(VNNI_BF16, "avx512_vnni"), (AMX, "amx_int8")])
def test_slower_int8_note_on_vnni_cpus_never_blames_missing_vnni(cpu, flag):
    notes = cpu_notes(_slower_int8(), cpu)
    assert len(notes) == 1
    assert "no VNNI" not in notes[0] and "emulates" not in notes[0] and flag in notes[0]


@pytest.mark.parametrize("cpu", list(CLASSES.values()), ids=list(CLASSES))
def test_overlapping_int8_is_called_not_measurably_faster_on_every_class(cpu):
    fp32 = _result("OV FP32", 86.5, [60.0, 70.0, 80.0])
    int8 = _result("OV INT8", 86.4, [62.0, 66.0, 75.0], weights="int8", precision=None)
    notes = cpu_notes([fp32, int8], cpu)
    assert len(notes) == 1 and "not measurably faster" in notes[0] and "VNNI" not in notes[0]
    # slower in every round but by under 5%: still not told apart, so no cause is named
    close = _result("OV INT8", 86.4, [58.0, 68.0, 77.0], weights="int8", precision=None)
    notes = cpu_notes([fp32, close], cpu)
    assert len(notes) == 1 and "not measurably faster" in notes[0] and "VNNI" not in notes[0]


def test_faster_int8_needs_no_note():
    fp32 = _result("OV FP32", 86.5, [69.0, 70.0, 71.0])
    int8 = _result("OV INT8", 86.2, [148.0, 150.0, 152.0], weights="int8", precision=None)
    assert all(cpu_notes([fp32, int8], cpu) == [] for cpu in CLASSES.values())


def test_noisy_runs_get_one_warning_line():
    quiet = [_result("OV FP32", 86.5, [100.0, 101.0, 102.0])]
    assert run_warnings(quiet, [0.5, 0.7, 0.9], cores=2) == []
    spread = [_result("OV FP32", 86.5, [100.0, 80.0, 101.0])]
    warnings = run_warnings(spread, [0.5], cores=2)
    assert len(warnings) == 1 and "OV FP32 21%" in warnings[0] and "Noisy run" in warnings[0]
    loaded = run_warnings(quiet, [1.0, 3.5], cores=2)
    assert len(loaded) == 1 and "load average reached 3.5 on 2 cores" in loaded[0]


def test_precision_mismatch_is_a_warning():
    asked = _result("OV FP32", 86.5, [100.0, 101.0, 102.0])
    asked.inference_precision = "bf16"
    assert any("asked for f32 but the compiled model ran bf16" in w for w in run_warnings([asked], [], 2))


def test_table_and_markdown_show_precision_range_and_reference():
    fp32 = _result("OV FP32", 86.5, [69.0, 70.0, 71.0])
    bf16 = _result("OV BF16", 86.45, [120.0, 121.0, 125.0], precision=None)
    int8 = _result("OV INT8", 86.2, [148.0, 150.0, 152.0], weights="int8", precision=None)
    results = [fp32, bf16, int8]
    set_ratios(results)
    report = Report(kind="compare", title="t", command="c", created="now", variants=results, reference="OV FP32",
                    rounds=3, recommendation=recommend(results, VNNI_BF16), machine=machine(VNNI_BF16),
                    timings_s={"train": 10.0, "  stage 1": 4.0, "  stage 2": 6.0, "measure": 2.0})
    table = report.side_by_side_table()
    assert table.header[2] == "precision (mode)" and table.header[7] == "vs OV FP32"
    rows = {r[0]: r for r in table.rows}
    assert rows["OV FP32"][2].startswith("f32") and rows["OV BF16"][2].startswith("bf16")
    assert rows["OV INT8"][2].startswith("int8+bf16") and rows["OV INT8"][6] == "148.0-152.0"
    assert rows["OV INT8"][7] == "2.14x" and rows["OV INT8"][4] == "+0.30"
    md = render_markdown(report, None)
    assert "median of 3 interleaved rounds" in md and "**Recommended: OV INT8**" in md
    assert len(table.format(markdown=True).splitlines()) == 5
    assert "- train: 10.0\n  - stage 1: 4.0\n  - stage 2: 6.0\n- measure: 2.0" in md  # stages nest under their run


def test_report_round_trips_through_json(tmp_path):
    from ovrecipes.report.writer import read_report, write_report

    results = _slower_int8()
    report = Report(kind="compare", title="t", command="c", created="now", variants=results, reference="OV FP32",
                    rounds=3, machine=machine(AVX2))
    write_report(tmp_path, report)
    again = read_report(tmp_path)
    assert again == report and (tmp_path / "accuracy_vs_throughput.png").exists()
    assert '"schema_version": 3' in (tmp_path / "report.json").read_text()
    # version 2 (before real-workload serving) still reads: the serving fields are simply absent
    old = json.loads((tmp_path / "report.json").read_text())
    del old["workload"]
    for v in old["variants"]:
        del v["workload"], v["chosen_policy"], v["policy_reason"]
    (tmp_path / "report.json").write_text(json.dumps({**old, "schema_version": 2}))
    again = read_report(tmp_path)
    assert again.workload is None and again.variants[0].workload == [] and again.variants == report.variants
    data = (tmp_path / "report.json").read_text().replace('"schema_version": 2', '"schema_version": 1')
    (tmp_path / "report.json").write_text(data)
    with pytest.raises(ValueError, match="schema version 1; this ovrecipes reads versions 2, 3"):
        read_report(tmp_path)
    (tmp_path / "report.json").write_text(data.replace('"schema_version": 1', '"schema_version": 2')
                                          .replace('"label": "OV FP32"', '"label": 7', 1))
    with pytest.raises(ValueError, match=r"report.json is not a valid report: variants.0.label: Input should be"):
        read_report(tmp_path)
    (tmp_path / "report.json").write_text("# a markdown report\n")
    with pytest.raises(ValueError, match=r"report.json is not a report.json: it is not JSON \(Expecting value"):
        read_report(tmp_path)


def test_cpu_info_of_faked_classes_drives_notes_not_this_machine():
    # the same measurements, two faked CPUs: the note follows the fake, whatever this machine is
    assert cpu_notes(_slower_int8(), CpuInfo("fake AVX2", frozenset({"avx2"}))) != cpu_notes(_slower_int8(), AMX)


def test_default_labels_tell_same_named_directories_apart(tmp_path):
    from ovrecipes.cli.compare import variant_labels

    a, b, c = tmp_path / "runA" / "int8", tmp_path / "runB" / "int8", tmp_path / "runA" / "fp32"
    assert variant_labels([c, a], None) == ["fp32", "int8"]
    assert variant_labels([a, b, c], None) == ["runA/int8", "runB/int8", "runA/fp32"]
    assert variant_labels([a, b], ["x", "y"]) == ["x", "y"]
    with pytest.raises(ValueError, match=r"^--labels names 'x' twice: each model needs its own name in the table$"):
        variant_labels([a, b], ["x", "x"])
    with pytest.raises(ValueError, match=r"^--labels gives 1 names for 2 models$"):
        variant_labels([a, b], ["x"])
    with pytest.raises(ValueError, match=r"^model directory .*runA/int8 is given twice$"):
        variant_labels([a, tmp_path / "runA" / ".." / "runA" / "int8"], None)


def test_rows_from_separate_reports_are_not_compared_round_by_round(tmp_path):
    from ovrecipes.runs.compare import compare_reports

    # run A's round i and run B's round i did not run side by side: B's lead in each "round" is no evidence,
    # and the ratio is the ratio of medians (1.08), not the median of per-round ratios (1.10)
    for name, result in (("a", _result("OV FP32", 86.5, [100.0, 50.0, 100.0])),
                         ("b", _result("OV INT8", 86.1, [110.0, 60.0, 108.0], weights="int8", precision=None))):
        report = Report(kind="compare", title=name, command="c", created="now", variants=[result],
                        reference=result.label, rounds=3, machine=machine(VNNI_BF16))
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(report.model_dump_json())
    merged = compare_reports([tmp_path / "a", tmp_path / "b"], None)
    int8 = merged.variants[1]
    assert int8.ratio == pytest.approx(1.08)
    # the ranges overlap, so the rows tie and the more accurate one (8 sentences of 2,000) is chosen
    assert merged.recommendation.choice == "OV FP32" and merged.recommendation.tie == ["OV INT8"]
    # the same rows measured in one run's rounds: INT8 led in every round by 8-20%, so it wins
    same = [_result("OV FP32", 86.5, [100.0, 50.0, 100.0]),
            _result("OV INT8", 86.1, [110.0, 60.0, 108.0], weights="int8", precision=None)]
    set_ratios(same)
    assert same[1].ratio == pytest.approx(1.10) and recommend(same, VNNI_BF16).choice == "OV INT8"
