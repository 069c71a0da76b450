"""Knowledge distillation from a teacher's logits, the task loss mixed in by a weight."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ovrecipes.recipes.jpqd.config import DistillationConfig


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float,
                      kind: str = "kl") -> torch.Tensor:
    """KL(teacher || student) on temperature-softened distributions times T^2 (keeps gradient scale
    independent of T, Hinton et al. 2015), or the MSE between logits."""
    teacher_logits = teacher_logits.detach().to(student_logits.dtype)
    if kind == "mse":
        return F.mse_loss(student_logits, teacher_logits)
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    p_teacher = F.softmax(teacher_logits / temperature, dim=-1)
    return F.kl_div(log_p_student, p_teacher, reduction="batchmean") * temperature**2


def mixed_loss(task_loss: torch.Tensor, student_logits: torch.Tensor, teacher_logits: torch.Tensor | None,
               config: DistillationConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(1 - w) * task + w * distillation``; the task loss alone without a teacher."""
    if teacher_logits is None or not config.enabled:
        return task_loss, None
    distill = distillation_loss(student_logits, teacher_logits, config.temperature, config.loss)
    return (1.0 - config.weight) * task_loss + config.weight * distill, distill
