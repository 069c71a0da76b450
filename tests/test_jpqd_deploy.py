"""The deliverable chosen by CPU (faked both ways), its config/CLI plumbing, and ``--compare-deploy``:
stage 1 once, both stage-2 variants exported and measured side by side."""

from __future__ import annotations

import pytest

from ovrecipes.core.cpu import CpuInfo
from ovrecipes.recipes.jpqd.config import JPQDConfig
from ovrecipes.recipes.jpqd.deploy import choose_deploy

AVX2 = CpuInfo("fake AVX2", frozenset({"avx2", "fma"}))
VNNI = CpuInfo("fake VNNI", frozenset({"avx2", "avx512f", "avx512_vnni"}))
AVX_VNNI = CpuInfo("fake client", frozenset({"avx2", "avx_vnni"}))


def test_auto_picks_fp32_without_vnni_and_int8_with_it():
    assert choose_deploy("auto", AVX2).value == "fp32"
    assert "no VNNI" in choose_deploy("auto", AVX2).reason
    assert choose_deploy("auto", VNNI).value == "int8"
    assert "avx512_vnni" in choose_deploy("auto", VNNI).reason
    assert choose_deploy("auto", AVX_VNNI).value == "int8"
    assert choose_deploy("int8", AVX2).value == "int8" and "WARNING" in choose_deploy("int8", AVX2).reason
    assert choose_deploy("fp32", VNNI).value == "fp32"
    with pytest.raises(ValueError, match="'bf16'"):
        choose_deploy("bf16", VNNI)


def test_plan_follows_target_cpu_and_compare_trains_both(monkeypatch):
    from ovrecipes.recipes.jpqd import recipe

    def plan(**data):
        return recipe.plan_deploy(JPQDConfig.model_validate(data))

    assert plan(quantization={"target_cpu": "avx2"})[0].value == "fp32"
    assert plan(quantization={"target_cpu": "vnni"})[1] == ("int8",)
    assert plan(quantization={"target_cpu": "avx2"}, compare_deploy=True)[1] == ("fp32", "int8")
    assert plan(quantization={"target_cpu": "amx"}, compare_deploy=True)[1] == ("int8", "fp32")
    assert plan(quantization={"enabled": False})[1] == ("fp32",)
    monkeypatch.setattr(recipe, "target_cpu", lambda name: AVX2 if name is None else VNNI)
    assert plan()[0].value == "fp32" and "fake AVX2" in plan()[0].reason  # this machine, faked


def test_config_and_cli_flags(tmp_path):
    from ovrecipes.cli.jpqd import overrides
    from ovrecipes.cli.main import build_parser
    from ovrecipes.runs.jpqd import load_jpqd_config

    args = build_parser().parse_args(["bert", "jpqd", "--out", str(tmp_path / "o"), "--deploy", "fp32",
                                      "--compare-deploy", "--teacher-cache", "false", "--teacher-precision", "f32"])
    config, _ = load_jpqd_config("bert", None, overrides(args))
    assert config.deploy == "fp32" and config.compare_deploy
    assert not config.distillation.teacher_cache and config.distillation.teacher_precision == "f32"
    default, _ = load_jpqd_config("bert", None, {})
    assert default.deploy == "auto" and not default.compare_deploy and default.distillation.teacher_cache
    assert default.training.freeze_embeddings_in_qat
    args = build_parser().parse_args(["bert", "jpqd", "--out", str(tmp_path / "o"), "--freeze-embeddings", "false"])
    assert not load_jpqd_config("bert", None, overrides(args))[0].training.freeze_embeddings_in_qat
    with pytest.raises(ValueError, match="deploy: int8 needs quantization.enabled"):
        load_jpqd_config("bert", None, {"deploy": "int8", "quantization": {"enabled": False}})
    # stage 1 prunes harder when the deliverable is the FP32 model, whose only speed-up is pruning
    assert default.movement.regularization_factor("int8") == 0.1
    assert default.movement.regularization_factor("fp32") == 0.25
    # ... and its stage 2, without fake quantization, trains longer to recover from it
    assert (default.training.epochs_for("int8"), default.training.epochs_for("fp32")) == (6, 8)
    args = build_parser().parse_args(["bert", "jpqd", "--out", str(tmp_path / "o"), "--regularization-factor", "0.2",
                                      "--epochs", "3"])
    one = load_jpqd_config("bert", None, overrides(args))[0]
    assert one.movement.regularization_factor("int8") == one.movement.regularization_factor("fp32") == 0.2
    assert one.training.epochs_for("int8") == one.training.epochs_for("fp32") == 3
    for bad in ({"int8": 0, "fp32": 8}, "six"):
        with pytest.raises(ValueError, match=r"training.epochs: .*number > 0, or one per deliverable"):
            load_jpqd_config("bert", None, {"training": {"epochs": bad}})
    # an override names one deliverable and keeps the other's default; a whole config must name both
    assert load_jpqd_config("bert", None, {"training": {"epochs": {"fp32": 10}}})[0].training.epochs == {
        "int8": 6, "fp32": 10}
    with pytest.raises(ValueError, match=r"a value per deliverable needs fp32 too"):
        JPQDConfig.model_validate({"training": {"epochs": {"int8": 6}}})
    with pytest.raises(ValueError, match=r"training.epochs \(1\.5\) must be at least movement.warmup_end_epoch \(2\)"):
        load_jpqd_config("bert", None, {"training": {"epochs": {"int8": 6, "fp32": 1.5}}})
    with pytest.raises(ValueError, match=r"importance_regularization_factor: .*no deliverable 'bf16': the keys are int8, fp32 \(got \{"):
        load_jpqd_config("bert", None, {"movement": {"importance_regularization_factor": {"bf16": 0.1}}})
    with pytest.raises(ValueError, match=r"importance_regularization_factor: .*number >= 0.*'fp32': -1\}"):
        load_jpqd_config("bert", None, {"movement": {"importance_regularization_factor": {"int8": 0.1, "fp32": -1}}})
    with pytest.raises(ValueError, match="'{block}heads'"):
        JPQDConfig.model_validate({"movement": {"sparse_structure_by_scopes": [
            {"mode": "fine", "target_scopes": "{block}heads"}]}})


def test_compare_deploy_runs_stage1_once_and_measures_both(tiny_pipeline, tmp_path, monkeypatch, tiny_jpqd_config):
    import json

    from ovrecipes.core.cpu import host_cpu
    from ovrecipes.recipes.jpqd import export, recipe
    from ovrecipes.runs.common import MeasureOptions
    from ovrecipes.runs.jpqd import run_jpqd

    calls = []
    original = recipe._sparsify

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(recipe, "_sparsify", counted)
    config = tiny_jpqd_config({
        "deploy": "auto", "compare_deploy": True, "quantization": {"target_cpu": "avx2", "overflow_fix": "auto"},
        "movement": {"importance_regularization_factor": {"int8": 1.0, "fp32": 3.0}, "importance_lr_multiplier": 200.0,
                     "sparse_structure_by_scopes": [
                         {"mode": "block", "sparse_factors": [16, 32], "target_scopes": "{block}attention"},
                         {"mode": "per_dim", "axis": 0, "target_scopes": "{block}ffn_in"},
                         {"mode": "per_dim", "axis": 1, "target_scopes": "{block}ffn_out"}]},
        "training": {"epochs": {"int8": 2, "fp32": 3}, "freeze_embeddings_in_qat": True},
    })
    out = tmp_path / "cmp"
    report = run_jpqd(tiny_pipeline, config, out, options=MeasureOptions(
        eval_limit=8, rounds=2, bench_args={"time_s": 0.2, "hint": "latency"}))
    assert calls == [1]
    info = report.recipe
    # the one stage 1 prunes for the deliverable (fp32 on the AVX2 target): its factor, not int8's
    movement = info["movement"]
    assert (movement["regularization_factor"], movement["pruned_for"]) == (3.0, "fp32")
    assert max(h["regularization_factor"] for h in movement["history"]) > 1.0
    assert info["deploy"]["value"] == "fp32" and info["deploy"]["trained"] == ["fp32", "int8"]
    assert set(info["stage2"]) == {"fp32", "int8"} and info["stage2"]["int8"]["fake_quantize_nodes"] > 0
    assert info["stage2"]["fp32"]["fake_quantize_nodes"] == 0
    # each stage 2 trains its own epochs less stage 1's: 1 for int8, 2 for fp32 (2 steps of 8 per epoch)
    assert (info["stage2"]["int8"]["epochs"], info["stage2"]["fp32"]["epochs"]) == (1, 2)
    assert (len(info["losses"]["int8"]), len(info["losses"]["fp32"])) == (2, 4)
    # only QAT pays for training the embedding table through its fake quantizer; the FP32 stage 2 trains it
    assert "frozen" not in info["stage2"]["fp32"] and info["stage2"]["int8"]["frozen"]
    timings = report.timings_s
    assert any("stage 2, fp32" in k for k in timings) and any("stage 2, int8" in k for k in timings)
    bf16 = host_cpu().default_precision == "bf16"
    labels = [v.label for v in report.variants]
    assert labels == ["Teacher (PyTorch FP32)", "OV FP32", *(["OV BF16"] if bf16 else []),
                      "Pruned + distilled FP32", *(["Pruned + distilled BF16"] if bf16 else []), "JPQD INT8"]
    ran = {v.label: (v.requested_precision, v.inference_precision) for v in report.variants}
    assert ran["OV FP32"] == ("f32", "f32") and ran["Pruned + distilled FP32"] == ("f32", "f32")
    assert ran["JPQD INT8"] == (None, host_cpu().default_precision)
    assert report.recommendation.choice in labels
    import openvino as ov

    top = ov.Core().read_model(out / "openvino_model.xml")  # the fp32 deliverable for the AVX2 target
    int8 = ov.Core().read_model(out / "int8" / "openvino_model.xml")
    assert export.op_counts(top).get("FakeQuantize", 0) == 0 and export.op_counts(int8).get("FakeQuantize", 0) > 0
    assert json.loads((out / "config.json").read_text())["jpqd_intermediate_sizes"]
    assert "deploy = fp32" in (out / "report.md").read_text()
    assert "regularization factor 3, the fp32 deliverable's" in (out / "report.md").read_text()
    assert "Stage 2 epochs (distillation on the pruned model): fp32 2, int8 1" in (out / "report.md").read_text()


@pytest.mark.parametrize("extra, message", [
    (["--no-distillation", "--temperature", "3"], "--temperature has no effect: distillation is switched off "
                                                  "(--no-distillation, or distillation.enabled: false in the config)"),
    (["--no-sparsity", "--regularization-factor", "0.2"], "--regularization-factor has no effect: movement sparsity"),
    (["--no-quantization", "--freeze-embeddings", "false"], "--freeze-embeddings has no effect: QAT is switched off"),
    (["--deploy", "fp32", "--preset", "performance"], "--preset has no effect: this run trains no INT8 variant "
                                                      "(deploy fp32: deploy=fp32 was requested"),
    (["--target-cpu", "avx2", "--qat-learning-rate", "1e-5"], "--qat-learning-rate has no effect: this run trains "
                                                               "no INT8 variant (deploy fp32: target 'avx2'"),
    (["--teacher-cache", "false", "--teacher-precision", "bf16"], "--teacher-precision bf16 has no effect without "
                                                                  "the teacher cache"),
])
def test_flags_a_run_would_ignore_are_refused_in_one_line(tiny_bert_dir, tiny_csv, tmp_path, capsys, extra, message):
    from ovrecipes.cli.main import main

    out = tmp_path / "o"  # a tiny, short run: without the check it would finish in seconds and write `out`
    assert main(["bert", "jpqd", "--model", str(tiny_bert_dir), "--dataset", str(tiny_csv), "--max-length", "16",
                 "--max-steps", "2", "--train-limit", "16",
                 "--no-eval", "--no-bench", "--no-teacher-eval", "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"ovrecipes: error: {message}"), err
    assert not list(tmp_path.iterdir())


def test_qat_flags_follow_the_deliverable_auto_picks_on_each_cpu(tmp_path, monkeypatch):
    """On an AVX2 host (faked) ``auto`` trains FP32 only, so a QAT flag is refused; on a VNNI host it is used."""
    from ovrecipes.cli.jpqd import overrides, refuse_qat_flags_without_int8
    from ovrecipes.cli.main import build_parser
    from ovrecipes.recipes.jpqd import recipe
    from ovrecipes.runs.jpqd import load_jpqd_config

    args = build_parser().parse_args(["bert", "jpqd", "--out", str(tmp_path / "o"), "--qat-learning-rate", "1e-5"])
    config, _ = load_jpqd_config("bert", None, overrides(args))
    monkeypatch.setattr(recipe, "target_cpu", lambda name: VNNI)
    refuse_qat_flags_without_int8(args, *recipe.plan_deploy(config))
    monkeypatch.setattr(recipe, "target_cpu", lambda name: AVX2)
    with pytest.raises(ValueError, match=r"^--qat-learning-rate has no effect: .*fake AVX2.*add --compare-deploy"):
        refuse_qat_flags_without_int8(args, *recipe.plan_deploy(config))
    both = config.model_copy(update={"compare_deploy": True})
    refuse_qat_flags_without_int8(args, *recipe.plan_deploy(both))
