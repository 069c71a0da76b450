"""scripts/whisper_trials.py: trial parsing with clear errors and the table's changes from FP32 (no model)."""

from __future__ import annotations

import argparse

import pytest
from conftest import load_script


@pytest.fixture(scope="module")
def trials():
    return load_script("whisper_trials")


def test_a_trial_is_a_name_and_json_overrides(trials):
    assert trials.parse_trial('a08={"smooth_quant": {"encoder": {"matmul": 0.8}}}') == (
        "a08", {"smooth_quant": {"encoder": {"matmul": 0.8}}})
    for bad, message in (("noequals", "takes NAME=JSON"), ("x={bad", "not JSON"), ("x=[1]", "must be a JSON object")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            trials.parse_trial(bad)


def test_table_shows_each_condition_with_its_change_from_fp32_f32(trials):
    rows = [{"trial": "fp32-f32", "overrides": {}, "precision": "f32", "validation": 10.0, "test": 10.0,
             "held-out voices": 4.0, "seconds": 1},
            {"trial": "int8 (recipe)", "overrides": {}, "precision": "bf16", "validation": 11.0, "test": 9.5,
             "held-out voices": 5.25, "seconds": 1}]
    md = trials.markdown(rows)
    assert "| trial | precision | WER validation | WER test | WER held-out voices |" in md
    assert "| int8 (recipe) | bf16 | 11.00 (+1.00) | 9.50 (-0.50) | 5.25 (+1.25) |" in md
    assert "| fp32-f32 | f32 | 10.00 | 10.00 | 4.00 |" in md
