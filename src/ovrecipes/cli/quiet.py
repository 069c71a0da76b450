"""Known-harmless third-party warnings, hidden inside the command line's own runs.

Each entry is a warning we have seen on every run and checked: it concerns how a library traces or
configures models we export ourselves, never the user's data or results. Anything else still shows.
``OVRECIPES_DEBUG=1`` leaves everything visible (the entry point does not call this then).
"""

from __future__ import annotations

import logging
import os
import re
import warnings

#: (warning category name, message regex): category names, so torch need not be imported to filter
HARMLESS_WARNINGS = (
    ("TracerWarning", ""),  # torch.jit tracing of transformers code during OpenVINO export
    ("FutureWarning", r"`torch\.jit\.trace"),  # the tracer's own deprecation notice
    ("FutureWarning", r".*torch_dtype.* is deprecated"),
    ("UserWarning", r"PySoundFile failed"),  # librosa falls back to audioread for formats soundfile lacks
    ("FutureWarning", r"librosa\.core\.audio\.__audioread_load"),
    ("DeprecationWarning", ""),
    # torch.onnx's exporter, for the ONNX Runtime peers: inputs that share one dynamic batch/sequence dimension
    ("UserWarning", r"# The axis name: .* will not be used, since it shares the same shape constraints"),
)
#: log messages (substring) of library loggers that are noise for a user of this package
HARMLESS_LOG_MESSAGES = (
    "loss_type=None",
    "torch_dtype",
    "Path.replace()",
    "to instantiate a model of type",
    "seem to have been set",  # max_new_tokens and max_length both set (we pass max_new_tokens)
    "`cache_position` is deprecated",  # transformers' own mask helpers, called by the exporter
    # Whisper's generate() builds its suppress-token processors and passes them on to the generic
    # generate(), which builds the same ones from the same config and says so once per clip
    "but it was also created in `.generate()`",
    # optimum-intel's OVQuantizer passes its own deprecated default on to itself (the optimum-intel INT8 peer)
    "`remove_unused_columns` is deprecated",
)
#: loggers whose warnings are start-up notices of optional backends we do not use (torch.compile, CUDA)
QUIET_LOGGERS = ("torch.utils._pytree", "torch.utils.cpp_extension")


class _DropKnownMessages(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(known in message for known in HARMLESS_LOG_MESSAGES)


def _install_log_filter() -> None:
    """Library loggers (transformers, optimum, nncf) with their own handlers get the filter on each handler;
    the root handlers get it too, for loggers that propagate."""
    drop = _DropKnownMessages()
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for name in ("", "transformers", "optimum", "nncf", "openvino"):
        logger = logging.getLogger(name)
        logger.addFilter(drop)
        for handler in logger.handlers:
            handler.addFilter(drop)
    if logging.lastResort is not None:  # what prints a warning that reached a root logger with no handler
        logging.lastResort.addFilter(drop)


_original_showwarning = warnings.showwarning


def _showwarning(message, category, filename, lineno, file=None, line=None):
    for name, pattern in HARMLESS_WARNINGS:
        if any(c.__name__ == name for c in category.__mro__) and re.search(pattern, str(message)):
            return
    _original_showwarning(message, category, filename, lineno, file, line)


def quiet_third_party(models: bool = True) -> None:
    """Hide the known warnings; ``models=False`` (commands that never load transformers, e.g. ``cpu``)
    skips configuring transformers' logger, which would cost a second of start-up."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.showwarning = _showwarning
    _install_log_filter()
    if not models:
        return
    try:  # transformers configures its root logger lazily; make it now so its handler gets the filter
        from transformers.utils import logging as hf_logging

        hf_logging.get_logger("transformers")
        hf_logging.disable_progress_bar()  # "Loading weights" bars for every model load
        _install_log_filter()
    except ImportError:
        pass
