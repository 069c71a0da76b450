"""ONNX Runtime, the peer a user weighs against OpenVINO on CPU: export, dynamic INT8, and a session.

Family-agnostic: a family hands over its PyTorch module and one example input; the peers are an
ONNX export of that same module (FP32) and ``onnxruntime.quantization.quantize_dynamic`` of it (the
usual transformer recipe: int8 weights, activations quantized at run time, after ONNX Runtime's
recommended pre-processing). Each peer is a directory holding ``model.onnx`` and ``peer.json``
(how it was made). Sessions use the same thread count as the OpenVINO runs and every graph
optimisation ONNX Runtime has (``ORT_ENABLE_ALL``), as a user tuning for speed would.

Needs the optional extra ``peers`` (onnxruntime, onnx, onnxscript): ``pip install 'ovrecipes[peers]'``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ovrecipes.pipelines.types import BenchTarget

log = logging.getLogger(__name__)

ONNX_FILENAME = "model.onnx"
INFO_FILENAME = "peer.json"
INSTALL_HINT = "pip install 'ovrecipes[peers]'"
#: what the export (torch.onnx's dynamo exporter) and the runtime need
REQUIRED = ("onnxruntime", "onnx", "onnxscript")


def missing_packages() -> list[str]:
    """The packages of the ``peers`` extra this environment lacks (empty: ONNX Runtime peers can run)."""
    return [name for name in REQUIRED if importlib.util.find_spec(name) is None]


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def export(module: Any, example: dict[str, np.ndarray], dynamic_axes: dict[str, list[int]], out_dir: Path) -> Path:
    """``module(**example)`` exported to ``out_dir/model.onnx`` with torch.onnx's dynamo exporter; the axes
    in ``dynamic_axes`` stay dynamic (batch, sequence), as optimum-intel's OpenVINO export leaves them."""
    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = {k: torch.as_tensor(v) for k, v in example.items()}
    dims: dict[int, Any] = {}
    shapes = {name: {axis: dims.setdefault(axis, torch.export.Dim(f"d{axis}", min=1 if axis == 0 else 2))
                     for axis in dynamic_axes.get(name, [])} or None for name in inputs}
    chatter = io.StringIO()  # the exporter prints its progress; keep it in the debug log
    with torch.no_grad(), contextlib.redirect_stdout(chatter):
        torch.onnx.export(module.eval(), (), str(out_dir / ONNX_FILENAME), kwargs=inputs, dynamo=True,
                          dynamic_shapes=shapes, external_data=False, verbose=False)
    log.debug(chatter.getvalue())
    _write_info(out_dir, {"engine": "onnxruntime", "weights": "fp32", "made_by": "torch.onnx.export(dynamo=True)",
                          "torch": _version("torch"), "onnx": _version("onnx")})
    return out_dir


def quantize_dynamic(src_dir: Path, out_dir: Path) -> Path:
    """Dynamic INT8 of an exported peer: ONNX Runtime's quantization pre-processing (shape inference and
    graph optimisation; skipped with a debug line if it cannot handle the graph), then ``quantize_dynamic``
    with signed int8 weights, per tensor (its defaults)."""
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as ort_quantize_dynamic

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    source = Path(src_dir) / ONNX_FILENAME
    prepared = out_dir / "preprocessed.onnx"
    try:
        from onnxruntime.quantization.shape_inference import quant_pre_process

        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        steps = "quant_pre_process, quantize_dynamic(weight_type=QInt8)"
    except Exception as err:  # pre-processing is advice, not a requirement
        log.debug("ONNX Runtime's quantization pre-processing failed (%s); quantizing the export as it is", err)
        shutil.copy2(source, prepared)
        steps = "quantize_dynamic(weight_type=QInt8)"
    ort_quantize_dynamic(str(prepared), str(out_dir / ONNX_FILENAME), weight_type=QuantType.QInt8)
    prepared.unlink()
    _write_info(out_dir, {"engine": "onnxruntime", "weights": "int8", "made_by": steps,
                          "onnxruntime": _version("onnxruntime")})
    return out_dir


def _write_info(out_dir: Path, info: dict) -> None:
    (Path(out_dir) / INFO_FILENAME).write_text(json.dumps(info, indent=2))


def weights_of(model_dir: Path) -> str:
    """'int8' or 'fp32', as the peer's peer.json records it ('fp32' when there is none)."""
    info = Path(model_dir) / INFO_FILENAME
    return json.loads(info.read_text()).get("weights", "fp32") if info.is_file() else "fp32"


class Session:
    """An ONNX Runtime CPU session over a peer directory, with ``threads`` intra-op threads (default: every
    core, as OpenVINO's CPU plugin uses) and every graph optimisation; ``run`` takes one item's inputs."""

    def __init__(self, model_dir: Path, threads: int | None = None) -> None:
        missing = missing_packages()
        if "onnxruntime" in missing:
            raise ValueError(f"{model_dir} is an ONNX model and onnxruntime is not installed: {INSTALL_HINT}")
        import onnxruntime as ort

        options = ort.SessionOptions()
        self.threads = int(threads or os.cpu_count() or 1)
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        path = Path(model_dir) / ONNX_FILENAME
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types
            raise ValueError(f"cannot load ONNX model {path}: {str(err).splitlines()[0]}") from None
        self.names = [i.name for i in self.session.get_inputs()]
        self.precision = "int8" if weights_of(model_dir) == "int8" else "f32"
        self.version = _version("onnxruntime")

    def run(self, item: dict[str, np.ndarray]) -> list[np.ndarray]:
        missing = [n for n in self.names if n not in item]
        if missing:
            raise ValueError(f"no data for ONNX input(s) {', '.join(missing)}")
        return self.session.run(None, {n: np.asarray(item[n]) for n in self.names})

    def bench_target(self, inputs: dict[str, np.ndarray]):
        """The benchmark_app-style figure's counterpart: one input through the session in a loop."""
        return BenchTarget("onnxruntime", call=lambda: self.run(inputs), threads=self.threads,
                           shapes={k: list(np.shape(v)) for k, v in inputs.items() if k in self.names},
                           precision={"inference_precision": self.precision, "execution_mode": None})
