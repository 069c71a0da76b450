"""Weight-only INT8 compression with NNCF, generic over model families.

``nncf.compress_weights`` stores the weights of MatMul, Convolution and embedding (Gather) ops as
int8 with a per-output-channel scale (and a zero point for the asymmetric mode); activations stay
in floating point, so there is no calibration data, no FakeQuantize and no accuracy search. The IR
shrinks about 4x and the runtime decompresses weights on the fly. This is what OpenVINO's own
notebooks ship for Whisper now, and what a user should compare full INT8 against.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import openvino as ov
from pydantic import BaseModel, ConfigDict, Field

from ovrecipes.pipelines.base import FamilyPipeline
from ovrecipes.pipelines.model_dirs import copy_model_dir
from ovrecipes.recipes.ir import count_ops, ir_files, ir_megabytes, save, select_submodels
from ovrecipes.recipes.ptq import IgnoredScopeConfig, check_ignored_scope

MODES = ("int8_asym", "int8_sym")


class WeightCompressionConfig(BaseModel):
    """The weight-only recipe; ``recipes/configs/<family>-wc.yaml`` holds one per family."""

    model_config = ConfigDict(extra="forbid")
    recipe: Literal["wc"] = "wc"
    mode: Literal[MODES] = "int8_asym"  # type: ignore[valid-type]
    submodels: list[str] | None = None  # None = every submodel the family declares
    ignored_scope: IgnoredScopeConfig = Field(default_factory=IgnoredScopeConfig)


class CompressedSubmodel(BaseModel):
    file: str
    mode: str
    ignored_nodes: list[str]
    int8_weight_constants: int
    fake_quantize: int
    ir_MB_before: float
    ir_MB_after: float
    seconds: float


class WeightCompressionResult(BaseModel):
    """The weight-only recipe's section of a report."""

    mode: str
    submodels: dict[str, CompressedSubmodel] = Field(default_factory=dict)


def low_bit_constants(model) -> int:
    """Weight constants stored as 8-bit integers: what compression left behind."""
    return sum(1 for op in model.get_ops() if op.get_type_name() == "Constant"
               and op.get_output_element_type(0) in (ov.Type.u8, ov.Type.i8))


def compress(pipeline: FamilyPipeline, fp32_dir: Path, out_dir: Path,
             config: WeightCompressionConfig) -> WeightCompressionResult:
    """Write the weight-compressed model directory (HF layout) into ``out_dir`` and say what was done.

    ``fp32_dir`` is the family's exported FP32 directory; configs, tokenizers and submodels that are
    not selected are copied unchanged.
    """
    import nncf

    fp32_dir, out_dir = Path(fp32_dir), Path(out_dir)
    selected = select_submodels(pipeline, config.submodels, all_by_default=True)
    core = ov.Core()
    # Every rule is checked on every submodel before anything is written.
    matched = {s.name: check_ignored_scope(core.read_model(fp32_dir / s.filename), config.ignored_scope, s.name)
               for s in selected}
    copy_model_dir(fp32_dir, out_dir, skip=[f for s in selected for f in ir_files(s)])
    ignored = None if config.ignored_scope.is_empty() else config.ignored_scope.to_nncf()
    result = WeightCompressionResult(mode=config.mode)
    for sub in selected:
        started = time.perf_counter()
        model = nncf.compress_weights(core.read_model(fp32_dir / sub.filename), mode=nncf.CompressWeightsMode(config.mode),
                                      ignored_scope=ignored)
        save(model, out_dir / sub.filename)
        result.submodels[sub.name] = CompressedSubmodel(
            file=sub.filename, mode=config.mode,
            ignored_nodes=sorted({n for v in matched[sub.name].values() for n in v}),
            int8_weight_constants=low_bit_constants(model), fake_quantize=count_ops(model, "FakeQuantize"),
            ir_MB_before=round(ir_megabytes(fp32_dir / sub.filename), 2),
            ir_MB_after=round(ir_megabytes(out_dir / sub.filename), 2),
            seconds=round(time.perf_counter() - started, 1))
    return result
