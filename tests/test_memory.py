"""Memory figures: the peak a block adds, and work run in a fresh process."""

from __future__ import annotations

import os

import numpy as np
import pytest

from ovrecipes.core.memory import in_fresh_process, rss_growth


def test_rss_growth_sees_a_freed_allocation_inside_the_block():
    big = np.ones(64 * 2**20 // 8)  # touched first, so the block starts above it
    with rss_growth() as before:
        pass
    with rss_growth() as inside:
        block = np.ones(200 * 2**20 // 8)  # 200 MB written, then freed before the block ends
        del block
    assert inside.exact and before.exact
    assert 170 < inside.grown_mb < 260, inside
    assert before.grown_mb < 20, before  # the earlier 64 MB is not this block's
    del big


def test_in_fresh_process_runs_elsewhere_and_raises_here():
    assert in_fresh_process(os.getpid) != os.getpid()
    with pytest.raises(ValueError, match="invalid literal"):
        in_fresh_process(int, "not a number")
