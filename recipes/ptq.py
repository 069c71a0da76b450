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

import openvino as ov

from ovrecipes.core.cpu import target_cpu
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
from ovrecipes.recipes.overflow import OverflowDecision, choose_overflow_fix
from ovrecipes.recipes.ptq_config import (
    Alpha,
    AlphaPoint,
    IgnoredScopeConfig,
    IgnoredScopeError,
    PTQConfig,
    PTQResult,
    RevertedOp,
    ScopeVariant,
    SmoothQuantConfig,
    SubmodelResult,
)

log = logging.getLogger(__name__)

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
