"""Compression techniques, generic over model families (nothing here names a family).

Imported as ``ovrecipes.recipes``: the product layout keeps this folder at the repository's top
level, and pyproject.toml's ``package-dir`` installs it inside the ``ovrecipes`` package (whose own
code is in ``src/ovrecipes/``). ``from ovrecipes.recipes import ptq`` reads ``recipes/ptq.py``.
"""
