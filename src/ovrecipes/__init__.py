"""ovrecipes: OpenVINO/NNCF recipes applied to model families, with measured accuracy and speed.

The public Python API is exported here (defined in ``ovrecipes.api``; see ``help(ovrecipes.ptq)``)::

    import ovrecipes
    report = ovrecipes.ptq(ovrecipes.family("bert"), "int8-minilm", compare_torch=True)

Import names: ``ovrecipes.pipelines`` (model families; the repository's ``pipelines/``),
``ovrecipes.recipes`` (techniques; ``recipes/``), and the layers that join them: ``ovrecipes.runs``
(a recipe run on a family, into an output directory), ``ovrecipes.measure`` (side-by-side
measurement and the recommendation), ``ovrecipes.report`` (the typed report and its writer) and
``ovrecipes.cli`` (the command line).

Imports sit at the top of each module, except for heavy or optional libraries (torch, nncf,
transformers, optimum, datasets, librosa, matplotlib, PIL, the embedded-model wheels ...) and the
project modules that import torch at their top: those are imported in the functions that use them,
so that ``ovrecipes cpu``, ``bench`` and ``--help`` start in about a second. The API names below are
loaded on first use for the same reason. ``tests/test_package.py`` holds every module to this rule.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: the public API: exactly these names (each documented in ovrecipes.api)
__all__ = ["family", "families", "ptq_config", "ptq", "jpqd_config", "jpqd", "compare", "compare_reports", "bench",
           "deploy", "retrieval_index", "retrieval_search", "read_report", "cpu_info", "sparse_stats", "sparse_config",
           "sparse_check", "sparse_sweep", "sparse_prune", "MeasureOptions", "WorkloadOptions", "PTQConfig", "JPQDConfig",
           "WeightCompressionConfig", "Report", "FamilyPipeline", "Deployment"]


def __getattr__(name: str) -> Any:
    """The API names, imported from ovrecipes.api when first used (PEP 562)."""
    if name in __all__:
        return getattr(importlib.import_module("ovrecipes.api"), name)
    raise AttributeError(f"module 'ovrecipes' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
