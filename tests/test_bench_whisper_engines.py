"""scripts/bench_whisper_engines.py: interleaved order, medians, spreads and per-round ratios (a fake
pipeline stands in for Whisper, so no model is needed)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from conftest import load_script


@pytest.fixture(scope="module")
def bench():
    return load_script("bench_whisper_engines")


class FakePipeline:
    """Scores from a table: seconds[label][round]; WER fixed per label."""

    def __init__(self, seconds: dict[str, list[float]]):
        self.seconds = seconds
        self.calls: list[str] = []

    def score(self, transcriber, split, limit, name, conditions=True):
        round_index = sum(1 for c in self.calls if c == name)
        self.calls.append(name)
        s = self.seconds[name][round_index]
        extra = {"WER": 10.0 if "int8" in name.lower() else 9.5, "real_WER": 12.5, "audio_s": 100.0,
                 "transcribe_s": s, "RTF": s / 100.0, "encoder_s": s / 2}
        if conditions:  # the held-out conditions are scored once, in the first round
            assert round_index == 0, f"{name} scored its held-out conditions again in round {round_index + 1}"
            extra["WER held-out voices"] = 6.0 if "int8" in name.lower() else 4.5
        return SimpleNamespace(extra=extra, info={"inference_precision": "bf16"})


def test_rounds_interleave_and_ratios_are_medians_of_per_round_ratios(bench):
    seconds = {"OV FP32, f32 pinned (genai)": [20.0, 10.0, 22.0],
               "OV INT8 (genai)": [8.0, 5.0, 30.0],
               "faster-whisper int8": [20.0, 20.0, 20.0]}
    pipeline = FakePipeline(seconds)
    rows = bench.interleaved(pipeline, {label: (lambda: None) for label in seconds}, rounds=3, log=lambda _: None)
    assert pipeline.calls == list(seconds) * 3  # A B C, A B C, A B C
    int8 = next(r for r in rows if r["label"] == "OV INT8 (genai)")
    assert int8["transcribe_s_median"] == 8.0 and (int8["transcribe_s_min"], int8["transcribe_s_max"]) == (5.0, 30.0)
    assert int8["encoder_s_median"] == 4.0 and int8["WER_same_every_round"]
    fp32 = rows[0]
    # per-round ratios 0.4, 0.5, 1.36 -> 0.5; the ratio of the medians would be 8/20 = 0.4
    assert bench.round_ratio(int8, fp32) == pytest.approx(0.5)
    meta = {"clips": 3, "rounds": 3, "machine": {"cpu": "Fake CPU", "cores": 2}, "load_before": [1.0], "load_after": [1.2]}
    assert "engine MB:" not in bench.markdown(rows, meta)  # no memory pass, no note
    int8["memory"] = {"engine_MB": 412.4, "process_peak_MB": 900.0, "peak_exact": True}
    md = bench.markdown(rows, meta)
    assert "| OV INT8 (genai) | bf16 | 10.00 | +0.50 | 12.50 | 8.00 | 5.00-30.00 | 0.080 | 4.00 | - | 412 |" in md
    assert "| OV FP32, f32 pinned (genai) | bf16 | 9.50 | +0.00 | 12.50 | 20.00 | 10.00-22.00 | 0.200 | 10.00 | - | - |" in md
    assert "engine MB: what loading the engine" in md
    assert "OV INT8 (genai) / faster-whisper int8 transcription time: 0.40x" in md
    assert "| variant | WER held-out voices |" in md and "| OV INT8 (genai) | 6.00 (+1.50) |" in md


def test_rounds_must_be_positive(bench):
    with pytest.raises(ValueError, match="rounds must be at least 1: got 0"):
        bench.interleaved(FakePipeline({}), {}, rounds=0)
