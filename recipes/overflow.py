"""Pick NNCF's ``overflow_fix`` from the deployment CPU's instruction set, and say why.

Without VNNI (AVX-512 VNNI, AVX-VNNI) or AMX, OpenVINO's int8 dot products go through
``vpmaddubsw``, which adds pairs of u8*s8 products into a *saturating* int16. With full 8-bit
weights two large products can overflow it, so NNCF's ``enable`` (7-bit weights on every
Convolution and MatMul) is the safe choice there. NNCF's own default (``first_layer_only``)
touches only the first Convolution, which does nothing for transformers. With VNNI/AMX the
accumulation is 32-bit, so ``disable`` keeps full 8-bit precision.
"""

from __future__ import annotations

from dataclasses import dataclass

from ovrecipes.core.cpu import CpuDecision, CpuInfo, host_cpu

OVERFLOW_FIX_CHOICES = ("auto", "enable", "disable", "first_layer_only")


@dataclass(frozen=True)
class OverflowDecision(CpuDecision):
    """The overflow_fix value handed to NNCF: enable | disable | first_layer_only."""

    def nncf_value(self):
        """The ``nncf.OverflowFix`` member for this decision."""
        from nncf.quantization.advanced_parameters import OverflowFix

        return OverflowFix(self.value)


def choose_overflow_fix(requested: str = "auto", cpu: CpuInfo | None = None) -> OverflowDecision:
    """Resolve ``auto`` from the CPU flags; explicit values are kept but still explained."""
    if requested not in OVERFLOW_FIX_CHOICES:
        raise ValueError(f"overflow_fix must be one of {', '.join(OVERFLOW_FIX_CHOICES)}: got {requested!r}")
    cpu = cpu or host_cpu()
    where = cpu.where
    vnni_names = cpu.vnni_flags
    if requested == "auto":
        if cpu.has_vnni:
            value = "disable"
            reason = (
                f"{where} has {', '.join(vnni_names)}: int8 dot products accumulate in 32 bits and cannot "
                "saturate, so full 8-bit weights are kept (overflow_fix=disable)."
            )
        else:
            value = "enable"
            reason = (
                f"{where} has no VNNI or AMX: int8 dot products use a saturating 16-bit intermediate "
                "(vpmaddubsw), so weights of every Convolution and MatMul are quantized to 7 bits "
                "(overflow_fix=enable). NNCF's default, first_layer_only, would only touch the first "
                "Convolution and leave transformer MatMuls exposed."
            )
    else:
        value = requested
        fits = {
            "enable": "safe on any CPU; costs one bit of weight precision"
            + (" that this VNNI/AMX CPU does not need" if cpu.has_vnni else ""),
            "disable": "full 8-bit weights"
            + ("; matches this CPU" if cpu.has_vnni else "; WARNING: this CPU has no VNNI/AMX, int8 "
               "accumulation can saturate and cost accuracy"),
            "first_layer_only": "NNCF's default: only the first Convolution gets 7-bit weights"
            + ("" if cpu.has_vnni else "; MatMul-heavy models stay exposed to saturation on this CPU"),
        }[value]
        reason = f"overflow_fix={value} was requested for {where}: {fits}."
    return OverflowDecision(value=value, requested=requested, reason=reason, cpu=cpu.to_dict())
