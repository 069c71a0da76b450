"""IR helpers shared by the recipes that rewrite a family's OpenVINO directory one submodel at a time.

A family's exported directory holds several files (IRs, config.json, tokenizer); a recipe replaces
the IR of one submodel and copies the rest, so the result loads with the same optimum-intel class.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import openvino as ov

from ovrecipes.pipelines.base import FamilyPipeline
from ovrecipes.pipelines.model_dirs import copy_model_dir
from ovrecipes.pipelines.types import Metric, Submodel

#: Op types nobody means when naming an op to keep in floating point: they never run a kernel a user
#: would choose to protect, and their generated names (Constant_64) drown the real suggestions.
PLUMBING_TYPES = frozenset({"Constant", "Parameter", "Result", "Convert", "ShapeOf", "Reshape", "Squeeze",
                            "Unsqueeze", "Gather", "Concat", "Broadcast", "StridedSlice", "Range"})


def select_submodels(pipeline: FamilyPipeline, names: list[str] | None, *, all_by_default: bool) -> list[Submodel]:
    """The submodels a recipe treats: ``names`` (checked), else the family's default set (or all of them)."""
    subs = pipeline.submodels()
    if names is None:
        return subs if all_by_default else [s for s in subs if s.quantize_by_default]
    known = {s.name: s for s in subs}
    for name in names:
        if name not in known:
            raise ValueError(f"submodel must be one of {', '.join(known)}: got {name!r}")
    return [known[n] for n in names]


def ir_files(sub: Submodel) -> list[str]:
    """The .xml and .bin of one submodel."""
    return [sub.filename, sub.filename[: -len(".xml")] + ".bin"]


def save(model, path: Path) -> None:
    """Save an IR as is (weights stay in the precision the recipe produced, no fp16 compression)."""

    ov.save_model(model, str(path), compress_to_fp16=False)


def op_index(model) -> list[tuple[str, str]]:
    """(friendly name, type) of every op: the names NNCF's ignored scope is matched against."""
    return [(op.get_friendly_name(), op.get_type_name()) for op in model.get_ops()]


def ir_megabytes(xml: Path) -> float:
    """Size of one IR (xml + bin) in MB."""
    return sum(Path(xml).with_suffix(suffix).stat().st_size for suffix in (".xml", ".bin")) / 2**20


def op_counts(model) -> dict[str, int]:
    return dict(Counter(op.get_type_name() for op in model.get_ops()))


def count_ops(model, op_type: str) -> int:
    return sum(1 for op in model.get_ops() if op.get_type_name() == op_type)


def quantized_ops(model) -> list[tuple[str, str]]:
    """(name, type) of ops fed by a FakeQuantize: what actually runs in int8 after PTQ."""
    found = []
    for op in model.get_ops():
        if op.get_type_name() == "FakeQuantize":
            continue
        if any(inp.get_source_output().get_node().get_type_name() == "FakeQuantize" for inp in op.inputs()):
            found.append((op.get_friendly_name(), op.get_type_name()))
    return found


def evaluate_replaced(pipeline: FamilyPipeline, fp32_dir: Path, sub: Submodel, model, *, split: str = "validation",
                      limit: int | None = None) -> Metric:
    """The family's metric with ``model`` in place of one submodel of ``fp32_dir`` (a trial, then deleted)."""
    with tempfile.TemporaryDirectory(prefix="ovrecipes-trial-") as tmp:
        trial_dir = Path(tmp)
        copy_model_dir(Path(fp32_dir), trial_dir, skip=ir_files(sub))
        save(model, trial_dir / sub.filename)
        return pipeline.evaluate(trial_dir, split=split, limit=limit)
