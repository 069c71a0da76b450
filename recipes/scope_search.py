"""Ignored-scope modes for PTQ: none, a family preset, or an automatic per-op sensitivity search.

A preset comes from the family (``FamilyPipeline.scope_presets()``) as op types and name patterns;
it is resolved to node names on the FP32 IR being quantized, so it follows whatever names the
conversion route produced. ``auto`` quantizes everything, measures on the validation split how much
of the metric each candidate op wins back when kept in FP32, then adds candidates best-first until
the drop against FP32 is within ``max_drop`` (or ``max_ops`` is reached): a small set, chosen by
measurement rather than by a list.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

import openvino as ov
from pydantic import BaseModel, ConfigDict, Field

from ovrecipes.pipelines.base import FamilyPipeline
from ovrecipes.pipelines.types import Submodel
from ovrecipes.recipes.ir import evaluate_replaced, quantized_ops

log = logging.getLogger(__name__)

MODE_SYNTAX = "'none', 'auto' or 'preset:<name>'"


class AutoScopeConfig(BaseModel):
    """Budget and cost of the ``auto`` search."""

    model_config = ConfigDict(extra="forbid")
    max_drop: float = Field(0.5, ge=0.0)  # metric points allowed below OV FP32 on the validation split
    max_ops: int | None = Field(None, gt=0)  # at most this many ops kept in FP32
    candidates: str = "preset:published"  # "preset:<name>" (falls back to all quantized ops if absent) or "all"
    search_size: int | None = Field(None, gt=0)  # validation samples per trial (None: the whole split)
    max_candidates: int = Field(24, gt=0)  # cap on per-op trials when candidates are many
    rounds: int = Field(2, gt=0)  # measuring rounds (each: every remaining op on top of those chosen)


class ScopeModeResult(BaseModel):
    """What a scope mode kept in floating point for one submodel, and how it decided."""

    mode: str
    nodes: list[str] = Field(default_factory=list)
    preset: dict[str, Any] | None = None  # the family's preset, for preset:<name>
    search: dict[str, Any] | None = None  # the auto search log (per-op trials, greedy steps, budget)


def check_mode(mode: str) -> str:
    if mode in ("none", "auto") or re.fullmatch(r"preset:[\w.-]+", mode):
        return mode
    raise ValueError(f"ignored scope mode must be {MODE_SYNTAX}: got {mode!r}")


def output_tail(model, types: set[str]) -> set[str]:
    """Ops of ``types`` reached walking back from the model's outputs through such ops only.

    Conversion routes may rename the last op after the output tensor (the ONNX frontend calls the
    final Divide of a model whose output is "embedding" just "embedding"), so a name pattern alone
    misses it; the graph walk does not.
    """
    found: set[str] = set()
    stack = [result.input_value(0).get_node() for result in model.get_results()]
    while stack:
        node = stack.pop()
        name = node.get_friendly_name()
        if node.get_type_name() not in types or name in found:
            continue
        found.add(name)
        stack.extend(inp.get_source_output().get_node() for inp in node.inputs())
    return found


def preset_nodes(model, preset: dict) -> list[str]:
    """Names of the ops a preset selects, in graph order.

    An op is selected when its type is in ``types`` (if given) AND its name matches one of
    ``patterns`` (if given); with ``from_outputs: true`` the ops of ``types`` that end the graph
    (:func:`output_tail`) are selected too, whatever their names.
    """
    types = set(preset.get("types") or [])
    patterns = [re.compile(p) for p in preset.get("patterns") or []]
    tail = output_tail(model, types) if preset.get("from_outputs") and types else set()
    chosen = []
    for op in model.get_ops():
        if op.get_type_name() in ("Parameter", "Result", "Constant"):
            continue
        name = op.get_friendly_name()
        if name in tail:
            chosen.append(name)
            continue
        if types and op.get_type_name() not in types:
            continue
        if patterns and not any(p.match(name) for p in patterns):
            continue
        chosen.append(name)
    return chosen


def _preset(pipeline: FamilyPipeline, name: str) -> dict:
    presets = pipeline.scope_presets()
    if name not in presets:
        known = ", ".join(presets) or "none"
        raise ValueError(f"the {pipeline.family} family has no ignored-scope preset {name!r} (presets: {known})")
    return presets[name]


def _candidates(pipeline: FamilyPipeline, model, quantized: list[tuple[str, str]], spec: str) -> list[str]:
    """Quantized ops the search may keep in FP32, in graph order."""
    names = [n for n, _ in quantized]
    if spec.startswith("preset:") and spec[len("preset:"):] in pipeline.scope_presets():
        selected = set(preset_nodes(model, _preset(pipeline, spec[len("preset:"):])))
        return [n for n in names if n in selected]
    if spec not in ("all",) and not spec.startswith("preset:"):
        raise ValueError(f"auto scope candidates must be 'all' or 'preset:<name>': got {spec!r}")
    return names


def _trial(pipeline, fp32_dir: Path, sub: Submodel, names: list[str], quantize_fn, limit: int | None):
    """Quantize with ``names`` kept in FP32 and score the result on the validation split."""
    model = quantize_fn(names)
    return model, evaluate_replaced(pipeline, fp32_dir, sub, model, limit=limit)


def auto_search(pipeline: FamilyPipeline, fp32_dir: Path, sub: Submodel, quantize_fn,
                config: AutoScopeConfig) -> tuple[list[str], dict[str, Any]]:
    """Greedy sensitivity search; ``quantize_fn(names)`` returns the INT8 ov.Model with ``names`` in FP32."""

    started = time.perf_counter()
    limit = config.search_size
    fp32 = pipeline.evaluate(fp32_dir, split="validation", limit=limit)
    base_model, base = _trial(pipeline, fp32_dir, sub, [], quantize_fn, limit)
    trail: dict[str, Any] = {"metric": fp32.name, "samples": fp32.samples, "fp32": fp32.value, "all_quantized": base.value,
                           "max_drop": config.max_drop, "max_ops": config.max_ops, "per_op": [], "greedy": []}

    def drop(value: float) -> float:
        return (fp32.value - value) if fp32.higher_is_better else (value - fp32.value)

    chosen: list[str] = []
    current = base.value
    sign = 1.0 if fp32.higher_is_better else -1.0

    def full() -> bool:
        return bool(config.max_ops) and len(chosen) >= config.max_ops

    if drop(current) > config.max_drop:
        fp32_model = ov.Core().read_model(fp32_dir / sub.filename)
        remaining = _candidates(pipeline, fp32_model, quantized_ops(base_model), config.candidates)
        remaining = remaining[: config.max_candidates]
        # Each round measures every remaining op on top of the ops chosen so far, then adds them
        # best-first while they help. A later round only runs when the budget is still not met:
        # one dominant op (the final normalisation) can hide what the others are worth.
        for round_no in range(1, config.rounds + 1):
            if drop(current) <= config.max_drop or full() or not remaining:
                break
            measured = []
            for name in remaining:
                _, m = _trial(pipeline, fp32_dir, sub, chosen + [name], quantize_fn, limit)
                gain = round(sign * (m.value - current), 3)
                measured.append((gain, name, m.value))
                trail["per_op"].append({"round": round_no, "name": name, "on_top_of": len(chosen),
                                      "metric": m.value, "gain": gain})
                log.info(f"  auto scope (round {round_no}): {name} in FP32 -> {m.name} {m.value:.2f} "
                         f"(now {current:.2f})")
            ranked = sorted((g, n, v) for g, n, v in measured if g > 0)[::-1]
            for i, (_, name, value) in enumerate(ranked):
                if drop(current) <= config.max_drop or full():
                    break
                if i > 0:  # the first one was measured on exactly this set already
                    _, m = _trial(pipeline, fp32_dir, sub, chosen + [name], quantize_fn, limit)
                    value = m.value
                trail["greedy"].append({"round": round_no, "added": name, "ops": len(chosen) + 1, "metric": value})
                if sign * (value - current) > 0:
                    chosen, current = chosen + [name], value
            remaining = [n for n in remaining if n not in chosen]
    trail.update({"chosen": chosen, "metric_with_chosen": current, "drop": round(drop(current), 3),
                "met_budget": drop(current) <= config.max_drop, "seconds": round(time.perf_counter() - started, 1)})
    return chosen, trail


def resolve(pipeline: FamilyPipeline, fp32_dir: Path, sub: Submodel, mode: str, auto: AutoScopeConfig,
            quantize_fn) -> ScopeModeResult:
    """Node names the mode keeps in FP32 for one submodel, and what the report says about it."""

    mode = check_mode(mode)
    if mode == "none":
        return ScopeModeResult(mode=mode)
    if mode.startswith("preset:"):
        name = mode[len("preset:"):]
        preset = _preset(pipeline, name)
        nodes = preset_nodes(ov.Core().read_model(fp32_dir / sub.filename), preset)
        if not nodes:
            raise ValueError(f"ignored-scope preset {name!r} selects no op in submodel '{sub.name}'")
        return ScopeModeResult(mode=mode, preset=preset, nodes=nodes)
    nodes, trail = auto_search(pipeline, fp32_dir, sub, quantize_fn, auto)
    return ScopeModeResult(mode=mode, nodes=nodes, search=trail)
