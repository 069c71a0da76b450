#!/usr/bin/env python
"""Whisper-family recipes: a thin wrapper of `ovrecipes whisper ...`.

    python scripts/run_whisper.py ptq --out whisper-int8 --compare-torch        # embedded tiny.en, offline
    python scripts/run_whisper.py ptq --model embedded:whisper-base --out base-int8
    python scripts/run_whisper.py ptq --model ./my-whisper --dataset clips/manifest.csv --out int8 --stateful
    python scripts/run_whisper.py ptq --sq-alpha encoder.matmul=auto --out int8   # alpha search scored by WER
    python scripts/run_whisper.py ptq --help                                     # every flag
"""

import sys

from ovrecipes.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["whisper", *sys.argv[1:]]))
