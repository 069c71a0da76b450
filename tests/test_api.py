"""The public Python API: exactly the names in ``__all__``, documented, light to import, and working on a tiny model."""

from __future__ import annotations

import doctest
import inspect
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

import ovrecipes
from ovrecipes import api, api_sparse
from ovrecipes.recipes.sparse import RATE_KEY
from ovrecipes.runs import sparse as sparse_runs
from ovrecipes.runs.sparse_prune import SparsePruneResult

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


def _quiet_doctest(module) -> doctest.TestResults:
    """The module's docstring examples, with progress logs held back: once the command line ran in this
    process, the ``ovrecipes`` loggers write to the stdout doctest compares."""
    logger = logging.getLogger("ovrecipes")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        return doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    finally:
        logger.setLevel(level)


def test_every_docstring_example_runs():
    """The examples need no download (the embedded model is only named, never built, in them)."""
    result = _quiet_doctest(api)
    assert result.attempted >= 17 and result.failed == 0


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


#: notebooks still on internal modules (none: every walkthrough is on the public API)
NOT_YET_ON_THE_API: set[str] = set()


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


# -- sparse weight decompression ------------------------------------------------------------------
SPARSE_CALLS = ["sparse_stats", "sparse_config", "sparse_check", "sparse_sweep", "sparse_prune"]


@pytest.fixture(scope="module")
def sparse_ir(tmp_path_factory) -> Path:
    """Two MatMuls: int8 weights (128x128, 3 in 4 zero) behind a quantized input, eligible; f32 weights, not."""
    x = ops.parameter([1, 128], ov.Type.f32, name="x")
    q = ops.convert(ops.constant(np.tile(np.int8([0, 0, 0, 5]), (128, 32))), ov.Type.f32)
    a = ops.matmul(ops.fake_quantize(x, -4.0, 4.0, -4.0, 4.0, 256), ops.multiply(q, ops.constant(np.float32(0.01))),
                   False, True)
    b = ops.matmul(a, ops.constant(np.random.default_rng(0).standard_normal((64, 128)).astype(np.float32)), False, True)
    root = tmp_path_factory.mktemp("sparse-ir")
    ov.save_model(ov.Model([b], [x]), root / "openvino_model.xml", compress_to_fp16=False)
    return root


@pytest.mark.parametrize("name", SPARSE_CALLS)
def test_the_sparse_calls_are_public_and_document_parameters_returns_errors_example(name):
    assert name in ovrecipes.__all__ and getattr(ovrecipes, name) is getattr(api_sparse, name)
    doc = inspect.getdoc(getattr(ovrecipes, name))
    assert all(part in doc for part in ("Args:", "Returns:", "Raises:", "Example")), name


def test_every_sparse_docstring_example_runs():
    """Each example builds a one-layer IR."""
    result = _quiet_doctest(api_sparse)
    assert result.attempted >= 30 and result.failed == 0


def test_sparse_calls_return_typed_results_and_stage_their_output(sparse_ir, tmp_path, monkeypatch):
    stats = ovrecipes.sparse_stats(sparse_ir)
    assert isinstance(stats, sparse_runs.SparseStatsResult) and isinstance(stats.report, ovrecipes.Report)
    assert stats.out is None and not list(tmp_path.iterdir())  # nothing written without out
    assert [entry.eligible for entry in stats.layers] == [True, False] and stats.rate == 0.75
    assert stats.data["summary"]["eligible_layers"] == 1 and "| layer |" in stats._repr_markdown_()

    config = ovrecipes.sparse_config(sparse_ir, tmp_path / "cfg", rate=0.5, threads=1)
    assert isinstance(config, sparse_runs.SparseConfigResult)
    assert config.config == {"CPU": {RATE_KEY: "0.5", "INFERENCE_NUM_THREADS": "1"}}
    assert json.loads(config.config_file.read_text()) == config.config
    assert ovrecipes.read_report(config.out).kind == "sparse-config"
    with pytest.raises(ValueError, match=r"cfg already exists; pass --overwrite"):  # refused, the old one kept
        ovrecipes.sparse_config(sparse_ir, tmp_path / "cfg", rate=0.3)
    assert json.loads(config.config_file.read_text())["CPU"][RATE_KEY] == "0.5"
    again = ovrecipes.sparse_config(sparse_ir, tmp_path / "cfg", rate=0.3, overwrite=True)
    assert json.loads(again.config_file.read_text())["CPU"][RATE_KEY] == "0.3"

    check = ovrecipes.sparse_check(sparse_ir, config=again.config_file)
    assert isinstance(check, sparse_runs.SparseCheckResult) and check.rate == 0.3
    assert check.verdict["eligible_layers"] == 1 and check.verdict["layers_reaching_rate"] == 1
    assert check.verdict["layers_sparse"] == (1 if check.verdict["amx"] else 0) and check.headline

    pruned = ovrecipes.sparse_prune(sparse_ir, 0.9, tmp_path / "pruned")
    assert isinstance(pruned, SparsePruneResult) and pruned.accuracy is None
    assert pruned.model == (tmp_path / "pruned" / "openvino_model.xml").resolve() and pruned.data["pruned_layers"] == 2
    assert all(entry.zero_fraction >= 0.9 for entry in ovrecipes.sparse_stats(pruned.model).layers)

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(sparse_runs, "write_report", fail)  # a run that fails while writing leaves nothing
    with pytest.raises(RuntimeError, match="disk full"):
        ovrecipes.sparse_stats(sparse_ir, tmp_path / "stats")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg", "pruned"]


@pytest.mark.parametrize("call, message", [
    (lambda ir, out: ovrecipes.sparse_stats(ir, rate=1.5),
     "sparse rate must be 'auto' or a number in [0, 1] (1 = off): got 1.5"),
    (lambda ir, out: ovrecipes.sparse_config(ir, out, rate="fast"),
     "sparse rate must be 'auto' or a number in [0, 1] (1 = off): got 'fast'"),
    (lambda ir, out: ovrecipes.sparse_config(ir, out, rate=0.5, coverage=0.7),
     "coverage 0.7 has no effect with rate 0.5: it sets how an 'auto' rate is chosen"),
    (lambda ir, out: ovrecipes.sparse_config(ir, out, streams=0), "NUM_STREAMS must be a positive integer: got 0"),
    (lambda ir, out: ovrecipes.sparse_check(ir, config={RATE_KEY: "0.5"}, rate=0.5),
     f"rate has no effect with a config: its {RATE_KEY} sets the rate"),
    (lambda ir, out: ovrecipes.sparse_stats(ir, overwrite=True), "overwrite has no effect without out: nothing is written"),
    (lambda ir, out: ovrecipes.sparse_sweep(ir, out, seq_lens="16,x"),
     "seq_lens must be comma-separated positive integers: got '16,x'"),
    (lambda ir, out: ovrecipes.sparse_prune(ir, 1.5, out), "target must be a zero fraction in (0, 1): got 1.5"),
    (lambda ir, out: ovrecipes.sparse_prune(ir, 0.0, out), "target must be a zero fraction in (0, 1): got 0.0"),
    (lambda ir, out: ovrecipes.sparse_prune(ir, 0.8, out, eval_samples=10),
     "eval_samples has no effect without family: it sets how many test samples the family's pipeline evaluates "
     "before and after pruning"),
    (lambda ir, out: ovrecipes.sparse_prune(ir, 0.8, out, family="gpt"),
     "family must be one of bert, cgd, whisper: got 'gpt'"),
])
def test_sparse_api_errors_are_one_line_value_errors_before_any_output(call, message, sparse_ir, tmp_path):
    with pytest.raises(ValueError) as err:
        call(sparse_ir, tmp_path / "out")
    assert str(err.value) == message
    assert not list(tmp_path.iterdir())
