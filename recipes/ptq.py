"""Post-training quantization with NNCF, generic over model families.

For every submodel a family declares, calibrate on the family's data and quantize with: ignored
scopes (names, regex patterns, op types; checked before NNCF sees them, with the closest real names
in the error), SmoothQuant alphas per submodel (or ``auto``: a grid search scored by the family's
metric), NNCF accuracy control (``max_drop``), and an overflow fix chosen from CPU flags.

Facts about NNCF 3.4 this module relies on (checked by tests/test_ptq.py):
* ``model_type=TRANSFORMER`` turns SmoothQuant on (``AdvancedSmoothQuantParameters``; matmul alpha
  0.95 by default, -1 = off); SmoothQuant does not look at the ignored scope, so an op kept in FP32
  can still get a smoothed input.
* An ignored name that is not in the graph makes NNCF raise ``nncf.ValidationError`` unless
  ``validate=False``; names are checked here first, so the error lists the closest real ops.
* OpenVINO node names change between versions and conversion routes: family presets select ops by
  type and name pattern (``scope_search``), never by fixed names.
* NNCF's own overflow fix default (``first_layer_only``) touches only the first Convolution; see
  :mod:`ovrecipes.recipes.overflow` for the choice made here.
"""

from __future__ import annotations

import difflib
import logging
import re
import time
from pathlib import Path
from typing import Literal, Union

import openvino as ov
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ovrecipes.core.cpu import TARGET_CPUS, target_cpu
from ovrecipes.pipelines.base import FamilyPipeline
from ovrecipes.pipelines.model_dirs import copy_model_dir
from ovrecipes.pipelines.types import Submodel
from ovrecipes.recipes import scope_search
from ovrecipes.recipes.ir import (
    PLUMBING_TYPES,
    count_ops,
    evaluate_replaced,
    ir_files,
    op_index,
    quantized_ops,
    save,
    select_submodels,
)
from ovrecipes.recipes.overflow import OVERFLOW_FIX_CHOICES, OverflowDecision, choose_overflow_fix
from ovrecipes.recipes.scope_search import AutoScopeConfig, ScopeModeResult

log = logging.getLogger(__name__)

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


# -- ignored scope ---------------------------------------------------------------------------------
def check_ignored_scope(model, scope: IgnoredScopeConfig, submodel: str) -> dict[str, list[str]]:
    """Nodes each rule matches; a rule that matches nothing raises one clear line (unless validate is off)."""
    ops = op_index(model)
    names = [n for n, _ in ops]
    name_set = set(names)
    types = sorted({t for _, t in ops})
    # Suggestions come from ops a user would mean (MatMul, Convolution, Softmax ...), never Constant_64.
    meant_names = [n for n, t in ops if t not in PLUMBING_TYPES]
    meant_types = [t for t in types if t not in PLUMBING_TYPES]
    matched: dict[str, list[str]] = {"names": [], "patterns": [], "types": []}

    def fail(kind: str, value: str, pool: list[str]) -> None:
        close = difflib.get_close_matches(value, pool, n=5, cutoff=0.3)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise IgnoredScopeError(
            f"ignored {kind} {value!r} matches nothing in submodel '{submodel}'{hint} "
            "(pass --ignored-scope-validate false to allow it)"
        )

    for name in scope.names:
        if name in name_set:
            matched["names"].append(name)
        elif scope.validate_:
            fail("name", name, meant_names)
    for pattern in scope.patterns:
        hits = [n for n in names if re.match(pattern, n)]
        matched["patterns"].extend(hits)
        if not hits and scope.validate_:
            fail("pattern", pattern, meant_names)
    for op_type in scope.types:
        hits = [n for n, t in ops if t == op_type]
        matched["types"].extend(hits)
        if not hits and scope.validate_:
            fail("type", op_type, meant_types or types)
    return matched


# -- quantization ----------------------------------------------------------------------------------
def _alpha_value(alpha: Alpha) -> float:
    return -1.0 if alpha == "off" else float(alpha)


def _nncf_kwargs(config: PTQConfig, alphas: SmoothQuantConfig, overflow: OverflowDecision, ignored) -> dict:
    import nncf
    from nncf.quantization.advanced_parameters import (
        AdvancedQuantizationParameters,
        AdvancedSmoothQuantParameters,
    )

    return {
        "preset": nncf.QuantizationPreset(config.preset),
        "target_device": nncf.TargetDevice(config.target_device),
        "subset_size": config.subset_size,
        "fast_bias_correction": config.fast_bias_correction,
        "ignored_scope": ignored,
        "advanced": AdvancedQuantizationParameters(
            overflow_fix=overflow.nncf_value(),
            smooth_quant_alphas=AdvancedSmoothQuantParameters(
                matmul=_alpha_value(alphas.matmul), convolution=_alpha_value(alphas.convolution)
            ),
        ),
    }


def _quantize(model, dataset, model_type: str | None, kwargs: dict, validation=None, ac=None):
    """One nncf.quantize (or quantize_with_accuracy_control) call, NNCF errors made one line."""
    import nncf

    common = dict(kwargs)
    advanced = common.pop("advanced")
    model_type_value = nncf.ModelType(model_type) if model_type else None
    try:
        if validation is None:
            return nncf.quantize(model, dataset, model_type=model_type_value, advanced_parameters=advanced, **common)
        from nncf.quantization.advanced_parameters import (
            AdvancedAccuracyRestorerParameters,
        )

        return nncf.quantize_with_accuracy_control(
            model, dataset, nncf.Dataset(validation.items), validation.metric,
            max_drop=ac.max_drop, drop_type=nncf.DropType(ac.drop_type), model_type=model_type_value,
            advanced_quantization_parameters=advanced,
            advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
                max_num_iterations=ac.max_num_iterations),
            **common,
        )
    except nncf.ValidationError as err:
        raise IgnoredScopeError(f"NNCF rejected the quantization settings: {str(err).splitlines()[0]}") from None


def _resolve_overflow(config: PTQConfig) -> OverflowDecision:
    return choose_overflow_fix(config.overflow_fix, target_cpu(config.target_cpu))


def _search_alpha(pipeline, fp32_dir: Path, sub: Submodel, dataset, config: PTQConfig,
                  base: SmoothQuantConfig, which: str, overflow: OverflowDecision, ignored) -> tuple[Alpha, list[AlphaPoint]]:
    """Try each alpha of the grid for one submodel (others stay FP32), scored on the validation split."""

    core = ov.Core()
    points: list[AlphaPoint] = []
    for alpha in config.alpha_grid:
        if alpha == "auto":
            continue
        trial = _fixed(base.model_copy(update={which: alpha}))
        started = time.perf_counter()
        model = _quantize(core.read_model(fp32_dir / sub.filename), dataset, sub.model_type,
                          _nncf_kwargs(config, trial, overflow, ignored))
        metric = evaluate_replaced(pipeline, fp32_dir, sub, model, limit=config.search_size)
        points.append(AlphaPoint(submodel=sub.name, op=which, alpha=alpha, metric=metric.value,
                                 metric_name=metric.name, samples=metric.samples,
                                 seconds=round(time.perf_counter() - started, 1)))
        log.info(f"  SmoothQuant {sub.name}.{which} alpha={alpha}: {metric.name} {metric.value:.2f} "
              f"on {metric.samples} validation samples")
    if not points:
        raise ValueError("alpha_grid has no value to try (it holds only 'auto')")
    sign = 1 if metric.higher_is_better else -1
    best = max(points, key=lambda p: sign * p.metric)
    return best.alpha, points


def _with_nodes(scope: IgnoredScopeConfig, names: list[str]):
    """The user's ignored scope plus the node names a scope mode chose, as an nncf.IgnoredScope (or None)."""
    merged = scope.model_copy(update={"names": list(dict.fromkeys([*scope.names, *names]))})
    return None if merged.is_empty() else merged.to_nncf()


def _fixed(alphas: SmoothQuantConfig) -> SmoothQuantConfig:
    """'auto' alphas replaced by NNCF's defaults, for trials run before the alpha search."""
    return alphas.model_copy(update={k: 0.95 if k == "matmul" else "off"
                                     for k in ("matmul", "convolution") if getattr(alphas, k) == "auto"})


def scope_dir_name(mode: str) -> str:
    return "scope-" + re.sub(r"[^\w.-]+", "-", mode)


def check_config(pipeline: FamilyPipeline, config: PTQConfig) -> list[Submodel]:
    """The submodels a run quantizes, after refusing what names none of the family's submodels.

    Runs before the FP32 export, so that a typo (``--sq-alpha encodr.matmul=0.5``, or a BERT
    config's ``smooth_quant: {encoder: ...}``) fails at once instead of being silently unused.
    """
    selected = select_submodels(pipeline, config.submodels, all_by_default=False)
    known = pipeline.submodel_names()
    for name in config.smooth_quant:
        if name != "default" and name not in known:
            raise ValueError(f"smooth_quant names submodel {name!r}, which the {pipeline.family} family does not have: "
                             f"use one of {', '.join(known)} or 'default'")
    return selected


def quantize(pipeline: FamilyPipeline, fp32_dir: Path, out_dir: Path, config: PTQConfig) -> PTQResult:
    """Write the INT8 model directory (HF layout) into ``out_dir`` and return what was done.

    ``fp32_dir`` is the family's exported FP32 IR directory; files of submodels that are not
    quantized (and configs, tokenizers) are copied unchanged.
    """

    fp32_dir, out_dir = Path(fp32_dir), Path(out_dir)
    overflow = _resolve_overflow(config)
    ac = config.accuracy_control
    selected = check_config(pipeline, config)
    core = ov.Core()
    # Validate every submodel's ignored scope before any slow step runs.
    matched = {s.name: check_ignored_scope(core.read_model(fp32_dir / s.filename), config.ignored_scope, s.name)
               for s in selected}
    validations = ({s.name: pipeline.validation_set(s.name, ac.validation_size) for s in selected}
                   if ac.max_drop is not None else {})  # a family without one fails here, before calibration
    calibration = pipeline.calibration_data(fp32_dir, config.calibration_samples or config.subset_size)
    copy_model_dir(fp32_dir, out_dir, skip=[f for s in selected for f in ir_files(s)])
    result = PTQResult(overflow_fix=overflow)
    for sub in selected:
        started = time.perf_counter()
        available = calibration[sub.name].get_length()
        used = min(config.subset_size, available) if available is not None else None
        if used is not None and used < config.subset_size:
            log.info(f"  subset_size {config.subset_size}: submodel {sub.name} has {available} calibration samples, "
                  f"so NNCF collects statistics on {used}")

        def trial(names: list[str], sub: Submodel = sub):
            return _quantize(core.read_model(fp32_dir / sub.filename), calibration[sub.name], sub.model_type,
                             _nncf_kwargs(config, _fixed(config.alphas_for(sub.name)), overflow,
                                          _with_nodes(config.ignored_scope, names)))

        scope = scope_search.resolve(pipeline, fp32_dir, sub, config.ignored_scope_mode, config.auto_scope, trial)
        ignored = _with_nodes(config.ignored_scope, scope.nodes)
        alphas = config.alphas_for(sub.name)
        for which in ("matmul", "convolution"):
            if getattr(alphas, which) == "auto":
                best, points = _search_alpha(pipeline, fp32_dir, sub, calibration[sub.name], config, alphas,
                                             which, overflow, ignored)
                alphas = alphas.model_copy(update={which: best})
                result.alpha_search.extend(points)
        kwargs = _nncf_kwargs(config, alphas, overflow, ignored)
        model = core.read_model(fp32_dir / sub.filename)
        reverted: list[RevertedOp] | None = None
        if ac.max_drop is not None:
            validation = validations[sub.name]
            plain = {n for n, _ in quantized_ops(_quantize(model.clone(), calibration[sub.name], sub.model_type,
                                                           kwargs))}
            model = _quantize(model, calibration[sub.name], sub.model_type, kwargs, validation, ac)
            now = {n for n, _ in quantized_ops(model)}
            types = dict(op_index(model))
            reverted = [RevertedOp(name=n, type=types.get(n, "?")) for n in sorted(plain - now)]
        else:
            model = _quantize(model, calibration[sub.name], sub.model_type, kwargs)
        save(model, out_dir / sub.filename)
        by_type: dict[str, int] = {}
        for _, t in quantized_ops(model):
            by_type[t] = by_type.get(t, 0) + 1
        result.submodels[sub.name] = SubmodelResult(
            file=sub.filename, model_type=sub.model_type, smooth_quant=alphas, ignored_scope=config.ignored_scope,
            ignored_nodes=sorted({n for v in matched[sub.name].values() for n in v} | set(scope.nodes)),
            scope_mode=scope, fake_quantize=count_ops(model, "FakeQuantize"),
            quantized_ops=by_type, reverted_by_accuracy_control=reverted,
            seconds=round(time.perf_counter() - started, 1), statistics_samples=used)
    for mode in dict.fromkeys(config.compare_scope_modes):
        if mode == config.ignored_scope_mode:
            continue
        log.info(f"== extra INT8 variant: ignored scope mode {mode}")
        extra = quantize(pipeline, fp32_dir, out_dir / scope_dir_name(mode),
                         config.model_copy(update={"ignored_scope_mode": mode, "compare_scope_modes": []}))
        result.scope_variants[mode] = ScopeVariant(dir=scope_dir_name(mode), submodels=extra.submodels)
    return result


def resolved_config(config: PTQConfig, result: PTQResult) -> PTQConfig:
    """The config with ``auto`` values replaced by what was chosen: rerunnable as ``--config``."""
    alphas = {name: sub.smooth_quant for name, sub in result.submodels.items()}
    used = [sub.statistics_samples for sub in result.submodels.values()]
    # a subset_size above every calibration set is recorded as what ran, not as a count no sample backs
    subset = max(used) if used and None not in used else config.subset_size
    return config.model_copy(update={"smooth_quant": {**config.smooth_quant, **alphas},
                                     "overflow_fix": result.overflow_fix.value, "subset_size": subset})
