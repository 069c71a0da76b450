"""argparse types: the core's value parsers (:mod:`ovrecipes.core.values`) with their ValueError turned into
argparse's own error, so a bad value reads ``argument --x: expected a positive whole number: got '0'``."""

from __future__ import annotations

import argparse
import functools
from typing import Any, Callable

from ovrecipes.core import values


def argtype(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` for argparse's ``type=``: its ValueError message becomes the flag's error line."""

    @functools.wraps(parse)
    def checked(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return checked


parse_bool = argtype(values.parse_bool)
positive_float = argtype(values.positive_float)
positive_int = argtype(values.positive_int)
non_negative_float = argtype(values.non_negative_float)
non_negative_int = argtype(values.non_negative_int)
