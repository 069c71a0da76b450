"""Output directories that appear complete or not at all, and never replace a result silently."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class OutputExistsError(ValueError):
    pass


def make_public(path: Path) -> None:
    """mkdtemp makes 0700 directories; a result directory gets the usual permissions instead."""
    import os

    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o777 & ~umask)


def check_output(out: Path, overwrite: bool) -> None:
    """Fail before any slow step if ``out`` holds something and ``--overwrite`` was not given."""
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"output path {out} is a file; choose a directory")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(f"output directory {out} already exists; pass --overwrite to replace it")


@contextmanager
def staged_output(out: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``out``; move it into place only if the block succeeds."""
    out = Path(out).resolve()
    check_output(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    make_public(stage)
    try:
        yield stage
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{stage.name[-8:]}")
            out.rename(old)
        stage.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
