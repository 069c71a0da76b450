"""Where embedded defaults (data archives, fine-tuned and converted models) are cached.

``OVRECIPES_CACHE`` overrides the location; the default follows the XDG cache convention so a
second run reuses what the first one built.
"""

from __future__ import annotations

import os
from pathlib import Path

from ovrecipes.core.staging import staged_directory


def cache_root() -> Path:
    root = os.environ.get("OVRECIPES_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "ovrecipes"
    )
    return Path(root)


def cache_path(*parts: str) -> Path:
    path = cache_root().joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def building(target: Path):
    """Build a cache entry in a staging sibling; it appears at ``target`` only when complete, so an
    interrupted build never leaves a half-written entry (see :mod:`ovrecipes.core.staging`)."""
    return staged_directory(target)
