"""Cached teacher logits: the precision choice, the example index through collation and shuffling,
agreement with the PyTorch teacher, and the same loss curve with and without the cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ovrecipes.core.cpu import CpuInfo
from ovrecipes.pipelines.types import EXAMPLE_INDEX
from ovrecipes.recipes.jpqd.teacher import (
    CachedTeacher,
    choose_teacher_precision,
    length_batches,
    logits_tolerance,
    openvino_logits,
    torch_logits,
)

AVX2 = CpuInfo("fake AVX2", frozenset({"avx2", "fma"}))
AVX512_BF16 = CpuInfo("fake AVX-512 BF16", frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}))
AMX = CpuInfo("fake AMX", frozenset({"avx2", "avx512f", "amx_tile", "amx_int8", "amx_bf16"}))


def test_teacher_precision_follows_native_bf16():
    assert choose_teacher_precision("auto", AVX2).value == "f32"
    assert choose_teacher_precision("auto", AVX512_BF16).value == "bf16"
    assert choose_teacher_precision("auto", AMX).value == "bf16"
    assert "avx512_bf16" in choose_teacher_precision("auto", AVX512_BF16).reason
    assert choose_teacher_precision("f32", AMX).value == "f32"
    assert "emulate" in choose_teacher_precision("bf16", AVX2).reason
    with pytest.raises(ValueError, match="'f16'"):
        choose_teacher_precision("f16", AVX2)


def test_length_batches_cover_every_example_once():
    lengths = np.array([5, 1, 9, 3, 3, 7, 2])
    batches = length_batches(lengths, 3)
    assert sorted(i for b in batches for i in b) == list(range(7))
    assert [lengths[b].max() for b in batches] == sorted(lengths[b].max() for b in batches)


def test_shuffled_batches_carry_indices_that_find_their_logits(tiny_pipeline):
    """The Trainer's shuffled loader yields example indices; the cache returns those rows."""
    from torch.utils.data import DataLoader

    data = tiny_pipeline.trainer_data(limit=24)
    logits = np.arange(48, dtype=np.float32).reshape(24, 2)
    cache = CachedTeacher(logits, "test")
    loader = DataLoader(data.train, batch_size=5, shuffle=True, collate_fn=data.collator,
                        generator=torch.Generator().manual_seed(3))
    seen = []
    for batch in loader:
        indices = batch[EXAMPLE_INDEX]
        assert indices.dtype == torch.long and len(indices) == len(batch["input_ids"])
        torch.testing.assert_close(cache(indices), torch.from_numpy(logits)[indices])
        for row, i in zip(batch["input_ids"], indices.tolist()):  # the index names this very example
            expected = data.train[i]["input_ids"]
            assert row[: len(expected)].tolist() == expected
        seen += indices.tolist()
    assert sorted(seen) == list(range(24)) and seen != sorted(seen)


def _precisions() -> list[str]:
    from ovrecipes.core.cpu import host_cpu

    return ["f32", "bf16"] if host_cpu().default_precision == "bf16" else ["f32"]


@pytest.mark.parametrize("precision", _precisions())
def test_cached_logits_match_the_pytorch_teacher(tiny_pipeline, tiny_bert_dir, precision):
    """OpenVINO at ``precision`` against PyTorch f32 on every training example, within the bound
    ``logits_tolerance`` derives for that precision (bf16 runs only where the CPU has it natively)."""
    teacher = tiny_pipeline.torch_model(tiny_bert_dir)[0].eval()
    inputs = tiny_pipeline.teacher_inputs(tiny_bert_dir, 64)
    cached = openvino_logits(teacher, inputs, lambda out: out["logits"], precision, batch_size=16)
    reference = torch_logits(teacher, inputs, list(range(inputs.count)), lambda out: out["logits"]).numpy()
    assert cached.shape == reference.shape == (64, 2)
    error = np.abs(cached - reference).max()
    assert error <= logits_tolerance(precision, float(np.abs(reference).max()))
    if precision == "f32":
        assert error < 1e-4




def test_loss_curve_is_the_same_with_and_without_the_cache(tiny_pipeline, tiny_bert_dir, tmp_path,
                                                           tiny_jpqd_config):
    """Stage 1 and QAT, step by step: cached f32 logits reproduce the live teacher's losses; a second
    run reads the cache instead of computing it."""
    from ovrecipes.recipes.jpqd import recipe

    curves = {}
    for cache in (False, True, True):
        work = tmp_path / f"work-{len(curves)}"
        work.mkdir()
        config = tiny_jpqd_config({"distillation": {"teacher_cache": cache, "teacher_precision": "f32"},
                                   "training": {"train_limit": 24}})
        report = recipe.run(tiny_pipeline, config, {"int8": tmp_path / "int8"},
                            None, tiny_bert_dir, work, progress=False)
        curves[len(curves)] = report
    live, first, second = curves[0], curves[1], curves[2]
    assert first["teacher"]["hit"] is False and second["teacher"]["hit"] is True
    for stage in ("stage1", "int8"):
        a, b = live["losses"][stage], first["losses"][stage]
        assert len(a) == len(b) == 3
        for x, y in zip(a, b):
            assert y["distillation_loss"] == pytest.approx(x["distillation_loss"], rel=1e-3, abs=1e-5)
            assert y["loss"] == pytest.approx(x["loss"], rel=1e-3, abs=1e-5)
        assert [r["loss"] for r in second["losses"][stage]] == [r["loss"] for r in b]


def test_cache_key_changes_with_teacher_data_and_precision(tiny_pipeline, tiny_bert_dir, tmp_path):
    import shutil

    from ovrecipes.recipes.jpqd.teacher import cache_key

    inputs = tiny_pipeline.teacher_inputs(tiny_bert_dir, 16)
    key = cache_key(tiny_bert_dir, inputs, "f32")
    assert key == cache_key(tiny_bert_dir, tiny_pipeline.teacher_inputs(tiny_bert_dir, 16), "f32")
    assert key != cache_key(tiny_bert_dir, inputs, "bf16")
    assert key != cache_key(tiny_bert_dir, tiny_pipeline.teacher_inputs(tiny_bert_dir, 15), "f32")
    other = shutil.copytree(tiny_bert_dir, tmp_path / "other")
    model = tiny_pipeline.torch_model(other)[0]
    with torch.no_grad():
        model.classifier.bias.add_(1.0)
    model.save_pretrained(other)
    assert key != cache_key(other, inputs, "f32")
