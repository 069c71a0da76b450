"""JPQD on tiny BERTs: masks, schedule, structured resolution, pruning equivalence, distillation,
legacy config import, and a 2+2-step training run down to an INT8 IR."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ovrecipes.core.cpu import host_cpu
from ovrecipes.recipes.jpqd.config import JPQDConfig, MovementConfig, SparseStructure
from ovrecipes.recipes.jpqd.distill import distillation_loss, mixed_loss
from ovrecipes.recipes.jpqd.legacy import import_legacy, parse_lenient_json, read_legacy
from ovrecipes.recipes.jpqd.movement import MovementSparsifier, apply_movement
from ovrecipes.recipes.jpqd.schedule import MovementSchedule
from ovrecipes.recipes.jpqd.structure import apply_structured_masks, ffn_sizes, resolve_keep
from ovrecipes.runs.common import MeasureOptions

DATA = Path(__file__).parent / "data"
BERT_SCOPES = [
    {"mode": "block", "sparse_factors": [8, 32], "target_scopes": "{re}.*BertAttention.*"},
    {"mode": "per_dim", "axis": 0, "target_scopes": "{re}.*BertIntermediate.*"},
    {"mode": "per_dim", "axis": 1, "target_scopes": "{re}.*BertOutput.*"},
]


def tiny_bert(layers: int = 2, heads: int = 4, hidden: int = 32, ffn: int = 48):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=60, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=ffn, max_position_embeddings=32, num_labels=2)
    return BertForSequenceClassification(config).eval()


def blocks_of(model) -> list:
    from ovrecipes.pipelines.bert import BertPipeline

    return BertPipeline.transformer_blocks(None, model)


@pytest.mark.parametrize("structure, scores, factors", [
    ({"mode": "fine"}, (64, 32), (1, 1)),
    ({"mode": "block", "sparse_factors": [16, 8]}, (4, 4), (16, 8)),
    ({"mode": "per_dim", "axis": 0}, (64, 1), (1, 32)),
    ({"mode": "per_dim", "axis": 1}, (1, 32), (64, 1)),
])
def test_mask_shapes_per_mode(structure, scores, factors):
    sp = MovementSparsifier((64, 32), SparseStructure(target_scopes=["x"], **structure), has_bias=True).train()
    assert tuple(sp.weight_importance.shape) == scores and sp.factors == factors
    assert tuple(sp.bias_importance.shape) == (scores[0],)
    with torch.no_grad():
        sp.weight_importance.copy_(torch.randn(scores))
        sp.bias_importance.normal_()
    sp.threshold = 0.0
    weight_mask, bias_mask = sp.masks()
    assert weight_mask.shape == (64, 32) and bias_mask.shape == (64,)
    r, c = factors  # constant inside every block the score covers
    blocks = weight_mask.reshape(64 // r, r, 32 // c, c)
    assert torch.equal(blocks.amax(dim=(1, 3)), blocks.amin(dim=(1, 3)))
    assert torch.equal(blocks.amax(dim=(1, 3)), (sp.weight_importance > 0).float())


def test_straight_through_gradient_reaches_scores():
    linear = nn.Linear(8, 4)
    model = nn.Sequential(linear)
    controller = apply_movement(model, MovementConfig(sparse_structure_by_scopes=[]))
    model.train()
    model(torch.randn(3, 8)).sum().backward()
    assert controller.layers["0"].sparsifier.weight_importance.grad.abs().sum() > 0


def test_schedule_values():
    s = MovementSchedule(warmup_start_epoch=1, warmup_end_epoch=3, steps_per_epoch=10, regularization_factor=0.1,
                         final_threshold=0.0, power=3)
    assert s.threshold(5, -1.0) == -math.inf and s.factor(5) == 0.0
    assert s.threshold(10, -1.0) == pytest.approx(-1.0) and s.factor(10) == pytest.approx(0.0)
    assert s.scale(20) == pytest.approx(1 - 0.5**3)  # halfway: 0.875 of the way (cubic, concave)
    assert s.threshold(20, -1.0) == pytest.approx(-0.125) and s.factor(20) == pytest.approx(0.0875)
    assert s.threshold(15, -1.0) == pytest.approx(-1.0 + (1 - 0.75**3))
    assert s.threshold(30, -1.0) == 0.0 and s.factor(30) == pytest.approx(0.1)
    assert s.stage(29) == "in_warmup" and s.stage(30) == "post_warmup"


def test_structured_resolution_consistent_per_head_and_unit(movement_masks):
    model = tiny_bert()
    blocks = blocks_of(model)
    sizes = ffn_sizes(model, blocks)
    controller = apply_movement(model, MovementConfig(sparse_structure_by_scopes=BERT_SCOPES,
                                                      ignored_scopes=["{re}.*pooler.*", "{re}.*classifier.*"]))
    movement_masks.randomise(controller, keep=0.75)  # most blocks masked: some heads must go
    movement_masks.zero(controller, (blocks[1].q, blocks[1].k, blocks[1].v, blocks[1].o))  # layer 1: no head kept
    with torch.no_grad():
        # layer 0: head 0 and FFN unit 0 live only through the output projection's columns,
        # head 1 has nothing left anywhere (so it must go)
        b0 = blocks[0]
        hs = b0.head_size
        for name in (b0.q, b0.k, b0.v):
            sp = controller.layers[name].sparsifier
            sp.weight_mask[: 2 * hs] = 0.0
            if sp.bias_mask is not None:
                sp.bias_mask[: 2 * hs] = 0.0
        o_mask = controller.layers[b0.o].sparsifier.weight_mask
        o_mask[:, : 2 * hs] = 0.0
        o_mask[0, 0] = 1.0
        inner = controller.layers[b0.ffn_in].sparsifier
        inner.weight_mask[0] = 0.0
        if inner.bias_mask is not None:
            inner.bias_mask[0] = 0.0
        outer = controller.layers[b0.ffn_out].sparsifier.weight_mask
        outer[:, 0] = 0.0
        outer[3, 0] = 1.0
    # what survives, computed here from the unstructured masks: a head lives if any element of its
    # q/k/v rows (weight or bias) or of its o columns is kept; an FFN unit if its row or column is
    def alive_rows(name):
        sp = controller.layers[name].sparsifier
        rows = sp.weight_mask.amax(dim=1) > 0
        return rows | (sp.bias_mask > 0) if sp.bias_mask is not None else rows

    b0 = blocks[0]
    head_alive = (alive_rows(b0.q) | alive_rows(b0.k) | alive_rows(b0.v)
                  | (controller.layers[b0.o].sparsifier.weight_mask.amax(dim=0) > 0))
    expected_heads = [h for h in range(b0.num_heads) if head_alive[h * b0.head_size:(h + 1) * b0.head_size].any()]
    expected_units = (alive_rows(b0.ffn_in) | (controller.layers[b0.ffn_out].sparsifier.weight_mask.amax(dim=0) > 0))
    keeps = resolve_keep(controller, blocks, sizes)
    assert keeps[1].heads == []
    assert keeps[0].heads == expected_heads and keeps[0].ffn_units == expected_units.nonzero().flatten().tolist()
    assert 0 in keeps[0].heads and 1 not in keeps[0].heads and 0 in keeps[0].ffn_units  # the planted cases
    assert 0 < len(expected_heads) < b0.num_heads or 0 < len(keeps[0].ffn_units) < sizes[b0.layer]  # a real choice
    apply_structured_masks(controller, blocks, keeps)
    for b, keep in zip(blocks, keeps):
        hs = b.head_size
        for h in range(b.num_heads):
            expected = 1.0 if h in keep.heads else 0.0
            rows = slice(h * hs, (h + 1) * hs)
            for name in (b.q, b.k, b.v):
                sp = controller.layers[name].sparsifier
                assert torch.all(sp.weight_mask[rows] == expected) and torch.all(sp.bias_mask[rows] == expected)
            assert torch.all(controller.layers[b.o].sparsifier.weight_mask[:, rows] == expected)
        inner = controller.layers[b.ffn_in].sparsifier
        outer = controller.layers[b.ffn_out].sparsifier
        alive = torch.zeros(sizes[b.layer])
        alive[keep.ffn_units] = 1.0
        assert torch.equal(inner.weight_mask, alive[:, None].expand_as(inner.weight_mask))
        assert torch.equal(inner.bias_mask, alive)
        assert torch.equal(outer.weight_mask, alive[None, :].expand_as(outer.weight_mask))


def test_pruned_model_matches_masked_model(movement_masks):
    model = tiny_bert(heads=4, hidden=32, ffn=48)
    blocks = blocks_of(model)
    sizes = ffn_sizes(model, blocks)
    controller = apply_movement(model, MovementConfig(sparse_structure_by_scopes=BERT_SCOPES,
                                                      ignored_scopes=["{re}.*pooler.*", "{re}.*classifier.*"]))
    movement_masks.randomise(controller, seed=3, keep=0.7)
    movement_masks.zero(controller, blocks[1].linears())  # one layer loses all heads and all FFN units
    keeps = resolve_keep(controller, blocks, sizes)
    apply_structured_masks(controller, blocks, keeps)
    controller.freeze()
    ids = torch.randint(0, 60, (3, 12))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    masked, pruned, params = movement_masks.logits_masked_then_pruned(model, controller, blocks, keeps, ids, mask)
    assert sum(p.numel() for p in model.parameters()) < params
    assert model.bert.encoder.layer[0].attention.self.query.out_features == len(keeps[0].heads) * 8
    assert model.bert.encoder.layer[1].intermediate.dense.out_features == 1
    torch.testing.assert_close(pruned, masked, atol=1e-5, rtol=1e-4)


def test_distillation_loss_matches_hand_computation():
    student = torch.tensor([[1.0, -0.5, 0.2], [0.3, 0.1, -1.0]])
    teacher = torch.tensor([[2.0, 0.0, -1.0], [-0.2, 0.4, 0.5]])
    t = 2.0
    total = 0.0
    for s_row, t_row in zip(student.tolist(), teacher.tolist()):
        ps = [math.exp(v / t) for v in s_row]
        pt = [math.exp(v / t) for v in t_row]
        ps = [v / sum(ps) for v in ps]
        pt = [v / sum(pt) for v in pt]
        total += sum(q * math.log(q / p) for p, q in zip(ps, pt))
    expected = total / 2 * t * t
    assert distillation_loss(student, teacher, t).item() == pytest.approx(expected, rel=1e-5)
    assert distillation_loss(student, teacher, t, "mse").item() == pytest.approx(
        F.mse_loss(student, teacher).item())
    from ovrecipes.recipes.jpqd.config import DistillationConfig

    task = torch.tensor(0.7)
    loss, _ = mixed_loss(task, student, teacher, DistillationConfig(weight=0.75, temperature=t))
    assert loss.item() == pytest.approx(0.25 * 0.7 + 0.75 * expected, rel=1e-5)


def test_legacy_json_imports_with_notes():
    data, notes = read_legacy(DATA / "bert-base-jpqd.json")
    config = JPQDConfig.model_validate({**data, "training": {"epochs": 6}})
    mv = config.movement
    assert (mv.warmup_start_epoch, mv.warmup_end_epoch, mv.importance_regularization_factor) == (1, 4, 0.01)
    assert [s.mode for s in mv.sparse_structure_by_scopes] == ["block", "per_dim", "per_dim"]
    assert mv.sparse_structure_by_scopes[0].sparse_factors == (32, 32)
    assert config.quantization.enabled and config.quantization.subset_size == 300
    assert any("scope_overrides" in n for n in notes) and any("batchnorm_adaptation" in n for n in notes)
    with pytest.raises(ValueError, match="not supported"):
        import_legacy([{"algorithm": "magnitude_sparsity"}])
    assert parse_lenient_json('{"a": "x // y", "b": [1, 2,],}') == {"a": "x // y", "b": [1, 2]}


def test_legacy_scopes_match_bert_modules():
    data, _ = read_legacy(DATA / "bert-base-jpqd.json")
    model = tiny_bert()
    controller = apply_movement(model, MovementConfig.model_validate(data["movement"] | {
        "sparse_structure_by_scopes": BERT_SCOPES}))
    modes = {name: layer.sparsifier.structure.mode for name, layer in controller.layers.items()}
    assert modes["bert.encoder.layer.0.attention.self.query"] == "block"
    assert modes["bert.encoder.layer.0.attention.output.dense"] == "block"
    assert modes["bert.encoder.layer.0.intermediate.dense"] == "per_dim"
    assert modes["bert.encoder.layer.0.output.dense"] == "per_dim"
    assert not any("pooler" in n or "classifier" in n for n in modes)


def test_tiny_training_run_exports_pruned_int8_ir(tiny_pipeline, tmp_path, tiny_jpqd_config):
    import json

    import openvino as ov

    from ovrecipes.recipes.jpqd import export
    from ovrecipes.runs.jpqd import run_jpqd

    config = tiny_jpqd_config({
        "movement": {"warmup_start_epoch": 0.5, "importance_lr_multiplier": 200.0, "sparse_structure_by_scopes": [
            {"mode": "block", "sparse_factors": [16, 32], "target_scopes": "{re}.*BertAttention.*"},
            {"mode": "per_dim", "axis": 0, "target_scopes": "{re}.*BertIntermediate.*"},
            {"mode": "per_dim", "axis": 1, "target_scopes": "{re}.*BertOutput.*"}]},
        "training": {"freeze_embeddings_in_qat": True},
    })
    out = tmp_path / "jpqd"
    report = run_jpqd(tiny_pipeline, config, out, options=MeasureOptions(eval_limit=16, rounds=2,
                                                                         bench_args={"time_s": 0.3, "hint": "latency"}))
    info = report.recipe
    assert info["movement"]["steps_per_epoch"] == 2 and info["movement"]["history"]
    assert info["fake_quantize_nodes"] > 0 and info["params_pruned"] < info["params_fp32"]
    core = ov.Core()
    int8 = core.read_model(out / "openvino_model.xml")
    fp32 = core.read_model(out / "fp32" / "openvino_model.xml")
    assert export.op_counts(int8).get("FakeQuantize", 0) > 0
    assert export.matmul_weight_elements(int8) < export.matmul_weight_elements(fp32)
    bf16 = ["OV BF16"] if host_cpu().default_precision == "bf16" else []
    assert [v.label for v in report.variants] == ["Teacher (PyTorch FP32)", "OV FP32", *bf16, "JPQD INT8"]
    assert report.recipe["deploy"]["value"] == "int8" and report.recipe["teacher"]["source"]
    assert all(v.metric.samples == 16 and len(v.throughput.rounds) == 2 for v in report.variants)
    for name in ("config.json", "tokenizer.json", "recipe.yaml", "report.md", "kept_per_layer.png",
                 "sparsity_regularization.png"):
        assert (out / name).exists(), name
    frozen = info["stage2"]["int8"]["frozen"]
    assert "bert.embeddings.word_embeddings.weight" in frozen and any(n.startswith("__nncf") for n in frozen)
    assert "heads kept" in (out / "report.md").read_text()
    assert "QAT kept the input embeddings fixed" in (out / "report.md").read_text()
    assert json.loads((out / "config.json").read_text())["jpqd_intermediate_sizes"]
    assert not out.with_name(out.name + ".jpqd-work").exists()
    import numpy as np
    from optimum.intel import OVModelForSequenceClassification

    # optimum-intel loads the pruned INT8 directory and gives the IR's own logits (f32 pinned on both sides)
    f32 = {"INFERENCE_PRECISION_HINT": "f32"}
    inputs = tiny_pipeline.encode(["a wonderful film, truly wonderful"])
    logits = np.asarray(OVModelForSequenceClassification.from_pretrained(out, ov_config=f32)(**inputs).logits)
    direct = core.compile_model(out / "openvino_model.xml", "CPU", f32)(inputs)[0]
    assert logits.shape == (1, 2) and np.allclose(logits, direct, atol=1e-5)


def test_freezing_input_embeddings_fixes_the_table_and_its_quantizer_in_qat():
    import nncf

    from ovrecipes.recipes.jpqd.recipe import freeze_input_embeddings, use_reference_kernels

    use_reference_kernels()
    model = tiny_bert()
    ids = torch.randint(0, 60, (4, 12))
    quantized = nncf.quantize(model, nncf.Dataset([{"input_ids": ids[i:i + 1]} for i in range(4)]), subset_size=4,
                              model_type=nncf.ModelType.TRANSFORMER)
    frozen = freeze_input_embeddings(quantized)
    hooks = [n for n in frozen if n.startswith("__nncf")]
    assert "bert.embeddings.word_embeddings.weight" in frozen and hooks, frozen
    assert all("word_embeddings" in n for n in frozen)  # position/type embeddings and Linears still train
    params = dict(quantized.named_parameters())
    before = {n: p.detach().clone() for n, p in params.items()}
    optimizer = torch.optim.SGD([p for p in params.values() if p.requires_grad], lr=0.5)
    quantized.train()
    quantized(input_ids=ids, labels=torch.tensor([0, 1, 0, 1])).loss.backward()
    optimizer.step()
    changed = {n for n, p in params.items() if not torch.equal(p, before[n])}
    assert not changed & set(frozen)
    other_quantizers = [n for n in changed if n.startswith("__nncf")]
    assert "bert.embeddings.position_embeddings.weight" in changed and other_quantizers


def test_cli_config_layers_yaml_legacy_json_and_flags(tmp_path):
    from ovrecipes.cli.jpqd import overrides
    from ovrecipes.cli.main import build_parser
    from ovrecipes.runs.jpqd import load_jpqd_config

    def load(path, cli):
        return load_jpqd_config("bert", path, cli)

    args = build_parser().parse_args(["bert", "jpqd", "--out", str(tmp_path / "o"), "--config",
                                      str(DATA / "bert-base-jpqd.json"), "--epochs", "5", "--lr", "3e-5",
                                      "--distillation-loss", "mse", "--no-quantization", "--seed", "7",
                                      "--resume-from-checkpoint", "last", "--save-strategy", "epoch"])
    config, notes = load(args.config, overrides(args))
    assert config.training.epochs == 5 and config.training.learning_rate == 3e-5 and config.training.seed == 7
    assert config.training.resume_from_checkpoint == "last" and config.training.save_strategy == "epoch"
    assert config.distillation.loss == "mse" and not config.quantization.enabled
    assert config.movement.warmup_end_epoch == 4 and notes
    default, _ = load(None, {})
    assert default.movement.enable_structured_masking and default.quantization.enabled
    with pytest.raises(ValueError, match="warmup_end_epoch"):
        load(None, {"training": {"epochs": 0.5}})


def test_cli_reports_bad_legacy_json_in_one_line(tmp_path, capsys):
    from ovrecipes.cli.main import main

    bad = tmp_path / "bad.json"
    bad.write_text('[{"algorithm": "magnitude_sparsity"}]')
    assert main(["bert", "jpqd", "--out", str(tmp_path / "o"), "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "magnitude_sparsity" in err[0]


@pytest.mark.parametrize("training, message", [
    ({"max_steps": 0}, "max_steps must be -1 (no limit) or a positive number of steps: got 0"),
    ({"train_limit": 0}, "train_limit: Input should be greater than or equal to 1 (got 0)"),
    ({"eval_steps": 0}, "eval_steps: Input should be greater than or equal to 1"),
    ({"save_steps": -5}, "save_steps: Input should be greater than or equal to 1"),
])
def test_training_counts_that_would_run_something_else_are_rejected(training, message):
    from ovrecipes.runs.jpqd import load_jpqd_config

    with pytest.raises(ValueError, match=re.escape(message)):
        load_jpqd_config("bert", None, {"training": training})
    assert load_jpqd_config("bert", None, {"training": {"max_steps": 3}})[0].training.max_steps == 3
    with pytest.raises(ValueError, match=r"warmup_start_epoch < warmup_end_epoch: got 3 and 2$"):
        load_jpqd_config("bert", None, {"movement": {"warmup_start_epoch": 3, "warmup_end_epoch": 2}})


def test_explicit_checkpoint_must_be_in_this_runs_work_directory(tmp_path, monkeypatch):
    from ovrecipes.recipes.jpqd.recipe import _checkpoint, _resumes_after_stage1, check_resume

    work = tmp_path / "run.jpqd-work"
    inside = work / "qat" / "checkpoint-4"
    inside.mkdir(parents=True)
    elsewhere = tmp_path / "other" / "qat" / "checkpoint-4"
    elsewhere.mkdir(parents=True)

    def config(resume):
        return JPQDConfig.model_validate({"training": {"resume_from_checkpoint": resume}})

    for ok in (None, "last", str(inside)):
        check_resume(config(ok), work)
    with pytest.raises(ValueError, match=r"no such checkpoint directory; pass 'last' or a checkpoint-\* directory "
                                         r"under .*run.jpqd-work/sparsity"):
        check_resume(config(str(tmp_path / "nowhere")), work)
    with pytest.raises(ValueError, match=r"is not in this run's work directory"):
        check_resume(config(str(elsewhere)), work)
    monkeypatch.chdir(tmp_path)  # a relative path names the same checkpoint: it is used, not skipped
    relative = config("run.jpqd-work/qat/checkpoint-4")
    check_resume(relative, work)
    assert _checkpoint(relative, work / "qat") == "run.jpqd-work/qat/checkpoint-4"
    assert _resumes_after_stage1(relative, work) and _checkpoint(relative, work / "sparsity") is None


def test_teacher_directory_without_a_model_is_one_line(tmp_path, capsys, monkeypatch):
    from ovrecipes.cli.main import main
    from ovrecipes.pipelines import bert

    # refused before the student is prepared: on a fresh machine that fine-tunes the embedded default for minutes
    monkeypatch.setattr(bert, "built_embedded_model_dir", lambda: None)
    monkeypatch.setattr(bert, "embedded_model_dir", lambda progress=True: pytest.fail("the student was prepared first"))
    assert main(["bert", "jpqd", "--out", str(tmp_path / "o"), "--teacher", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (f"ovrecipes: error: teacher {tmp_path} has no config.json "
                                               "(a PyTorch/HF model directory is needed)")


@pytest.mark.parametrize("role", ["--model", "--teacher"])
def test_an_openvino_student_or_teacher_is_refused_before_the_export(role, tiny_pipeline, tiny_bert_dir, tiny_csv,
                                                                    tmp_path, capsys, monkeypatch):
    from ovrecipes.cli.main import main
    from ovrecipes.pipelines.bert import BertPipeline

    ov_dir = tiny_pipeline.export(tmp_path / "ov")
    capsys.readouterr()  # the export's own progress output

    def no_export(self, out_dir):
        raise AssertionError("the run reached the export")

    monkeypatch.setattr(BertPipeline, "export", no_export)
    models = {"--model": str(tiny_bert_dir), "--teacher": str(tiny_bert_dir), role: str(ov_dir)}
    out = tmp_path / "o"
    assert main(["bert", "jpqd", *[x for kv in models.items() for x in kv], "--dataset", str(tiny_csv),
                 "--max-length", "16", "--max-steps", "2", "--no-eval", "--no-bench", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    named = f"--model {ov_dir}" if role == "--model" else f"teacher {ov_dir}"
    assert err == [f"ovrecipes: error: {named} is an OpenVINO directory: " + (
        "JPQD fine-tunes a PyTorch model, so pass the PyTorch/HF model it was exported from" if role == "--model" else
        "the teacher runs in PyTorch (or, cached, from its own OpenVINO export), so pass the PyTorch/HF model it was "
        "exported from")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ov"]  # no output, no work directory


@pytest.mark.slow
def test_embedded_default_jpqd_run(tmp_path):
    """The README's JPQD job on the embedded MiniLM (tens of minutes on 2 cores)."""
    import json

    from ovrecipes.cli.main import main

    out = tmp_path / "jpqd"
    assert main(["bert", "jpqd", "--out", str(out), "--time", "5", "--compare-deploy"]) == 0
    report = json.loads((out / "report.json").read_text())
    labels = [v["label"] for v in report["variants"]]
    bf16 = host_cpu().default_precision == "bf16"
    assert labels == ["Teacher (PyTorch FP32)", "OV FP32", *(["OV BF16"] if bf16 else []),
                      "Pruned + distilled FP32", *(["Pruned + distilled BF16"] if bf16 else []), "JPQD INT8"]
    assert report["recommendation"]["choice"] in labels
    assert report["recipe"]["teacher"]["source"].startswith("cached")
    assert (out / "kept_per_layer.png").exists() and (out / "sparsity_regularization.png").exists()


def test_resume_after_a_failed_run_skips_stage1_and_continues_qat(tiny_pipeline, tmp_path, monkeypatch,
                                                                   tiny_jpqd_config):
    """A run that dies after QAT checkpoints leaves the work directory; ``resume_from_checkpoint: last``
    reloads stage 1's pruned model and hands the newest QAT checkpoint to the Trainer."""
    import nncf

    from ovrecipes.recipes.jpqd import recipe
    from ovrecipes.recipes.jpqd.trainer import JPQDTrainer
    from ovrecipes.runs.jpqd import run_jpqd, work_dir

    def config(resume: str | None) -> JPQDConfig:
        return tiny_jpqd_config({
            "movement": {"sparse_structure_by_scopes": BERT_SCOPES[1:], "ignored_scopes": ["{re}.*classifier.*"]},
            "training": {"save_strategy": "steps", "save_steps": 1, "resume_from_checkpoint": resume},
        })

    out = tmp_path / "jpqd"

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash after QAT")

    monkeypatch.setattr(nncf, "strip", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_jpqd(tiny_pipeline, config(None), out, options=MeasureOptions(evaluate=False, bench=False))
    work = work_dir(config(None), out.resolve())
    assert not out.exists() and (work / recipe.STAGE1_FILE).exists()
    assert sorted(p.name for p in (work / "qat").glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    monkeypatch.undo()

    def no_stage1(*args, **kwargs):
        raise AssertionError("stage 1 ran again")

    resumed_from = []
    original_train = JPQDTrainer.train

    def spy_train(self, *args, resume_from_checkpoint=None, **kwargs):
        resumed_from.append(resume_from_checkpoint)
        return original_train(self, *args, resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    monkeypatch.setattr(recipe, "_sparsify", no_stage1)
    monkeypatch.setattr(JPQDTrainer, "train", spy_train)
    report = run_jpqd(tiny_pipeline, config("last"), out, options=MeasureOptions(evaluate=False, bench=False))
    assert resumed_from == [str(work / "qat" / "checkpoint-2")]
    assert report.recipe["fake_quantize_nodes"] > 0 and (out / "openvino_model.xml").exists()


@pytest.mark.slow  # two torchrun processes (about a minute); CI runs it in its slow step
def test_torchrun_two_processes_train_data_parallel_and_rank0_exports(tiny_pipeline, tiny_bert_dir, tiny_csv,
                                                                       tmp_path):
    """The documented multi-process command: each rank trains on half the batches, rank 0 writes the IR."""
    import json
    import os
    import subprocess
    import sys

    out = tmp_path / "jpqd-ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               OVRECIPES_CACHE=str(tmp_path / "cache"))  # the ranks' teacher-logit cache stays in the test
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "ovrecipes.cli",
           "bert", "jpqd", "--model", str(tiny_bert_dir), "--dataset", str(tiny_csv), "--max-length", "16",
           "--out", str(out), "--batch-size", "8", "--epochs", "2", "--no-eval", "--no-bench", "--deploy", "int8"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    recipe_info = json.loads((out / "report.json").read_text())["recipe"]
    train_rows = len(tiny_pipeline.trainer_data().train)
    per_rank = math.ceil(train_rows / 2)
    assert recipe_info["training_processes"] == 2
    assert recipe_info["movement"]["steps_per_epoch"] == math.ceil(per_rank / 8)
    assert recipe_info["fake_quantize_nodes"] > 0 and (out / "openvino_model.xml").exists()
    assert "data-parallel on 2 processes" in (out / "report.md").read_text()
