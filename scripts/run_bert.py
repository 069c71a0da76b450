#!/usr/bin/env python
"""BERT-family recipes: a thin wrapper of `ovrecipes bert ...`.

    python scripts/run_bert.py ptq --out int8-minilm                     # embedded MiniLM, offline
    python scripts/run_bert.py ptq --model ./my-finetuned-bert --dataset reviews.csv --out int8 --max-drop 0.5
    python scripts/run_bert.py ptq --model textattack/bert-base-uncased-SST-2 --dataset glue \\
        --dataset-config sst2 --split validation --text-column sentence --out int8-sst2   # needs the hub
    python scripts/run_bert.py ptq --help                                # every flag
"""

import sys

from ovrecipes.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["bert", *sys.argv[1:]]))
