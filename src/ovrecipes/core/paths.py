"""Input paths: one wording for a path that is missing or of the wrong kind (a leaf module)."""

from __future__ import annotations

from pathlib import Path


def require_file(path: str | Path, what: str) -> Path:
    """``path`` as a Path if it is a file; else a ValueError that says whether it is missing or a directory."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} {path} {'is a directory, not a file' if path.is_dir() else 'does not exist'}")
    return path


def require_dir(path: str | Path, what: str) -> Path:
    """``path`` as a Path if it is a directory; else a ValueError that says whether it is missing or a file."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{what} {path} {'is a file, not a directory' if path.exists() else 'does not exist'}")
    return path
