"""ovrecipes: OpenVINO/NNCF recipes applied to model families, with measured accuracy and speed."""

__version__ = "0.1.0"
