"""Tests for the core IR helpers (ovrecipes.core.openvino), the benchmark engine (ovrecipes.measure.engine) and scripts/benchmark.py, on tiny models built in the test."""

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

from ovrecipes.core.openvino import (
    compile_config,
    load_config_file,
    parse_shape,
    random_inputs,
    resolve_hint,
    resolve_model_xml,
)
from ovrecipes.measure.engine import BenchResult, benchmark_callable, benchmark_openvino, session_for
from ovrecipes.pipelines import torch_runner

REPO = Path(__file__).resolve().parents[1]
T = 0.3  # seconds per measurement: enough for hundreds of inferences of these models


def matmul_model() -> ov.Model:
    """One float input x[1,16]: MatMul + Add."""
    x = ops.parameter([1, 16], ov.Type.f32, name="x")
    w = ops.constant(np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32))
    b = ops.constant(np.ones(8, np.float32))
    return ov.Model([ops.add(ops.matmul(x, w, False, False), b)], [x], "matmul_add")


def text_model() -> ov.Model:
    """Two int64 inputs of dynamic shape [-1,-1], like a tokenizer-fed text model."""
    ids = ops.parameter([-1, -1], ov.Type.i64, name="input_ids")
    mask = ops.parameter([-1, -1], ov.Type.i64, name="attention_mask")
    return ov.Model([ops.multiply(ids, mask)], [ids, mask], "text")


# ------------------------------------------------------------------ parse_shape

def test_parse_shape_named_inputs():
    assert parse_shape("input_ids[1,64],attention_mask[1,64]") == {
        "input_ids": [1, 64], "attention_mask": [1, 64]}
    assert parse_shape(" input.1 [ 2, 3 ] , x:0[?,-1] ") == {"input.1": [2, 3], "x:0": [-1, -1]}


def test_parse_shape_unnamed_means_every_input():
    assert parse_shape("[1,64]") == {"*": [1, 64]}
    assert parse_shape("[]") == {"*": []}


@pytest.mark.parametrize("bad", ["", "input_ids", "x[1,a]", "x[1,2", "x[1],", "a[1]b[2]",
                                 "[1],[2]", "a[1],a[2]", "x[1..8]", "x[-2]", "[1,0]"])
def test_parse_shape_rejects_bad_strings(bad):
    with pytest.raises(ValueError, match="shape|given twice|unnamed"):
        parse_shape(bad)


def test_parse_shape_error_shows_syntax():
    with pytest.raises(ValueError, match=r"expected 'name\[d0,d1"):
        parse_shape("input_ids")


# ------------------------------------------------------------------ compile_config

def test_compile_config_hints():
    assert compile_config("throughput") == {"PERFORMANCE_HINT": ov.properties.hint.PerformanceMode.THROUGHPUT}
    assert compile_config("LATENCY") == {"PERFORMANCE_HINT": ov.properties.hint.PerformanceMode.LATENCY}
    assert compile_config("none") == {}


def test_compile_config_rejects_unknown_hint():
    with pytest.raises(ValueError, match="hint must be one of throughput, latency, none: got 'fast'"):
        compile_config("fast")


def test_compile_config_explicit_args_win_over_extra():
    cfg = compile_config("none", streams=2, threads=1,
                         extra={"NUM_STREAMS": "4", "INFERENCE_NUM_THREADS": "8", "ENABLE_CPU_PINNING": "NO"})
    assert cfg == {"NUM_STREAMS": 2, "INFERENCE_NUM_THREADS": 1, "ENABLE_CPU_PINNING": "NO"}


# ------------------------------------------------------------------ random_inputs

def test_random_inputs_by_element_type():
    model = text_model()
    model.reshape({0: [2, 5], 1: [2, 5]})
    data = random_inputs(model, int_high=7)
    assert set(data) == {"input_ids", "attention_mask"}
    assert data["input_ids"].dtype == np.int64 and data["input_ids"].shape == (2, 5)
    assert data["input_ids"].min() >= 0 and data["input_ids"].max() < 7
    assert (data["attention_mask"] == 1).all()
    x = random_inputs(matmul_model())["x"]
    assert x.dtype == np.float32 and x.shape == (1, 16)
    np.testing.assert_array_equal(x, random_inputs(matmul_model(), seed=0)["x"])  # seeded


def test_random_inputs_dynamic_shape_names_input():
    with pytest.raises(ValueError, match=r"input 'input_ids' has dynamic shape.*pass --shape"):
        random_inputs(text_model())


# ------------------------------------------------------------------ benchmark_openvino

def check_result(r: BenchResult) -> None:
    assert r.count > 0 and r.duration_s > 0 and r.throughput_fps > 0
    assert r.throughput_fps == pytest.approx(r.count / r.duration_s)
    lat = r.latency_ms
    assert 0 < lat["min"] <= lat["median"] <= lat["max"]
    assert lat["min"] <= lat["average"] <= lat["max"]
    text = r.to_text()
    for word in ("Count:", "Duration:", "Median:", "Average:", "Min:", "Max:", "Throughput:"):
        assert word in text
    assert json.loads(json.dumps(r.to_dict()))["count"] == r.count


def test_benchmark_openvino_throughput():
    r = benchmark_openvino(matmul_model(), time_s=T)
    check_result(r)
    assert r.engine == "openvino" and r.hint == "throughput" and r.device == "CPU"
    assert r.shapes == {"x": [1, 16]} and r.batch == 1
    assert r.nireq >= 1 and r.count % r.nireq == 0  # whole rounds of requests, like benchmark_app
    assert isinstance(r.streams, int) and isinstance(r.threads, int)


def test_benchmark_openvino_latency_and_explicit_settings():
    r = benchmark_openvino(matmul_model(), hint="latency", time_s=T)
    check_result(r)
    assert r.nireq == 1 and r.hint == "latency"
    r = benchmark_openvino(matmul_model(), hint="none", streams=1, threads=1, nireq=2, time_s=T)
    check_result(r)
    assert (r.streams, r.threads, r.nireq) == (1, 1, 2)


def test_benchmark_openvino_reshapes_dynamic_model():
    model = text_model()
    with pytest.raises(ValueError, match="input_ids"):
        benchmark_openvino(model, time_s=T)
    r = benchmark_openvino(model, shape=parse_shape("input_ids[2,8],attention_mask[2,8]"), time_s=T)
    check_result(r)
    assert r.shapes == {"input_ids": [2, 8], "attention_mask": [2, 8]} and r.batch == 2
    assert r.samples_per_s == pytest.approx(2 * r.throughput_fps)
    r = benchmark_openvino(model, shape=parse_shape("[1,4]"), time_s=T)
    assert r.shapes == {"input_ids": [1, 4], "attention_mask": [1, 4]}
    assert model.inputs[0].get_partial_shape().is_dynamic  # the caller's model is left alone


def test_benchmark_openvino_explicit_inputs_and_errors():
    model = text_model()
    data = {"input_ids": np.zeros((1, 3), np.int32), "attention_mask": np.ones((1, 3), np.int32)}
    r = benchmark_openvino(model, data, time_s=T)  # dynamic model is fine when data is given
    assert r.shapes == {"input_ids": [1, 3], "attention_mask": [1, 3]}
    with pytest.raises(ValueError, match="no data for input"):
        benchmark_openvino(model, {"input_ids": data["input_ids"]}, time_s=T)
    with pytest.raises(ValueError, match="unknown input 'pixel_values'"):
        benchmark_openvino(model, {**data, "pixel_values": data["input_ids"]}, time_s=T)
    with pytest.raises(ValueError, match="unknown input 'ids'.*input_ids"):
        benchmark_openvino(model, shape={"ids": [1, 3]}, time_s=T)
    with pytest.raises(ValueError, match=r"^the model does not take inputs of shape input_ids\[1,4\],"
                                         r"attention_mask\[1,3\]: While validating node .*inconsistent") as err:
        benchmark_openvino(model, shape={"input_ids": [1, 4], "attention_mask": [1, 3]}, time_s=T)
    assert "failed at" not in str(err.value) and len(str(err.value).splitlines()) == 1
    with pytest.raises(ValueError, match="hint must be one of"):
        benchmark_openvino(model, hint="turbo", time_s=T)


def test_benchmark_openvino_from_saved_ir_with_config_file(tmp_path):
    ov.save_model(matmul_model(), tmp_path / "ir" / "openvino_model.xml")
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"CPU": {"NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": 1}}))
    r = benchmark_openvino(tmp_path / "ir", hint="none", config=load_config_file(cfg), time_s=T)
    check_result(r)
    assert (r.streams, r.threads) == (1, 1)


def test_a_property_the_plugin_rejects_is_named_in_the_error():
    with pytest.raises(ValueError, match=r"^cannot compile .* for CPU with NUM_STREAMS=abc, PERFORMANCE_HINT=THROUGHPUT: "):
        benchmark_openvino(matmul_model(), config={"NUM_STREAMS": "abc"}, time_s=T)


def test_resolve_hint_explicit_then_config_file_then_throughput():
    assert resolve_hint("none", {"PERFORMANCE_HINT": "LATENCY"}) == "none"
    assert resolve_hint(None, {"PERFORMANCE_HINT": "LATENCY"}) == "latency"
    assert resolve_hint(None, {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": "1"}) == "throughput"
    assert resolve_hint(None, {"NUM_STREAMS": "1"}) == "throughput"
    assert resolve_hint(None, None) == "throughput"
    with pytest.raises(ValueError, match=r"^PERFORMANCE_HINT 'CUMULATIVE_THROUGHPUT' in the config file is not "
                                         r"supported: use one of THROUGHPUT, LATENCY"):
        resolve_hint(None, {"PERFORMANCE_HINT": "CUMULATIVE_THROUGHPUT"})


# ------------------------------------------------------------------ load_config_file

def test_load_config_file_round_trip(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"CPU": {"NUM_STREAMS": "2", "INFERENCE_NUM_THREADS": 4, "ENABLE_HYPER_THREADING": False},
                                "GPU": {"NUM_STREAMS": "1"}}))
    assert load_config_file(path) == {"NUM_STREAMS": "2", "INFERENCE_NUM_THREADS": "4", "ENABLE_HYPER_THREADING": "False"}
    assert load_config_file(str(path), device="GPU") == {"NUM_STREAMS": "1"}


def test_load_config_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"CPU": {"NUM_STREAMS": 2,}}')
    with pytest.raises(ValueError, match=r"bad\.json: not valid JSON"):
        load_config_file(bad)
    nocpu = tmp_path / "nocpu.json"
    nocpu.write_text('{"GPU": {}}')
    with pytest.raises(ValueError, match=r"nocpu\.json: expected a top-level 'CPU' key"):
        load_config_file(nocpu)


# ------------------------------------------------------------------ resolve_model_xml

def test_resolve_model_xml(tmp_path):
    one = tmp_path / "one"
    ov.save_model(matmul_model(), one / "model.xml")
    assert resolve_model_xml(one) == one / "model.xml"
    assert resolve_model_xml(one / "model.xml") == one / "model.xml"
    with pytest.raises(ValueError, match="expected an OpenVINO IR .xml"):
        resolve_model_xml(one / "model.bin")
    with pytest.raises(FileNotFoundError):
        resolve_model_xml(tmp_path / "missing")


def test_resolve_model_xml_several_irs(tmp_path):
    two = tmp_path / "two"
    ov.save_model(matmul_model(), two / "openvino_encoder_model.xml")
    ov.save_model(matmul_model(), two / "openvino_decoder_model.xml")
    with pytest.raises(ValueError, match=r"openvino_decoder_model\.xml, openvino_encoder_model\.xml.*pass one \.xml"):
        resolve_model_xml(two)
    # the optimum-intel main IR wins over side models such as a tokenizer
    ov.save_model(matmul_model(), two / "openvino_model.xml")
    assert resolve_model_xml(two) == two / "openvino_model.xml"


# ------------------------------------------------------------------ benchmark_callable / PyTorch

def test_benchmark_callable_counts_calls_and_skips_warmup():
    calls = []
    r = benchmark_callable(lambda: calls.append(1), time_s=0.05, batch=4, shapes={"x": [4, 3]}, threads=3)
    assert len(calls) == r.count + 1  # the first call is the warm-up
    assert r.count > 0 and r.throughput_fps == pytest.approx(r.count / r.duration_s)
    assert r.latency_ms["min"] <= r.latency_ms["median"] <= r.latency_ms["max"]
    assert (r.engine, r.hint, r.nireq, r.batch, r.threads) == ("pytorch", "latency", 1, 4, 3)
    assert r.samples_per_s == pytest.approx(4 * r.throughput_fps)
    assert "Throughput:" in r.to_text()


def test_bench_pytorch():
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(16, 4)

        def forward(self, x):
            assert not torch.is_grad_enabled()
            return self.fc(x)

    net = Net().train()
    r = session_for(torch_runner.bench_target(net, {"x": np.zeros((2, 16), np.float32)})).run(0.05)
    assert not net.training
    assert r.count > 0 and r.batch == 2 and r.shapes == {"x": [2, 16]} and r.engine == "pytorch"


# ------------------------------------------------------------------ scripts/benchmark.py

def test_benchmark_script_side_by_side(tmp_path):
    ov.save_model(text_model(), tmp_path / "ir" / "openvino_model.xml")
    out = tmp_path / "bench.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "benchmark.py"), str(tmp_path / "ir"),
         "--shape", "input_ids[1,8],attention_mask[1,8]", "--time", "1", "--rounds", "2",
         "--inference-precision", "f32", "--json", str(out)],
        capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert len(report["ours"]) == len(report["benchmark_app"]) == 2 and report["inference_precision"] == "f32"
    assert report["benchmark_app"][0]["command"][-2:] == ["-infer_precision", "f32"]
    assert report["ours_throughput_fps"] > 0 and report["benchmark_app_throughput_fps"] > 0
    assert report["ratio"] == pytest.approx(report["ours_throughput_fps"] / report["benchmark_app_throughput_fps"])
    # the exit status is the verdict on the medians at the default 5% tolerance, whatever this machine measured
    assert report["tolerance"] == 0.05 and report["ok"] == (abs(report["ratio"] - 1) <= 0.05)
    assert proc.returncode == (0 if report["ok"] else 1)
    assert "ratio ours/benchmark_app" in proc.stdout and ("OK" if report["ok"] else "MISMATCH") in proc.stdout


def test_benchmark_script_verdict():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from benchmark import verdict
    finally:
        sys.path.pop(0)
    assert verdict(104.0, 100.0, 0.05) == (pytest.approx(1.04), True)
    assert verdict(94.0, 100.0, 0.05) == (pytest.approx(0.94), False)
    assert verdict(1.0, 0.0, 0.05)[1] is False


def test_benchmark_script_help_and_bad_shape(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    script = str(REPO / "scripts" / "benchmark.py")
    proc = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and "example:" in proc.stdout
    ov.save_model(matmul_model(), tmp_path / "m.xml")
    proc = subprocess.run([sys.executable, script, str(tmp_path / "m.xml"), "--shape", "x[1,"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "error: cannot parse shape" in proc.stderr
    # --json never replaces the model it measures, and an existing file only with --overwrite
    for victim, extra, message in [(tmp_path / "m.bin", ["--overwrite"], "would replace a file of the input"),
                                   (tmp_path / "old.json", [], "already exists; pass --overwrite")]:
        victim.write_bytes(victim.read_bytes() if victim.exists() else b"kept")
        before = victim.read_bytes()
        proc = subprocess.run([sys.executable, script, str(tmp_path / "m.xml"), "--json", str(victim), *extra],
                              capture_output=True, text=True, env=env)
        assert proc.returncode == 2 and message in proc.stderr and victim.read_bytes() == before, proc.stderr
