"""The machine a report's figures come from: CPU class and flags, the plugin's default precision,
core count and library versions. Every figure in a report is only meaningful with these."""

from __future__ import annotations

import os
import platform
from importlib import metadata

from ovrecipes.core.cpu import CpuInfo, host_cpu, sparse_kernel_support
from ovrecipes.report.model import Machine

LIBRARIES = ("ovrecipes", "openvino", "openvino-genai", "nncf", "optimum-intel", "optimum", "transformers", "torch",
             "numpy")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine(cpu: CpuInfo | None = None) -> Machine:
    cpu = cpu or host_cpu()
    sparse_ok, sparse_reason = sparse_kernel_support(cpu)
    return Machine(
        cpu=cpu.to_dict(), cpu_class=cpu.cpu_class, cores=os.cpu_count(),
        default_precision=cpu.default_precision, default_precision_reason=cpu.default_precision_reason(),
        sparse_weights_decompression={"supported": sparse_ok, "reason": sparse_reason},
        python=platform.python_version(), platform=platform.platform(),
        versions={name: _version(name) for name in LIBRARIES},
    )
