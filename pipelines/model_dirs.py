"""Model directories on disk: which engine one is for (OpenVINO IRs, an ONNX file, or PyTorch), its IR files,
its display name while staged, and copying one."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Iterable

from ovrecipes.pipelines.onnx_runtime import ONNX_FILENAME

OV_MODEL_SUFFIX = ".xml"


def openvino_files(path: str | Path) -> list[Path]:
    """The model IRs of an OpenVINO directory (tokenizer IRs need their extension and are left out)."""
    return sorted(p for p in Path(path).glob("openvino*.xml") if "tokenizer" not in p.name)


def display_name(path: str | Path) -> str:
    """A model directory's name for progress bars: a staging directory shows the name it will get."""
    name = Path(str(path)).name
    match = re.match(r"^\.(.+)\.partial-", name)
    return match.group(1) if match else name


def is_openvino_dir(path: str | Path) -> bool:
    path = Path(path)
    return path.is_dir() and any(p.suffix == OV_MODEL_SUFFIX for p in path.iterdir())


def is_onnx_dir(path: str | Path) -> bool:
    """A directory holding an ONNX model for ONNX Runtime (a peer row), and no OpenVINO IR."""
    return (Path(path) / ONNX_FILENAME).is_file() and not is_openvino_dir(path)


def engine_of_dir(path: str | Path) -> str:
    """The runtime a model directory runs on by default: openvino, onnxruntime or pytorch."""
    return "openvino" if is_openvino_dir(path) else "onnxruntime" if is_onnx_dir(path) else "pytorch"


def copy_model_dir(src: Path, dst: Path, skip: Iterable[str] = ()) -> None:
    """Copy a model directory's top-level files (configs, tokenizer, IRs) except ``skip``.

    Subdirectories (a reference FP32 copy, plots) are not part of the model and are left out.
    """
    skip = set(skip)
    dst.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.is_file() and item.name not in skip:
            shutil.copy2(item, dst / item.name)
