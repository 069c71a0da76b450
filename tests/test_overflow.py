"""overflow_fix chosen from CPU flags, with a reason, for this CPU or a named deployment target."""

from __future__ import annotations

import pytest

from ovrecipes.core.cpu import CpuInfo, sparse_kernel_support, target_cpu
from ovrecipes.recipes.overflow import choose_overflow_fix

AVX2 = CpuInfo("fake AVX2", frozenset({"avx2", "fma"}))
AVX_VNNI = CpuInfo("fake Alder Lake", frozenset({"avx2", "avx_vnni"}))
AVX512_VNNI = CpuInfo("fake Cascade Lake", frozenset({"avx2", "avx512f", "avx512_vnni"}))
AMX = target_cpu("amx")


@pytest.mark.parametrize("cpu, expected", [(AVX2, "enable"), (AVX_VNNI, "disable"), (AVX512_VNNI, "disable"),
                                           (AMX, "disable")])
def test_auto_follows_vnni(cpu, expected):
    decision = choose_overflow_fix("auto", cpu)
    assert decision.value == expected
    assert cpu.brand in decision.reason
    assert decision.cpu["int8_can_saturate"] is (expected == "enable")


def test_explicit_choice_is_kept_and_warned_about():
    decision = choose_overflow_fix("disable", AVX2)
    assert decision.value == "disable" and "WARNING" in decision.reason and "saturate" in decision.reason
    assert choose_overflow_fix("enable", AVX512_VNNI).value == "enable"
    assert str(choose_overflow_fix("first_layer_only", AVX2).nncf_value().value) == "first_layer_only"


def test_bad_values_are_clear():
    with pytest.raises(ValueError, match="overflow_fix must be one of auto, enable, disable, first_layer_only: got 'on'"):
        choose_overflow_fix("on", AVX2)
    with pytest.raises(ValueError, match="target CPU must be one of avx2, vnni, vnni-bf16, amx: got 'arm'"):
        target_cpu("arm")


def test_named_targets_and_sparse_support():
    assert not target_cpu("avx2").has_vnni and target_cpu("vnni").has_vnni and AMX.has_amx
    assert sparse_kernel_support(AMX)[0] is True
    supported, reason = sparse_kernel_support(AVX512_VNNI)
    assert supported is False and "no AMX" in reason and "no effect" in reason
