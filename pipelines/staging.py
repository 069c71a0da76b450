"""Directories that appear complete or not at all: build in a sibling, then rename into place.

Used for every run's output directory and every cache entry. The sibling is named
``.<name>.partial-<pid>-<random>``: the pid says which process owns it, so a later run can sweep
what a killed run (SIGKILL, power loss) left behind without touching a run that is still going.
SIGINT and SIGTERM are turned into exceptions by the command line, so the ``finally`` below removes
the sibling of an interrupted run.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

PARTIAL = ".partial-"


def _owner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def sweep_stale(target: Path) -> list[Path]:
    """Remove ``.<name>.partial-*`` siblings of ``target`` whose owning process is gone; return them."""
    target = Path(target)
    if not target.parent.is_dir():
        return []
    removed = []
    pattern = re.compile(re.escape(f".{target.name}{PARTIAL}") + r"(?:(\d+)-)?")
    for sibling in target.parent.iterdir():
        match = pattern.match(sibling.name)
        if not match or not sibling.is_dir():
            continue
        pid = int(match.group(1)) if match.group(1) else None  # older names carried no pid: nobody owns them
        if pid is not None and (pid == os.getpid() or _owner_alive(pid)):
            continue
        shutil.rmtree(sibling, ignore_errors=True)
        removed.append(sibling)
    return removed


def _public(path: Path) -> None:
    """mkdtemp makes 0700 directories; a result gets the usual permissions instead."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o777 & ~umask)


@contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """Yield an empty sibling of ``target``; when the block succeeds it replaces ``target``.

    Whatever happens in the block (an error, Ctrl-C, SIGTERM), the sibling is removed and ``target``
    keeps what it held before.
    """
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(target)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}{PARTIAL}{os.getpid()}-", dir=target.parent))
    _public(stage)
    try:
        yield stage
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{stage.name[-8:]}")
            target.rename(old)
        stage.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
