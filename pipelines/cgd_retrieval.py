"""Image retrieval with a CGD model: what ``ovrecipes cgd index`` and ``ovrecipes cgd query`` run.

``index`` embeds a folder of images (label = parent folder name) or a data set's test split into a
database directory (db.npz: embeddings and labels; db.json: paths, class names, the model used);
``query`` embeds one image with the same model and prints the nearest entries, with a PNG grid.
Both take an OpenVINO (FP32 or INT8) or a PyTorch CGD directory.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ovrecipes.core.figures import saved_figure
from ovrecipes.core.paths import require_file
from ovrecipes.core.staging import check_target, staged_directory
from ovrecipes.pipelines.cgd_embed import Embedder
from ovrecipes.pipelines.image_data import (
    ImageDataSpec,
    ImageItem,
    data_source,
    folder_items,
    split_items,
)

DB_ARRAYS, DB_META = "db.npz", "db.json"
DATASETS = ("embedded", "mnist", "digits")


# -- index / query ---------------------------------------------------------------------------------
def _export_split_pngs(source: str, out: Path, limit: int | None = None) -> list:
    """The test split of a built-in data set, written as PNG files so queries and grids have files."""
    items = split_items(ImageDataSpec(source=data_source(source)))["test"][:limit]
    written = []
    for i, item in enumerate(items):
        path = out / "images" / item.class_name / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        item.load().save(path)
        written.append(ImageItem(item.label, path=path, class_name=item.class_name))
    return written


def build_index(model: Path, images: str, out: Path, limit: int | None = None, overwrite: bool = False) -> dict:
    """Embed the images and write db.npz + db.json (+ images/ for a built-in data set) into ``out``."""
    if limit is not None and limit < 1:  # 0 would write an empty database, -3 all images but three
        raise ValueError(f"limit must be a positive number of images: got {limit}")
    check_target(Path(out), overwrite, markers=(DB_META,),
                 inputs=[Path(model), *([] if images in DATASETS else [Path(images)])])
    embedder = Embedder(model)
    with staged_directory(out) as stage:
        if images in DATASETS:
            items = _export_split_pngs(images, stage, limit)
            names = sorted({i.class_name for i in items}, key=lambda n: int(n) if n.isdigit() else n)
        else:
            items, names = folder_items(Path(images))
        items = items[:limit] if limit else items
        embeddings = embedder.embed(items).astype(np.float32)
        labels = np.array([i.label for i in items], np.int64)
        np.savez(stage / DB_ARRAYS, embeddings=embeddings, labels=labels)
        paths = [str(Path(out).resolve() / p.path.relative_to(stage)) if p.path.is_relative_to(stage)
                 else str(p.path.resolve()) for p in items]
        meta = {"model": str(model), "images": images, "count": len(items), "embedding_dim": int(embeddings.shape[1]),
                "paths": paths, "class_names": [i.class_name for i in items], "classes": names}
        (stage / DB_META).write_text(json.dumps(meta, indent=1))
    return meta


def load_index(db: Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    db = Path(db)
    if not (db / DB_ARRAYS).is_file() or not (db / DB_META).is_file():
        raise ValueError(f"{db} is not an embedding database (no {DB_ARRAYS}/{DB_META}); build one with "
                         "'ovrecipes cgd index'")

    def damaged(why: str) -> ValueError:
        return ValueError(f"{db} is a damaged embedding database ({why}); rebuild it with 'ovrecipes cgd index'")

    try:
        arrays = np.load(db / DB_ARRAYS)
        embeddings, labels = arrays["embeddings"], arrays["labels"]
        meta = json.loads((db / DB_META).read_text())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:  # a truncated or hand-edited file
        raise damaged(f"{type(err).__name__}: {(str(err) or 'unreadable').splitlines()[0]}") from None
    if not isinstance(meta, dict):
        raise damaged(f"{DB_META} holds a {type(meta).__name__}, not an object")
    missing = [k for k in ("model", "paths", "class_names") if k not in meta]
    if missing:
        raise damaged(f"{DB_META} lacks {', '.join(missing)}")
    if len(meta["paths"]) != len(embeddings):
        raise damaged(f"{DB_META} lists {len(meta['paths'])} images, {DB_ARRAYS} holds {len(embeddings)} embeddings")
    return embeddings, labels, meta


def search(db: Path, image: Path, k: int = 8, model: Path | None = None) -> tuple[list[dict], dict]:
    """Top-k database entries for one image file: rank, L2 distance between embeddings, label, path."""
    embeddings, _, meta = load_index(db)
    require_file(image, "query image")
    item = ImageItem(-1, path=Path(image))
    item.load()  # a file that is not an image fails here with one clear line, before the model loads
    query = Embedder(Path(model or meta["model"])).embed([item])[0]
    if query.shape[0] != embeddings.shape[1]:
        raise ValueError(f"the model gives {query.shape[0]}-d embeddings, the database holds {embeddings.shape[1]}-d")
    dist = np.sqrt(np.clip(((embeddings - query) ** 2).sum(axis=1), 0.0, None))
    order = np.argsort(dist, kind="stable")[:k]
    hits = [{"rank": r + 1, "distance": float(dist[i]), "label": meta["class_names"][i], "path": meta["paths"][i]}
            for r, i in enumerate(order)]
    return hits, meta


def save_grid(image: Path, hits: list[dict], path: Path) -> Path:
    """The query and its results side by side, with rank, label and distance under each."""
    from PIL import (
        Image,  # with the figure only: the rest of the module does not need it
    )


    panels = [(image, "query")] + [(Path(h["path"]), f"#{h['rank']} {h['label']}\nd={h['distance']:.3f}") for h in hits]
    with saved_figure(path, len(panels), figsize=(1.6 * len(panels), 2.0), dpi=100, squeeze=False) as (_, axes):
        for ax, (file, title) in zip(axes[0], panels):
            with Image.open(file) as img:
                ax.imshow(img.convert("RGB"))
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    return path
