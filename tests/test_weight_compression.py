"""Weight-only INT8 (nncf.compress_weights) as a generic recipe: the tiny BERT fixture, every family's
config, and clear errors. The Whisper case lives in test_whisper.py."""

from __future__ import annotations

import openvino as ov
import pytest

from ovrecipes.recipes import ir, ptq
from ovrecipes.recipes import weight_compression as wc
from ovrecipes.runs.config import load_config


def test_bert_weight_only_int8_has_no_fake_quantize_shrinks_and_still_classifies(tiny_pipeline, tiny_fp32_ir, tmp_path):
    config, _ = load_config(wc.WeightCompressionConfig, "bert", "wc", None, {"mode": "int8_sym"})
    report = wc.compress(tiny_pipeline, tiny_fp32_ir, tmp_path, config)
    sub = report.submodels["model"]
    model = ov.Core().read_model(tmp_path / sub.file)
    assert ir.count_ops(model, "FakeQuantize") == 0 and sub.fake_quantize == 0
    assert wc.low_bit_constants(model) == sub.int8_weight_constants > 0
    assert sub.ir_MB_after < 0.5 * sub.ir_MB_before
    fp32 = tiny_pipeline.evaluate(tiny_fp32_ir, "test", limit=64)
    int8 = tiny_pipeline.evaluate(tmp_path, "test", limit=64)
    assert abs(int8.value - fp32.value) <= 5.0  # weights keep 8 bits per channel: predictions barely move


@pytest.mark.parametrize("family", ["bert", "cgd", "whisper"])
def test_every_family_has_a_valid_weight_compression_config(family):
    config, _ = load_config(wc.WeightCompressionConfig, family, "wc", None, {})
    assert config.recipe == "wc" and config.mode in wc.MODES


def test_bad_mode_submodel_and_scope_are_one_line_errors(tiny_pipeline, tiny_fp32_ir, tmp_path):
    with pytest.raises(ValueError, match="mode.*got 'int4_sym'"):
        load_config(wc.WeightCompressionConfig, "bert", "wc", None, {"mode": "int4_sym"})
    with pytest.raises(ValueError, match="submodel must be one of model: got 'encoder'"):
        wc.compress(tiny_pipeline, tiny_fp32_ir, tmp_path / "a", wc.WeightCompressionConfig(submodels=["encoder"]))
    scope = {"ignored_scope": {"types": ["NoSuchOp"]}}
    with pytest.raises(ptq.IgnoredScopeError, match="ignored type 'NoSuchOp' matches nothing"):
        wc.compress(tiny_pipeline, tiny_fp32_ir, tmp_path / "b", wc.WeightCompressionConfig(**scope))
    assert not (tmp_path / "b").exists()
