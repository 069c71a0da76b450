"""Torch (pruned, optionally QAT-stripped) model -> OpenVINO IR in Hugging Face layout.

``openvino.convert_model`` traces the model with TorchScript. transformers 5.x builds attention
masks with helpers that index traced shapes and fail under tracing, so during conversion the mask
builders are replaced by a plain padding mask (what an encoder without causal masking needs).
"""

from __future__ import annotations

import json
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import openvino as ov
import torch
from openvino._offline_transformations import compress_quantize_weights_transformation
from torch import nn

from ovrecipes.pipelines.model_dirs import copy_model_dir

OV_FILENAME = "openvino_model.xml"


def _padding_mask(batch_size=None, q_length=None, kv_length=None, attention_mask=None, **kwargs):
    """[batch, 1, 1, kv] boolean mask from the 2-D padding mask (broadcast over heads and queries)."""
    if attention_mask is None:
        return None
    return attention_mask[:, None, None, :].to(torch.bool)


def _padding_mask_additive(batch_size=None, q_length=None, kv_length=None, attention_mask=None, dtype=torch.float32,
                           **kwargs):
    mask = _padding_mask(attention_mask=attention_mask)
    if mask is None:
        return None
    return torch.zeros(mask.shape, dtype=dtype).masked_fill(~mask, torch.finfo(dtype).min)


@contextmanager
def traceable_masks() -> Iterator[None]:
    """Temporarily register trace-safe mask builders for the sdpa and eager attention paths."""
    try:
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS
    except ImportError:  # older transformers trace fine
        yield
        return
    saved = {k: ALL_MASK_ATTENTION_FUNCTIONS[k] for k in ("sdpa", "eager") if k in ALL_MASK_ATTENTION_FUNCTIONS}
    ALL_MASK_ATTENTION_FUNCTIONS.register("sdpa", _padding_mask)
    ALL_MASK_ATTENTION_FUNCTIONS.register("eager", _padding_mask_additive)
    try:
        yield
    finally:
        for key, fn in saved.items():
            ALL_MASK_ATTENTION_FUNCTIONS.register(key, fn)


class TracedOutput(nn.Module):
    """Positional inputs in a fixed order, one tensor out (the family picks it): what TorchScript traces."""

    def __init__(self, model: nn.Module, names: list[str], output_fn: Callable[[Any], torch.Tensor]) -> None:
        super().__init__()
        self.model = model
        self.names = names
        self.output_fn = output_fn

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.output_fn(self.model(**dict(zip(self.names, args))))


def convert(model: nn.Module, example: dict[str, np.ndarray], shapes: dict[str, list[int]],
            output_fn: Callable[[Any], torch.Tensor], output_name: str = "logits"):
    """An ov.Model with the example's input names, reshaped to the family's ``shapes`` (-1 = dynamic)."""

    names = list(example)
    tensors = tuple(torch.from_numpy(np.asarray(example[n])) for n in names)
    model = model.eval()
    with traceable_masks(), torch.no_grad():
        ov_model = ov.convert_model(TracedOutput(model, names, output_fn), example_input=tensors)
    for port, name in zip(ov_model.inputs, names):
        port.get_tensor().set_names({name})
        port.get_node().set_friendly_name(name)
    ov_model.outputs[0].get_tensor().set_names({output_name})
    ov_model.reshape({port: ov.PartialShape(shapes.get(name, list(example[name].shape)))
                      for port, name in zip(ov_model.inputs, names)})
    return ov_model


def compress_quantized_weights(ov_model) -> None:
    """Fold weight FakeQuantize nodes into int8 constants (the IR shrinks ~4x; activations keep their FQ)."""

    compress_quantize_weights_transformation(ov_model)


def save_ir(ov_model, out_dir: Path, side_files_from: Path | None, config_update: dict[str, Any] | None = None,
            hf_config: Any = None) -> Path:
    """Write openvino_model.xml/.bin plus config.json and tokenizer files (HF layout)."""


    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if side_files_from is not None:
        copy_model_dir(Path(side_files_from), out_dir, skip=("openvino_model.xml", "openvino_model.bin"))
    if hf_config is not None:
        hf_config.save_pretrained(out_dir)
    if config_update:
        path = out_dir / "config.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        data.update(config_update)
        path.write_text(json.dumps(data, indent=2, sort_keys=True))
    ov.save_model(ov_model, out_dir / OV_FILENAME, compress_to_fp16=False)
    return out_dir


def op_counts(ov_model) -> dict[str, int]:
    return dict(Counter(op.get_type_name() for op in ov_model.get_ops()))


def matmul_weight_elements(ov_model) -> int:
    """Elements of the constant (weight) inputs of MatMul ops, followed through Convert/FQ/Multiply chains."""
    total = 0
    for op in ov_model.get_ops():
        if op.get_type_name() != "MatMul":
            continue
        for value in op.input_values():
            node = value.get_node()
            for _ in range(6):  # weight -> (Convert -> Subtract -> Multiply | FakeQuantize) -> MatMul
                if node.get_type_name() == "Constant":
                    total += int(np.prod(list(node.get_output_shape(0))))
                    break
                if node.get_type_name() in ("Convert", "Subtract", "Multiply", "FakeQuantize", "Transpose"):
                    node = node.input_value(0).get_node()
                else:
                    break
    return total
