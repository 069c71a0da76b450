"""The JPQD run: export the FP32 baseline, train/prune/fine-tune, measure every variant side by side.

Output directory: the deliverable IR (HF layout) at the top (JPQD INT8 or pruned + distilled FP32, as
``deploy`` decides from the target CPU), ``fp32/`` (baseline IR), with ``--compare-deploy`` the other
variant in ``int8/`` or ``pruned_fp32/``, recipe.yaml, report.json/md, training_history.json and PNGs.
Trainer checkpoints live in a work directory next to it (``<out>.jpqd-work``) so that
``resume_from_checkpoint: last`` survives a failed or interrupted run.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ovrecipes.measure.variants import Variant, model_size_mb
from ovrecipes.pipelines.base import FamilyPipeline
from ovrecipes.pipelines.model_dirs import is_openvino_dir
from ovrecipes.recipes.jpqd import recipe as jpqd
from ovrecipes.recipes.jpqd.config import JPQDConfig
from ovrecipes.recipes.jpqd.legacy import read_legacy
from ovrecipes.report.model import Figure, Report, Section, Table
from ovrecipes.report.plots import kept_per_layer, sparsity_schedule
from ovrecipes.report.writer import Timer
from ovrecipes.runs.common import MeasureOptions, RecipeOutcome, recipe_run
from ovrecipes.runs.config import load_config

log = logging.getLogger(__name__)

FP32_SUBDIR = "fp32"
#: where a trained stage-2 variant goes when it is not the deliverable (the deliverable is at the top)
VARIANT_SUBDIRS = {"int8": "int8", "fp32": "pruned_fp32"}
TEACHER, FP32 = "Teacher (PyTorch FP32)", "OV FP32"
#: FP32 IRs also get a BF16 row on bf16 CPUs ("Pruned + distilled BF16"), see measure.variants
VARIANT_LABELS = {"int8": "JPQD INT8", "fp32": "Pruned + distilled FP32"}


def load_jpqd_config(family: str, path: Path | None, overrides: dict) -> tuple[JPQDConfig, list[str]]:
    """The family's packaged YAML, then the user's YAML or legacy NNCF JSON, then flags; stages checked."""
    config, notes = load_config(JPQDConfig, family, "jpqd", path, overrides, json_reader=read_legacy)
    return config.check_stages(), notes


def work_dir(config: JPQDConfig, out: Path) -> Path:
    return Path(config.training.work_dir) if config.training.work_dir else out.with_name(out.name + ".jpqd-work")


def jpqd_section(info: dict[str, Any], kept_png: Path | None, curve_png: Path | None) -> Section:
    """Structure kept, compression, training facts and their figures."""
    mv = info.get("movement", {})
    lines = []
    params_fp32, params_pruned = info.get("params_fp32"), info.get("params_pruned")
    if params_fp32 and params_pruned:
        lines.append(f"Parameters: {params_fp32:,} -> {params_pruned:,} "
                     f"({100.0 * (1 - params_pruned / params_fp32):.1f}% removed by structured pruning)")
    deploy = info.get("deploy")
    if deploy:
        lines.append(f"**deploy = {deploy['value']}** (requested: {deploy['requested']}; stage 2 trained: "
                     f"{', '.join(deploy['trained'])}). {deploy['reason']}")
    teacher = info.get("teacher") or {}
    if teacher.get("source"):
        cached = (f"; {teacher['examples']} examples, {'read from' if teacher['hit'] else 'written to'} "
                  f"{teacher['path']} in {teacher['seconds']} s. {teacher['precision']['reason']}"
                  if "path" in teacher else "")
        lines.append(f"Distillation targets: {teacher['source']}{cached}")
    sizes = info.get("ir_size_mb", {})
    if sizes:
        int8 = sizes.get(VARIANT_LABELS["int8"])
        lines.append("IR size (MB): " + ", ".join(f"{k} {v:.1f}" for k, v in sizes.items())
                     + (f"; compression vs {FP32}: {sizes[FP32] / int8:.2f}x" if sizes.get(FP32) and int8 else ""))
    if "sparsity_unstructured" in mv:
        lines.append(f"Sparsity of the {mv.get('layers')} sparsified Linear layers at the end of warmup: "
                     f"{100 * mv['sparsity_unstructured']:.1f}% unstructured, {100 * mv['sparsity_structured']:.1f}% "
                     "after structured masking (whole heads / FFN units, the rest rewound)"
                     + (f"; regularization factor {mv['regularization_factor']:g}, the {mv['pruned_for']} "
                        "deliverable's" if "pruned_for" in mv else ""))
    if info.get("fake_quantize_nodes") is not None:
        lines.append(f"QAT: {info['fake_quantize_nodes']} FakeQuantize nodes before weight compression; "
                     f"MatMul weight elements in the INT8 IR: {info.get('matmul_weight_elements', 0):,}")
    stage2 = info.get("stage2") or {}
    epochs = {variant: trained["epochs"] for variant, trained in stage2.items() if "epochs" in trained}
    if epochs:
        lines.append("Stage 2 epochs (distillation on the pruned model): "
                     + ", ".join(f"{variant} {n:g}" for variant, n in epochs.items()))
    frozen = (stage2.get("int8") or {}).get("frozen")
    if frozen:
        lines.append(f"QAT kept the input embeddings fixed ({len(frozen)} parameters: {', '.join(frozen)})")
    if info.get("training_processes", 1) > 1:
        lines.append(f"Trained data-parallel on {info['training_processes']} processes (torchrun/accelerate); "
                     f"{mv.get('steps_per_epoch')} optimizer steps per epoch on each")
    overflow = (info.get("quantization") or {}).get("overflow_fix")
    if overflow:
        lines.append(f"overflow_fix = {overflow['value']}: {overflow['reason']}")
    lines += [f"legacy config: {note}" for note in info.get("legacy_notes", [])]
    keeps = mv.get("keeps") or []
    tables = []
    if keeps:
        rows = [[str(k["layer"]), f"{k['heads_kept']}/{k['heads']}", f"{k['ffn_kept']}/{k['ffn_units']}",
                 ", ".join(map(str, k["heads_kept_ids"]))] for k in keeps]
        tables.append(Table(header=["layer", "heads kept", "FFN units kept", "head ids"], rows=rows))
    figures = [Figure(file=p.name, caption=c) for p, c in ((kept_png, "kept per layer"),
                                                          (curve_png, "sparsity and regularization")) if p]
    return Section(title="JPQD", lines=lines, tables=tables, figures=figures)


@contextmanager
def resumable(work: Path) -> Iterator[Path]:
    """The work directory: kept after a failure once it holds checkpoints to resume from, removed when
    the run failed before writing anything to it (an empty directory next to ``--out`` is debris)."""
    created = not work.exists()
    work.mkdir(parents=True, exist_ok=True)
    try:
        yield work
    except BaseException:
        if created and not any(work.iterdir()):
            work.rmdir()
        raise


def check_teacher(teacher: Path | None) -> None:
    """A teacher directory JPQD cannot train with is one clear error; callers check it before preparing the
    student (on a fresh machine that fine-tunes the embedded default for minutes)."""
    if teacher is None:
        return
    teacher = Path(teacher)
    if not teacher.is_dir():
        raise ValueError(f"teacher {teacher} is not a directory (a PyTorch/HF model directory is needed)")
    if is_openvino_dir(teacher):
        raise ValueError(f"teacher {teacher} is an OpenVINO directory: the teacher runs in PyTorch (or, cached, from "
                         "its own OpenVINO export), so pass the PyTorch/HF model it was exported from")
    if not (teacher / "config.json").is_file():
        raise ValueError(f"teacher {teacher} has no config.json (a PyTorch/HF model directory is needed)")


def torch_models(pipeline: FamilyPipeline, teacher: Path | None) -> tuple[str | Path, Path]:
    """The student and teacher JPQD trains with, both PyTorch/HF models (the teacher defaults to the student);
    an OpenVINO directory, or a teacher directory without a config.json, is one clear error before any stage."""
    student = pipeline.model_path
    if is_openvino_dir(student):
        raise ValueError(f"--model {student} is an OpenVINO directory: JPQD fine-tunes a PyTorch model, so pass "
                         "the PyTorch/HF model it was exported from")
    check_teacher(teacher)
    return (student, Path(student)) if teacher is None else (student, Path(teacher))


def run_jpqd(pipeline: FamilyPipeline, config: JPQDConfig, out: Path, *, teacher: Path | None = None,
             overwrite: bool = False, measure_teacher: bool = True, options: MeasureOptions | None = None,
             title: str | None = None, legacy_notes: list[str] | None = None) -> Report | None:
    """Train, prune and fine-tune the deliverable(s) ``deploy`` picks; measure the teacher, OV FP32 (and
    BF16), the pruned + distilled FP32 model and JPQD INT8 side by side (those that were trained)."""
    out = Path(out).resolve()
    work = work_dir(config, out)
    jpqd.check_resume(config, work)  # before the FP32 export, not after it
    _, teacher = torch_models(pipeline, teacher)
    with resumable(work):
        decision, trained = jpqd.plan_deploy(config)
        if not jpqd.is_main_process():  # torchrun/accelerate: ranks > 0 train alongside rank 0, nothing else
            with tempfile.TemporaryDirectory() as scratch:
                jpqd.run(pipeline, config, {v: Path(scratch) / v for v in trained}, None, teacher, work, progress=False)
            return None
        log.info(f"deploy = {decision.value}: {decision.reason}")

        def produce(stage: Path, timer: Timer) -> RecipeOutcome:
            outputs = {v: stage if v == decision.value else stage / VARIANT_SUBDIRS[v] for v in trained}
            with timer.stage("export FP32 OpenVINO IR"):
                fp32 = pipeline.export(stage / FP32_SUBDIR)
            with timer.stage("JPQD: teacher logits, movement sparsity, structured pruning, stage 2, export"):
                info = jpqd.run(pipeline, config, outputs, fp32, teacher, work, progress=pipeline.progress)
            info["deploy"] = {**decision.to_dict(), "trained": list(trained),
                              "dirs": {v: str(p).replace(str(stage), str(out)) for v, p in outputs.items()}}
            info["legacy_notes"] = legacy_notes or []
            timer.stages.update({f"  {k}": v for k, v in info.pop("timings_s", {}).items()})
            variants = [Variant(TEACHER, teacher)] if measure_teacher else []
            variants.append(Variant(FP32, fp32))
            variants += [Variant(VARIANT_LABELS[v], outputs[v]) for v in ("fp32", "int8") if v in outputs]
            info["ir_size_mb"] = {v.label: round(model_size_mb(v.path), 2) for v in variants if v.engine == "openvino"}
            kept = kept_per_layer(info["movement"].get("keeps", []), stage / "kept_per_layer.png")
            curve = sparsity_schedule(info["movement"].get("history", []), stage / "sparsity_regularization.png")
            (stage / "training_history.json").write_text(json.dumps(info["movement"].get("history", []), indent=1))
            others = "".join(f", {VARIANT_SUBDIRS[v]}/" for v in trained if v != decision.value)
            return RecipeOutcome(variants=variants, recipe=info, sections=[jpqd_section(info, kept, curve)],
                                 highlights=[f"deploy={decision.value}: {decision.reason}"],
                                 config=config.model_dump(mode="json"),
                                 contents=f"{VARIANT_LABELS[decision.value]} model, fp32/{others}, recipe.yaml, PNGs")

        report = recipe_run(pipeline, out, overwrite=overwrite, kind="jpqd", title=title or f"{pipeline.family} JPQD",
                            options=options or MeasureOptions(), produce=produce)
        if config.training.save_strategy == "no":
            shutil.rmtree(work, ignore_errors=True)
        return report
