"""The public Python API: exactly the names in ``__all__``, documented, light to import, and working on a tiny model."""

from __future__ import annotations

import doctest
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

import ovrecipes
from ovrecipes import api

CALLS = ["family", "families", "ptq_config", "ptq", "jpqd_config", "jpqd", "compare", "compare_reports", "bench",
         "read_report", "cpu_info"]


def test_all_lists_exactly_the_public_names_and_each_resolves():
    assert ovrecipes.__all__ == api.__all__
    assert set(CALLS) <= set(ovrecipes.__all__)
    for name in ovrecipes.__all__:
        assert getattr(ovrecipes, name) is getattr(api, name)
    with pytest.raises(AttributeError, match="no attribute 'quantize'"):
        ovrecipes.quantize  # noqa: B018


@pytest.mark.parametrize("name", ["ptq", "jpqd", "compare", "bench", "family"])
def test_the_main_calls_document_parameters_returns_errors(name):
    doc = inspect.getdoc(getattr(ovrecipes, name))
    assert "Args:" in doc and "Returns:" in doc and "Raises:" in doc, name
    assert "Example" in inspect.getdoc(ovrecipes.ptq) and "Example" in inspect.getdoc(ovrecipes.family)


def test_every_docstring_example_runs():
    """The examples need no download (the embedded model is only named, never built, in them)."""
    result = doctest.testmod(api, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8 and result.failed == 0


def test_importing_the_package_stays_light():
    code = ("import sys, ovrecipes; ovrecipes.__all__; "
            "print(sorted(m for m in ('torch', 'nncf', 'transformers', 'ovrecipes.api') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_ptq_and_compare_through_the_api_on_a_tiny_model(tiny_bert_dir, tiny_csv, tmp_path):
    bert = ovrecipes.family("bert", tiny_bert_dir, dataset=str(tiny_csv), max_length=16)
    bert.progress = False
    measure = ovrecipes.MeasureOptions(eval_limit=16, bench_args={"time_s": 0.3}, rounds=1,
                                       workload=ovrecipes.WorkloadOptions(samples=8))
    report = ovrecipes.ptq(bert, tmp_path / "int8", config=ovrecipes.ptq_config("bert", subset_size=16),
                           measure=measure)
    assert isinstance(report, ovrecipes.Report) and [v.label for v in report.variants][-1] == "OV INT8"
    assert report.workload is not None and report.workload.items == 8
    shown = report._repr_markdown_()
    assert "| variant |" in shown and "Serving real inputs (8 test sentences)" in shown
    again = ovrecipes.read_report(tmp_path / "int8")
    assert again.variants == report.variants
    compared = ovrecipes.compare(bert, {"FP32": tmp_path / "int8" / "fp32", "INT8": tmp_path / "int8"},
                                 out=tmp_path / "cmp", measure=ovrecipes.MeasureOptions(
                                     eval_limit=16, bench_args={"time_s": 0.3}, rounds=1))
    assert [v.label for v in compared.variants][0] == "FP32" and (tmp_path / "cmp" / "report.json").exists()
    result = ovrecipes.bench(tmp_path / "int8", shape="[1,16]", time_s=0.3, hint="latency")
    assert result.count > 0 and result.shapes["input_ids"] == [1, 16]
    merged = ovrecipes.compare_reports([tmp_path / "int8", tmp_path / "cmp"])
    assert len(merged.variants) == len(report.variants) + len(compared.variants)
    assert json.loads((tmp_path / "int8" / "report.json").read_text())["schema_version"] == 3


def test_api_errors_are_one_line_value_errors(tmp_path):
    with pytest.raises(ValueError, match="family must be one of bert, cgd, whisper: got 'gpt'"):
        ovrecipes.family("gpt")
    with pytest.raises(ValueError, match="the bert family takes .*: got max_len"):
        ovrecipes.family("bert", max_len=3)
    with pytest.raises(FileNotFoundError, match="no such model file or directory"):
        ovrecipes.bench(tmp_path / "missing")


#: notebooks still on internal modules: the sparse commands have no API call yet (their runs live in cli/sparse.py)
NOT_YET_ON_THE_API = {"sparse_runtime.ipynb"}


def test_notebooks_import_only_the_public_api():
    import ast

    notebooks = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
    assert len(notebooks) == 5
    for path in notebooks:
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        internal = []
        for cell in cells:
            for node in ast.walk(ast.parse("".join(cell["source"]))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ovrecipes"):
                    internal.append(node.module)
                if isinstance(node, ast.Import):
                    internal += [a.name for a in node.names if a.name.startswith("ovrecipes.")]
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ovrecipes":
                    assert node.attr in ovrecipes.__all__, f"{path.name}: ovrecipes.{node.attr} is not public"
        if path.name in NOT_YET_ON_THE_API:
            assert internal, f"{path.name} is on the public API now: drop it from NOT_YET_ON_THE_API"
        else:
            assert not internal, f"{path.name} imports {internal}"
