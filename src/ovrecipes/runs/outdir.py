"""Output directories of runs: never replace a result silently, appear complete or not at all."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from ovrecipes.core.staging import OutputExistsError, check_target, staged_directory

__all__ = ["OutputExistsError", "check_output", "staged_output"]

#: what every run's output directory holds; --overwrite replaces only a directory that has it
RUN_MARKER = "report.json"


def check_output(out: Path, overwrite: bool, inputs: Iterable[Path] = ()) -> None:
    """Fail before any slow step if ``out`` holds something and ``--overwrite`` was not given, or if it
    cannot or must not be replaced (see :func:`check_target`)."""
    check_target(Path(out), overwrite, markers=(RUN_MARKER,), inputs=inputs)


@contextmanager
def staged_output(out: Path, overwrite: bool = False, inputs: Iterable[Path] = ()) -> Iterator[Path]:
    """Yield a staging sibling of ``out`` that replaces it only if the block succeeds."""
    check_output(Path(out), overwrite, inputs)
    with staged_directory(out) as stage:
        yield stage
