"""Output directories of runs: never replace a result silently, appear complete or not at all."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ovrecipes.pipelines.staging import staged_directory


class OutputExistsError(ValueError):
    pass


def check_output(out: Path, overwrite: bool) -> None:
    """Fail before any slow step if ``out`` holds something and ``--overwrite`` was not given."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"output path {out} is a file; choose a directory")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(f"output directory {out} already exists; pass --overwrite to replace it")


@contextmanager
def staged_output(out: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a staging sibling of ``out`` that replaces it only if the block succeeds."""
    check_output(Path(out).resolve(), overwrite)
    with staged_directory(out) as stage:
        yield stage
