"""Side-by-side table and the recommendation, on hand-made measurements."""

from __future__ import annotations

from pathlib import Path

from ovrecipes.compare import Variant, VariantResult, format_table, recommend, table_rows
from ovrecipes.pipelines.base import Metric
from ovrecipes.pipelines.runtime import BenchResult


def _result(label: str, engine_dir: Path, accuracy: float, fps: float) -> VariantResult:
    bench = BenchResult(count=100, duration_s=100 / fps, latency_ms={"median": 1000 / fps, "average": 1000 / fps,
                        "min": 1.0, "max": 99.0}, throughput_fps=fps, batch=1, hint="throughput", streams=2,
                        threads=2, nireq=2, device="CPU", shapes={"input_ids": [1, 64]}, engine="openvino")
    return VariantResult(Variant(label, engine_dir), Metric("accuracy", accuracy, 2000), bench, 10.0)


def _ov_dir(tmp_path: Path, name: str) -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "openvino_model.xml").write_text("<net/>")
    return d


def test_slower_int8_is_said_plainly_and_fp32_recommended(tmp_path):
    fp32 = _result("OV FP32", _ov_dir(tmp_path, "fp32"), 86.5, 69.0)
    int8 = _result("OV INT8", _ov_dir(tmp_path, "int8"), 86.45, 62.0)
    rec = recommend([fp32, int8], budget=0.5)
    assert rec["choice"] == "OV FP32"
    assert any("OV INT8 is SLOWER than OV FP32" in n and "0.90x" in n for n in rec["notes"])


def test_fastest_within_budget_wins(tmp_path):
    fp32 = _result("OV FP32", _ov_dir(tmp_path, "fp32"), 86.5, 69.0)
    int8 = _result("OV INT8", _ov_dir(tmp_path, "int8"), 86.2, 150.0)
    lossy = _result("OV INT4", _ov_dir(tmp_path, "int4"), 80.0, 400.0)
    rec = recommend([fp32, int8, lossy], budget=0.5)
    assert rec["choice"] == "OV INT8" and rec["notes"] == []
    header, rows = table_rows([fp32, int8, lossy])
    assert rows[1][3] == "+0.30" and rows[1][5] == "2.17x"
    md = format_table(header, rows, markdown=True)
    assert md.splitlines()[0].startswith("| variant |") and len(md.splitlines()) == 5
