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
from typing import Iterable, Iterator

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


class OutputExistsError(ValueError):
    """An output directory this run must not write or replace."""


def check_writable(path: Path, what: str) -> None:
    """The nearest existing ancestor of ``path`` is a directory this process may write into, so a run
    fails here, in one line, and not when it writes its result after minutes of work."""
    for parent in Path(path).resolve().parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputExistsError(f"{what} {path}: {parent} is a file, not a directory")
            try:  # a real write: permissions, read-only mounts and /proc all answer the same way
                os.rmdir(tempfile.mkdtemp(prefix=".ovrecipes-probe-", dir=parent))
            except OSError as err:
                raise OutputExistsError(f"{what} {path}: cannot write into {parent} ({err.strerror})") from None
            return


def check_output_file(path: Path | None, flag: str, *, overwrite: bool = True, inputs: Iterable[Path] = ()) -> None:
    """A file a command writes after its work (``--json``, ``--grid``): fail now if it cannot be written.

    An existing file is replaced only with ``overwrite``, and never when it is an input of the run, lies
    inside an input directory, or is the weights file beside an input ``.xml`` (``bench m.xml --json
    m.bin`` would destroy the model it measures).
    """
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise OutputExistsError(f"{flag} {path} is a directory; give a file path")
    if path.exists():
        target = path.resolve()
        for given in inputs:
            source = Path(given).resolve()
            protected = {source, source.with_suffix(".bin")} if source.suffix == ".xml" else {source}
            if target in protected or source in target.parents:
                raise OutputExistsError(f"{flag} {path} would replace a file of the input {given}; "
                                        "write it somewhere else")
        if not overwrite:
            raise OutputExistsError(f"{flag} {path} already exists; pass --overwrite to replace it")
    check_writable(path, flag)


def check_target(out: Path, overwrite: bool, *, markers: tuple[str, ...], inputs: Iterable[Path] = ()) -> None:
    """Fail before any slow step unless ``out`` can take this run's output directory.

    ``--overwrite`` replaces only what an earlier run wrote (a directory holding one of ``markers``,
    e.g. report.json), never the current directory or one above it, and never a directory holding an
    input of this run (``--images db/images --out db`` would delete the images the database points to).
    """
    target = Path(out).resolve()
    if target == Path.cwd().resolve() or target in Path.cwd().resolve().parents:
        raise OutputExistsError(f"output directory {str(out) or '.'} is the current directory or holds it; "
                                "choose a new directory for the output")
    if target.exists() and not target.is_dir():
        raise OutputExistsError(f"output path {out} is a file; choose a directory")
    check_writable(target, "output directory")
    if not target.exists() or not any(target.iterdir()):
        return
    if not overwrite:
        raise OutputExistsError(f"output directory {out} already exists; pass --overwrite to replace it")
    if not any((target / m).exists() for m in markers):
        raise OutputExistsError(f"output directory {out} holds files no earlier run wrote (no {' or '.join(markers)}), "
                                "so --overwrite does not replace it: remove it yourself or choose another --out")
    for given in inputs:
        path = Path(given).resolve()
        if path == target or target in path.parents:
            raise OutputExistsError(f"--overwrite would delete {given}, which this run reads (it is inside {out}): "
                                    "choose another --out")


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
