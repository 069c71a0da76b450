"""Embedding images with a CGD model (OpenVINO IR or PyTorch, same preprocessing) and scoring
retrieval by leave-one-out recall@K: what evaluation, indexing and queries share."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ovrecipes.core.openvino import compile_model, precision_config
from ovrecipes.pipelines import onnx_runtime
from ovrecipes.pipelines.cgd_config import CGDConfig
from ovrecipes.pipelines.cgd_export import OV_FILENAME
from ovrecipes.pipelines.image_data import ImageItem, batch
from ovrecipes.pipelines.model_dirs import is_onnx_dir, is_openvino_dir

RECALL_KS = (1, 2, 4, 8)
EVAL_BATCH = 32


def recall_at_k(embeddings: np.ndarray, labels: np.ndarray, ks: Sequence[int] = RECALL_KS) -> dict[int, float]:
    """Leave-one-out recall@K (%): each item queries all others; a hit is any same-label item in the top K."""
    sims = embeddings @ embeddings.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argsort(-sims, axis=1)[:, : max(ks)]
    hits = labels[top] == labels[:, None]
    return {k: float(100.0 * hits[:, :k].any(axis=1).mean()) for k in ks}


class Embedder:
    """Embeds images with an OpenVINO IR directory or a PyTorch CGD directory (same preprocessing)."""

    def __init__(self, model_dir: Path, precision: str | None = None) -> None:
        self.model_dir = Path(model_dir)
        self.config = CGDConfig.load(self.model_dir)
        self._torch = self._onnx = None
        if is_openvino_dir(self.model_dir):

            self._compiled = compile_model(self.model_dir / OV_FILENAME,
                                                   {"PERFORMANCE_HINT": "LATENCY", **precision_config(precision)})
            self._request = self._compiled.create_infer_request()
        elif is_onnx_dir(self.model_dir):  # an ONNX Runtime peer
            self._onnx = onnx_runtime.Session(self.model_dir)
        else:
            from ovrecipes.pipelines.cgd_model import load_torch_dir

            self._torch = load_torch_dir(self.model_dir)

    def preprocess(self, items: list[ImageItem]) -> np.ndarray:
        return batch(items, self.config.image_size, self.config.mean, self.config.std)

    def embed_arrays(self, images: np.ndarray) -> np.ndarray:
        if self._onnx is not None:
            return np.asarray(self._onnx.run({self._onnx.names[0]: images})[0])
        if self._torch is not None:
            import torch

            with torch.inference_mode():
                return self._torch(torch.from_numpy(images)).numpy()
        return np.asarray(self._request.infer({0: images})[self._compiled.outputs[0]]).copy()

    def embed(self, items: list[ImageItem]) -> np.ndarray:
        parts = [self.embed_arrays(self.preprocess(items[s : s + EVAL_BATCH])) for s in range(0, len(items), EVAL_BATCH)]
        return np.concatenate(parts) if parts else np.zeros((0, self.config.embedding_dim), np.float32)
