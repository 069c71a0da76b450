"""What the command line shows of the library's logging: the ``ovrecipes`` loggers' progress lines on
standard output, as plain lines. Library code logs; only the command line decides to print."""

from __future__ import annotations

import logging
import sys

LOGGER = "ovrecipes"


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time (a test's capture, a redirected stream)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns one; sys.stdout is always used
        pass


def show_library_logs(level: int = logging.INFO) -> None:
    """Progress lines of the ``ovrecipes`` loggers at ``level`` and above go to standard output (once)."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(level)
    logger.propagate = False
    if not any(isinstance(h, _StdoutHandler) for h in logger.handlers):
        logger.addHandler(_StdoutHandler())
