"""CPU facts every layer decides from: instruction-set flags (VNNI, AMX, BF16), this machine's CPU read once
with py-cpuinfo, named deployment targets, and the decisions resolved from them with their reasons."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field

VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
AMX_FLAGS = ("amx_int8", "amx_bf16", "amx_tile")
#: With either, OpenVINO's CPU plugin runs floating-point IRs in bf16 unless INFERENCE_PRECISION_HINT says f32.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
REPORTED_FLAGS = (
    "avx2",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)
#: Named deployment targets for ``--target-cpu``: quantize here for a CPU you deploy elsewhere.
TARGET_CPUS: dict[str, tuple[str, ...]] = {
    "avx2": ("avx2",),
    "vnni": ("avx2", "avx512f", "avx512_vnni"),
    "vnni-bf16": ("avx2", "avx512f", "avx512_vnni", "avx512_bf16"),
    "amx": ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"),
}


@dataclass(frozen=True)
class CpuInfo:
    """The facts about a CPU that decide int8 behaviour."""

    brand: str
    flags: frozenset[str]
    source: str = "this machine"

    @property
    def where(self) -> str:
        """How notes name this CPU: its brand and where the flags came from (this machine or --target-cpu)."""
        return f"{self.brand} ({self.source})"

    @property
    def vnni_flags(self) -> list[str]:
        """The flags that give native int8 dot products, in VNNI_FLAGS order."""
        return [f for f in VNNI_FLAGS if f in self.flags]

    @property
    def has_vnni(self) -> bool:
        return bool(self.vnni_flags)

    @property
    def has_amx(self) -> bool:
        return "amx_int8" in self.flags or "amx_tile" in self.flags

    @property
    def int8_can_saturate(self) -> bool:
        return not self.has_vnni

    @property
    def has_bf16(self) -> bool:
        return any(f in self.flags for f in BF16_FLAGS)

    @property
    def cpu_class(self) -> str:
        """The class that decides int8 and bf16 behaviour: AMX, AVX-512 VNNI(+BF16), AVX2 ..."""
        if self.has_amx:
            return "AMX"
        if self.has_vnni:
            kind = "AVX-512 VNNI" if "avx512_vnni" in self.flags else "AVX-VNNI"
            return kind + ("+BF16" if self.has_bf16 else "")
        return "AVX2" if "avx2" in self.flags else "pre-AVX2"

    @property
    def default_precision(self) -> str:
        """The INFERENCE_PRECISION_HINT OpenVINO's CPU plugin picks by itself here."""
        return "bf16" if self.has_bf16 else "f32"

    def default_precision_reason(self) -> str:
        where = f"{self.brand} ({self.source})"
        if self.has_bf16:
            flags = ", ".join(f for f in BF16_FLAGS if f in self.flags)
            return (f"{where} has {flags}: OpenVINO's CPU plugin runs floating-point IRs in bf16 unless "
                    "INFERENCE_PRECISION_HINT is f32, so an unpinned \"FP32\" figure here is a bf16 figure.")
        return (f"{where} has no AVX512_BF16 or AMX: OpenVINO's CPU plugin runs floating-point IRs in f32 here "
                "(no bf16 kernels).")

    def to_dict(self) -> dict:
        return {
            "brand": self.brand,
            "source": self.source,
            "flags": {f: f in self.flags for f in REPORTED_FLAGS},
            "class": self.cpu_class,
            "vnni": self.has_vnni,
            "amx": self.has_amx,
            "bf16": self.has_bf16,
            "default_precision": self.default_precision,
            "int8_can_saturate": self.int8_can_saturate,
        }


@functools.lru_cache(maxsize=1)
def host_cpu() -> CpuInfo:
    """This machine's CPU, read once with py-cpuinfo (it takes about a second)."""
    import cpuinfo

    info = cpuinfo.get_cpu_info()
    return CpuInfo(brand=info.get("brand_raw", "unknown"), flags=frozenset(info.get("flags", [])))


def target_cpu(name: str | None) -> CpuInfo:
    """The CPU to decide for: this machine, or a named deployment target."""
    if name is None:
        return host_cpu()
    if name not in TARGET_CPUS:
        raise ValueError(f"target CPU must be one of {', '.join(TARGET_CPUS)}: got {name!r}")
    return CpuInfo(brand=f"target '{name}'", flags=frozenset(TARGET_CPUS[name]), source="--target-cpu")


@dataclass(frozen=True)
class CpuDecision:
    """A setting resolved from a CPU's flags, with the reason a user can read and the CPU it was for."""

    value: str
    requested: str  # "auto" or the value the user asked for
    reason: str
    cpu: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def sparse_kernel_support(cpu: CpuInfo | None = None) -> tuple[bool, str]:
    """Whether OpenVINO's CPU plugin can use sparse int8 weight decompression here."""
    cpu = cpu or host_cpu()
    if cpu.has_amx:
        return True, f"{cpu.brand} has AMX: CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE can take effect."
    return False, (
        f"{cpu.brand} has no AMX: OpenVINO uses sparse weight decompression only on AMX CPUs, so "
        "CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE is accepted but has no effect here."
    )
