#!/usr/bin/env python
"""CGD image-retrieval recipes: a thin wrapper of `ovrecipes cgd ...`.

    python scripts/run_cgd.py ptq --out cgd-int8 --compare-torch          # embedded EfficientNet-Lite0 CGD, offline
    python scripts/run_cgd.py ptq --out cgd-int8 --ignored-scope-mode preset:published
    python scripts/run_cgd.py index --model cgd-int8 --images embedded --out cgd-db
    python scripts/run_cgd.py query --db cgd-db --image cgd-db/images/7/00000.png -k 8
    python scripts/run_cgd.py ptq --help                                  # every flag
"""

import sys

from ovrecipes.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["cgd", *sys.argv[1:]]))
