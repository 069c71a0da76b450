"""The JPQD run: export the FP32 baseline, train/prune/fine-tune, measure every variant side by side.

Output directory: the deliverable IR (HF layout) at the top (JPQD INT8 or pruned + distilled FP32, as
``deploy`` decides), ``fp32/`` (baseline IR), with ``--compare-deploy`` the other variant in ``int8/`` or
``pruned_fp32/``, recipe.yaml, report.json/md, and PNGs. Trainer checkpoints live in a work directory
next to it (``<out>.jpqd-work``) so that ``resume_from_checkpoint: last`` survives a failed run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ovrecipes.compare import DEFAULT_ACCURACY_BUDGET, Variant, measure, model_size_mb
from ovrecipes.jpqd_report import markdown, plot_kept, plot_training
from ovrecipes.outdir import staged_output
from ovrecipes.report import Timer, build_report, print_summary, write_report
from ovrecipes.pipelines.base import FamilyPipeline
from ovrecipes.pipelines.runtime import default_inference_precision
from ovrecipes.recipes.jpqd import recipe as jpqd
from ovrecipes.recipes.jpqd.config import JPQDConfig

FP32_SUBDIR = "fp32"
#: where a trained stage-2 variant goes when it is not the deliverable (the deliverable is at the top)
VARIANT_SUBDIRS = {"int8": "int8", "fp32": "pruned_fp32"}
VARIANT_LABELS = {"int8": "JPQD INT8", "fp32": "Pruned + distilled FP32"}


def side_by_side(teacher: Path | None, fp32: Path, trained: dict[str, Path], default_precision: str):
    """Teacher, OV FP32 pinned f32 (the reference), the same IR at the plugin's bf16 where that is the
    default, then each trained deliverable (FP32 at f32 and bf16, INT8 at the plugin default)."""
    bf16 = default_precision == "bf16"
    variants = [Variant("Teacher (PyTorch FP32)", teacher)] if teacher else []
    variants.append(Variant("OV FP32 (f32)", fp32, "f32"))
    if bf16:
        variants.append(Variant("OV FP32 (bf16)", fp32))
    if "fp32" in trained:
        variants.append(Variant(f"{VARIANT_LABELS['fp32']} (f32)", trained["fp32"], "f32"))
        if bf16:
            variants.append(Variant(f"{VARIANT_LABELS['fp32']} (bf16)", trained["fp32"]))
    if "int8" in trained:
        variants.append(Variant(VARIANT_LABELS["int8"], trained["int8"]))
    return variants


def work_dir(config: JPQDConfig, out: Path) -> Path:
    return Path(config.training.work_dir) if config.training.work_dir else out.with_name(out.name + ".jpqd-work")


def run_jpqd(
    pipeline: FamilyPipeline,
    config: JPQDConfig,
    out: Path,
    *,
    teacher: Path | None = None,
    overwrite: bool = False,
    evaluate: bool = True,
    bench: bool = True,
    measure_teacher: bool = True,
    bench_args: dict | None = None,
    eval_limit: int | None = None,
    budget: float = DEFAULT_ACCURACY_BUDGET,
    title: str | None = None,
    legacy_notes: list[str] | None = None,
) -> dict[str, Any]:
    out = Path(out).resolve()
    work = work_dir(config, out)
    work.mkdir(parents=True, exist_ok=True)
    teacher = Path(teacher) if teacher else Path(pipeline.torch_source())
    if not jpqd.is_main_process():  # torchrun/accelerate: ranks > 0 train alongside rank 0, nothing else
        import tempfile

        with tempfile.TemporaryDirectory() as scratch:
            _, trained = jpqd.plan_deploy(config)
            jpqd.run(pipeline, config, {v: Path(scratch) / v for v in trained}, None, teacher, work, progress=False)
        return {}
    decision, trained = jpqd.plan_deploy(config)
    print(f"deploy = {decision.value}: {decision.reason}")
    timer = Timer()
    with staged_output(out, overwrite) as stage:
        outputs = {v: stage if v == decision.value else stage / VARIANT_SUBDIRS[v] for v in trained}
        with timer.stage("export FP32 OpenVINO IR"):
            fp32 = pipeline.export(stage / FP32_SUBDIR)
        with timer.stage("JPQD: teacher logits, movement sparsity, structured pruning, stage 2, export"):
            info = jpqd.run(pipeline, config, outputs, fp32, teacher, work, progress=pipeline.progress)
        info["deploy"] = {**decision.to_dict(), "trained": list(trained),
                          "dirs": {v: str(p).replace(str(stage), str(out)) for v, p in outputs.items()}}
        info["legacy_notes"] = legacy_notes or []
        variants = side_by_side(teacher if measure_teacher else None, fp32, outputs, default_inference_precision())
        info["ir_size_mb"] = {v.label: round(model_size_mb(v.path), 2) for v in variants if v.engine == "openvino"}
        results = []
        if evaluate or bench:
            with timer.stage("evaluate and benchmark side by side"):
                results = measure(pipeline, variants, limit=eval_limit, evaluate=evaluate, bench=bench,
                                  bench_args=bench_args)
        timer.stages.update({f"  {k}": v for k, v in info.pop("timings_s", {}).items()})
        report = build_report(title=title or f"{pipeline.family} JPQD", pipeline_info=pipeline.describe(),
                              results=results, recipe=info, timer=timer, budget=budget)
        for variant in report["variants"]:
            variant["path"] = variant["path"].replace(str(stage), str(out))
        write_report(stage, report, results, config=config.model_dump(mode="json"))
        kept = plot_kept(info["movement"].get("keeps", []), stage / "kept_per_layer.png")
        curve = plot_training(info["movement"].get("history", []), stage / "sparsity_regularization.png")
        extra = markdown(info, kept.name if kept else None, curve.name if curve else None)
        (stage / "report.md").write_text((stage / "report.md").read_text() + "\n" + extra)
        (stage / "training_history.json").write_text(json.dumps(info["movement"].get("history", []), indent=1))
    if config.training.save_strategy == "no":
        shutil.rmtree(work, ignore_errors=True)
    print_summary(report)
    extra = "".join(f", {VARIANT_SUBDIRS[v]}/" for v in trained if v != decision.value)
    print(f"\nWrote {out} ({VARIANT_LABELS[decision.value]} model, fp32/{extra}, recipe.yaml, report.md, "
          "report.json, PNGs)")
    return report
