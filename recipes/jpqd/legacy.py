"""Import the NNCF JSON compression configs that optimum-intel <= 1.22 JPQD users have.

Accepted shapes: a list of algorithm entries (``[{"algorithm": "movement_sparsity", ...},
{"algorithm": "quantization", ...}]``), a full NNCF config with a ``compression`` key, or a single
entry. Trailing commas and ``//`` comments are tolerated. Options with no counterpart in the NNCF 3.x
flow are listed as notes instead of failing the run; unknown algorithms are an error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

MOVEMENT_PARAMS = ("warmup_start_epoch", "warmup_end_epoch", "importance_regularization_factor",
                   "enable_structured_masking", "init_importance_threshold", "final_importance_threshold",
                   "power", "steps_per_epoch")
DISTILLATION_TYPES = {"softmax": "kl", "mse": "mse"}


def parse_lenient_json(text: str, where: str = "config") -> Any:
    """json.loads after removing // comments and trailing commas before ] or }."""
    cleaned = re.sub(r'("(?:\\.|[^"\\])*")|//[^\n]*', lambda m: m.group(1) or "", text)
    cleaned = re.sub(r'("(?:\\.|[^"\\])*")|,(\s*[\]}])', lambda m: m.group(1) or m.group(2), cleaned)
    try:
        return json.loads(cleaned)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None


def _entries(data: Any, where: str) -> list[dict]:
    if isinstance(data, dict) and "compression" in data:
        data = data["compression"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(e, dict) and "algorithm" in e for e in data):
        raise ValueError(f"{where}: expected a list of NNCF compression entries, each with an 'algorithm'")
    return data


def _movement(entry: dict, notes: list[str]) -> dict:
    params = dict(entry.get("params", {}))
    out: dict[str, Any] = {k: params.pop(k) for k in MOVEMENT_PARAMS if k in params}
    for key in params:
        notes.append(f"movement_sparsity.params.{key} is not supported and was ignored")
    if "sparse_structure_by_scopes" in entry:
        out["sparse_structure_by_scopes"] = entry["sparse_structure_by_scopes"]
    if "ignored_scopes" in entry:
        out["ignored_scopes"] = entry["ignored_scopes"]
    if "compression_lr_multiplier" in entry:
        out["importance_lr_multiplier"] = entry["compression_lr_multiplier"]
    for key in set(entry) - {"algorithm", "params", "sparse_structure_by_scopes", "ignored_scopes",
                             "compression_lr_multiplier"}:
        notes.append(f"movement_sparsity.{key} is not supported and was ignored")
    return out


def _quantization(entry: dict, notes: list[str]) -> dict:
    out: dict[str, Any] = {"enabled": True}
    if "preset" in entry:
        out["preset"] = entry["preset"]
    if "overflow_fix" in entry:
        out["overflow_fix"] = entry["overflow_fix"]
        notes.append(f"quantization.overflow_fix={entry['overflow_fix']} kept; 'auto' would choose from this CPU's "
                     "flags (see 'ovrecipes cpu')")
    if "ignored_scopes" in entry:
        out["ignored_scopes"] = entry["ignored_scopes"]
        notes.append("quantization.ignored_scopes name NNCF 2.x graph nodes; they are passed to NNCF 3.x as "
                     "patterns without validation and may match nothing")
    init = entry.get("initializer", {})
    samples = init.get("range", {}).get("num_init_samples")
    if samples is not None:
        out["subset_size"] = int(samples)
    if init.get("range", {}).get("type") not in (None, "min_max", "mean_min_max"):
        notes.append(f"quantization.initializer.range.type={init['range']['type']} is not supported: NNCF 3.x "
                     "initializes ranges with its own statistics")
    for key in set(init) - {"range"}:
        notes.append(f"quantization.initializer.{key} is not supported and was ignored")
    for key in set(entry) - {"algorithm", "preset", "overflow_fix", "ignored_scopes", "initializer"}:
        notes.append(f"quantization.{key} is not supported by the NNCF 3.x torch QAT flow and was ignored")
    return out


def _distillation(entry: dict, notes: list[str]) -> dict:
    kind = entry.get("type", "softmax")
    if kind not in DISTILLATION_TYPES:
        raise ValueError(f"knowledge_distillation.type must be softmax or mse: got {kind!r}")
    out = {"enabled": True, "loss": DISTILLATION_TYPES[kind]}
    if "temperature" in entry:
        out["temperature"] = entry["temperature"]
    if "scale" in entry:
        notes.append("knowledge_distillation.scale is not supported; use distillation.weight")
    return out


def import_legacy(data: Any, where: str = "legacy config") -> tuple[dict, list[str]]:
    """A partial JPQD config (dict) and notes on what was not carried over."""
    notes: list[str] = []
    config: dict[str, Any] = {"movement": {"enabled": False}, "quantization": {"enabled": False}}
    for entry in _entries(data, where):
        algorithm = entry["algorithm"]
        if algorithm == "movement_sparsity":
            config["movement"] = {"enabled": True, **_movement(entry, notes)}
        elif algorithm == "quantization":
            config["quantization"] = _quantization(entry, notes)
        elif algorithm == "knowledge_distillation":
            config["distillation"] = _distillation(entry, notes)
        else:
            raise ValueError(f"{where}: algorithm {algorithm!r} is not supported by the JPQD recipe "
                             "(movement_sparsity, quantization, knowledge_distillation)")
    return config, notes


def read_legacy(path: Path) -> tuple[dict, list[str]]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file {path} does not exist")
    return import_legacy(parse_lenient_json(path.read_text(), str(path)), str(path))
