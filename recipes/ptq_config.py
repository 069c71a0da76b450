"""What the PTQ recipe takes (``PTQConfig``: preset, ignored scopes, SmoothQuant alphas per submodel,
accuracy control, overflow fix, scope modes) and what a run did (``PTQResult``), as validated pydantic
models that the YAML configs and report.json round-trip through."""

from __future__ import annotations

import re
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ovrecipes.core.cpu import TARGET_CPUS
from ovrecipes.recipes import scope_search
from ovrecipes.recipes.overflow import OVERFLOW_FIX_CHOICES, OverflowDecision
from ovrecipes.recipes.scope_search import AutoScopeConfig, ScopeModeResult

Alpha = Union[float, Literal["off", "auto"]]
DEFAULT_GRID: list[Alpha] = ["off", 0.15, 0.3, 0.5, 0.7, 0.8, 0.95]


class IgnoredScopeError(ValueError):
    """An ignored name, pattern or type that matches nothing in a submodel."""


class IgnoredScopeConfig(BaseModel):
    """Ops to keep in floating point: exact names, ``re.match`` patterns, OpenVINO op types."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    names: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    types: list[str] = Field(default_factory=list)
    validate_: bool = Field(True, alias="validate")

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for p in patterns:
            try:
                re.compile(p)
            except re.error as err:
                raise ValueError(f"ignored pattern {p!r} is not a valid regular expression: {err}") from None
        return patterns

    def is_empty(self) -> bool:
        return not (self.names or self.patterns or self.types)

    def to_nncf(self):
        import nncf

        return nncf.IgnoredScope(names=list(self.names), patterns=list(self.patterns),
                                 types=list(self.types), validate=self.validate_)


class SmoothQuantConfig(BaseModel):
    """SmoothQuant migration strength for MatMul and Convolution; ``off`` disables, ``auto`` searches."""

    model_config = ConfigDict(extra="forbid")
    matmul: Alpha = 0.95
    convolution: Alpha = "off"

    @field_validator("matmul", "convolution")
    @classmethod
    def _range(cls, value: Alpha) -> Alpha:
        if isinstance(value, float) and not 0.0 <= value <= 1.0:
            raise ValueError(f"SmoothQuant alpha must be in [0, 1], 'off' or 'auto': got {value}")
        return value


class AccuracyControlConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: None = plain PTQ. absolute: metric points (accuracy %); relative: a fraction of the FP32 metric
    #: (0.01 = 1%), as NNCF computes it
    max_drop: float | None = None
    drop_type: Literal["absolute", "relative"] = "absolute"
    validation_size: int = Field(500, gt=0)
    max_num_iterations: int = Field(50, gt=0)

    @model_validator(mode="after")
    def _drop_range(self) -> "AccuracyControlConfig":
        if self.max_drop is None:
            return self
        if not self.max_drop >= 0:  # NaN too: a limit nothing can be compared with
            raise ValueError(f"max_drop must be 0 or more: got {self.max_drop:g}")
        if self.drop_type == "relative" and self.max_drop > 1:
            raise ValueError(f"a relative max_drop is a fraction of the FP32 metric, from 0 to 1 (0.01 = 1%): "
                             f"got {self.max_drop:g}")
        return self


class PTQConfig(BaseModel):
    """The PTQ recipe; ``recipes/configs/<family>-ptq.yaml`` holds one per family."""

    model_config = ConfigDict(extra="forbid")
    recipe: Literal["ptq"] = "ptq"
    preset: Literal["performance", "mixed"] = "mixed"
    subset_size: int = Field(300, gt=0)  # NNCF statistics samples per submodel
    calibration_samples: int | None = Field(None, gt=0)  # family samples run for calibration; None = subset_size
    fast_bias_correction: bool = True
    target_device: Literal["ANY", "CPU", "CPU_SPR", "GPU", "NPU"] = "CPU"
    overflow_fix: Literal[OVERFLOW_FIX_CHOICES] = "auto"  # type: ignore[valid-type]
    target_cpu: Literal[tuple(TARGET_CPUS)] | None = None  # type: ignore[valid-type]
    submodels: list[str] | None = None  # None = the family's default set
    ignored_scope: IgnoredScopeConfig = Field(default_factory=IgnoredScopeConfig)
    smooth_quant: dict[str, SmoothQuantConfig] = Field(default_factory=lambda: {"default": SmoothQuantConfig()})
    alpha_grid: list[Alpha] = Field(default_factory=lambda: list(DEFAULT_GRID))
    search_size: int = Field(300, gt=0)  # validation samples per grid point
    accuracy_control: AccuracyControlConfig = Field(default_factory=AccuracyControlConfig)
    # Ops kept in FP32 on top of ignored_scope: "none", "preset:<name>" (the family's scope_presets())
    # or "auto" (per-op sensitivity search, see recipes/scope_search.py).
    ignored_scope_mode: str = "none"
    auto_scope: AutoScopeConfig = Field(default_factory=AutoScopeConfig)
    compare_scope_modes: list[str] = Field(default_factory=list)  # extra INT8 variants, one per mode

    @field_validator("ignored_scope_mode")
    @classmethod
    def _mode(cls, mode: str) -> str:
        return scope_search.check_mode(mode)

    @field_validator("compare_scope_modes")
    @classmethod
    def _modes(cls, modes: list[str]) -> list[str]:
        return [scope_search.check_mode(m) for m in modes]

    def alphas_for(self, submodel: str) -> SmoothQuantConfig:
        return self.smooth_quant.get(submodel) or self.smooth_quant.get("default") or SmoothQuantConfig()


# -- what a run did ---------------------------------------------------------------------------------
class AlphaPoint(BaseModel):
    """One SmoothQuant alpha tried by the ``auto`` search, scored on the validation split."""

    submodel: str
    op: Literal["matmul", "convolution"]
    alpha: Alpha
    metric: float
    metric_name: str
    samples: int
    seconds: float


class RevertedOp(BaseModel):
    name: str
    type: str


class SubmodelResult(BaseModel):
    """One quantized submodel: what NNCF was given and what came out."""

    file: str
    model_type: str | None
    smooth_quant: SmoothQuantConfig  # the alphas used ('auto' resolved)
    ignored_scope: IgnoredScopeConfig
    ignored_nodes: list[str]  # every op kept in floating point (user rules and the scope mode)
    scope_mode: ScopeModeResult
    fake_quantize: int
    quantized_ops: dict[str, int]  # op type -> ops fed by a FakeQuantize
    reverted_by_accuracy_control: list[RevertedOp] | None
    seconds: float
    statistics_samples: int | None = None  # what NNCF used: subset_size, or fewer if the calibration set is smaller


class ScopeVariant(BaseModel):
    """An extra INT8 model quantized with another ignored-scope mode (``compare_scope_modes``)."""

    dir: str
    submodels: dict[str, SubmodelResult]


class PTQResult(BaseModel):
    """The PTQ recipe's own section of a report."""

    overflow_fix: OverflowDecision
    submodels: dict[str, SubmodelResult] = Field(default_factory=dict)
    alpha_search: list[AlphaPoint] = Field(default_factory=list)
    scope_variants: dict[str, ScopeVariant] = Field(default_factory=dict)
