"""Where embedded defaults (data archives, fine-tuned and converted models) are cached.

``OVRECIPES_CACHE`` overrides the location; the default follows the XDG cache convention so a
second run reuses what the first one built.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def cache_root() -> Path:
    root = os.environ.get("OVRECIPES_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "ovrecipes"
    )
    return Path(root)


def cache_path(*parts: str) -> Path:
    path = cache_root().joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def building(target: Path) -> Iterator[Path]:
    """Build into a sibling temporary directory and move it to ``target`` only when complete.

    An interrupted build therefore never leaves a half-written cache entry behind.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        yield tmp
        tmp.chmod(0o755)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
