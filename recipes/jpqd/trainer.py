"""transformers Trainer pieces for JPQD: the loss (task + distillation + importance regularization),
the optimizer groups (importance scores with their own learning rate), and the callbacks that drive
the movement schedule and keep masks applied. Subclassing Trainer keeps torchrun/accelerate
data-parallel runs working unchanged: every process computes the same schedule from the same step.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import torch
from torch import nn

from ovrecipes.pipelines.types import EXAMPLE_INDEX
from ovrecipes.recipes.jpqd.config import DistillationConfig
from ovrecipes.recipes.jpqd.distill import mixed_loss
from ovrecipes.recipes.jpqd.movement import MovementController
from ovrecipes.recipes.jpqd.schedule import IN_WARMUP, MovementSchedule

logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)  # torchao's import-time notices

from transformers import Trainer, TrainerCallback  # noqa: E402


class JPQDTrainer(Trainer):
    """Trainer whose loss adds distillation from the teacher's logits and the movement regularization.

    ``teacher_logits`` maps the batch's example indices (the family's :data:`EXAMPLE_INDEX` column) to
    the teacher's logits: a cache lookup or a live PyTorch teacher (``recipes/jpqd/teacher.py``). Only
    training batches carry train-split indices, so evaluation scores the task loss alone.
    """

    def __init__(self, *args: Any, outputs_fn: Callable[[Any], tuple[Any, Any]],
                 teacher_logits: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 distillation: DistillationConfig | None = None,
                 controller: MovementController | None = None, importance_lr_multiplier: float = 1.0,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outputs_fn = outputs_fn  # the family's (task loss, output to distil) from a forward pass
        self.teacher_logits = teacher_logits
        self.distillation = distillation or DistillationConfig(enabled=False)
        self.controller = controller
        self.importance_lr_multiplier = importance_lr_multiplier
        self.last_losses: dict[str, float] = {}
        self.loss_history: list[dict[str, float]] = []  # every training step: what the cache must not change

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        indices = inputs.pop(EXAMPLE_INDEX, None)
        outputs = model(**inputs)
        task, logits = self.outputs_fn(outputs)
        teacher_logits = None
        if self.teacher_logits is not None and self.distillation.enabled and indices is not None and model.training:
            teacher_logits = self.teacher_logits(indices).to(logits.device)
            if teacher_logits.shape != logits.shape:
                raise ValueError(f"teacher logits have shape {tuple(teacher_logits.shape)}, the student's "
                                 f"{tuple(logits.shape)}: the label spaces differ")
        loss, distill = mixed_loss(task, logits, teacher_logits, self.distillation)
        regularization = None
        if self.controller is not None and model.training:
            regularization = self.controller.loss().to(loss.device)
            loss = loss + regularization
        if model.training:
            self.last_losses = {"task_loss": float(task.detach()),
                                "distillation_loss": float(distill.detach()) if distill is not None else None,
                                "regularization_loss": float(regularization.detach()) if regularization is not None else None}
            self.loss_history.append({"loss": float(loss.detach()), **{k: v for k, v in self.last_losses.items()
                                                                        if v is not None}})
        return (loss, outputs) if return_outputs else loss

    def create_optimizer(self, model=None):
        """AdamW with the importance scores in their own group (lr x multiplier, no weight decay)."""
        if self.optimizer is None and self.controller is not None:
            opt_model = self.model if model is None else model
            importance = {id(p) for p in self.controller.importance_parameters()}
            decay = set(self.get_decay_parameter_names(opt_model))
            named = [(n, p) for n, p in opt_model.named_parameters() if p.requires_grad]
            groups = [
                {"params": [p for n, p in named if id(p) not in importance and n in decay],
                 "weight_decay": self.args.weight_decay},
                {"params": [p for n, p in named if id(p) not in importance and n not in decay], "weight_decay": 0.0},
                {"params": [p for _, p in named if id(p) in importance], "weight_decay": 0.0,
                 "lr": self.args.learning_rate * self.importance_lr_multiplier},
            ]
            self.optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=self.args.learning_rate)
            return self.optimizer
        return super().create_optimizer(model)


class MovementCallback(TrainerCallback):
    """Sets threshold and regularization factor before every step; records sparsity over the steps."""

    def __init__(self, controller: MovementController, warmup_start_epoch: float, warmup_end_epoch: float,
                 regularization_factor: float, final_threshold: float, power: float,
                 steps_per_epoch: int | None = None, log_every: int = 10) -> None:
        self.controller = controller
        self.params = dict(warmup_start_epoch=warmup_start_epoch, warmup_end_epoch=warmup_end_epoch,
                           regularization_factor=regularization_factor, final_threshold=final_threshold,
                           power=power)
        self.steps_per_epoch = steps_per_epoch
        self.log_every = log_every
        self.schedule: MovementSchedule | None = None
        self.history: list[dict[str, float]] = []
        self.trainer: JPQDTrainer | None = None

    def make_schedule(self, steps_per_epoch: int) -> MovementSchedule:
        self.schedule = MovementSchedule(steps_per_epoch=max(int(steps_per_epoch), 1), **self.params)
        return self.schedule

    def on_train_begin(self, args, state, control, train_dataloader=None, **kwargs):
        if self.schedule is None:
            steps = self.steps_per_epoch
            if steps is None:
                steps = max(len(train_dataloader) // args.gradient_accumulation_steps, 1)
            self.make_schedule(steps)

    def apply(self, step: int) -> None:
        schedule = self.schedule
        if (self.controller.init_threshold is None and schedule.stage(step) == IN_WARMUP):
            self.controller.init_threshold = self.controller.quantile_threshold(0.001)
        self.controller.set_schedule(schedule.threshold(step, self.controller.init_threshold),
                                     schedule.factor(step))

    def on_step_begin(self, args, state, control, **kwargs):
        self.apply(state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        step = state.global_step
        if step == 1 or step % self.log_every == 0 or step >= state.max_steps:
            losses = self.trainer.last_losses if self.trainer is not None else {}
            sparsifier = next(iter(self.controller)).sparsifier
            self.history.append({"step": step, "epoch": round(float(state.epoch or 0.0), 4),
                                 "sparsity": round(self.controller.sparsity(), 5),
                                 "threshold": sparsifier.threshold, "regularization_factor": sparsifier.regularization_factor,
                                 **{k: v for k, v in losses.items() if v is not None}})


class MaskKeeper(TrainerCallback):
    """Keeps frozen unstructured masks applied while fine-tuning plain (or quantized) Linears."""

    def __init__(self, model: nn.Module, masks: dict[str, tuple[torch.Tensor, torch.Tensor | None]]) -> None:
        self.model = model
        self.masks = masks

    @torch.no_grad()
    def apply(self) -> None:
        for name, (weight_mask, bias_mask) in self.masks.items():
            linear = self.model.get_submodule(name)
            linear.weight.mul_(weight_mask.to(linear.weight.device))
            if bias_mask is not None and linear.bias is not None:
                linear.bias.mul_(bias_mask.to(linear.bias.device))

    def on_train_begin(self, args, state, control, **kwargs):
        self.apply()

    def on_step_end(self, args, state, control, **kwargs):
        self.apply()
