"""Every walkthrough in notebooks/ runs headlessly with shrunk parameters; a failing cell fails the test."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
#: Per notebook, the parameter values the test substitutes (same names as its 'parameters' cell).
SHRUNK = {
    "bert_jpqd.ipynb": {"EPOCHS": 2.0, "WARMUP_END_EPOCH": 1.0, "TRAIN_LIMIT": 64, "EVAL_SAMPLES": 50,
                        "BENCH_TIME": 0.5},
    "bert_ptq.ipynb": {"EVAL_SAMPLES": 100, "BENCH_TIME": 1.0, "SEARCH_GRID": ["off", 0.95], "SEARCH_SAMPLES": 40},
    "whisper_ptq.ipynb": {"CALIBRATION_CLIPS": 3, "EVAL_CLIPS": 3, "BENCH_TIME": 1.0},
    "cgd_retrieval_ptq.ipynb": {"EVAL_SAMPLES": 150, "COMPARE_MODES": ["none"], "BENCH_TIME": 1.0},
    "sparse_runtime.ipynb": {"TARGET": 0.5, "EVAL_SAMPLES": 50, "SWEEP_TIME": 0.5, "SEQ_LENS": "16,64"},
}


def _with_parameters(nb, values: dict) -> None:
    cell = next((c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    assert cell is not None, "a notebook needs one cell tagged 'parameters'"
    names = {line.split("=")[0].strip() for line in cell.source.splitlines() if "=" in line and not line.startswith("#")}
    assert set(values) <= names, f"unknown parameters {set(values) - names}"
    cell.source += "\n# shrunk by the test\n" + "\n".join(f"{k} = {v!r}" for k, v in values.items())


def test_every_notebook_has_shrunk_parameters():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(SHRUNK)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHRUNK))
def test_notebook_executes(name, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    # the notebooks write their outputs to tempfile.mkdtemp(); the kernel inherits TMPDIR, so those
    # land in pytest's tmp_path (pruned after a few sessions) and not in /tmp, 0.1-0.2 GB a notebook a run
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    _with_parameters(nb, SHRUNK[name])
    NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
