"""ovrecipes: OpenVINO/NNCF recipes applied to model families, with measured accuracy and speed.

Import names: ``ovrecipes.pipelines`` (model families; the repository's ``pipelines/``),
``ovrecipes.recipes`` (techniques; ``recipes/``), and the layers that join them: ``ovrecipes.runs``
(a recipe run on a family, into an output directory), ``ovrecipes.measure`` (side-by-side
measurement and the recommendation), ``ovrecipes.report`` (the typed report and its writer) and
``ovrecipes.cli`` (the command line).

Imports sit at the top of each module, except for heavy or optional libraries (torch, nncf,
transformers, optimum, datasets, librosa, matplotlib, PIL, the embedded-model wheels ...) and the
project modules that import torch at their top: those are imported in the functions that use them,
so that ``ovrecipes cpu``, ``bench`` and ``--help`` start in about a second.
``tests/test_package.py`` holds every module to this rule.
"""

__version__ = "0.1.0"
