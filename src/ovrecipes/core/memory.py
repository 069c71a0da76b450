"""Memory as the reports state it: this process's peak, and the peak a block of work adds (in a fresh
process when several engines must not share one high-water mark)."""

from __future__ import annotations

import multiprocessing
import re
import resource
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

T = TypeVar("T")
STATUS = Path("/proc/self/status")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (what /usr/bin/time -v calls maximum resident set size)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KB


def _status_mb(field: str) -> float:
    """VmRSS / VmHWM of this process from /proc/self/status, in MB."""
    found = re.search(rf"^{field}:\s+(\d+) kB", STATUS.read_text(), re.MULTILINE)
    if found is None:
        raise RuntimeError(f"{STATUS} has no {field} line")
    return int(found.group(1)) / 1024.0


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark of this process to its current RSS (Linux >= 4.0); False if refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class RssGrowth:
    """RSS when a block started and the peak inside it, in MB; ``exact`` is False when the peak mark could
    not be reset, so ``peak_mb`` may be a peak from before the block."""

    start_mb: float
    peak_mb: float = 0.0
    exact: bool = True

    @property
    def grown_mb(self) -> float:
        return self.peak_mb - self.start_mb


@contextmanager
def rss_growth() -> Iterator[RssGrowth]:
    """How much resident memory the block adds at its peak (filled in when the block ends)."""
    growth = RssGrowth(start_mb=_status_mb("VmRSS"))
    growth.exact = _reset_peak()
    try:
        yield growth
    finally:
        growth.peak_mb = _status_mb("VmHWM") if growth.exact else peak_rss_mb()


def in_fresh_process(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a newly spawned Python process (nothing loaded or freed before it counts), its result
    returned and its exception raised here; ``fn`` and ``args`` must pickle (a module-level function)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()
