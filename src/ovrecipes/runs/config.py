"""Recipe configs: the packaged YAML per family and technique, a user's file, and CLI overrides."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ovrecipes import recipes
from ovrecipes.core.paths import require_file

CONFIG_DIR = Path(recipes.__file__).parent / "configs"
#: a config file's table of settings per model ({model key: overrides}); see :func:`settings_for`
PER_MODEL = "per_model"
M = TypeVar("M", bound=BaseModel)
logger = logging.getLogger(__name__)


def default_config_path(family: str, recipe: str) -> Path:
    return CONFIG_DIR / f"{family}-{recipe}.yaml"


def read_yaml(path: Path) -> dict[str, Any]:
    path = require_file(path, "config file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"config file {path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping of options, got {type(data).__name__}")
    return data


def deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def settings_for(data: dict, model_key: str | None, where: str) -> dict:
    """One config file's settings for one model: its ``per_model[model_key]`` entry merged over the rest.

    A size of a family can need other settings than the family's default model (Whisper base keeps its
    fc2 layers in floating point where tiny.en quantizes them); the file records them beside the trial
    that chose them. The table is applied per file, so a user's file and command-line options still win.
    """
    data = dict(data)
    table = data.pop(PER_MODEL, None) or {}
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise ValueError(f"{where}: {PER_MODEL} must map a model key (such as whisper-base) to a mapping of "
                         f"options, got {table!r}")
    if model_key is None or model_key not in table:
        return data
    logger.info("%s: settings for %s (%s.%s) applied", where, model_key, PER_MODEL, model_key)
    return deep_merge(data, table[model_key])


def validate(model: type[M], data: dict, where: str) -> M:
    """Pydantic validation with the first problem as one readable line."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        message = str(first["ctx"]["error"]) if first["type"] == "value_error" else first["msg"]  # ours, unprefixed
        got = "" if "got " in message else f" (got {first.get('input')!r})"  # ours usually name the bad value
        raise ValueError(f"{where}: {loc}: {message}{got}") from None


def load_config(model: type[M], family: str, recipe: str, path: Path | None, overrides: dict,
                json_reader: Callable[[Path], tuple[dict, list[str]]] | None = None,
                model_key: str | None = None) -> tuple[M, list[str]]:
    """The packaged default for the family, then the user's file, then command-line flags.

    ``model_key`` (a pipeline's :meth:`settings_key`) picks each file's ``per_model`` entry for that model.
    ``json_reader`` reads a legacy JSON config (e.g. an NNCF JSON for JPQD) into this recipe's keys and
    returns notes on what it could not map; the notes come back with the config.
    """
    default = default_config_path(family, recipe)
    data = settings_for(read_yaml(default), model_key, str(default)) if default.exists() else {}
    notes: list[str] = []
    where = str(default)
    if path is not None:
        if json_reader is not None and Path(path).suffix.lower() == ".json":
            legacy, notes = json_reader(Path(path))
            data = deep_merge(data, legacy)
        else:
            data = deep_merge(data, settings_for(read_yaml(path), model_key, str(path)))
        where = str(path)
    data = deep_merge(data, overrides)
    return validate(model, data, where if not overrides else f"{where} with command-line options"), notes
