"""The PTQ recipe on a tiny BERT: FakeQuantize insertion, ignored scopes, SmoothQuant search, accuracy control."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from ovrecipes.core.cpu import CpuInfo
from ovrecipes.recipes import ir, ptq
from ovrecipes.recipes.ptq_config import AccuracyControlConfig

NO_VNNI = CpuInfo("fake AVX2", frozenset({"avx2"}))
WITH_VNNI = CpuInfo("fake VNNI", frozenset({"avx2", "avx512f", "avx512_vnni"}))


def _config(**kw) -> ptq.PTQConfig:
    return ptq.PTQConfig(subset_size=16, **kw)


def _quantize(pipeline, fp32: Path, out: Path, **kw) -> tuple[ov.Model, dict]:
    report = ptq.quantize(pipeline, fp32, out, _config(**kw))
    return ov.Core().read_model(out / "openvino_model.xml"), report


def _quantized_types(model) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, t in ir.quantized_ops(model):
        counts[t] = counts.get(t, 0) + 1
    return counts


@pytest.fixture(scope="module")
def default_int8(tiny_pipeline, tiny_fp32_ir, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8")
    return out, *_quantize(tiny_pipeline, tiny_fp32_ir, out)


def test_fp32_export_has_no_fake_quantize(tiny_fp32_ir):
    model = ov.Core().read_model(tiny_fp32_ir / "openvino_model.xml")
    assert ir.count_ops(model, "FakeQuantize") == 0
    assert ir.count_ops(model, "MatMul") > 0


def test_quantize_inserts_fake_quantize_and_reports_it(default_int8):
    out, model, report = default_int8
    sub = report.submodels["model"]
    assert sub.fake_quantize == ir.count_ops(model, "FakeQuantize") > 0
    # The 2-layer BERT has 6 weight MatMuls per layer (q, k, v, out, ffn in/out) plus the pooler/classifier.
    assert _quantized_types(model).get("MatMul", 0) >= 12
    assert sub.quantized_ops == _quantized_types(model)
    assert (out / "config.json").exists() and (out / "tokenizer.json").exists()


def test_int8_dir_loads_with_optimum_and_matches_fp32(default_int8, tiny_fp32_ir, tiny_pipeline):
    from optimum.intel import OVModelForSequenceClassification

    out, _, _ = default_int8
    inputs = tiny_pipeline.encode(["a wonderful film, truly wonderful"])
    fp32 = OVModelForSequenceClassification.from_pretrained(tiny_fp32_ir)(**inputs).logits
    int8 = OVModelForSequenceClassification.from_pretrained(out)(**inputs).logits
    assert int8.shape == fp32.shape == (1, 2)
    np.testing.assert_allclose(np.asarray(int8), np.asarray(fp32), atol=0.1)


def test_ignored_types_stay_unquantized(tiny_pipeline, tiny_fp32_ir, tmp_path):
    model, report = _quantize(tiny_pipeline, tiny_fp32_ir, tmp_path,
                              ignored_scope=ptq.IgnoredScopeConfig(types=["MatMul"]))
    assert _quantized_types(model).get("MatMul", 0) == 0
    fp32 = ov.Core().read_model(tiny_fp32_ir / "openvino_model.xml")
    assert len(report.submodels["model"].ignored_nodes) == ir.count_ops(fp32, "MatMul")


def test_ignored_names_and_patterns_stay_unquantized(tiny_pipeline, tiny_fp32_ir, default_int8, tmp_path):
    _, int8_default, _ = default_int8
    quantized_before = [n for n, t in ir.quantized_ops(int8_default) if t == "MatMul"]
    by_name = quantized_before[0]
    pattern = r".*layer\.1\..*"
    by_pattern = [n for n in quantized_before if re.match(pattern, n)]
    assert by_pattern, "the pattern must select quantized MatMuls of the second layer"
    model, report = _quantize(tiny_pipeline, tiny_fp32_ir, tmp_path,
                              ignored_scope=ptq.IgnoredScopeConfig(names=[by_name], patterns=[pattern]))
    quantized_now = {n for n, _ in ir.quantized_ops(model)}
    assert by_name not in quantized_now
    assert not [n for n in quantized_now if re.match(pattern, n)]
    # Everything outside the scope is still quantized.
    assert len([n for n in quantized_before if n != by_name and not re.match(pattern, n)]) == len(
        [n for n, t in ir.quantized_ops(model) if t == "MatMul"])
    assert by_name in report.submodels["model"].ignored_nodes


def test_missing_ignored_name_is_a_clear_error(tiny_fp32_ir):
    model = ov.Core().read_model(tiny_fp32_ir / "openvino_model.xml")
    real = next(n for n, t in ir.op_index(model) if t == "MatMul")
    typo = real[:-1] + "X"
    with pytest.raises(ptq.IgnoredScopeError, match=r"ignored name .* matches nothing .*closest: .*" + re.escape(real)) as err:
        ptq.check_ignored_scope(model, ptq.IgnoredScopeConfig(names=[typo]), "model")
    # suggestions are ops a user would mean, never Constant_64-like plumbing
    types = dict(ir.op_index(model))
    suggested = str(err.value).split("closest: ")[1].split(" (pass")[0].split(", ")
    assert suggested and all(types[name] not in ir.PLUMBING_TYPES for name in suggested)
    with pytest.raises(ptq.IgnoredScopeError, match="ignored type 'Matmul'.*closest: MatMul"):
        ptq.check_ignored_scope(model, ptq.IgnoredScopeConfig(types=["Matmul"]), "model")
    with pytest.raises(ptq.IgnoredScopeError, match="ignored pattern"):
        ptq.check_ignored_scope(model, ptq.IgnoredScopeConfig(patterns=["^nothing_here"]), "model")
    relaxed = ptq.IgnoredScopeConfig(names=[typo], validate=False)
    assert ptq.check_ignored_scope(model, relaxed, "model")["names"] == []


def test_bad_pattern_and_alpha_rejected_by_config():
    with pytest.raises(ValueError, match="not a valid regular expression"):
        ptq.IgnoredScopeConfig(patterns=["(unclosed"])
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        ptq.SmoothQuantConfig(matmul=1.5)


@pytest.mark.parametrize("cpu, expected", [(NO_VNNI, "enable"), (WITH_VNNI, "disable")])
def test_overflow_auto_follows_cpu_flags_and_reaches_nncf(tiny_pipeline, tiny_fp32_ir, tmp_path, monkeypatch, cpu,
                                                          expected):
    import nncf
    from nncf.quantization.advanced_parameters import OverflowFix

    received = []
    real_quantize = nncf.quantize

    def spy(*args, **kwargs):
        received.append(kwargs["advanced_parameters"].overflow_fix)
        return real_quantize(*args, **kwargs)

    monkeypatch.setattr(ptq, "target_cpu", lambda name: cpu)
    monkeypatch.setattr(nncf, "quantize", spy)
    _, report = _quantize(tiny_pipeline, tiny_fp32_ir, tmp_path)
    assert report.overflow_fix.value == expected
    assert received == [OverflowFix(expected)]  # what NNCF was handed, not only what the report says
    assert ptq.resolved_config(_config(), report).overflow_fix == expected


@pytest.mark.parametrize("scores, best", [({"off": 50.0, 0.5: 70.0}, 0.5), ({"off": 80.0, 0.5: 60.0}, "off")])
def test_smooth_quant_auto_search_keeps_the_best_alpha(tiny_pipeline, tiny_fp32_ir, tmp_path, monkeypatch, scores,
                                                       best):
    """The search scores each alpha with the family's metric (scripted here) and keeps the best one."""
    from ovrecipes.pipelines.types import Metric

    tried = []
    real_nncf_kwargs = ptq._nncf_kwargs

    def nncf_kwargs(config, alphas, overflow, ignored):
        tried.append(alphas.matmul)
        return real_nncf_kwargs(config, alphas, overflow, ignored)

    def scripted(pipeline, fp32_dir, sub, model, split="validation", limit=None):
        return Metric("accuracy", scores[tried[-1]], limit)

    monkeypatch.setattr(ptq, "_nncf_kwargs", nncf_kwargs)
    monkeypatch.setattr(ptq, "evaluate_replaced", scripted)
    config = _config(smooth_quant={"default": ptq.SmoothQuantConfig(matmul="auto")}, alpha_grid=["off", 0.5],
                     search_size=12)
    report = ptq.quantize(tiny_pipeline, tiny_fp32_ir, tmp_path, config)
    assert [(p.alpha, p.metric, p.samples) for p in report.alpha_search] == [
        ("off", scores["off"], 12), (0.5, scores[0.5], 12)]
    assert report.submodels["model"].smooth_quant.matmul == best
    assert tried[-1] == best  # the final quantization used the chosen alpha
    assert ptq.resolved_config(config, report).smooth_quant["model"].matmul == best


class _FidelityPipeline:
    """The tiny BERT pipeline with a validation metric that any quantization error lowers:
    100 - 100 * mean |logits - FP32 logits|, so accuracy control with max_drop 0 must revert ops."""

    def __init__(self, pipeline, fp32_dir: Path) -> None:
        self._pipeline = pipeline
        self._fp32 = ov.Core().compile_model(fp32_dir / "openvino_model.xml", "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

    def __getattr__(self, name):
        return getattr(self._pipeline, name)

    def validation_set(self, submodel: str, n: int) -> "ptq.ValidationSet":
        base = self._pipeline.validation_set(submodel, n)
        reference = [self._fp32(inputs)[0] for inputs, _ in base.items]

        def fidelity(compiled, items) -> float:
            errors = [np.abs(compiled(inputs)[0] - ref).mean() for (inputs, _), ref in zip(items, reference)]
            return float(100.0 - 100.0 * np.mean(errors))

        return type(base)(items=base.items, transform=base.transform, metric=fidelity)


def test_accuracy_control_reverts_ops_and_reports_them(tiny_pipeline, tiny_fp32_ir, tmp_path):
    config = _config(accuracy_control=AccuracyControlConfig(max_drop=0.0, validation_size=16,
                                                                max_num_iterations=2))
    report = ptq.quantize(_FidelityPipeline(tiny_pipeline, tiny_fp32_ir), tiny_fp32_ir, tmp_path, config)
    reverted = report.submodels["model"].reverted_by_accuracy_control
    assert reverted, "a zero drop budget on a metric every quantizer lowers must revert something"
    model = ov.Core().read_model(tmp_path / "openvino_model.xml")
    still_quantized = {n for n, _ in ir.quantized_ops(model)}
    types = dict(ir.op_index(model))
    for op in reverted:
        assert op.name not in still_quantized and types[op.name] == op.type
