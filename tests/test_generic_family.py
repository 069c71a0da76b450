"""Recipes are generic: a two-layer MLP family written here, unknown to the package, goes through PTQ
with an ignored scope, the SmoothQuant alpha search, accuracy control and the side-by-side compare,
by the public API and by the command line once registered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import pytest
import torch
from torch import nn

from ovrecipes.core.openvino import compile_model, precision_config
from ovrecipes.measure.variants import Variant
from ovrecipes.pipelines import registry
from ovrecipes.pipelines.base import FamilyOption, FamilyPipeline, FamilySpec
from ovrecipes.pipelines.model_dirs import is_openvino_dir
from ovrecipes.pipelines.types import Metric, Submodel, ValidationSet
from ovrecipes.recipes import ir, ptq
from ovrecipes.recipes.ptq_config import AccuracyControlConfig
from ovrecipes.runs.common import MeasureOptions
from ovrecipes.runs.compare import run_compare

DIM, HIDDEN = 16, 64
XML = "openvino_model.xml"


def _blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    centres = np.stack([np.full(DIM, -1.0), np.full(DIM, 1.0)])
    return (centres[labels] + rng.normal(0, 1.5, (n, DIM))).astype(np.float32), labels


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(DIM, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    model = MLP()
    x, y = _blobs(512, 0)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt.step()
    return model.eval()


class MLPPipeline(FamilyPipeline):
    """Two Gaussian blobs classified by a two-layer MLP: the smallest family the contract allows."""

    family = "mlp"
    metric_name = "accuracy"

    def __init__(self, model_dir: Path) -> None:
        self._dir = Path(model_dir)
        self.progress = False
        self.splits = {"test": _blobs(200, 1), "validation": _blobs(100, 2), "calibration": _blobs(64, 3)}

    @property
    def model_path(self) -> Path:
        return self._dir

    def describe(self) -> dict:
        return {"family": self.family, "model": str(self._dir), "data": "blobs", "splits": {k: len(v[1]) for k, v in
                                                                                             self.splits.items()}}

    def export(self, out_dir: Path) -> Path:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        module = torch.load(self._dir / "mlp.pt", weights_only=False)
        ov_model = ov.convert_model(module, example_input=torch.zeros(1, DIM))
        ov_model.inputs[0].get_tensor().set_names({"x"})
        ov.save_model(ov_model, out_dir / XML, compress_to_fp16=False)
        (out_dir / "config.json").write_text("{}")
        return out_dir

    def submodels(self) -> list[Submodel]:
        return [Submodel("model", XML)]

    def calibration_data(self, model_dir: Path, n: int) -> dict[str, Any]:
        import nncf

        x, _ = self.splits["calibration"]
        return {"model": nncf.Dataset([{"x": row[None]} for row in x[:n]])}

    def benchmark_inputs(self) -> dict[str, dict[str, np.ndarray]]:
        return {"model": {"x": self.splits["test"][0][:1]}}

    def torch_model(self, model_dir: Path | None = None) -> tuple[Any, dict[str, Any]]:
        return torch.load(self._dir / "mlp.pt", weights_only=False), {"x": torch.from_numpy(self.splits["test"][0][:1])}

    def evaluate(self, model_dir: Path, split: str = "test", limit: int | None = None, *,
                 precision: str | None = None) -> Metric:
        x, y = self.splits[split]
        x, y = x[:limit], y[:limit]
        if is_openvino_dir(model_dir):
            logits = compile_model(Path(model_dir) / XML, precision_config(precision))({"x": x})[0]
        else:
            with torch.inference_mode():
                logits = self.torch_model()[0](torch.from_numpy(x)).numpy()
        return Metric(self.metric_name, float(100.0 * np.mean(logits.argmax(-1) == y)), len(y))

    def validation_set(self, submodel: str, n: int) -> ValidationSet:
        x, y = self.splits["validation"]

        def fidelity(compiled, items) -> float:  # any quantization error lowers it: accuracy control must act
            reference = self._reference
            return float(100.0 - 100.0 * np.mean([np.abs(compiled(i)[0] - reference(i)[0]).mean() for i, _ in items]))

        self._reference = ov.Core().compile_model(self._fp32 / XML, "CPU", precision_config("f32"))
        items = [({"x": row[None]}, label) for row, label in zip(x[:n], y[:n])]
        return ValidationSet(items=items, transform=lambda item: item[0], metric=fidelity)


@pytest.fixture(scope="module")
def mlp(tmp_path_factory) -> tuple[MLPPipeline, Path]:
    root = tmp_path_factory.mktemp("mlp")
    torch.save(_mlp(), root / "mlp.pt")
    (root / "config.json").write_text("{}")
    pipeline = MLPPipeline(root)
    fp32 = pipeline.export(root / "fp32")
    pipeline._fp32 = fp32
    return pipeline, fp32


def _matmuls(model) -> list[str]:
    return [n for n, t in ir.op_index(model) if t == "MatMul"]


def test_ptq_with_ignored_scope_alpha_search_and_accuracy_control(mlp, tmp_path):
    pipeline, fp32 = mlp
    first, second = _matmuls(ov.Core().read_model(fp32 / XML))
    config = ptq.PTQConfig(subset_size=32, ignored_scope=ptq.IgnoredScopeConfig(names=[second]),
                           smooth_quant={"default": ptq.SmoothQuantConfig(matmul="auto")}, alpha_grid=["off", 0.5],
                           search_size=50)
    result = ptq.quantize(pipeline, fp32, tmp_path / "scoped", config)
    model = ov.Core().read_model(tmp_path / "scoped" / XML)
    quantized = {n for n, _ in ir.quantized_ops(model)}
    assert first in quantized and second not in quantized and result.submodels["model"].ignored_nodes == [second]
    assert [p.alpha for p in result.alpha_search] == ["off", 0.5]
    assert all(p.samples == 50 and p.metric_name == "accuracy" for p in result.alpha_search)

    controlled = ptq.quantize(pipeline, fp32, tmp_path / "controlled", ptq.PTQConfig(
        subset_size=32, accuracy_control=AccuracyControlConfig(max_drop=0.0, validation_size=32,
                                                                   max_num_iterations=1)))
    reverted = controlled.submodels["model"].reverted_by_accuracy_control
    assert reverted and {r.name for r in reverted} <= {first, second}


def test_compare_and_cli_work_for_a_registered_family(mlp, tmp_path, monkeypatch):
    pipeline, fp32 = mlp
    int8 = tmp_path / "int8"
    ptq.quantize(pipeline, fp32, int8, ptq.PTQConfig(subset_size=32))
    report = run_compare(pipeline, [Variant("PyTorch", pipeline.model_path), Variant("OV FP32", fp32),
                                    Variant("OV INT8", int8)], tmp_path / "cmp",
                         options=MeasureOptions(bench_args={"time_s": 0.3}, rounds=2, precision="f32"))
    by_label = {v.label: v for v in report.variants}
    assert set(by_label) == {"PyTorch", "OV FP32", "OV INT8"} and report.reference == "OV FP32"
    assert by_label["OV INT8"].weights == "int8" and by_label["OV FP32"].inference_precision == "f32"
    assert all(v.metric.value > 90.0 and len(v.throughput.rounds) == 2 for v in report.variants)
    assert json.loads((tmp_path / "cmp" / "report.json").read_text())["kind"] == "compare"

    # registered, the family gets `ovrecipes mlp ptq` with every generic option
    def from_options(args) -> MLPPipeline:
        return MLPPipeline(Path(args.model))

    spec = FamilySpec(name="mlp", help="test family", make_pipeline=from_options,
                      options=(FamilyOption("model", "the MLP's directory", required=True),))
    monkeypatch.setitem(registry.FAMILIES, "mlp", spec)
    from ovrecipes.cli.main import main

    out = tmp_path / "cli"
    assert main(["mlp", "ptq", "--model", str(pipeline.model_path), "--out", str(out), "--subset-size", "16",
                 "--ignored-type", "Relu", "--time", "0.2", "--rounds", "2"]) == 0
    cli_report = json.loads((out / "report.json").read_text())
    assert [v["label"] for v in cli_report["variants"]][0] == "OV FP32"
    assert cli_report["recipe"]["submodels"]["model"]["ignored_scope"]["types"] == ["Relu"]
