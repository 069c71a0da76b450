"""The README's main job end to end on the embedded default (slow: builds the model on first use)."""

from __future__ import annotations

import json

import pytest

from ovrecipes.cli.main import main
from ovrecipes.core.cpu import host_cpu


@pytest.mark.slow
def test_demo_runs_offline_and_int8_stays_within_half_a_point(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--time", "3"]) == 0
    printed = capsys.readouterr().out
    assert "PyTorch FP32" in printed and "OV INT8" in printed and "Recommended:" in printed
    report = json.loads((out / "report.json").read_text())
    variants = {v["label"]: v for v in report["variants"]}
    bf16_here = host_cpu().default_precision == "bf16"
    ours = ["PyTorch FP32", "OV FP32", *(["OV BF16"] if bf16_here else []), "OV INT8"]
    assert list(variants) == ours + ["ORT FP32", "ORT INT8 (dynamic)", "optimum-intel INT8"]  # peers extra installed
    assert variants["OV FP32"]["inference_precision"] == "f32"
    assert all(v["metric"]["samples"] == 2000 for v in variants.values())
    fp32, int8 = variants["OV FP32"]["metric"]["value"], variants["OV INT8"]["metric"]["value"]
    assert fp32 - int8 <= 0.5, f"INT8 lost {fp32 - int8:.2f} points"
    assert variants["OV FP32"]["metric"]["value"] > 80.0  # the fine-tuned default is a real classifier
    assert all(v["throughput"]["shapes"]["input_ids"] == [1, 64] for v in variants.values())
    assert all(len(v["throughput"]["rounds"]) == 3 for v in variants.values())
    assert "precision (mode)" in printed and ("No BF16 row" in printed) == (not bf16_here)
    assert report["recipe"]["overflow_fix"]["requested"] == "auto"
    for name in ("report.md", "recipe.yaml", "accuracy_vs_throughput.png", "openvino_model.xml", "fp32/openvino_model.xml"):
        assert (out / name).exists(), name
    # the real inputs served one at a time and concurrently, every variant at its chosen shape policy
    serving = report["workload"]
    assert serving["items"] == 500 and set(serving["recommendation"]) == {"one-at-a-time", "concurrent"}
    assert serving["policies"] == ["dynamic", "static:64", "buckets:8,16,24,32,40,48,56,64"]
    assert all(set(v["chosen_policy"]) == {"one-at-a-time", "concurrent"} for v in variants.values())
    assert "Serving real inputs (500 test sentences)" in printed and "Recommended one at a time:" in printed
    assert (out / "peers" / "ort-int8" / "model.onnx").exists() and (out / "deployment.json").exists()
