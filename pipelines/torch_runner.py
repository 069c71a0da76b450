"""A PyTorch module as the families run it beside OpenVINO: eval and inference mode, numpy inputs in."""

from __future__ import annotations

from typing import Any, Callable

from ovrecipes.pipelines.types import BenchTarget


def serve(module) -> tuple[Callable[[dict[str, Any]], Any], int]:
    """``module(**item)`` on numpy inputs of any shape, in eval and inference mode; and torch's thread count."""
    import torch  # lazy: the OpenVINO path must not pay for importing torch

    module.eval()

    def run(item: dict[str, Any]):
        with torch.inference_mode():
            return module(**{k: torch.as_tensor(v) for k, v in item.items()})

    return run, torch.get_num_threads()


def bench_target(module, inputs: dict[str, Any]):
    """The PyTorch baseline's benchmark target: ``module(**inputs)`` on tensors made once, before timing."""
    import torch


    tensors = {k: torch.as_tensor(v) for k, v in inputs.items()}
    module.eval()

    def infer():
        with torch.inference_mode():
            return module(**tensors)

    return BenchTarget("pytorch", call=infer, shapes={k: list(t.shape) for k, t in tensors.items()},
                       threads=torch.get_num_threads(), precision={"inference_precision": "f32", "execution_mode": None})
