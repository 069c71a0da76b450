"""The movement warmup schedule: threshold and regularization factor per optimizer step.

Before ``warmup_start_epoch`` nothing is masked (threshold -inf, factor 0); during warmup both follow
the concave polynomial ``1 - (1 - progress) ** power`` from their initial to final values (so most of
the pruning happens early, leaving time to recover); from ``warmup_end_epoch`` on they stay final and
the masks are frozen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PRE_WARMUP, IN_WARMUP, POST_WARMUP = "pre_warmup", "in_warmup", "post_warmup"


@dataclass(frozen=True)
class MovementSchedule:
    warmup_start_epoch: float
    warmup_end_epoch: float
    steps_per_epoch: int
    regularization_factor: float
    final_threshold: float = 0.0
    power: float = 3.0

    @property
    def start_step(self) -> int:
        return int(self.warmup_start_epoch * self.steps_per_epoch)

    @property
    def end_step(self) -> int:
        return int(self.warmup_end_epoch * self.steps_per_epoch)

    def stage(self, step: int) -> str:
        if step < self.start_step:
            return PRE_WARMUP
        return IN_WARMUP if step < self.end_step else POST_WARMUP

    def scale(self, step: int) -> float:
        """Warmup progress through the cubic ramp: 0 at the start step, 1 at the end step."""
        span = max(self.end_step - self.start_step, 1)
        progress = min(max((step - self.start_step) / span, 0.0), 1.0)
        return 1.0 - (1.0 - progress) ** self.power

    def threshold(self, step: int, init_threshold: float | None) -> float:
        stage = self.stage(step)
        if stage == PRE_WARMUP:
            return -math.inf
        if stage == POST_WARMUP:
            return self.final_threshold
        start = self.final_threshold if init_threshold is None else init_threshold
        return start + self.scale(step) * (self.final_threshold - start)

    def factor(self, step: int) -> float:
        stage = self.stage(step)
        if stage == PRE_WARMUP:
            return 0.0
        if stage == POST_WARMUP:
            return self.regularization_factor
        return self.scale(step) * self.regularization_factor
