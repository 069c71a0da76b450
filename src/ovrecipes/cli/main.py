"""The ``ovrecipes`` entry point: builds the parser from the command groups and runs one command.

Errors a user can fix (bad flags, missing files, an ignored name that is not in the model, an
existing output directory) are printed as one line and exit with status 2. SIGINT and SIGTERM end a
run cleanly: staging directories are removed (a JPQD work directory stays, for resume). Known
harmless third-party warnings are hidden; ``OVRECIPES_DEBUG=1`` shows tracebacks and every warning.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from ovrecipes.cli import compare, demo, family, sparse, tools
from ovrecipes.cli.logs import show_library_logs
from ovrecipes.cli.quiet import quiet_third_party
from ovrecipes.core.openvino import openvino_reason

EXAMPLES = """examples:
  ovrecipes demo                                   # the main job, offline, on the embedded MiniLM
  ovrecipes bert ptq --out int8-minilm             # PTQ of the embedded default
  ovrecipes bert ptq --model textattack/bert-base-uncased-SST-2 --dataset glue --dataset-config sst2 \\
      --text-column sentence --split validation --out int8-sst2 --max-drop 0.5
  ovrecipes bench int8-minilm --shape '[1,64]' --hint throughput --time 10
  ovrecipes compare bert int8-minilm/fp32 int8-minilm --out cmp
  ovrecipes cpu
"""
GROUPS = (demo, family, compare, tools, sparse)
LIGHT_COMMANDS = ("cpu", "bench")  # never load a Hugging Face model


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ovrecipes", description="OpenVINO/NNCF recipes with measured accuracy and throughput.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    talk = parser.add_mutually_exclusive_group()
    talk.add_argument("-q", "--quiet", action="store_true",
                      help="only the results (tables, recommendation), warnings and errors; no progress lines")
    talk.add_argument("-v", "--verbose", action="store_true", help="debug lines of ovrecipes too")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


def one_line(err: Exception) -> str:
    """The error as one line: its first line, or for OpenVINO's C++ errors the reason without source locations."""
    text = str(err).strip()
    if not text:
        return type(err).__name__
    return openvino_reason(err) if text.startswith(("Exception from ", "Check '")) else text.splitlines()[0]


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so every ``finally`` (staging directories) runs; a BaseException,
    like KeyboardInterrupt, so that no ``except Exception`` (one failed measurement point) swallows it."""


def _terminate(signum, frame) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    debug = bool(os.environ.get("OVRECIPES_DEBUG"))
    args = build_parser().parse_args(argv)
    if not debug:
        quiet_third_party(models=args.command not in LIGHT_COMMANDS)
    show_library_logs(logging.DEBUG if debug or args.verbose else logging.WARNING if args.quiet else logging.INFO)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        args.handler(args)
    except (ValueError, OSError, RuntimeError) as err:  # OSError: a path that cannot be read or written
        if debug:
            raise
        print(f"ovrecipes: error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ovrecipes: interrupted; no output directory was written", file=sys.stderr)
        return 130
    except Terminated:
        print("ovrecipes: terminated; no output directory was written", file=sys.stderr)
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
