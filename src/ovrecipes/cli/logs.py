"""What the command line shows of the library's logging: the ``ovrecipes`` loggers' progress lines on
standard output, as plain lines. Library code logs; only the command line decides to print."""

from __future__ import annotations

import logging
import sys

from ovrecipes.report.writer import SUMMARY_LOGGER

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
    """Log lines of the ``ovrecipes`` loggers at ``level`` and above go to standard output (once); a run's
    closing summary (``ovrecipes.summary``) is shown at any level up to WARNING, so ``--quiet`` keeps it."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(level)
    logger.propagate = False
    logging.getLogger(SUMMARY_LOGGER).setLevel(min(level, logging.INFO))
    if not any(isinstance(h, _StdoutHandler) for h in logger.handlers):
        logger.addHandler(_StdoutHandler())
