"""The JPQD recipe config: movement sparsity, QAT, distillation and training, validated by pydantic.

The same options as optimum-intel's JPQD (NNCF movement_sparsity + quantization JSON) where they
exist; ``recipes/jpqd/legacy.py`` translates that JSON into this model.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from ovrecipes.core.cpu import TARGET_CPUS
from ovrecipes.recipes.jpqd.deploy import DEPLOYS
from ovrecipes.recipes.overflow import OVERFLOW_FIX_CHOICES

Scopes = list[str]


#: ``{block}ROLE`` scopes name layers by their role in the family's transformer blocks, so one recipe
#: config fits every architecture the family knows (``attention`` = q, k, v and o).
BLOCK_ROLES = ("attention", "q", "k", "v", "o", "ffn_in", "ffn_out")


#: one number for every deliverable, or ``{int8: x, fp32: y}``; a run reads it with ``for_deliverable``
PerDeliverable = Union[float, dict[str, float]]


def _number(value, positive: bool, example: str) -> float:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or (value <= 0 if positive else value < 0):
        raise ValueError(f"must be a number {'>' if positive else '>='} 0, or one per deliverable: {example}")
    return float(value)


def _per_deliverable(value, positive: bool, example: str) -> PerDeliverable:
    """Validate a ``PerDeliverable``: each number, and a dict names every deliverable and nothing else."""
    if not isinstance(value, dict):
        return _number(value, positive, example)
    unknown, missing = set(value) - set(DEPLOYS), set(DEPLOYS) - set(value)
    if unknown:
        raise ValueError(f"no deliverable {', '.join(sorted(map(repr, unknown)))}: the keys are " + ", ".join(DEPLOYS))
    if missing:
        raise ValueError(f"a value per deliverable needs {', '.join(sorted(missing))} too")
    return {k: _number(v, positive, example) for k, v in value.items()}


#: a factor may be 0 (no pressure to prune); epochs may not
NonNegativePerDeliverable = Annotated[PerDeliverable, BeforeValidator(
    lambda value: _per_deliverable(value, positive=False, example="{int8: 0.1, fp32: 0.25}"))]
PositivePerDeliverable = Annotated[PerDeliverable, BeforeValidator(
    lambda value: _per_deliverable(value, positive=True, example="{int8: 6, fp32: 8}"))]


def for_deliverable(value: PerDeliverable, deliverable: str) -> float:
    """The number a run uses when ``deliverable`` (int8 | fp32) is the variant it trains."""
    return value[deliverable] if isinstance(value, dict) else value


def _check_scopes(scopes: Scopes) -> Scopes:
    for scope in scopes:
        if scope.startswith("{block}") and scope[7:] not in BLOCK_ROLES:
            raise ValueError(f"scope {scope!r} names no block role; use one of "
                             + ", ".join("{block}" + r for r in BLOCK_ROLES))
        if scope.startswith("{re}"):
            try:
                re.compile(scope[4:])
            except re.error as err:
                raise ValueError(f"scope {scope!r} is not a valid regular expression: {err}") from None
    return scopes


class SparseStructure(BaseModel):
    """How the matched nn.Linear layers are sparsified: per element, per block, or per row/column."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["fine", "block", "per_dim"] = "fine"
    sparse_factors: Optional[tuple[int, int]] = None  # block: [rows, columns]
    axis: Optional[int] = None  # per_dim: 0 = rows, 1 = columns
    target_scopes: Scopes

    @field_validator("target_scopes", mode="before")
    @classmethod
    def _listify(cls, value):
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> "SparseStructure":
        _check_scopes(self.target_scopes)
        if self.mode == "block":
            if self.sparse_factors is None or min(self.sparse_factors) < 1:
                raise ValueError("block mode needs sparse_factors [rows, columns] of positive integers")
            if self.axis is not None:
                raise ValueError("block mode takes no axis")
        elif self.mode == "per_dim":
            if self.axis not in (0, 1):
                raise ValueError("per_dim mode needs axis 0 (rows) or 1 (columns)")
            if self.sparse_factors is not None:
                raise ValueError("per_dim mode takes no sparse_factors")
        elif self.sparse_factors not in (None, (1, 1)) or self.axis is not None:
            raise ValueError("fine mode takes neither sparse_factors (other than [1, 1]) nor axis")
        return self


class MovementConfig(BaseModel):
    """Movement sparsity; warmup epochs are zero-based, start inclusive, end exclusive (as in NNCF)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    warmup_start_epoch: float = 0.0
    warmup_end_epoch: float = 1.0
    # one number for every deliverable, or {int8: x, fp32: y}: stage 1 uses the factor of the deliverable
    # the run delivers (the first of --compare-deploy's two); fp32 gains speed only from pruning
    importance_regularization_factor: NonNegativePerDeliverable = 0.05
    enable_structured_masking: bool = True
    init_importance_threshold: Optional[float] = None  # None: the 0.1% quantile of scores at warmup start
    final_importance_threshold: float = 0.0
    power: float = Field(3.0, gt=0)
    steps_per_epoch: Optional[int] = None  # None: from the training data loader
    importance_lr_multiplier: float = Field(1.0, gt=0)  # importance scores learn at lr * this
    sparse_structure_by_scopes: list[SparseStructure] = Field(default_factory=list)
    ignored_scopes: Scopes = Field(default_factory=list)

    @field_validator("ignored_scopes", mode="before")
    @classmethod
    def _ignored(cls, value):
        return _check_scopes([value] if isinstance(value, str) else value)

    def regularization_factor(self, deliverable: str) -> float:
        """The factor stage 1 uses when ``deliverable`` (int8 | fp32) is what the run delivers."""
        return for_deliverable(self.importance_regularization_factor, deliverable)

    @model_validator(mode="after")
    def _warmup(self) -> "MovementConfig":
        if not 0 <= self.warmup_start_epoch < self.warmup_end_epoch:
            raise ValueError(f"movement sparsity needs 0 <= warmup_start_epoch < warmup_end_epoch: got "
                             f"{self.warmup_start_epoch:g} and {self.warmup_end_epoch:g}")
        return self


class QuantizationConfig(BaseModel):
    """NNCF 3.x QAT on the (pruned) torch model: nncf.quantize, fine-tune, nncf.strip."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    preset: Literal["performance", "mixed"] = "mixed"
    overflow_fix: str = "auto"
    target_cpu: Optional[str] = None
    subset_size: int = Field(64, ge=1)  # initialization samples for the quantizer ranges
    ignored_scopes: Scopes = Field(default_factory=list)  # NNCF ignored-scope patterns ({re} or names)
    kernels: Literal["reference", "compiled"] = "reference"  # NNCF's C++ CPU extension needs a compiler

    @field_validator("overflow_fix")
    @classmethod
    def _overflow(cls, value: str) -> str:
        if value not in OVERFLOW_FIX_CHOICES:
            raise ValueError(f"overflow_fix must be one of {', '.join(OVERFLOW_FIX_CHOICES)}")
        return value

    @field_validator("target_cpu")
    @classmethod
    def _target(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and value not in TARGET_CPUS:
            raise ValueError(f"target_cpu must be one of {', '.join(TARGET_CPUS)}")
        return value


class DistillationConfig(BaseModel):
    """Knowledge distillation from the teacher's logits, mixed with the task loss."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    weight: float = Field(0.9, ge=0, le=1)  # loss = (1 - weight) * task + weight * distillation
    temperature: float = Field(2.0, gt=0)
    loss: Literal["kl", "mse"] = "kl"
    # the frozen teacher's logits per training example, computed once with OpenVINO and cached
    teacher_cache: bool = True
    teacher_precision: Literal["auto", "f32", "bf16"] = "auto"  # auto: bf16 on CPUs with native bf16
    cache_dir: Optional[str] = None  # None: <ovrecipes cache>/teacher-logits


class TrainingConfig(BaseModel):
    """transformers TrainingArguments the recipe exposes; epochs count both stages."""

    model_config = ConfigDict(extra="forbid")
    # one number, or {int8: x, fp32: y}: both stages, so stage 2 of each variant trains for its number less
    # stage 1's epochs (an FP32 stage 2 has no fake quantization, so its epochs are cheaper)
    epochs: PositivePerDeliverable = 3.0
    learning_rate: float = Field(5e-5, gt=0)
    qat_learning_rate: Optional[float] = None  # None: learning_rate
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(64, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    weight_decay: float = 0.0
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    seed: int = 42
    # group_by_length: batches of similar length (transformers' LengthGroupedSampler, still shuffled), so
    # dynamic padding pads far less (RT snippets: mean 27 tokens, a random batch of 32 pads to ~51)
    sampling: Literal["random", "group_by_length"] = "random"
    # QAT keeps the input embedding table, and its weight quantizer, as stage 1 left it: the fake-quantize
    # pass over vocab x hidden weights (forward and backward) is the costliest op of a QAT step. The FP32
    # stage 2 has no such pass (freezing there saved 5% of its time and cost 0.25 points), so it trains them.
    freeze_embeddings_in_qat: bool = False
    eval_strategy: Literal["no", "steps", "epoch"] = "no"
    eval_steps: Optional[int] = Field(None, ge=1)
    save_strategy: Literal["no", "steps", "epoch"] = "no"
    save_steps: Optional[int] = Field(None, ge=1)
    save_total_limit: Optional[int] = Field(2, ge=1)
    logging_steps: int = Field(10, ge=1)
    max_steps: int = -1  # > 0: stop each stage after this many steps (smoke runs); -1: no limit
    train_limit: Optional[int] = Field(None, ge=1)  # use only the first N training examples
    resume_from_checkpoint: Optional[str] = None  # a checkpoint dir, or "last" (newest in the work dir)
    work_dir: Optional[str] = None  # trainer checkpoints and logs (default: <out>.jpqd-work)

    @field_validator("max_steps")
    @classmethod
    def _max_steps(cls, value: int) -> int:
        if value != -1 and value < 1:
            raise ValueError(f"max_steps must be -1 (no limit) or a positive number of steps: got {value}")
        return value

    def epochs_for(self, deliverable: str) -> float:
        """Epochs of a run whose stage 2 trains ``deliverable`` (int8 | fp32), stage 1 included."""
        return for_deliverable(self.epochs, deliverable)


class JPQDConfig(BaseModel):
    """The whole recipe; ``recipe.yaml`` of a run is this, fully resolved."""

    model_config = ConfigDict(extra="forbid")
    recipe: Literal["jpqd"] = "jpqd"
    # what stage 2 trains and the run delivers: int8 (QAT), fp32 (pruned + distilled, no fake quantization;
    # bf16 is a runtime choice), or auto (int8 where the target CPU has VNNI/AMX, fp32 elsewhere)
    deploy: Literal["auto", "int8", "fp32"] = "auto"
    compare_deploy: bool = False  # train both stage-2 variants from one stage-1 checkpoint and measure both
    movement: MovementConfig = Field(default_factory=MovementConfig)
    quantization: QuantizationConfig = Field(default_factory=QuantizationConfig)
    distillation: DistillationConfig = Field(default_factory=DistillationConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)

    def check_stages(self) -> "JPQDConfig":
        """Stage 1 must fit in the epochs (checked outside pydantic for a short one-line message)."""
        shortest = min(self.training.epochs_for(d) for d in DEPLOYS)
        if self.movement.enabled and self.movement.warmup_end_epoch > shortest:
            raise ValueError(f"training.epochs ({shortest:g}) must be at least movement."
                             f"warmup_end_epoch ({self.movement.warmup_end_epoch:g})")
        if not self.quantization.enabled and (self.deploy == "int8" or self.compare_deploy):
            what = "deploy: int8" if self.deploy == "int8" else "compare_deploy"
            raise ValueError(f"{what} needs quantization.enabled (it was switched off)")
        return self

    @property
    def sparsity_epochs(self) -> float:
        """Epochs of stage 1 (movement sparsity, FP32); the rest of a variant's epochs is its stage 2."""
        return self.movement.warmup_end_epoch if self.movement.enabled else 0.0
