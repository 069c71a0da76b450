"""The sparse weight decompression recipe: exact stats on planted zeros, eligibility, the rate, the
runtime config (benchmark_app and compile_model accept it), the kernel verdict for AMX and non-AMX
CPUs, magnitude pruning, the sweep, and one-line CLI errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from ovrecipes.cli.main import main
from ovrecipes.core.cpu import CpuInfo, host_cpu, sparse_kernel_support
from ovrecipes.measure.sweep import grid_points
from ovrecipes.recipes import sparse, sparse_kernels, sparse_prune

NO_AMX = CpuInfo("fake AVX2", frozenset({"avx2"}))
AMX = CpuInfo("fake SPR", frozenset({"avx2", "avx512f", "avx512_vnni", "amx_tile", "amx_int8", "amx_bf16"}))
XML = "openvino_model.xml"


# -- a small IR with known zeros -------------------------------------------------------------------
def _planted(shape, fraction, rng, dtype=np.int8) -> tuple[np.ndarray, int]:
    """Nonzero values with exactly round(fraction * n) zeros at random places."""
    n = int(np.prod(shape))
    zeros = int(round(fraction * n))
    if dtype == np.int8:
        values = (rng.integers(1, 100, n) * rng.choice([-1, 1], n)).astype(np.int8)
    else:
        values = (rng.uniform(0.1, 1.0, n) * rng.choice([-1, 1], n)).astype(dtype)
    values[rng.permutation(n)[:zeros]] = 0
    return values.reshape(shape), zeros


def _fq(x):
    lo, hi = ops.constant(np.float32(-4.0)), ops.constant(np.float32(4.0))
    return ops.fake_quantize(x, lo, hi, lo, hi, 256)


def _scale(rows: int) -> np.ndarray:
    return np.linspace(0.005, 0.02, rows, dtype=np.float32).reshape(rows, 1)  # per output channel


def _int8_weight(q: np.ndarray, zero_point: int | None = None, reshape: bool = False, scale_axis: int = 0):
    """NNCF's layout: i8 Constant -> Convert -> (Subtract) -> Multiply -> (Reshape)."""
    w = ops.convert(ops.constant(q), ov.Type.f32)
    if zero_point is not None:
        w = ops.subtract(w, ops.convert(ops.constant(np.full((q.shape[0], 1), zero_point, np.int8)), ov.Type.f32))
    scale = _scale(q.shape[0]) if scale_axis == 0 else _scale(q.shape[1]).reshape(1, -1)
    w = ops.multiply(w, ops.constant(scale))
    if reshape:
        w = ops.reshape(w, ops.constant(np.array(q.shape, np.int64)), False)
    return w


PLANTED = {  # name: (shape of the stored constant, dtype, zero fraction, activations int8, eligible)
    "A": ([128, 128], "i8", 0.75, True, True),
    "B": ([128, 64], "i8", 0.5, True, True),
    "F": ([64, 64], "i8", 0.1, False, False),  # weight-only int8: float activations
    "D": ([64, 64], "f32", 0.25, True, False),  # float weights
    "C": ([48, 64], "i8", 0.3, True, False),  # 48 is not a multiple of 64
}


def build_planted(zero_point_b: int = 0) -> tuple[ov.Model, dict[str, int]]:
    rng = np.random.default_rng(0)
    x = ops.parameter([1, 128], ov.Type.f32, name="x")
    qa, za = _planted((128, 128), 0.75, rng)
    qb, zb = _planted((128, 64), 0.5, rng)  # [K, N]: transpose_b=False
    qf, zf = _planted((64, 64), 0.1, rng)
    wd, zd = _planted((64, 64), 0.25, rng, np.float32)
    qc, zc = _planted((48, 64), 0.3, rng)
    a = ops.matmul(_fq(x), _int8_weight(qa, reshape=True), False, True)
    b = ops.matmul(_fq(a), _int8_weight(qb, zero_point=zero_point_b, scale_axis=1), False, False)
    f = ops.matmul(b, _int8_weight(qf), False, True)
    d = ops.matmul(_fq(f), ops.constant(wd), False, True)
    c = ops.matmul(_fq(d), _int8_weight(qc), False, True)
    for node, name in ((a, "A"), (b, "B"), (f, "F"), (d, "D"), (c, "C")):
        node.set_friendly_name(name)
    return ov.Model([c], [x], "planted"), {"A": za, "B": zb, "F": zf, "D": zd, "C": zc}


@pytest.fixture(scope="module")
def planted_ir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("planted")
    ov.save_model(build_planted()[0], str(out / XML), compress_to_fp16=False)
    return out


@pytest.fixture(scope="module")
def tiny64(tmp_path_factory, tiny_csv):
    """A 1-layer BERT whose MatMuls are 64-multiples (64x64, 128x64, 64x128), exported to an FP32 IR."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from ovrecipes.pipelines.bert import BertPipeline
    from ovrecipes.pipelines.bert_embedded import embedded_base_dir
    from ovrecipes.pipelines.text_data import TextDataSpec

    torch.manual_seed(0)
    src = tmp_path_factory.mktemp("tiny64-pt")
    tokenizer = AutoTokenizer.from_pretrained(embedded_base_dir())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=128, num_labels=2)
    BertForSequenceClassification(config).eval().save_pretrained(src)
    tokenizer.save_pretrained(src)
    pipeline = BertPipeline(src, TextDataSpec(source=str(tiny_csv)), max_length=16, progress=False)
    return pipeline, pipeline.export(tmp_path_factory.mktemp("tiny64-ov"))


@pytest.fixture(scope="module")
def tiny64_ir(tiny64) -> Path:
    return tiny64[1]


@pytest.fixture(scope="module")
def tiny64_int8(tiny64, tmp_path_factory) -> Path:
    from ovrecipes.recipes import ptq

    pipeline, fp32 = tiny64
    out = tmp_path_factory.mktemp("tiny64-int8")
    ptq.quantize(pipeline, fp32, out, ptq.PTQConfig(subset_size=16))
    return out


def _err_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("ovrecipes: error:"), err
    return err


# -- statistics and eligibility --------------------------------------------------------------------
def test_stats_are_exact_on_planted_zeros():
    model, zeros = build_planted()
    layers = {entry.name: entry for entry in sparse.weight_stats(model)}
    assert list(layers) == list(PLANTED)
    for name, (shape, dtype, fraction, act, eligible) in PLANTED.items():
        info = layers[name]
        assert info.shape == shape and info.dtype == dtype, name
        assert info.zeros == zeros[name] and info.elements == int(np.prod(shape)), name
        assert info.zero_fraction == pytest.approx(fraction, abs=1e-3), name
        assert info.nbytes == info.elements * (1 if dtype == "i8" else 4)
        assert (info.activations == "int8") is act and info.eligible is eligible, (name, info.reasons)
    assert layers["A"].chain == "MatMul <- Reshape <- Multiply <- Convert <- Constant"
    assert layers["B"].chain == "MatMul <- Multiply <- Subtract <- Convert <- Constant"
    assert layers["D"].chain == "MatMul <- Constant"
    summary = sparse.summarize(list(layers.values()))
    assert summary["eligible_layers"] == 2 and summary["eligible_bytes"] == 128 * 128 + 128 * 64
    assert summary["zero_fraction_eligible"] == pytest.approx((zeros["A"] + zeros["B"]) / (128 * 128 + 128 * 64))
    assert summary["auto_rate"] == 0.75 and summary["layers_sparse_at_rate"] == 1


@pytest.mark.parametrize("shape,dtype,act,fragment", [
    ([64, 128], "i8", True, None),
    ([384, 1536], "i8", True, None),
    ([48, 64], "i8", True, "multiples of 64"),
    ([64, 96], "i8", True, "multiples of 64"),
    ([64, 64], "f32", True, "f32 weights"),
    ([64, 64], "u8", True, "u8 weights"),
    ([2, 64, 64], "i8", True, "3-D"),
    ([64, 64], "i8", False, "activations"),
])
def test_eligibility_rules(shape, dtype, act, fragment):
    reasons = sparse.eligibility(shape, dtype, act)
    if fragment is None:
        assert reasons == []
    else:
        assert any(fragment in r for r in reasons), reasons


def _info(name: str, fraction: float, nbytes: int, eligible: bool = True) -> sparse.WeightInfo:
    n = nbytes
    return sparse.WeightInfo(name, [n // 64, 64], "i8", n, int(round(fraction * n)), nbytes, "MatMul <- Constant",
                             "int8", [] if eligible else ["not eligible"])


def test_auto_rate_is_the_byte_weighted_quantile():
    layers = [_info("a", 0.9, 6400), _info("b", 0.6, 19200), _info("c", 0.3, 6400), _info("x", 0.99, 64000, False)]
    # a holds 20% of eligible bytes, a+b 80%: the largest rate keeping >= 50% sparse is b's 0.6
    assert sparse.auto_rate(layers) == 0.6
    assert sparse.auto_rate(layers, coverage=0.2) == 0.9
    assert sparse.auto_rate(layers, coverage=1.0) == 0.3
    assert sparse.auto_rate([_info("x", 0.9, 640, False)]) is None
    assert sparse.auto_rate([_info("z", 1.0, 640)]) == 0.99  # 1 would mean off
    odd = sparse.WeightInfo("o", [64, 64], "i8", 4096, 1228, 4096, "", "int8")  # 0.29980...
    assert sparse.auto_rate([odd]) == 0.29 and sparse.reaches(1228, 4096, 0.29)


def test_rate_parsing_and_the_plugin_comparison():
    assert sparse.parse_rate("auto") == "auto" and sparse.parse_rate("0.8") == 0.8 and sparse.parse_rate(1) == 1.0
    for bad in ("1.5", "-0.1", "x", "nan", ""):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            sparse.parse_rate(bad)
    with pytest.raises(ValueError):
        sparse.parse_rate("auto", allow_auto=False)
    assert sparse.reaches(80, 100, 0.8) and not sparse.reaches(79, 100, 0.8)
    assert not sparse.reaches(100, 100, 1.0)  # rate 1 is off even for an all-zero weight
    assert sparse.reaches(0, 100, 0.0)


def test_stats_cli_writes_json_markdown_and_histogram(planted_ir, tmp_path, capsys):
    out = tmp_path / "stats"
    assert main(["sparse", "stats", str(planted_ir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "auto rate" in printed and "multiples of 64" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["kind"] == "sparse-stats" and report["schema_version"] == 3
    data = report["data"]
    assert [entry["name"] for entry in data["layers"]] == list(PLANTED)
    assert data["summary"]["auto_rate"] == 0.75
    assert (out / "zero_fraction.png").stat().st_size > 1000
    assert "| A | 128x128 | i8 |" in (out / "report.md").read_text()


# -- runtime config --------------------------------------------------------------------------------
def test_property_name_matches_openvino():
    import openvino.properties.intel_cpu as intel_cpu

    assert sparse.RATE_KEY == intel_cpu.sparse_weights_decompression_rate()


def test_config_is_accepted_by_benchmark_app_bench_and_compile_model(planted_ir, tmp_path, capsys):
    from ovrecipes.core.openvino import load_config_file

    out = tmp_path / "cfg"
    assert main(["sparse", "config", str(planted_ir), "--streams", "1", "--threads", "1", "--out", str(out)]) == 0
    cfg = out / "sparse_config.json"
    assert json.loads(cfg.read_text()) == {"CPU": {sparse.RATE_KEY: "0.75", "NUM_STREAMS": "1",
                                                   "INFERENCE_NUM_THREADS": "1"}}
    assert "benchmark_app -m" in capsys.readouterr().out

    benchmark_app = Path(sys.executable).with_name("benchmark_app")
    run = subprocess.run([str(benchmark_app), "-m", str(planted_ir / XML), "-d", "CPU", "-load_config", str(cfg),
                          "-t", "1"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert f"{sparse.RATE_KEY}: 0.75" in run.stdout

    compiled = ov.Core().compile_model(str(planted_ir / XML), "CPU", load_config_file(cfg))
    assert compiled.get_property(sparse.RATE_KEY) == pytest.approx(0.75)
    assert compiled.get_property("NUM_STREAMS") == 1

    snippet = subprocess.run([sys.executable, str(out / "compile_model.py")], capture_output=True, text=True, timeout=120)
    assert snippet.returncode == 0 and "= 0.75" in snippet.stdout, snippet.stderr[-2000:]
    assert main(["bench", str(planted_ir), "--config-file", str(cfg), "--time", "0.2"]) == 0


# -- did the sparse kernel run? --------------------------------------------------------------------
def test_check_on_this_cpu_reports_the_truth(planted_ir, tmp_path, capsys):
    report_path = tmp_path / "check.json"
    assert main(["sparse", "check", str(planted_ir), "--rate", "0.5", "--json", str(report_path)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(report_path.read_text())
    rows = {r["name"]: r for r in report["layers"]}
    assert all(r["exec_type"] for r in rows.values())  # every MatMul was found in the compiled graph
    # weight-only int8 runs float activations, in the precision the compiled model reports (bf16 by
    # default on AVX512_BF16/AMX CPUs, f32 elsewhere)
    assert report["inference_precision"] in ("f32", "bf16")
    assert rows["F"]["input_precisions"][0] == report["inference_precision"]
    assert rows["A"]["input_precisions"] == ["u8", "i8"]
    if host_cpu().has_amx:  # the AMX machines we deploy to
        assert rows["A"]["ran"] and rows["B"]["ran"] and not rows["C"]["ran"]
    else:
        assert not report["amx"] and report["layers_sparse"] == 0
        assert "no-op on this CPU" in report["headline"] and "no AMX" in report["headline"]
        assert "no-op on this CPU" in printed
        assert not any(r["ran"] for r in rows.values())
        assert "this CPU has no AMX" in rows["A"]["reason"]
        assert "sparse" not in rows["A"]["exec_type"].lower()


def test_check_finds_every_matmul_of_a_quantized_bert(tiny64_int8, tmp_path):
    """LPT renames quantized MatMuls ('.../DequantizationMultiply'); each must still be matched."""
    report_path = tmp_path / "check.json"
    assert main(["sparse", "check", str(tiny64_int8), "--rate", "0.01", "--shape", "[1,16]",
                 "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["eligible_layers"] == 7  # q, k, v, attention output, two FFN, pooler; not the 2x64 classifier
    assert all(r["exec_type"] for r in report["layers"]), [r["name"] for r in report["layers"] if not r["exec_type"]]
    assert all(r["input_precisions"][0] in ("u8", "i8") for r in report["layers"] if r["eligible"])
    assert report["layers_sparse"] == (report["layers_reaching_rate"] if host_cpu().has_amx else 0)


def _obs(exec_type: str, precisions=("u8", "i8")) -> sparse_kernels.KernelObservation:
    return sparse_kernels.KernelObservation("rt", "FullyConnected", exec_type, list(precisions))


def test_decision_logic_with_faked_amx_both_ways():
    layers = sparse.weight_stats(build_planted()[0])
    observed = {"A": _obs("brgemm_sparse_avx512_amx_I8"), "B": _obs("brgemm_avx512_amx_I8")}

    amx = {r["name"]: r for r in sparse_kernels.decide(layers, 0.5, AMX, observed)["layers"]}
    assert amx["A"]["expected"] and amx["A"]["ran"] and "sparse kernel ran" in amx["A"]["reason"]
    assert amx["B"]["expected"] and amx["B"]["ran"] is False and "but the plugin ran" in amx["B"]["reason"]
    assert not amx["C"]["expected"] and "multiples of 64" in amx["C"]["reason"]
    assert "not eligible" in amx["F"]["reason"] and "not eligible" in amx["D"]["reason"]
    headline = sparse_kernels.decide(layers, 0.5, AMX, observed)["headline"]
    assert headline.startswith("1 of 2 layers that reach rate 0.5 ran a sparse kernel")

    no_amx = sparse_kernels.decide(layers, 0.5, NO_AMX, {"A": _obs("jit_gemm_I8"), "B": _obs("jit_gemm_I8")})
    rows = {r["name"]: r for r in no_amx["layers"]}
    assert not no_amx["amx"] and not any(r["expected"] for r in rows.values())
    assert "no-op on this CPU" in no_amx["headline"] and "fake AVX2" in no_amx["headline"]
    assert "jit_gemm_I8" in no_amx["headline"] and "this CPU has no AMX" in rows["A"]["reason"]

    unobserved = {r["name"]: r for r in sparse_kernels.decide(layers, 0.5, AMX)["layers"]}
    assert unobserved["A"]["expected"] and unobserved["A"]["ran"] is None
    below = {r["name"]: r for r in sparse_kernels.decide(layers, 0.8, AMX)["layers"]}
    assert not below["A"]["expected"] and "below the rate 0.8" in below["A"]["reason"]
    assert "off" in sparse_kernels.decide(layers, 1.0, AMX)["headline"]
    f32_act = {r["name"]: r for r in sparse_kernels.decide(layers, 0.5, AMX, {"A": _obs("brgemm_avx512_amx_f32", ("f32", "i8"))})["layers"]}
    assert "f32 activations" in f32_act["A"]["reason"]


# -- pruning ---------------------------------------------------------------------------------------
def test_prune_reaches_target_by_magnitude_and_runs(tmp_path):
    model, _ = build_planted()
    before = {entry.name: entry for entry in sparse.weight_stats(model)}
    originals = {}
    for op in model.get_ordered_ops():
        if op.get_type_name() == "MatMul":
            chain = sparse.weight_chain(op)
            originals[op.get_friendly_name()] = (np.array(chain.constant.get_data()), chain)
    results = {r.name: r for r in sparse_prune.prune_model(model, 0.8)}
    assert results["C"].skipped and "multiples of 64" in results["C"].skipped
    for name in ("A", "B", "F", "D"):
        assert results[name].skipped is None and results[name].zeros_after / results[name].elements >= 0.8, name
    path = tmp_path / XML
    ov.save_model(model, str(path), compress_to_fp16=False)
    after = {entry.name: entry for entry in sparse.weight_stats(ov.Core().read_model(path))}
    for name in ("A", "B", "F", "D"):
        assert after[name].zero_fraction >= 0.8 and after[name].zero_fraction < 0.8 + 1 / after[name].elements + 1e-9
        assert after[name].dtype == before[name].dtype
    assert after["C"].zeros == before["C"].zeros
    # magnitude: every value set to zero was no larger (dequantized, per-channel scale) than every value kept
    for op in ov.Core().read_model(path).get_ordered_ops():
        if op.get_type_name() == "MatMul" and op.get_friendly_name() in ("A", "B"):
            values, chain = originals[op.get_friendly_name()]
            new = np.array(sparse.weight_chain(op).constant.get_data())
            mag = np.abs(values.astype(np.float32)) * np.abs(np.broadcast_to(chain.scale, values.shape))
            pruned = (new == 0) & (values != 0)
            assert pruned.any() and mag[pruned].max() <= mag[new != 0].min() * (1 + 1e-6)
            assert np.array_equal(new[new != 0], values[new != 0])
    compiled = ov.Core().compile_model(str(path), "CPU")
    result = compiled({"x": np.random.default_rng(1).standard_normal((1, 128)).astype(np.float32)})[0]
    assert result.shape == (1, 48) and np.isfinite(result).all()


def test_prune_skips_asymmetric_int8_weights():
    model, _ = build_planted(zero_point_b=3)
    results = {r.name: r for r in sparse_prune.prune_model(model, 0.8)}
    assert "asymmetric" in results["B"].skipped and results["B"].zeros_after == results["B"].zeros_before
    with pytest.raises(ValueError, match="zero fraction"):
        sparse_prune.prune_model(model, 1.0)


def test_prune_cli_with_family_reports_accuracy_and_loads_in_optimum(tiny64_ir, tiny_csv, tmp_path, capsys):
    from optimum.intel import OVModelForSequenceClassification
    from transformers import AutoTokenizer

    out = tmp_path / "pruned"
    assert main(["sparse", "prune", str(tiny64_ir), "--target", "0.8", "--out", str(out), "--family", "bert",
                 "--dataset", str(tiny_csv), "--max-length", "16", "--eval-samples", "16"]) == 0
    printed = capsys.readouterr().out
    assert "accuracy on 16 test samples" in printed
    report = json.loads((out / "report.json").read_text())["data"]
    assert report["accuracy"]["samples"] == 16 and report["pruned_layers"] == 7  # q,k,v,o,ffn1,ffn2,pooler
    assert report["min_layer_zero_fraction_after"] >= 0.8
    assert report["inference_precision"] == host_cpu().default_precision
    assert (out / "zero_fraction.png").exists() and (out / "config.json").exists()
    after = {entry.name: entry for entry in sparse.weight_stats(ov.Core().read_model(out / XML))}
    pruned = [entry for entry in after.values() if entry.shape[0] % 64 == 0 and entry.shape[1] % 64 == 0]
    assert len(pruned) == 7 and all(entry.zero_fraction >= 0.8 for entry in pruned)
    model = OVModelForSequenceClassification.from_pretrained(out)
    logits = model(**AutoTokenizer.from_pretrained(out)(["a dull film"], return_tensors="np")).logits
    assert np.isfinite(np.asarray(logits)).all()


# -- sweep -----------------------------------------------------------------------------------------
def test_grid_points_follow_the_core_count():
    assert grid_points(2) == [(1, 1), (1, 2), (2, 2)]
    assert grid_points(1) == [(1, 1)]
    assert (8, 8) in grid_points(16) and (4, 2) not in grid_points(16) and len(grid_points(8)) == 10


def test_sweep_cli_writes_ratio_tables(tiny64_ir, tmp_path, capsys):
    out = tmp_path / "sweep"
    too_many = (os.cpu_count() or 1) + 1  # more streams/threads than cores: skipped, and the report says so
    assert main(["sparse", "sweep", str(tiny64_ir), "--out", str(out), "--rate", "0.5", "--time", "0.1",
                 "--seq-lens", "16,32", "--grid", f"1,2,{too_many}", "--grid-seq-len", "16"]) == 0
    report = json.loads((out / "report.json").read_text())["data"]
    assert len(report["grid"]) == len(grid_points(report["cores"], [1, 2]))
    assert report["grid_skipped"] == [too_many] and f"cores were skipped: {too_many}." in (out / "report.md").read_text()
    assert [p["seq_len"] for p in report["seq"]] == [16, 32]
    for p in report["grid"] + report["seq"]:
        assert p["ratio"] == pytest.approx(p["sparse"]["fps"] / p["dense"]["fps"])
        assert p["dense"]["inference_precision"] in ("f32", "bf16")  # int8 IR: the rest runs at the default
    assert report["sparse_config"] == {sparse.RATE_KEY: "0.5"} and report["dense_config"] == {}
    md = (out / "report.md").read_text()
    assert "| streams | threads |" in md and "| 16 |" in md and (out / "sweep.png").exists()
    assert "sparse/dense" in capsys.readouterr().out


@pytest.mark.parametrize("lengths, fragment", [
    (["--grid-seq-len", "500", "--seq-lens", "16"], "ovrecipes: error: --grid-seq-len 500: the model does not take"),
    (["--grid-seq-len", "16", "--seq-lens", "300,500"], "ovrecipes: error: no --seq-lens value ran (300, 500): L=300: "),
])
def test_sweep_lengths_the_model_cannot_take_are_an_error_not_a_report_of_errors(lengths, fragment, tiny64_ir,
                                                                                 tmp_path, capsys):
    # the tiny IR has 128 positions: every cell failed, and the sweep exited 0 (or died in matplotlib's log scale)
    out = tmp_path / "sweep"
    assert main(["sparse", "sweep", str(tiny64_ir), "--out", str(out), "--rate", "0.5", "--time", "0.1",
                 "--grid", "1", *lengths]) == 2
    assert _err_line(capsys).startswith(fragment)
    assert not out.exists()


# -- one-line errors, nothing half-written ---------------------------------------------------------
@pytest.mark.parametrize("argv,fragment", [
    (["sparse", "stats", "{missing}"], "no such model"),
    (["sparse", "config", "{planted}", "--rate", "1.5", "--out", "{out}"], "[0, 1]"),
    (["sparse", "config", "{planted}", "--rate", "0.8", "--streams", "0", "--out", "{out}"], "NUM_STREAMS"),
    (["sparse", "config", "{missing}", "--out", "{out}"], "no such model"),
    (["sparse", "check", "{planted}", "--rate", "1.5"], "[0, 1]"),
    (["sparse", "check", "{planted}", "--config-file", "{missing}"], "does not exist"),
    (["sparse", "sweep", "{planted}", "--out", "{out}", "--seq-lens", "16,x"], "--seq-lens"),
    (["sparse", "sweep", "{planted}", "--out", "{out}", "--rate", "2"], "[0, 1]"),
    (["sparse", "prune", "{planted}", "--target", "1.5", "--out", "{out}"], "--target"),
    (["sparse", "prune", "{missing}", "--target", "0.8", "--out", "{out}"], "no such model"),
    (["sparse", "config", "{planted}", "--rate", "0.5", "--coverage", "0.7", "--out", "{out}"],
     "--coverage 0.7 has no effect with --rate 0.5: it sets how an 'auto' rate is chosen"),
    (["sparse", "check", "{planted}", "--config-file", "{planted}", "--rate", "0.3"],
     "--rate has no effect with --config-file: the file's CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE sets the rate"),
    (["sparse", "prune", "{planted}", "--target", "0.8", "--out", "{out}", "--eval-samples", "10"],
     "--eval-samples has no effect without --family"),
    (["sparse", "prune", "{planted}", "--target", "0.8", "--out", "{out}", "--family", "bert", "--backbone", "tiny"],
     "--backbone has no effect with --family bert: it is an option of the cgd family"),
    (["sparse", "stats", "{planted}", "--overwrite"], "--overwrite has no effect without --out"),
    (["sparse", "prune", "{planted}", "--target", "0.8", "--out", "{out}", "--max-length", "32"],
     "--max-length has no effect without --family: it configures the family pipeline"),
])
def test_cli_errors_are_one_line_and_write_nothing(argv, fragment, planted_ir, tmp_path, capsys):
    subst = {"{missing}": str(tmp_path / "nope"), "{planted}": str(planted_ir), "{out}": str(tmp_path / "out")}
    assert main([subst.get(a, a) for a in argv]) == 2
    assert fragment in _err_line(capsys)
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_auto_rate_on_a_float_model_is_a_clear_error(tiny64_ir, tmp_path, capsys):
    assert main(["sparse", "config", str(tiny64_ir), "--out", str(tmp_path / "out")]) == 2
    assert "no eligible layer" in _err_line(capsys)
    assert not (tmp_path / "out").exists()


def test_existing_output_needs_overwrite(planted_ir, tmp_path, capsys):
    out = tmp_path / "cfg"
    assert main(["sparse", "config", str(planted_ir), "--out", str(out)]) == 0
    before = (out / "sparse_config.json").read_text()
    capsys.readouterr()
    assert main(["sparse", "config", str(planted_ir), "--rate", "0.5", "--out", str(out)]) == 2
    assert "--overwrite" in _err_line(capsys)
    assert (out / "sparse_config.json").read_text() == before
    assert main(["sparse", "config", str(planted_ir), "--rate", "0.5", "--out", str(out), "--overwrite"]) == 0
    assert json.loads((out / "sparse_config.json").read_text())["CPU"][sparse.RATE_KEY] == "0.5"


@pytest.mark.parametrize("name", ["avx2", "vnni-bf16", "amx"])
def test_no_op_note_follows_each_faked_cpu_class(planted_ir, name):
    """The 'no-op' verdict names the missing AMX only where AMX is missing, on every CPU class."""
    from ovrecipes.core.cpu import target_cpu

    cpu = target_cpu(name)
    layers = sparse.weight_stats(ov.Core().read_model(planted_ir / XML))
    verdict = sparse_kernels.decide(layers, 0.5, cpu)
    supported, reason = sparse_kernel_support(cpu)
    assert supported is cpu.has_amx and verdict["amx"] is cpu.has_amx
    if cpu.has_amx:
        assert "no-op" not in verdict["headline"] and "no AMX" not in reason
        assert verdict["layers_reaching_rate"] > 0
    else:
        assert "no-op on this CPU" in verdict["headline"] and "has no AMX" in reason
        assert all(not r["expected"] for r in verdict["layers"])
