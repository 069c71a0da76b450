"""``python -m ovrecipes.cli ...`` (what torchrun launches for data-parallel JPQD)."""

import sys

from ovrecipes.cli.main import main

sys.exit(main())
