"""What a user sees around a run: one-line errors that name the real problem, no debris after a
killed run, and no known-harmless third-party warnings (unless OVRECIPES_DEBUG=1)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ovrecipes.cli.main import main, one_line
from ovrecipes.core.staging import staged_directory, sweep_stale


def _cli(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    full_env = {k: v for k, v in os.environ.items() if k != "OVRECIPES_DEBUG"}
    full_env.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "ovrecipes.cli", *args], env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _ptq(tiny_bert_dir: str | Path, tiny_csv: Path, out: Path, *extra: str) -> list[str]:
    return ["bert", "ptq", "--model", str(tiny_bert_dir), "--dataset", str(tiny_csv), "--max-length", "16",
            "--subset-size", "8", "--eval-samples", "16", "--out", str(out), *extra]


# -- errors -----------------------------------------------------------------------------------------
def test_missing_model_directory_is_not_called_a_bad_hub_id(tmp_path, capsys):
    assert main(["bert", "ptq", "--model", "./nope", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("ovrecipes: error: model './nope': no such directory, and it is not a Hugging Face hub id "
                   "either (those look like 'org/name')")
    assert not (tmp_path / "o").exists()


def _hub(monkeypatch, *, reachable: bool, download_error: Exception | None = None,
         dataset_error: Exception | None = None, cached: bool = False) -> None:
    """Fake the hub: downloads and dataset loads failing as given, the probe answering or not, and nothing
    cached unless ``cached`` (then the real cache lookup runs, on whatever cache the test set up)."""
    import urllib.error
    import urllib.request

    import datasets
    import huggingface_hub

    def urlopen(request, timeout):
        if not reachable:
            raise urllib.error.URLError(OSError(-2, "Name or service not known"))

    def fail(error):
        def raiser(*args, **kwargs):
            raise error
        return raiser

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    if not cached:
        monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: None)
    if download_error:
        monkeypatch.setattr(huggingface_hub, "hf_hub_download", fail(download_error))
    if dataset_error:
        monkeypatch.setattr(datasets, "load_dataset", fail(dataset_error))


def _hub_http_error(kind: str, status: int) -> Exception:
    import httpx
    from huggingface_hub import errors

    response = httpx.Response(status, request=httpx.Request("GET", "https://huggingface.co/org/name"))
    return getattr(errors, kind)(f"{status} Client Error", response=response)


CLOSED = RuntimeError("Cannot send a request, as the client has been closed.")  # what hf_hub shows offline


@pytest.mark.parametrize("reachable, error, expected", [
    (False, CLOSED, ("model 'org/name' is not in the local cache and the Hugging Face hub (https://huggingface.co) "
                     "is unreachable: [Errno -2] Name or service not known; pass a local model directory instead")),
    (True, "RepositoryNotFoundError", ("model 'org/name' is not on the Hugging Face hub (for a private model, "
                                       "log in with `hf auth login`)")),
    (True, "GatedRepoError", ("model 'org/name' is gated on the Hugging Face hub: accept its terms on the model "
                              "page and log in with `hf auth login`")),
])
def test_hub_model_that_cannot_load_fails_in_one_line_before_the_run(reachable, error, expected, monkeypatch,
                                                                      tmp_path, capsys):
    if isinstance(error, str):
        error = _hub_http_error(error, 404 if error == "RepositoryNotFoundError" else 403)
    _hub(monkeypatch, reachable=reachable, download_error=error)
    assert main(["bert", "ptq", "--model", "org/name", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"ovrecipes: error: {expected}"]
    assert list(tmp_path.iterdir()) == []


def _cache_hub_model(cache: Path, model_id: str, source: Path | None) -> Path:
    """A Hugging Face cache entry for ``model_id`` as the hub client writes it: refs/main -> a snapshot."""
    repo = cache / f"models--{model_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abc")
    if source is None:
        (snapshot / "config.json").write_text("{}")  # config.json only, as a failed download leaves it
    else:
        for f in source.iterdir():
            shutil.copy2(f, snapshot / f.name)
    return snapshot


def test_cached_hub_model_runs_from_its_snapshot_when_the_hub_is_out_of_reach(monkeypatch, tmp_path, tiny_bert_dir,
                                                                            tiny_csv, capsys):
    from huggingface_hub import constants

    from ovrecipes.core.hub import require_hub_model

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    snapshot = _cache_hub_model(tmp_path / "hub", "org/tiny", tiny_bert_dir)
    _cache_hub_model(tmp_path / "hub", "org/partial", None)
    _hub(monkeypatch, reachable=True, cached=True)
    assert require_hub_model("org/tiny") == "org/tiny"  # the hub answers: the id, so the hub is asked for updates
    _hub(monkeypatch, reachable=False, cached=True)
    assert require_hub_model("org/tiny") == snapshot
    with pytest.raises(ValueError, match=r"model 'org/partial' is only partly in the local cache \(no weights"):
        require_hub_model("org/partial")
    out = tmp_path / "out"  # the whole run reads the snapshot: optimum and transformers never ask the hub
    assert main(_ptq("org/tiny", tiny_csv, out, "--no-bench")) == 0
    assert f"using the cached snapshot of org/tiny ({snapshot})" in capsys.readouterr().out
    assert (out / "openvino_model.xml").exists()


@pytest.mark.parametrize("reachable, expected", [
    (False, ("dataset 'org/data' is not in the local cache and the Hugging Face hub (https://huggingface.co) is "
             "unreachable: [Errno -2] Name or service not known; pass a local .csv, .tsv, .json or .jsonl file, "
             "or 'embedded'")),
    (True, "dataset 'org/data': Cannot send a request, as the client has been closed."),
])
def test_hub_dataset_that_cannot_load_is_one_line_and_jpqd_leaves_no_work_dir(reachable, expected, monkeypatch,
                                                                               tmp_path, tiny_bert_dir, capsys):
    _hub(monkeypatch, reachable=reachable, dataset_error=CLOSED)
    out = tmp_path / "jpqd"
    assert main(["bert", "jpqd", "--model", str(tiny_bert_dir), "--dataset", "org/data", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"ovrecipes: error: {expected}"
    assert list(tmp_path.iterdir()) == []  # neither the output nor an empty <out>.jpqd-work


def test_a_failed_jpqd_run_keeps_a_work_dir_it_did_not_create(monkeypatch, tmp_path, tiny_bert_dir, capsys):
    _hub(monkeypatch, reachable=False, dataset_error=CLOSED)
    work = tmp_path / "jpqd.jpqd-work"
    work.mkdir()  # an earlier run's: its checkpoints are what --resume needs
    assert main(["bert", "jpqd", "--model", str(tiny_bert_dir), "--dataset", "org/data",
                 "--out", str(tmp_path / "jpqd")]) == 2
    assert [p.name for p in tmp_path.iterdir()] == [work.name]


def test_openvino_check_failures_print_the_reason_not_the_source_location():
    err = RuntimeError("Check 'TRShape::broadcast_merge_into(output_shape, input_shapes[1], autob)' failed at "
                       "src/core/shape_inference/include/eltwise_shape_inference.hpp:26:\n"
                       "While validating node 'Add': Argument shapes are inconsistent.\n")
    assert one_line(err) == "While validating node 'Add': Argument shapes are inconsistent."
    assert one_line(ValueError("first\nsecond")) == "first"


@pytest.mark.parametrize("command, model_type, message", [
    (["bert", "ptq", "--model", "{dir}", "--out", "{out}"], "whisper", "the bert family takes text classifiers"),
    (["whisper", "ptq", "--model", "{dir}", "--out", "{out}"], "bert", "the whisper family takes Whisper models"),
    (["compare", "bert", "{dir}"], "whisper", "the bert family takes text classifiers"),
    (["compare", "whisper", "{dir}"], "distilbert", "the whisper family takes Whisper models"),
])
def test_a_model_of_another_family_is_refused_before_it_loads(command, model_type, message, tmp_path, capsys):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(f'{{"model_type": "{model_type}"}}')  # no weights: nothing may load it
    assert main([a.format(dir=model, out=tmp_path / "out") for a in command]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"ovrecipes: error: model {model} is a '{model_type}' model: {message}")
    assert not (tmp_path / "out").exists()


def _corrupt_ir(root: Path) -> Path:
    root.mkdir()
    (root / "config.json").write_text("{}")
    (root / "openvino_model.xml").write_text("<net><layers>")  # cut short
    (root / "openvino_model.bin").write_bytes(b"\0" * 8)
    return root


@pytest.mark.parametrize("command", [
    ["bench", "{ir}"],
    ["sparse", "stats", "{ir}"],
    ["compare", "bert", "{ir}", "--model", "{tiny}", "--dataset", "{csv}", "--max-length", "16", "--time", "0.2"],
    ["bert", "ptq", "--model", "{ir}", "--out", "{out}"],
])
def test_corrupt_ir_is_one_line_naming_the_file_and_the_reason(command, tmp_path, tiny_bert_dir, tiny_csv, capsys):
    ir = _corrupt_ir(tmp_path / "broken")
    args = [a.format(ir=ir, tiny=tiny_bert_dir, csv=tiny_csv, out=tmp_path / "out") for a in command]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"ovrecipes: error: cannot read OpenVINO IR {ir / 'openvino_model.xml'}")
    assert "not well-formed XML" in err[0] and "core.cpp" not in err[0]


def test_missing_weights_file_is_named(tmp_path, capsys):
    ir = tmp_path / "no-weights"
    ir.mkdir()
    (ir / "openvino_model.xml").write_text(
        '<?xml version="1.0"?><net name="m" version="11"><layers><layer id="0" name="w" type="Const" '
        'version="opset1"><data element_type="f32" shape="2" offset="0" size="8"/></layer></layers></net>')
    assert main(["bench", str(ir)]) == 2
    assert capsys.readouterr().err.strip() == (f"ovrecipes: error: cannot read OpenVINO IR {ir / 'openvino_model.xml'}: "
                                               "its weights file openvino_model.bin is missing")


def test_a_linked_xml_reads_the_weights_beside_its_target(tmp_path):
    import openvino as ov

    from ovrecipes.core.openvino import read_model

    (tmp_path / "ir").mkdir()
    ov.save_model(_matmul_ir(), tmp_path / "ir" / "m.xml")
    (tmp_path / "link.xml").symlink_to(tmp_path / "ir" / "m.xml")
    assert [p.get_any_name() for p in read_model(tmp_path / "link.xml").inputs] == ["x"]


# -- staging and signals ------------------------------------------------------------------------------
def test_stale_partial_siblings_are_swept_live_ones_kept(tmp_path):
    out = tmp_path / "run"
    dead = tmp_path / f".run.partial-{2**22 + 12345}-abc"  # above the kernel's default pid_max: no such process
    live = tmp_path / f".run.partial-{os.getpid()}-def"  # this process: alive
    legacy = tmp_path / ".run.partial-xyz12345"  # the old name carried no pid: nobody can own it
    other = tmp_path / ".other.partial-1-abc"
    for d in (dead, live, legacy, other):
        d.mkdir()
    removed = sweep_stale(out)
    assert sorted(removed) == sorted([dead, legacy])
    assert live.exists() and other.exists()
    with staged_directory(out) as stage:
        assert stage.name.startswith(f".run.partial-{os.getpid()}-")
        (stage / "result.txt").write_text("done")
    assert (out / "result.txt").read_text() == "done" and not stage.exists()


def test_sigterm_during_a_real_run_leaves_no_partial_directory(tiny_bert_dir, tiny_csv, tmp_path):
    out = tmp_path / "int8"
    # a long benchmark keeps the run busy inside its staging directory
    proc = _cli(*_ptq(tiny_bert_dir, tiny_csv, out, "--time", "120", "--rounds", "1"))
    deadline = time.monotonic() + 240
    staged = []
    while time.monotonic() < deadline and proc.poll() is None:
        staged = [p for p in tmp_path.iterdir() if p.name.startswith(".int8.partial-")]
        if staged and (staged[0] / "openvino_model.xml").exists():  # quantized: measuring now
            break
        time.sleep(0.5)
    assert proc.poll() is None and staged, "the run should be quantized and benchmarking by now"
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert "terminated" in err and not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


# -- quiet runs ---------------------------------------------------------------------------------------
def test_known_harmless_warnings_are_hidden_unless_debugging(tiny_bert_dir, tiny_csv, tmp_path):
    quiet = _cli(*_ptq(tiny_bert_dir, tiny_csv, tmp_path / "quiet", "--no-bench"))
    out, err = quiet.communicate(timeout=600)
    assert quiet.returncode == 0, err[-2000:]
    assert "TracerWarning" not in out + err and "torch.jit.trace" not in out + err
    assert "Recommended:" in out or "OV INT8" in out
    debug = _cli(*_ptq(tiny_bert_dir, tiny_csv, tmp_path / "debug", "--no-bench"), env={"OVRECIPES_DEBUG": "1"})
    out, err = debug.communicate(timeout=600)
    assert debug.returncode == 0, err[-2000:]
    assert "TracerWarning" in out + err  # the filter is what hides it: the export really warns


# -- output paths that --overwrite must not replace, and outputs that cannot be written ------------
def test_the_current_directory_or_one_above_it_is_never_an_output(tmp_path, monkeypatch):
    from ovrecipes.runs.outdir import check_output

    work = tmp_path / "work"
    work.mkdir()
    (work / "report.json").write_text("{}")  # looks like a run's output, and still is not replaced
    monkeypatch.chdir(work)
    for out in (Path(""), Path("."), work, tmp_path):
        with pytest.raises(ValueError, match=r"is the current directory or holds it; choose a new directory"):
            check_output(out, overwrite=True)
    check_output(Path("sub"), overwrite=False)  # a new directory below is fine


def test_overwrite_replaces_only_an_earlier_runs_output_and_never_an_input(tmp_path):
    from ovrecipes.runs.outdir import check_output

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("not a run's output")
    with pytest.raises(ValueError, match=r"holds files no earlier run wrote \(no report\.json\), so --overwrite does "
                                         r"not replace it"):
        check_output(mine, overwrite=True)
    run = tmp_path / "run"
    (run / "fp32").mkdir(parents=True)
    (run / "report.json").write_text("{}")
    check_output(run, overwrite=True)
    check_output(run, overwrite=True, inputs=[tmp_path / "elsewhere"])
    for given in (run / "fp32", run):
        with pytest.raises(ValueError, match=rf"--overwrite would delete {given}, which this run reads"):
            check_output(run, overwrite=True, inputs=[given])


def test_an_output_that_cannot_be_written_fails_before_the_work(tmp_path):
    from ovrecipes.core.staging import check_output_file
    from ovrecipes.runs.outdir import check_output

    (tmp_path / "afile").write_text("")
    with pytest.raises(ValueError, match=r"^output directory .*afile/sub: .*afile is a file, not a directory$"):
        check_output(tmp_path / "afile" / "sub", overwrite=False)
    with pytest.raises(ValueError, match=r"^--json .*afile/x\.json: .*afile is a file, not a directory$"):
        check_output_file(tmp_path / "afile" / "x.json", "--json")
    with pytest.raises(ValueError, match=r"^--json .* is a directory; give a file path$"):
        check_output_file(tmp_path, "--json")
    with pytest.raises(ValueError, match=r"^output directory /proc/ovrecipes-x: cannot write into /proc"):
        check_output(Path("/proc/ovrecipes-x"), overwrite=False)
    check_output_file(tmp_path / "new" / "x.json", "--json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # the checks leave nothing behind


@pytest.mark.parametrize("argv", [["sparse", "check", "{ir}", "--json", "{dir}"],
                                  ["bench", "{ir}", "--shape", "[1,16]", "--time", "0.2", "--json", "{dir}"]])
def test_a_json_path_that_is_a_directory_is_refused_before_the_measurement(argv, tmp_path, capsys, monkeypatch):
    import openvino as ov

    from ovrecipes.measure import engine

    ov.save_model(_matmul_ir(), tmp_path / "m.xml")
    monkeypatch.setattr(engine, "benchmark_openvino", lambda *a, **k: pytest.fail("measured before the check"))
    args = [a.format(ir=tmp_path / "m.xml", dir=tmp_path) for a in argv]
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == f"ovrecipes: error: --json {tmp_path} is a directory; give a file path"


@pytest.mark.parametrize("command", [["sparse", "check", "{ir}"], ["bench", "{ir}", "--shape", "[1,16]", "--time", "0.2"]])
def test_a_json_file_is_replaced_only_with_overwrite_and_never_an_input(command, tmp_path, capsys, monkeypatch):
    import openvino as ov

    from ovrecipes.measure import engine

    ir = tmp_path / "m.xml"
    ov.save_model(_matmul_ir(), ir)
    monkeypatch.setattr(engine, "benchmark_openvino", lambda *a, **k: pytest.fail("measured before the check"))
    argv = [a.format(ir=ir) for a in command]
    earlier = tmp_path / "earlier.json"
    earlier.write_text("kept")
    assert main([*argv, "--json", str(earlier)]) == 2
    assert capsys.readouterr().err.strip() == (f"ovrecipes: error: --json {earlier} already exists; "
                                              "pass --overwrite to replace it")
    weights = ir.read_bytes(), ir.with_suffix(".bin").read_bytes()
    for victim in (ir, ir.with_suffix(".bin")):  # bench m.xml --json m.bin destroyed the model it measured
        assert main([*argv, "--json", str(victim), "--overwrite"]) == 2
        assert capsys.readouterr().err.strip() == (f"ovrecipes: error: --json {victim} would replace a file of "
                                                  f"the input {ir}; write it somewhere else")
    assert main([*argv, "--overwrite"]) == 2
    assert "--overwrite has no effect without --json" in capsys.readouterr().err
    assert (ir.read_bytes(), ir.with_suffix(".bin").read_bytes()) == weights and earlier.read_text() == "kept"


def test_a_json_file_inside_an_input_directory_is_never_replaced(tmp_path):
    from ovrecipes.core.staging import check_output_file

    run = tmp_path / "run"
    run.mkdir()
    (run / "report.json").write_text("{}")
    with pytest.raises(ValueError, match=r"would replace a file of the input .*run; write it somewhere else$"):
        check_output_file(run / "report.json", "--json", overwrite=True, inputs=[run])
    check_output_file(run / "new.json", "--json", overwrite=False, inputs=[run])  # a new file beside the inputs is fine
    (tmp_path / "old.json").write_text("{}")
    check_output_file(tmp_path / "old.json", "--json", overwrite=True, inputs=[run])


def _matmul_ir():
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([1, 16], ov.Type.f32, name="x")
    return ov.Model([ops.matmul(x, ops.constant(np.ones((16, 4), np.float32)), False, False)], [x], "m")


def test_an_os_error_is_one_line_not_a_traceback(monkeypatch, capsys):
    from ovrecipes.cli import tools

    def denied(args):
        raise PermissionError(13, "Permission denied", "/somewhere/report.json")

    monkeypatch.setattr(tools, "cmd_cpu", denied)
    assert main(["cpu"]) == 2
    assert capsys.readouterr().err.strip() == ("ovrecipes: error: [Errno 13] Permission denied: "
                                               "'/somewhere/report.json'")


def test_sigterm_is_not_swallowed_by_a_measurement_that_tolerates_errors(monkeypatch):
    """A failing sweep point is recorded and the sweep goes on; SIGTERM (Terminated) must end it."""
    from ovrecipes.cli.main import Terminated
    from ovrecipes.measure import sweep

    def terminated(*args, **kwargs):
        raise Terminated()

    monkeypatch.setattr(sweep, "benchmark_openvino", terminated)
    with pytest.raises(Terminated):
        sweep._pair(None, {}, {}, True, time_s=0.1)
    monkeypatch.setattr(sweep, "benchmark_openvino", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("bad L")))
    assert sweep._pair(None, {}, {}, True, time_s=0.1) == {"error": "bad L"}


def test_compare_keeps_an_out_given_before_the_family():
    from ovrecipes.cli.main import build_parser

    parser = build_parser()
    before = parser.parse_args(["compare", "--out", "A", "--overwrite", "bert", "m1", "m2"])
    after = parser.parse_args(["compare", "bert", "m1", "m2", "--out", "B"])
    neither = parser.parse_args(["compare", "bert", "m1", "m2"])
    assert (before.out, before.overwrite) == (Path("A"), True)
    assert (after.out, after.overwrite) == (Path("B"), False)
    assert (neither.out, neither.overwrite) == (None, False)
