"""One way to make a figure: headless backend, laid out, saved, and always closed (a leaf module, used
by the report and by families that draw, e.g. CGD query grids)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


@contextmanager
def saved_figure(path: Path, ncols: int = 1, **subplots: Any) -> Iterator[tuple[Any, Any]]:
    """``plt.subplots(1, ncols, **subplots)`` on the Agg backend (no display needed); when the block ends
    the figure is laid out and written to ``path``, and it is closed even if drawing failed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, **subplots)
    try:
        yield fig, axes
        fig.tight_layout()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
