"""PyTorch CGD directory -> OpenVINO IR directory (openvino_model.xml + config.json).

Two routes, because they name nodes differently and ignored scopes must work on both:
``convert_model`` (ov.convert_model on the module: "__module.head.branches.0.pool/aten::pow/Power")
and ``onnx`` (torch.onnx.export, TorchScript exporter, then OpenVINO's ONNX frontend: "/head/pool/Pow").
The batch dimension stays dynamic; the image size is fixed by the model's config.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import openvino as ov

INPUT_NAME, OUTPUT_NAME = "images", "embedding"
OV_FILENAME = "openvino_model.xml"


def _name_ports(model) -> None:
    model.inputs[0].get_tensor().set_names({INPUT_NAME})
    model.outputs[0].get_tensor().set_names({OUTPUT_NAME})


def to_openvino(module, image_size: int, route: str = "convert_model"):
    """An ``ov.Model`` with input 'images' [?, 3, S, S] and output 'embedding'."""
    import torch

    module = module.eval()
    example = torch.zeros(1, 3, image_size, image_size)
    if route == "convert_model":
        with torch.no_grad():
            model = ov.convert_model(module, example_input=example,
                                     input=[ov.PartialShape([-1, 3, image_size, image_size])])
    elif route == "onnx":
        with tempfile.TemporaryDirectory(prefix="ovrecipes-onnx-") as tmp:
            path = Path(tmp) / "cgd.onnx"
            torch.onnx.export(module, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}, dynamo=False)
            model = ov.convert_model(str(path))
    else:
        raise ValueError(f"export route must be convert_model or onnx: got {route!r}")
    _name_ports(model)
    return model


def export_ir(torch_dir: Path, out_dir: Path, route: str = "convert_model") -> Path:
    from ovrecipes.pipelines.cgd_model import load_torch_dir

    module = load_torch_dir(torch_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ov.save_model(to_openvino(module, module.config.image_size, route), str(out_dir / OV_FILENAME),
                  compress_to_fp16=False)
    config = module.config
    config.extra = {**config.extra, "export_route": route, "source": str(torch_dir)}
    config.save(out_dir)
    return out_dir
