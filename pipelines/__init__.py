"""Model families: everything that knows a model's inputs, data and metric.

Imported as ``ovrecipes.pipelines``: the product layout keeps this folder at the repository's top
level, and pyproject.toml's ``package-dir`` installs it inside the ``ovrecipes`` package (whose own
code is in ``src/ovrecipes/``). ``from ovrecipes.pipelines import bert`` reads ``pipelines/bert.py``.
"""
