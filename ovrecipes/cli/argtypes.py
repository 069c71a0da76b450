"""argparse types shared by every command and by the families' own options (a leaf module)."""

from __future__ import annotations

import argparse


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false: got {text!r}")


def _positive(kind: type, name: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {name}: got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive {name.split(' ', 1)[1]}: got {text!r}")
        return value

    parse.__name__ = f"positive_{kind.__name__}"
    return parse


positive_float = _positive(float, "a number")
positive_int = _positive(int, "a whole number")
