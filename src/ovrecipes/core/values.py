"""Parsers of option text shared by the command line and the families' option declarations: each returns the
value or raises ValueError naming the bad text and what is allowed."""

from __future__ import annotations

import math
from typing import Callable


def parse_bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"expected true or false: got {text!r}")


def _bounded(kind: type, name: str, *, zero_ok: bool) -> Callable[[str], int | float]:
    """A parser for numbers above zero (or from zero, with ``zero_ok``) that names the bad text."""
    noun = name.split(" ", 1)[1]  # "number", "whole number"
    wanted = f"a {noun} of 0 or more" if zero_ok else f"a positive {noun}"

    def parse(text: str):
        try:
            value = kind(text)
        except (TypeError, ValueError):
            raise ValueError(f"expected {name}: got {text!r}") from None
        if not math.isfinite(value) or not (value >= 0 if zero_ok else value > 0):
            raise ValueError(f"expected {wanted}: got {text!r}")
        return value

    parse.__name__ = f"{'non_negative' if zero_ok else 'positive'}_{kind.__name__}"
    return parse


positive_float = _bounded(float, "a number", zero_ok=False)
positive_int = _bounded(int, "a whole number", zero_ok=False)
non_negative_float = _bounded(float, "a number", zero_ok=True)
non_negative_int = _bounded(int, "a whole number", zero_ok=True)
