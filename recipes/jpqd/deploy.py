"""Which deliverable JPQD's stage 2 trains: INT8 (QAT) or pruned FP32, chosen by the target CPU.

Pruning pays everywhere: fewer heads and FFN units are fewer FLOPs on any CPU. INT8 pays only where
the CPU multiplies int8 natively. With VNNI (AVX-512 VNNI, AVX-VNNI) or AMX a u8*s8 dot product is
one instruction accumulating in 32 bits, and OpenVINO's INT8 kernels beat FP32 several times over.
On AVX2 alone int8 dot products go through ``vpmaddubsw`` + ``vpmaddwd`` with 16-bit intermediates
and the fake-quantize/dequantize work around them; for a small pruned encoder that is measured
slower than FP32, and QAT also costs accuracy. So ``auto`` picks ``int8`` on VNNI/AMX and ``fp32``
elsewhere; FP32 then runs in bf16 or f32 at the runtime's choice, without retraining.
"""

from __future__ import annotations

from dataclasses import dataclass

from ovrecipes.core.cpu import CpuDecision, CpuInfo, host_cpu

DEPLOYS = ("int8", "fp32")


@dataclass(frozen=True)
class DeployDecision(CpuDecision):
    """The deliverable stage 2 trains: int8 | fp32."""


def choose_deploy(requested: str = "auto", cpu: CpuInfo | None = None) -> DeployDecision:
    """Resolve ``auto`` from the CPU flags; an explicit choice is kept and explained against the CPU."""
    if requested not in ("auto", *DEPLOYS):
        raise ValueError(f"deploy must be one of auto, {', '.join(DEPLOYS)}: got {requested!r}")
    cpu = cpu or host_cpu()
    where = cpu.where
    native = cpu.vnni_flags
    if requested == "auto":
        if cpu.has_vnni:
            return DeployDecision("int8", requested, (
                f"{where} has {', '.join(native)}: int8 dot products run natively with 32-bit accumulation, "
                "so the pruned model is quantized (QAT) for the INT8 kernels."), cpu.to_dict())
        return DeployDecision("fp32", requested, (
            f"{where} has no VNNI or AMX: int8 dot products are emulated with 16-bit intermediates and INT8 "
            "is not faster than FP32 for a pruned encoder, so stage 2 distils the pruned model in FP32 "
            "(bf16 at runtime where the CPU has it)."), cpu.to_dict())
    fits = {"int8": "matches this CPU" if cpu.has_vnni else
            "WARNING: this CPU has no VNNI/AMX; INT8 may run slower than the pruned FP32 model here",
            "fp32": "runs on any CPU" + ("; INT8 would be faster on this VNNI/AMX CPU" if cpu.has_vnni else "")}
    return DeployDecision(requested, requested, f"deploy={requested} was requested for {where}: {fits[requested]}.",
                          cpu.to_dict())
