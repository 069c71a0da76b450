"""The families the package knows, by name. Each family declares its :class:`FamilySpec` in its own
module; this is the one list of them. ``register`` adds another (a plug-in, or a test's family)."""

from __future__ import annotations

from ovrecipes.pipelines import bert, cgd, whisper
from ovrecipes.pipelines.base import FamilySpec

FAMILIES: dict[str, FamilySpec] = {spec.name: spec for spec in (bert.SPEC, cgd.SPEC, whisper.SPEC)}


def register(spec: FamilySpec) -> None:
    if spec.name in FAMILIES and FAMILIES[spec.name] is not spec:
        raise ValueError(f"a family named {spec.name!r} is already registered")
    FAMILIES[spec.name] = spec


def family(name: str) -> FamilySpec:
    if name not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}: got {name!r}")
    return FAMILIES[name]
