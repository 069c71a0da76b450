"""JPQD on any family that can train (``trainer_data``) and describe its blocks (``transformer_blocks``).

Two Trainer stages, one recipe:
1. movement sparsity + distillation in FP32 for ``warmup_end_epoch`` epochs; then structured masking
   (whole heads / FFN units, the rest rewound), masks frozen and baked, dropped units sliced out;
2. distillation fine-tuning of the physically pruned model for the remaining epochs, for the
   deliverable the target CPU wants (``deploy.py``): ``int8`` runs it as NNCF 3.x QAT (nncf.quantize on
   torch, nncf.strip, weight FakeQuantize folded to int8), ``fp32`` without fake quantization.
   ``compare_deploy`` trains both from the same stage-1 model.
Quantizing after pruning means QAT trains exactly the graph that is exported, and its epochs run on
the smaller model. The teacher's logits come from a cache computed once (``teacher.py``).
"""

from __future__ import annotations

import copy
import logging
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ovrecipes.core.cache import cache_path
from ovrecipes.core.cpu import target_cpu
from ovrecipes.pipelines.base import FamilyPipeline
from ovrecipes.pipelines.types import EXAMPLE_INDEX, TrainerData
from ovrecipes.recipes.jpqd import export
from ovrecipes.recipes.jpqd.config import JPQDConfig
from ovrecipes.recipes.jpqd.deploy import DeployDecision, choose_deploy
from ovrecipes.recipes.jpqd.movement import MovementController, apply_movement, remove_movement
from ovrecipes.recipes.jpqd.structure import BlockKeep, apply_structured_masks, ffn_sizes, prune_blocks, resolve_keep
from ovrecipes.recipes.jpqd.teacher import LiveTeacher, cached_teacher, choose_teacher_precision
from ovrecipes.recipes.jpqd.trainer import JPQDTrainer, MaskKeeper, MovementCallback
from ovrecipes.recipes.overflow import choose_overflow_fix

log = logging.getLogger(__name__)

STAGE1_FILE = "stage1.pt"
#: stage-2 Trainer directories under the work dir, per deliverable
STAGE1_DIR = "sparsity"  # stage 1's trainer checkpoints, in the work directory
STAGE2_DIRS = {"int8": "qat", "fp32": "fp32"}


def is_main_process() -> bool:
    """Rank 0 of a torchrun/accelerate launch (or a plain run): the one that exports and writes files."""
    return int(os.environ.get("RANK", "0")) == 0


def world_size() -> int:
    """Data-parallel training processes (torchrun/accelerate set WORLD_SIZE; 1 for a plain run)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


#: torch.compile variants NNCF's reference fake-quantize needs in one QAT run: weights (Parameters) and
#: activations (Tensors), 2-D and 3-D, per-tensor and per-channel scales, forward and backward. Past
#: torch's default of 8 per function, dynamo warns on every run and runs the rest uncompiled (~10% slower).
FAKE_QUANTIZE_RECOMPILE_LIMIT = 64


def use_reference_kernels() -> None:
    """NNCF's torch fake-quantize ops in plain torch (compiled by NNCF with torch.compile) instead of a
    C++ extension built on first use."""
    import torch._dynamo
    from nncf.torch.quantization import quantize_functions
    from nncf.torch.quantization.reference import ReferenceQuantizedFunctions

    quantize_functions.QuantizedFunctionsCPU._loaded_namespace = ReferenceQuantizedFunctions
    dynamo = torch._dynamo.config
    dynamo.recompile_limit = max(dynamo.recompile_limit, FAKE_QUANTIZE_RECOMPILE_LIMIT)
    dynamo.accumulated_recompile_limit = max(dynamo.accumulated_recompile_limit, 16 * FAKE_QUANTIZE_RECOMPILE_LIMIT)


def freeze_input_embeddings(model: nn.Module) -> list[str]:
    """Stop training the input embedding table and, in a quantized model, its weight quantizer.

    The table (vocab x hidden) is half of a small encoder's weights; with fake quantization, every step
    quantizes all of it and back-propagates through all of it, although a batch reads a few hundred rows.
    NNCF keeps a quantizer in a hook named after the op it guards (``<module/path>/embedding/0...``),
    so the quantizer is found by the embedding's module path. Returns the frozen parameter names.
    """
    embedding = model.get_input_embeddings()
    path = next(name for name, module in model.named_modules() if module is embedding)
    hook_path = "." + path.replace(".", "/") + "/"
    frozen = []
    for name, param in model.named_parameters():
        if param.requires_grad and (name.startswith(path + ".") or (name.startswith("__nncf") and hook_path in name)):
            param.requires_grad_(False)
            frozen.append(name)
    return frozen


def training_arguments(config: JPQDConfig, output_dir: Path, epochs: float, learning_rate: float, progress: bool):
    from transformers import TrainingArguments

    t = config.training
    return TrainingArguments(
        output_dir=str(output_dir), num_train_epochs=epochs, learning_rate=learning_rate,
        per_device_train_batch_size=t.batch_size, per_device_eval_batch_size=t.eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps, weight_decay=t.weight_decay,
        warmup_steps=t.warmup_ratio, seed=t.seed,  # a float < 1 is a ratio of the steps (transformers 5)
        train_sampling_strategy=t.sampling,
        eval_strategy=t.eval_strategy, eval_steps=t.eval_steps,
        save_strategy=t.save_strategy, save_steps=t.save_steps, save_total_limit=t.save_total_limit,
        logging_steps=t.logging_steps, max_steps=t.max_steps, report_to=[], remove_unused_columns=False,
        use_cpu=not torch.cuda.is_available(), disable_tqdm=not progress, dataloader_num_workers=0,
    )


def _checkpoint(config: JPQDConfig, stage_dir: Path) -> str | None:
    resume = config.training.resume_from_checkpoint
    if resume != "last":
        return resume if resume and _stage_of(resume) == stage_dir.resolve() else None
    found = sorted(stage_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(found[-1]) if found else None


def _stage_of(checkpoint: str) -> Path:
    """The stage folder an explicit checkpoint directory sits in (absolute, so relative paths compare)."""
    return Path(checkpoint).expanduser().resolve().parent


def check_resume(config: JPQDConfig, work: Path) -> None:
    """An explicit checkpoint must be a directory in one of the work directory's stage folders; otherwise
    the trainer would silently start from scratch."""
    resume = config.training.resume_from_checkpoint
    if not resume or resume == "last":
        return
    stages = [work / STAGE1_DIR, *(work / d for d in STAGE2_DIRS.values())]
    if not Path(resume).expanduser().is_dir():
        raise ValueError(f"resume_from_checkpoint {resume}: no such checkpoint directory; pass 'last' or a "
                         f"checkpoint-* directory under {', '.join(str(d) for d in stages)}")
    if _stage_of(resume) not in {d.resolve() for d in stages}:
        raise ValueError(f"resume_from_checkpoint {resume} is not in this run's work directory: pass 'last' or "
                         f"a checkpoint-* directory under {', '.join(str(d) for d in stages)}")


def _resumes_after_stage1(config: JPQDConfig, work: Path) -> bool:
    """``last``, or an explicit stage-2 checkpoint: stage 1's pruned model is loaded, not retrained."""
    resume = config.training.resume_from_checkpoint
    stage2 = {(work / d).resolve() for d in STAGE2_DIRS.values()}
    return resume == "last" or bool(resume and _stage_of(resume) in stage2)


def plan_deploy(config: JPQDConfig) -> tuple[DeployDecision, tuple[str, ...]]:
    """The deliverable (by target CPU) and the stage-2 variants to train, the deliverable first."""
    decision = choose_deploy(config.deploy, target_cpu(config.quantization.target_cpu))
    if not config.quantization.enabled and config.deploy == "auto":
        decision = DeployDecision("fp32", "auto", "quantization is disabled in the config, so the pruned "
                                  "FP32 model is the deliverable.", decision.cpu)
    other = "fp32" if decision.value == "int8" else "int8"
    return decision, (decision.value, other) if config.compare_deploy else (decision.value,)


def teacher_targets(pipeline: FamilyPipeline, config: JPQDConfig, teacher_dir: Path | None):
    """What the trainer distils from (cached logits, or the live PyTorch teacher), and a report entry."""
    d = config.distillation
    if teacher_dir is None or not d.enabled:
        return None, {"enabled": False}
    inputs = pipeline.teacher_inputs(Path(teacher_dir), config.training.train_limit)

    def logits_of(outputs):
        return pipeline.training_outputs(outputs)[1]

    def load_teacher():
        return pipeline.torch_model(Path(teacher_dir))[0].eval()

    if not d.teacher_cache:
        return LiveTeacher(load_teacher(), inputs, logits_of), {"source": LiveTeacher.source}

    cache_dir = Path(d.cache_dir) if d.cache_dir else cache_path("teacher-logits")
    precision = choose_teacher_precision(d.teacher_precision)
    targets, info = cached_teacher(Path(teacher_dir), load_teacher, inputs, logits_of, precision, cache_dir)
    return targets, {"source": targets.source, **info}


def _sparsify(pipeline: FamilyPipeline, config: JPQDConfig, student: nn.Module, targets,
              data: TrainerData, work: Path, progress: bool, deliverable: str) -> dict[str, Any]:
    """Stage 1, pruning as hard as ``deliverable`` wants (its regularization factor); returns what
    stage 2 and the report need (the model is pruned in place)."""

    mv = config.movement
    factor = mv.regularization_factor(deliverable)
    all_blocks = pipeline.transformer_blocks(student)
    roles = {name: role for b in all_blocks for name, role in b.roles().items()}
    blocks = all_blocks if mv.enable_structured_masking else []
    sizes = ffn_sizes(student, blocks)
    controller: MovementController = apply_movement(student, mv, roles)
    callback = MovementCallback(controller, mv.warmup_start_epoch, mv.warmup_end_epoch,
                                factor, mv.final_importance_threshold, mv.power,
                                steps_per_epoch=mv.steps_per_epoch, log_every=config.training.logging_steps)
    args = training_arguments(config, work / STAGE1_DIR, config.sparsity_epochs, config.training.learning_rate,
                              progress)
    trainer = JPQDTrainer(model=student, args=args, train_dataset=data.train, eval_dataset=data.eval,
                          data_collator=data.collator, compute_metrics=pipeline.training_metrics, callbacks=[callback],
                          outputs_fn=pipeline.training_outputs, teacher_logits=targets, distillation=config.distillation, controller=controller,
                          importance_lr_multiplier=mv.importance_lr_multiplier)
    callback.trainer = trainer
    trainer.train(resume_from_checkpoint=_checkpoint(config, work / STAGE1_DIR))
    # warmup over: final threshold, then structured masks, frozen and baked into the weights
    controller.set_schedule(mv.final_importance_threshold, 0.0)
    controller.refresh_masks()
    unstructured = controller.sparsity()
    keeps: list[BlockKeep] = []
    if blocks:
        keeps = resolve_keep(controller, blocks, sizes)
        apply_structured_masks(controller, blocks, keeps)
    structured = controller.sparsity()
    controller.freeze()
    residual = remove_movement(student, controller)
    if blocks:
        pruned_names = {n for b in blocks for n in b.linears()}
        residual = {n: m for n, m in residual.items() if n not in pruned_names}
        prune_blocks(student, blocks, keeps)
    return {"history": callback.history, "keeps": [k.to_dict() for k in keeps], "residual": residual,
            "losses": trainer.loss_history,
            "sparsity_unstructured": unstructured, "sparsity_structured": structured,
            "init_threshold": controller.init_threshold, "layers": len(controller.layers),
            "regularization_factor": factor, "pruned_for": deliverable,
            "steps_per_epoch": callback.schedule.steps_per_epoch if callback.schedule else None}


def _qat_dataset(data: TrainerData, n: int):
    import nncf

    items = []
    for i in range(min(n, len(data.train))):
        batch = data.collator([data.train[i]])
        items.append({k: v for k, v in batch.items() if k not in ("labels", "label", EXAMPLE_INDEX)})
    return nncf.Dataset(items)


def _quantize(model: nn.Module, config: JPQDConfig, data: TrainerData) -> tuple[nn.Module, dict]:
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedSmoothQuantParameters

    q = config.quantization
    if q.kernels == "reference":
        use_reference_kernels()
    decision = choose_overflow_fix(q.overflow_fix, target_cpu(q.target_cpu))
    names = [s for s in q.ignored_scopes if not s.startswith("{re}")]
    patterns = [s[4:] for s in q.ignored_scopes if s.startswith("{re}")]
    ignored = nncf.IgnoredScope(names=names, patterns=patterns, validate=False) if q.ignored_scopes else None
    quantized = nncf.quantize(
        model.eval(), _qat_dataset(data, q.subset_size), preset=nncf.QuantizationPreset(q.preset),
        subset_size=q.subset_size, model_type=nncf.ModelType.TRANSFORMER, ignored_scope=ignored,
        advanced_parameters=nncf.AdvancedQuantizationParameters(
            overflow_fix=decision.nncf_value(), smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=-1)),
    )
    return quantized, {"overflow_fix": decision.to_dict(), "preset": q.preset, "kernels": q.kernels}


def _pruned_config(keeps: list[dict]) -> dict:
    """config.json keys that record the pruned shapes (HF's ``pruned_heads`` plus per-layer FFN sizes)."""
    if not keeps:
        return {}
    pruned = {str(k["layer"]): [h for h in range(k["heads"]) if h not in k["heads_kept_ids"]] for k in keeps}
    return {"pruned_heads": {layer: heads for layer, heads in pruned.items() if heads},
            "jpqd_intermediate_sizes": [max(k["ffn_kept"], 1) for k in keeps],
            "jpqd_attention_heads": [max(k["heads_kept"], 1) for k in keeps]}


def _stage2(pipeline: FamilyPipeline, config: JPQDConfig, variant: str, model: nn.Module, sparsity: dict,
            targets, data: TrainerData, work: Path, progress: bool) -> tuple[nn.Module, dict[str, Any]]:
    """Distillation fine-tuning of the pruned model for the remaining epochs, with fake quantization
    for ``int8`` and without for ``fp32``; the same seed, data order, teacher and learning rate."""
    from transformers import set_seed

    set_seed(config.training.seed)
    info: dict[str, Any] = {}
    if variant == "int8":
        model, info["quantization"] = _quantize(model, config, data)
        if config.training.freeze_embeddings_in_qat:
            info["frozen"] = freeze_input_embeddings(model)
    stage2_epochs = config.training.epochs_for(variant) - config.sparsity_epochs
    info["epochs"] = max(stage2_epochs, 0.0)
    if stage2_epochs > 0 or config.training.max_steps > 0:
        lr = config.training.qat_learning_rate or config.training.learning_rate
        stage_dir = work / STAGE2_DIRS[variant]
        args = training_arguments(config, stage_dir, max(stage2_epochs, 0.0), lr, progress)
        keeper = [MaskKeeper(model, sparsity["residual"])] if sparsity["residual"] else []
        trainer = JPQDTrainer(model=model.train(), args=args, train_dataset=data.train, eval_dataset=data.eval,
                              data_collator=data.collator, compute_metrics=pipeline.training_metrics,
                              callbacks=keeper, outputs_fn=pipeline.training_outputs, teacher_logits=targets,
                              distillation=config.distillation)
        result = trainer.train(resume_from_checkpoint=_checkpoint(config, stage_dir))
        info["train_loss"] = round(float(result.training_loss), 4)
        info["losses"] = trainer.loss_history
    return model, info


def _export(pipeline: FamilyPipeline, variant: str, model: nn.Module, out_dir: Path, fp32_dir: Path,
            config_update: dict) -> dict[str, Any]:
    """Strip fake quantization (int8), convert to OpenVINO, fold int8 weights, save in HF layout."""
    example = pipeline.benchmark_inputs()[pipeline.submodels()[0].name]
    model = model.eval()
    if variant == "int8":
        import nncf

        torch_example = {k: torch.from_numpy(v) for k, v in example.items()}
        model = nncf.strip(model, do_copy=False, example_input=torch_example)
    ov_model = export.convert(model, example, pipeline.export_input_shapes(),
                              lambda outputs: pipeline.training_outputs(outputs)[1])
    info: dict[str, Any] = {"fake_quantize_nodes": export.op_counts(ov_model).get("FakeQuantize", 0)}
    if variant == "int8":
        export.compress_quantized_weights(ov_model)
    info["ops"] = export.op_counts(ov_model)
    info["matmul_weight_elements"] = export.matmul_weight_elements(ov_model)
    export.save_ir(ov_model, out_dir, fp32_dir, config_update)
    return info


STAGE2_LABELS = {"int8": "QAT + distillation (stage 2, int8)", "fp32": "FP32 distillation (stage 2, fp32)"}


def run(pipeline: FamilyPipeline, config: JPQDConfig, outputs: dict[str, Path], fp32_dir: Path,
        teacher_dir: Path | None, work: Path, progress: bool = True) -> dict[str, Any]:
    """Train, prune and fine-tune; write each deliverable in ``outputs`` ({"int8"|"fp32": IR directory}).

    The keys of ``outputs`` are the stage-2 variants to train (``plan_deploy``); with two, stage 1 runs
    once and each variant starts from a copy of its pruned model.
    """
    from transformers import set_seed

    config.check_stages()
    check_resume(config, work)
    if not outputs or set(outputs) - set(STAGE2_DIRS):
        raise ValueError(f"outputs must map int8 and/or fp32 to directories: got {sorted(outputs)}")
    set_seed(config.training.seed)
    variants = list(outputs)  # the deliverable first (plan_deploy)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    data = pipeline.trainer_data(config.training.train_limit)
    student, _ = pipeline.torch_model(Path(pipeline.torch_source()))
    targets, teacher_info = teacher_targets(pipeline, config, teacher_dir)
    timings["teacher logits"] = round(time.perf_counter() - started, 1)

    params_before = count_parameters(student)
    report: dict[str, Any] = {"params_fp32": params_before, "training_processes": world_size(),
                              "teacher": teacher_info}

    started = time.perf_counter()
    stage1 = work / STAGE1_FILE
    if config.movement.enabled and _resumes_after_stage1(config, work) and stage1.exists():
        saved = torch.load(stage1, weights_only=False)
        student, sparsity = saved["model"], saved["sparsity"]
        log.info(f"resumed after stage 1 from {stage1}")
    elif config.movement.enabled:
        sparsity = _sparsify(pipeline, config, student.train(), targets, data, work, progress,
                             deliverable=variants[0])
        if is_main_process():
            torch.save({"model": student, "sparsity": sparsity}, stage1)
    else:
        sparsity = {"history": [], "keeps": [], "residual": {}, "losses": []}
    timings["movement sparsity (stage 1)"] = round(time.perf_counter() - started, 1)
    report["movement"] = {k: v for k, v in sparsity.items() if k not in ("residual", "losses")}
    report["movement"]["residual_masked_layers"] = sorted(sparsity["residual"])
    report["losses"] = {"stage1": sparsity.get("losses", [])}
    report["params_pruned"] = count_parameters(student)
    config_update = _pruned_config(sparsity["keeps"])
    report["config_update"] = config_update

    report["stage2"] = {}
    for i, variant in enumerate(variants):
        model = student if i == len(variants) - 1 else copy.deepcopy(student)
        started = time.perf_counter()
        model, info = _stage2(pipeline, config, variant, model, sparsity, targets, data, work, progress)
        timings[STAGE2_LABELS[variant]] = round(time.perf_counter() - started, 1)
        report["losses"][variant] = info.pop("losses", [])
        if is_main_process():  # other data-parallel ranks only train
            started = time.perf_counter()
            info.update(_export(pipeline, variant, model, outputs[variant], fp32_dir, config_update))
            timings[f"export {variant} IR"] = round(time.perf_counter() - started, 1)
        report["stage2"][variant] = info
        del model
    if "int8" in report["stage2"]:  # the keys report.md reads for the quantized model
        int8 = report["stage2"]["int8"]
        report["quantization"] = int8.get("quantization", {})
        for key in ("fake_quantize_nodes", "matmul_weight_elements", "ops"):
            if key in int8:
                report[key] = int8[key]
        if "train_loss" in int8:
            report["qat_train_loss"] = int8["train_loss"]
    report["timings_s"] = timings
    return report
