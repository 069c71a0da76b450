"""The ``ovrecipes`` command line: one module per command group (``family``, ``jpqd``, ``compare``,
``demo``, ``tools``, ``sparse``), shared option groups in ``options``, argument types in ``argtypes``,
and the entry point in ``main``. Nothing here imports ``main``; ``main`` imports the groups."""
