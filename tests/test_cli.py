"""The ``ovrecipes`` command end to end on a tiny BERT: outputs, reruns, and one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import openvino as ov
import pytest
import yaml

from ovrecipes.cli.main import main
from ovrecipes.core.cpu import host_cpu
from ovrecipes.recipes import ir

POOLER = r".*bert\.pooler\..*"


def _ptq_unmeasured(tiny_bert_dir: Path, tiny_csv: Path, out: Path, *extra: str) -> list[str]:
    """A tiny PTQ run that measures nothing (measurement flags would be refused with --no-eval --no-bench)."""
    return ["bert", "ptq", "--model", str(tiny_bert_dir), "--dataset", str(tiny_csv), "--max-length", "16",
            "--out", str(out), "--subset-size", "16", "--no-eval", "--no-bench", *extra]


def _ptq_args(tiny_bert_dir: Path, tiny_csv: Path, out: Path, *extra: str) -> list[str]:
    return ["bert", "ptq", "--model", str(tiny_bert_dir), "--dataset", str(tiny_csv), "--max-length", "16",
            "--out", str(out), "--subset-size", "16", "--eval-samples", "24", "--time", "0.5", *extra]


@pytest.fixture(scope="module")
def ptq_run(tiny_bert_dir, tiny_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "int8"
    assert main(_ptq_args(tiny_bert_dir, tiny_csv, out, "--compare-torch", "--ignored-pattern", POOLER)) == 0
    return out


def test_ptq_writes_a_complete_output_directory(ptq_run):
    for name in ("openvino_model.xml", "openvino_model.bin", "config.json", "recipe.yaml", "report.json",
                 "report.md", "accuracy_vs_throughput.png", "fp32/openvino_model.xml"):
        assert (ptq_run / name).exists(), name
    assert not [p for p in ptq_run.parent.iterdir() if ".partial-" in p.name]


def test_report_has_every_variant_measured_in_one_run(ptq_run):
    report = json.loads((ptq_run / "report.json").read_text())
    labels = [v["label"] for v in report["variants"]]
    bf16_here = host_cpu().default_precision == "bf16"  # faked both ways in tests/test_compare.py
    assert labels == ["PyTorch FP32", "OV FP32", *(["OV BF16"] if bf16_here else []), "OV INT8"]
    assert report["schema_version"] == 3 and report["rounds"] == 3 and report["reference"] == "OV FP32"
    for v in report["variants"]:
        assert v["metric"]["name"] == "accuracy" and v["metric"]["samples"] == 24
        rounds = v["throughput"]["rounds"]
        assert len(rounds) == 3 and all(r["count"] > 0 and r["throughput_fps"] > 0 for r in rounds)
        assert Path(v["path"]).exists()
    ran = {v["label"]: v["inference_precision"] for v in report["variants"]}
    assert ran["OV FP32"] == "f32" and ran["PyTorch FP32"] == "f32"
    assert ran["OV INT8"] == host_cpu().default_precision
    if bf16_here:
        assert ran["OV BF16"] == "bf16"


def test_ptq_serves_the_real_inputs_and_records_the_shape_policy_in_each_model(ptq_run):
    from ovrecipes.measure.deployment import deployment_policy

    report = json.loads((ptq_run / "report.json").read_text())
    policies = report["workload"]["policies"]
    assert policies == ["dynamic", "static:16", "buckets:2,4,6,8,10,12,14,16"]
    assert report["workload"]["unit"] == "sentences" and report["workload"]["items"] > 24
    served = {v["label"]: v["chosen_policy"] for v in report["variants"]}
    assert served["PyTorch FP32"] == {"one-at-a-time": "dynamic", "concurrent": "dynamic"}  # no IR: its own shape
    assert set(served["OV INT8"]) == {"one-at-a-time", "concurrent"} and set(served["OV INT8"].values()) <= set(policies)
    assert set(report["workload"]["recommendation"]) == {"one-at-a-time", "concurrent"}
    int8 = json.loads((ptq_run / "deployment.json").read_text())["variants"]
    fp32 = json.loads((ptq_run / "fp32" / "deployment.json").read_text())["variants"]
    assert list(int8) == ["OV INT8"] and "OV FP32" in fp32 and fp32["OV FP32"]["precision"] == "f32"
    assert int8["OV INT8"]["shape_policy"] == served["OV INT8"]
    assert str(deployment_policy(ptq_run, "concurrent")) == served["OV INT8"]["concurrent"]
    pads = {"input_ids": 0, "attention_mask": 0, "token_type_ids": 0}  # the MiniLM tokenizer's [PAD] is 0
    assert int8["OV INT8"]["inputs"] == {"pad_values": pads, "max_length": 16}
    assert int8["OV INT8"]["cpu_class"] == host_cpu().cpu_class

def test_the_run_names_the_call_that_serves_each_recommended_variant_as_measured(ptq_run):
    from ovrecipes.report.writer import read_report
    from ovrecipes.runs.common import deploy_hints

    report = read_report(ptq_run)
    served = [h for h in report.highlights if h.startswith("Serve the")]
    assert served == deploy_hints(report, {"OV INT8", "OV FP32", "OV BF16"})  # what the run itself wrote
    rec = report.workload.recommendation
    rec["one-at-a-time"].choice, rec["concurrent"].choice = "OV INT8", "OV FP32"
    fp32 = "" if len([v for v in report.variants if v.path.endswith("fp32")]) == 1 else ', label="OV FP32"'
    assert deploy_hints(report, {"OV INT8", "OV FP32"}) == [
        f'Serve the one at a time choice as measured: ovrecipes.deploy("{ptq_run}", mode="one-at-a-time")',
        f'Serve the concurrent choice as measured: ovrecipes.deploy("{ptq_run / "fp32"}", mode="concurrent"{fp32})']
    rec["concurrent"].choice = "PyTorch FP32"  # nothing recorded to deploy
    assert deploy_hints(report, {"OV INT8", "OV FP32"}) == [
        f'Serve the one at a time choice as measured: ovrecipes.deploy("{ptq_run}", mode="one-at-a-time")']
    assert deploy_hints(report, set()) == []


def test_ignored_pattern_from_cli_reaches_the_model(ptq_run):
    fp32 = ov.Core().read_model(ptq_run / "fp32" / "openvino_model.xml")
    int8 = ov.Core().read_model(ptq_run / "openvino_model.xml")
    assert ir.count_ops(int8, "FakeQuantize") > 0
    pooler_matmuls = [n for n, t in ir.op_index(fp32) if t == "MatMul" and re.match(POOLER, n)]
    assert len(pooler_matmuls) == 1
    assert not [n for n, _ in ir.quantized_ops(int8) if re.match(POOLER, n)]


def test_recipe_yaml_is_resolved_and_reusable(ptq_run, tiny_bert_dir, tiny_csv, tmp_path):
    recipe = yaml.safe_load((ptq_run / "recipe.yaml").read_text())
    assert recipe["overflow_fix"] in ("enable", "disable")  # 'auto' resolved
    assert recipe["ignored_scope"]["patterns"] == [POOLER]
    out = tmp_path / "again"
    args = _ptq_unmeasured(tiny_bert_dir, tiny_csv, out, "--config", str(ptq_run / "recipe.yaml"))
    assert main(args) == 0
    assert yaml.safe_load((out / "recipe.yaml").read_text()) == recipe


def test_existing_output_is_not_overwritten(ptq_run, tiny_bert_dir, tiny_csv, capsys):
    before = (ptq_run / "report.json").read_text()
    assert main(_ptq_args(tiny_bert_dir, tiny_csv, ptq_run)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ovrecipes: error:") and "--overwrite" in err and len(err.splitlines()) == 1
    assert (ptq_run / "report.json").read_text() == before


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--ignored-name", "no_such_node_anywhere"], "ignored name 'no_such_node_anywhere' matches nothing"),
        (["--ignored-type", "Matmul"], "closest: MatMul"),
        (["--sq-alpha", "1.7"], "alpha must be in [0, 1], 'off' or 'auto': got 1.7"),
        (["--max-drop", "-1"], "accuracy_control: max_drop must be 0 or more: got -1"),
        (["--max-drop", "nan"], "accuracy_control: max_drop must be 0 or more: got nan"),
        (["--max-drop", "2", "--drop-type", "relative"], "a relative max_drop is a fraction of the FP32 metric"),
        (["--accuracy-budget", "-1"], "argument --accuracy-budget: expected a number of 0 or more: got '-1'"),
        (["--time", "nan"], "argument --time: expected a positive number: got 'nan'"),
        (["--sq-alpha", "encoder.attention=0.5"], "must be matmul or convolution"),
        (["--max-length", "129"], "--max-length 129 is longer than model"),  # tiny: 128 positions, tokenizer 512
        (["--split", "test"], "--split 'test' has no effect with --dataset"),
        (["--alpha-grid", "0.5,0.8"], "--alpha-grid '0.5,0.8' is searched only for an 'auto' SmoothQuant alpha"),
        (["--drop-type", "relative"], "--drop-type relative needs --max-drop"),
        (["--auto-scope-max-ops", "3"], "--auto-scope-max-ops 3 limits the 'auto' ignored-scope search"),
        (["--sq-alpha", "encoder.matmul=0.5"],
         "smooth_quant names submodel 'encoder', which the bert family does not have: use one of model or 'default'"),
        (["--dataset-config", "sst2"], "(a local file): it applies only to a hub dataset"),
    ],
)
def test_bad_input_is_one_clear_line_and_leaves_nothing(tiny_bert_dir, tiny_csv, tmp_path, capsys, extra, message):
    out = tmp_path / "never"
    try:
        code = main(_ptq_args(tiny_bert_dir, tiny_csv, out, *extra))
    except SystemExit as exit:  # argparse rejects a bad flag value itself
        code = exit.code
    assert code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.match(r"ovrecipes( bert ptq)?: error:", last) and message in last, last
    assert not out.exists()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("skip, extra, message", [
    (["--no-eval"], ["--eval-samples", "10"],
     "--eval-samples 10 has no effect with --no-eval: it limits the test split of the metric"),
    (["--no-bench"], ["--time", "60"], "--time 60 has no effect with --no-bench: it sets the throughput/latency runs"),
    (["--no-bench"], ["--hint", "latency"], "--hint latency has no effect with --no-bench"),
    (["--no-bench"], ["--streams", "2"], "--streams 2 has no effect with --no-bench"),
    (["--no-eval"], ["--accuracy-budget", "0.5"],
     "--accuracy-budget 0.5 has no effect with --no-eval: the recommendation weighs the metric against the throughput"),
    (["--no-eval", "--no-bench"], ["--inference-precision", "f32"],
     "--inference-precision f32 has no effect with --no-eval --no-bench: nothing is measured"),
])
def test_measurement_flags_of_a_skipped_part_are_refused(tiny_bert_dir, tiny_csv, tmp_path, capsys, skip, extra,
                                                         message):
    out = tmp_path / "never"
    args = ["bert", "ptq", "--model", str(tiny_bert_dir), "--dataset", str(tiny_csv), "--max-length", "16",
            "--subset-size", "16", "--out", str(out), *skip, *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"ovrecipes: error: {message}"), err
    assert not list(tmp_path.iterdir())


def test_column_flags_with_the_embedded_set_are_refused_before_any_model_loads(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["bert", "ptq", "--model", str(tmp_path / "no-model"), "--text-column", "sentence",
                 "--out", str(out)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == ("ovrecipes: error: --text-column 'sentence' has no effect with --dataset embedded "
                    "(the embedded data set): it applies only to a local file or a hub dataset")
    assert not out.exists()


@pytest.mark.parametrize("rows, message", [
    ([{"text": "fine", "label": 1}] * 5 + [{"label": 1}], "row 6 has no 'text'; every row needs 'text' and 'label'"),
    ([{"text": "fine", "label": 1}, {"text": "meh", "label": 0.7}], "row 2: label 0.7 is not an integer class id"),
    ([{"text": "fine", "label": True}], "row 1: label True is not an integer class id"),
    ([{"text": "fine", "label": i} for i in (0, 1, 5, 7)] * 4, "labels 5, 7 are outside the 2 classes of model"),
    ([{"text": "fine", "label": -1}] * 8, "labels -1 are outside the 2 classes of model"),
])
def test_bad_dataset_rows_fail_in_one_line_before_the_export(rows, message, tiny_bert_dir, tmp_path, capsys,
                                                             monkeypatch):
    from ovrecipes.pipelines.bert import BertPipeline

    data = tmp_path / "rows.json"
    data.write_text(json.dumps(rows))
    monkeypatch.setattr(BertPipeline, "export", lambda *a, **k: pytest.fail("exported before the data was checked"))
    assert main(_ptq_args(tiny_bert_dir, data, tmp_path / "o")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "o").exists()


def test_compare_checks_max_length_against_each_compared_model(ptq_run, tmp_path, capsys):
    # the --model default (the embedded MiniLM, 512 tokens) was checked instead: the tiny IR takes 128, and the
    # run died later inside the CPU plugin with an Eltwise shape message
    assert main(["compare", "bert", str(ptq_run), "--max-length", "200", "--time", "0.2", "--eval-samples", "8"]) == 2
    assert capsys.readouterr().err.strip() == (f"ovrecipes: error: --max-length 200 is longer than model {ptq_run} "
                                              "takes: at most 128 tokens")


def test_a_subset_size_above_the_calibration_set_is_recorded_as_what_ran(tiny_bert_dir, tiny_csv, tmp_path, capsys):
    out = tmp_path / "big-subset"
    assert main([*_ptq_unmeasured(tiny_bert_dir, tiny_csv, out), "--subset-size", "100000"]) == 0
    calibration = json.loads((out / "report.json").read_text())["pipeline"]["splits"]["calibration"]
    assert calibration < 100000
    assert yaml.safe_load((out / "recipe.yaml").read_text())["subset_size"] == calibration  # was 100000
    printed = capsys.readouterr().out
    assert (f"subset_size 100000: submodel model has {calibration} calibration samples, so NNCF collects "
            f"statistics on {calibration}") in printed
    # --no-eval --no-bench: no plot, and the closing line does not claim one
    assert f"Wrote {out} (INT8 model, fp32/, recipe.yaml, report.md, report.json)" in printed
    assert not (out / "accuracy_vs_throughput.png").exists()
    assert f"statistics on {calibration} samples" in (out / "report.md").read_text()


def test_missing_name_allowed_without_validation(tiny_bert_dir, tiny_csv, tmp_path):
    out = tmp_path / "relaxed"
    args = _ptq_unmeasured(tiny_bert_dir, tiny_csv, out, "--ignored-name", "no_such_node", "--ignored-scope-validate",
                           "false")
    assert main(args) == 0
    assert (out / "openvino_model.xml").exists()


def test_bad_dataset_and_model_paths(tiny_bert_dir, tmp_path, capsys):
    assert main(_ptq_args(tiny_bert_dir, tmp_path / "missing.csv", tmp_path / "o")) == 2
    assert "missing.csv does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence,label\nfine,1\n")
    assert main(_ptq_args(tiny_bert_dir, bad, tmp_path / "o")) == 2
    assert "has no column 'text'" in capsys.readouterr().err
    assert main(_ptq_args(tmp_path, bad, tmp_path / "o")) == 2
    assert "has no config.json" in capsys.readouterr().err


def test_compare_existing_directories(ptq_run, tiny_bert_dir, tiny_csv, tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare", "bert", str(ptq_run / "fp32"), str(ptq_run), "--labels", "fp32", "int8",
            "--model", str(tiny_bert_dir), "--dataset", str(tiny_csv), "--max-length", "16",
            "--eval-samples", "16", "--time", "0.3", "--out", str(out)]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    bf16_here = host_cpu().default_precision == "bf16"
    assert [v["label"] for v in report["variants"]] == ["fp32", *(["fp32 (bf16)"] if bf16_here else []), "int8"]
    assert (out / "report.md").exists() and (out / "accuracy_vs_throughput.png").exists()

    # earlier reports side by side, nothing rerun: the PTQ run's variants and this comparison's
    merged = tmp_path / "merged"
    assert main(["compare", "--from-reports", str(ptq_run), str(out / "report.json"), "--out", str(merged)]) == 0
    both = json.loads((merged / "report.json").read_text())
    first = json.loads((ptq_run / "report.json").read_text())
    labels = [v["label"] for v in both["variants"]]
    assert labels[:len(first["variants"])] == [v["label"] for v in first["variants"]]
    assert labels[len(first["variants"]):] == [v["label"] for v in report["variants"]]
    assert [v["metric"] for v in both["variants"][:len(first["variants"])]] == [v["metric"] for v in first["variants"]]
    assert {v["source"] for v in both["variants"]} == {str(ptq_run), str(out / "report.json")}
    assert both["reference"] == "OV FP32" and "separate runs" in both["warnings"][0]
    assert main(["compare", "--from-reports", str(tmp_path / "nowhere")]) == 2
    (tmp_path / "list.json").write_text("[]")
    capsys.readouterr()
    assert main(["compare", "--from-reports", str(tmp_path / "list.json")]) == 2
    assert "list.json is not a report.json: it holds a JSON list, not an object" in capsys.readouterr().err
    empty = json.loads((ptq_run / "report.json").read_text())
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "report.json").write_text(json.dumps({**empty, "variants": [], "reference": None}))
    assert main(["compare", "--from-reports", str(tmp_path / "empty")]) == 2
    assert f"{tmp_path / 'empty'} holds no measured variants" in capsys.readouterr().err
    # beside a good report it was dropped silently; the same report twice showed every row twice
    assert main(["compare", "--from-reports", str(ptq_run), str(tmp_path / "empty")]) == 2
    assert f"{tmp_path / 'empty'} holds no measured variants" in capsys.readouterr().err
    assert main(["compare", "--from-reports", str(ptq_run), str(ptq_run / "report.json")]) == 2
    assert capsys.readouterr().err.strip() == f"ovrecipes: error: report {ptq_run} is given twice"


def test_compare_refuses_a_directory_without_a_model_before_measuring(ptq_run, tmp_path, capsys, monkeypatch):
    from ovrecipes.runs import compare

    monkeypatch.setattr(compare, "side_by_side", lambda *a, **k: pytest.fail("measured before the check"))
    (tmp_path / "empty").mkdir()
    assert main(["compare", "bert", str(ptq_run), str(tmp_path / "empty")]) == 2
    assert capsys.readouterr().err.strip() == (f"ovrecipes: error: model directory {tmp_path / 'empty'} holds no model "
                                               "(no OpenVINO IR and no config.json)")
    assert main(["compare", "bert", str(ptq_run), "--overwrite"]) == 2
    assert capsys.readouterr().err.strip() == "ovrecipes: error: --overwrite has no effect without --out: nothing is written"


def test_bench_output_parses(ptq_run, tmp_path, capsys):
    out_json = tmp_path / "bench.json"
    assert main(["bench", str(ptq_run), "--shape", "[1,16]", "--time", "0.5", "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    assert "Throughput" in text
    result = json.loads(out_json.read_text())
    assert result["count"] > 0 and result["throughput_fps"] > 0
    assert result["shapes"]["input_ids"] == [1, 16]
    assert result["latency_ms"]["min"] <= result["latency_ms"]["median"] <= result["latency_ms"]["max"]


def test_bench_keeps_the_config_files_hint_unless_hint_is_given(ptq_run, tmp_path, capsys):
    cfg = tmp_path / "latency.json"
    cfg.write_text(json.dumps({"CPU": {"PERFORMANCE_HINT": "LATENCY"}}))
    runs = {"file": [], "explicit": ["--hint", "throughput"]}
    for name, extra in runs.items():
        out_json = tmp_path / f"{name}.json"
        assert main(["bench", str(ptq_run), "--shape", "[1,16]", "--time", "0.3", "--config-file", str(cfg),
                     "--json", str(out_json), *extra]) == 0
        runs[name] = json.loads(out_json.read_text())
    # the file's LATENCY is what runs (one synchronous request), not the throughput default
    assert (runs["file"]["hint"], runs["file"]["nireq"]) == ("latency", 1)
    assert runs["explicit"]["hint"] == "throughput"
    capsys.readouterr()
    cfg.write_text(json.dumps({"CPU": {"PERFORMANCE_HINT": "CUMULATIVE_THROUGHPUT"}}))
    assert main(["bench", str(ptq_run), "--shape", "[1,16]", "--time", "0.3", "--config-file", str(cfg)]) == 2
    assert "PERFORMANCE_HINT 'CUMULATIVE_THROUGHPUT' in the config file is not supported" in capsys.readouterr().err


def test_cpu_command_json(capsys):
    assert main(["cpu", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["overflow_fix"] == ("disable" if info["vnni"] else "enable")
    # the flags-derived default agrees with what this machine's CPU plugin reports
    assert info["default_precision"] == info["plugin_default_precision"]


@pytest.mark.parametrize("target, klass, precision, overflow, sparse", [
    ("avx2", "AVX2", "f32", "enable", False),
    ("vnni-bf16", "AVX-512 VNNI+BF16", "bf16", "disable", False),
    ("amx", "AMX", "bf16", "disable", True)])
def test_cpu_command_states_each_class(capsys, target, klass, precision, overflow, sparse):
    assert main(["cpu", "--target-cpu", target]) == 0
    text = capsys.readouterr().out
    assert f"class:               {klass}" in text and f"default precision:   {precision}" in text
    assert main(["cpu", "--target-cpu", target, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["class"], info["default_precision"], info["overflow_fix"], info["sparse_kernels"]) == (
        klass, precision, overflow, sparse)
    assert ("no AVX512_BF16 or AMX" in info["default_precision_reason"]) == (precision == "f32")
    assert ("no VNNI" in info["overflow_fix_reason"]) == (overflow == "enable")
    assert ("has no AMX" in info["sparse_kernels_reason"]) == (not sparse)


def test_bench_sparse_rate_is_passed_or_rejected(ptq_run, capsys):
    assert main(["bench", str(ptq_run), "--shape", "[1,16]", "--time", "0.3", "--sparse-rate", "0.5"]) == 0
    assert "Throughput" in capsys.readouterr().out
    assert main(["bench", str(ptq_run), "--shape", "[1,16]", "--sparse-rate", "2"]) == 2
    assert "--sparse-rate must be in [0, 1]: got 2.0" in capsys.readouterr().err


@pytest.mark.parametrize("flags, rate, noted", [({"avx512f", "avx512_vnni"}, "0.5", True),
                                                ({"avx512f", "avx512_vnni", "amx_tile", "amx_int8"}, "0.5", False),
                                                ({"avx2"}, "1", False)])
def test_bench_says_when_a_sparse_rate_cannot_act_on_this_cpu(ptq_run, tmp_path, capsys, monkeypatch, flags, rate,
                                                              noted):
    from ovrecipes.core import cpu

    monkeypatch.setattr(cpu, "host_cpu", lambda: cpu.CpuInfo("fake CPU", frozenset(flags)))
    out_json = tmp_path / "bench.json"
    assert main(["bench", str(ptq_run), "--shape", "[1,16]", "--time", "0.3", "--sparse-rate", rate,
                 "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    notes = json.loads(out_json.read_text()).get("notes", [])
    assert ("fake CPU has no AMX" in text) == noted and ("This throughput is a dense figure." in text) == noted
    assert len(notes) == int(noted)


def test_quiet_keeps_the_results_and_drops_the_progress_lines(ptq_run, tiny_bert_dir, tiny_csv, tmp_path, capsys):
    import logging

    from ovrecipes.cli.logs import LOGGER

    args = ["compare", "bert", str(ptq_run), "--model", str(tiny_bert_dir), "--dataset", str(tiny_csv),
            "--max-length", "16", "--eval-samples", "8", "--time", "0.2", "--rounds", "2", "--no-workload"]
    try:
        assert main([*args, "--out", str(tmp_path / "loud")]) == 0
        loud = capsys.readouterr().out.splitlines()
        assert main(["-q", *args, "--out", str(tmp_path / "quiet")]) == 0
        quiet = capsys.readouterr().out.splitlines()
    finally:
        logging.getLogger(LOGGER).setLevel(logging.INFO)
    results = [line for line in loud if line.startswith(("variant ", "Recommended:"))]
    heads = [line.split("(")[0] for line in quiet]
    assert len(results) == 2 and all(line.split("(")[0] in heads for line in results)  # the results stay (new figures)
    progress = [line for line in loud if "round 1/2" in line]
    assert progress and not [line for line in quiet if "round 1/2" in line]  # progress lines go
    with pytest.raises(SystemExit):  # one or the other
        main(["-q", "-v", "cpu"])


def test_demo_prepares_the_embedded_model_on_a_cold_cache_after_checking_the_output(monkeypatch, tmp_path, capsys,
                                                                                    tiny_bert_dir):
    """A fresh machine has no fine-tuned default: the demo builds it (the family commands' order: the output is
    checked first, so an existing directory fails before minutes of fine-tuning)."""
    from ovrecipes.cli import demo
    from ovrecipes.pipelines import bert

    built: list[bool] = []
    monkeypatch.setattr(bert, "built_embedded_model_dir", lambda: None)
    monkeypatch.setattr(bert, "embedded_model_dir", lambda progress=True: built.append(True) or tiny_bert_dir)
    seen: dict = {}
    monkeypatch.setattr(demo, "run_ptq", lambda pipeline, *a, **k: seen.setdefault("model", pipeline.model_path))

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    assert main(["demo", "--out", str(taken)]) == 2
    assert "already exists" in capsys.readouterr().err and not built

    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    assert built == [True] and seen["model"] == tiny_bert_dir


def test_compare_without_model_reads_the_data_through_the_first_directory_and_refuses_another_tokenizer(
        ptq_run, tiny_csv, tmp_path, capsys, monkeypatch):
    """No --model: the compared models' own tokenizer reads the data and nothing is built (a fresh machine
    fine-tuned the embedded default just to compare two directories, and a user's models were tokenized
    with MiniLM's vocabulary); a directory whose tokenizer differs is refused before anything is measured."""
    import shutil

    from transformers import AutoTokenizer

    from ovrecipes.pipelines import bert

    monkeypatch.setattr(bert, "built_embedded_model_dir", lambda: None)  # a cold cache
    monkeypatch.setattr(bert, "embedded_model_dir", lambda progress=True: pytest.fail("compare built the default"))
    out = tmp_path / "cmp"
    common = ["--dataset", str(tiny_csv), "--max-length", "16", "--eval-samples", "16", "--time", "0.3", "--no-workload"]
    assert main(["compare", "bert", str(ptq_run / "fp32"), str(ptq_run), *common, "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert str(ptq_run / "fp32") in json.dumps(report["pipeline"])  # the source the report names

    other = tmp_path / "other-vocab"
    shutil.copytree(ptq_run, other)
    tokenizer = AutoTokenizer.from_pretrained(other)
    tokenizer.add_tokens(["zzqx"])
    tokenizer.save_pretrained(other)
    capsys.readouterr()
    assert main(["compare", "bert", str(ptq_run), str(other), *common]) == 2
    assert capsys.readouterr().err.strip() == (
        f"ovrecipes: error: model {other} has another tokenizer than the one reading the data (model {ptq_run}): "
        f"compare models that share a tokenizer, or pass --model {other}")
