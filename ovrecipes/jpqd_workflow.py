"""The JPQD run: export the FP32 baseline, train/prune/quantize, measure every variant side by side.

Output directory: the INT8 JPQD IR (HF layout) at the top, ``fp32/`` (baseline IR), ``pruned_fp32/``
(pruned, not quantized), recipe.yaml, report.json/md, and PNGs. Trainer checkpoints live in a work
directory next to it (``<out>.jpqd-work``) so that ``resume_from_checkpoint: last`` survives a failed run.
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
from ovrecipes.recipes.jpqd import recipe as jpqd
from ovrecipes.recipes.jpqd.config import JPQDConfig

FP32_SUBDIR, PRUNED_SUBDIR = "fp32", "pruned_fp32"


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
            jpqd.run(pipeline, config, Path(scratch), None, teacher, work, None, progress=False)
        return {}
    timer = Timer()
    with staged_output(out, overwrite) as stage:
        with timer.stage("export FP32 OpenVINO IR"):
            fp32 = pipeline.export(stage / FP32_SUBDIR)
        with timer.stage("JPQD: movement sparsity, structured pruning, QAT, distillation, export"):
            info = jpqd.run(pipeline, config, stage, fp32, teacher, work, stage / PRUNED_SUBDIR,
                            progress=pipeline.progress)
        info["legacy_notes"] = legacy_notes or []
        variants = [Variant("Teacher (PyTorch FP32)", teacher)] if measure_teacher else []
        variants += [Variant("OV FP32", fp32), Variant("OV FP32 pruned", stage / PRUNED_SUBDIR),
                     Variant("OV INT8 JPQD", stage)]
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
    print(f"\nWrote {out} (JPQD INT8 model, fp32/, pruned_fp32/, recipe.yaml, report.md, report.json, PNGs)")
    return report
