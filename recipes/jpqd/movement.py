"""Movement sparsity on nn.Linear layers (Sanh et al. 2020; Lagunas et al. 2021 for blocks).

Each sparsified Linear gets learnable importance scores, one per element, block, row or column. The
forward pass multiplies the weight (and bias) by ``scores > threshold``; the straight-through
estimator passes the mask's gradient to the scores, so a score accumulates ``-grad * weight``
("movement"). A regularization term pushes ``sigmoid(scores)`` down, and the threshold and the
regularization factor ramp up on a cubic schedule during warmup; afterwards masks are frozen.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ovrecipes.recipes.jpqd.config import MovementConfig, SparseStructure

MAX_PERCENTILE = 0.98  # never mask more than this fraction of a layer's scores during warmup
LAYER_LOSS_LAMBDA = 0.5


class STThreshold(torch.autograd.Function):
    """Binary mask ``x > t`` whose gradient passes straight through to ``x``."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor, threshold: float) -> torch.Tensor:
        return (scores > threshold).to(scores.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


def sparse_factors(weight_shape: tuple[int, int], structure: SparseStructure) -> tuple[int, int]:
    """Rows and columns of the weight that one importance score covers."""
    rows, cols = weight_shape
    if structure.mode == "fine":
        return (1, 1)
    if structure.mode == "block":
        r, c = structure.sparse_factors
        if rows % r or cols % c:
            raise ValueError(f"block {r}x{c} does not divide weight shape {rows}x{cols}")
        return (r, c)
    return (1, cols) if structure.axis == 0 else (rows, 1)


class MovementSparsifier(nn.Module):
    """Importance scores and masks of one Linear layer."""

    def __init__(self, weight_shape: tuple[int, int], structure: SparseStructure, has_bias: bool) -> None:
        super().__init__()
        self.structure = structure
        self.factors = sparse_factors(weight_shape, structure)
        r, c = self.factors
        self.weight_importance = nn.Parameter(torch.zeros(weight_shape[0] // r, weight_shape[1] // c))
        self.bias_importance = nn.Parameter(torch.zeros(weight_shape[0] // r)) if has_bias else None
        self.register_buffer("weight_mask", torch.ones(weight_shape))
        self.register_buffer("bias_mask", torch.ones(weight_shape[0]) if has_bias else None)
        self.threshold = -math.inf
        self.regularization_factor = 0.0
        self.frozen = False

    def expanded(self, scores: torch.Tensor, is_bias: bool = False) -> torch.Tensor:
        r, c = self.factors
        scores = scores.repeat_interleave(r, dim=0)
        return scores if is_bias else scores.repeat_interleave(c, dim=1)

    def _mask(self, scores: torch.Tensor, is_bias: bool) -> torch.Tensor:
        with torch.no_grad():
            cap = torch.quantile(scores.detach().float().flatten(), MAX_PERCENTILE).item()
        return self.expanded(STThreshold.apply(scores, min(self.threshold, cap)), is_bias)

    def masks(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Current masks; recomputed from the scores while training and not frozen."""
        if self.training and not self.frozen:
            weight_mask = self._mask(self.weight_importance, False)
            bias_mask = self._mask(self.bias_importance, True) if self.bias_importance is not None else None
            with torch.no_grad():
                self.weight_mask.copy_(weight_mask)
                if bias_mask is not None:
                    self.bias_mask.copy_(bias_mask)
            return weight_mask, bias_mask
        return self.weight_mask, self.bias_mask

    def loss(self) -> torch.Tensor:
        """L1 of sigmoid(scores), scaled by the elements each score covers (zero once frozen)."""
        if self.frozen or self.regularization_factor == 0.0:
            return self.weight_importance.new_zeros(())
        r, c = self.factors
        loss = torch.sigmoid(self.weight_importance).mean() * LAYER_LOSS_LAMBDA * r * c
        if self.bias_importance is not None:
            loss = loss + torch.sigmoid(self.bias_importance).mean() * LAYER_LOSS_LAMBDA * r
        return loss * self.regularization_factor

    def freeze(self) -> None:
        self.frozen = True
        self.weight_importance.requires_grad_(False)
        if self.bias_importance is not None:
            self.bias_importance.requires_grad_(False)


class MovementLinear(nn.Module):
    """An nn.Linear whose weight and bias are multiplied by its sparsifier's masks."""

    def __init__(self, linear: nn.Linear, sparsifier: MovementSparsifier) -> None:
        super().__init__()
        self.linear = linear
        self.sparsifier = sparsifier

    @property
    def weight(self) -> torch.Tensor:  # lets code that reads .weight (shapes, dtypes) keep working
        return self.linear.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight_mask, bias_mask = self.sparsifier.masks()
        bias = self.linear.bias * bias_mask if bias_mask is not None else self.linear.bias
        return F.linear(x, self.linear.weight * weight_mask, bias)


def module_scope(model: nn.Module, name: str) -> str:
    """NNCF-style scope of a module (``<ModelClass>/<EncoderClass>[encoder]/.../Linear[proj]``: class
    names with attribute names in brackets), so scope regexes from NNCF JSON configs keep matching."""
    parts = [type(model).__name__]
    module = model
    for attr in name.split(".") if name else []:
        module = module.get_submodule(attr) if not attr.isdigit() else module[int(attr)]
        parts.append(f"{type(module).__name__}[{attr}]")
    return "/".join(parts)


ATTENTION_ROLES = ("q", "k", "v", "o")


def scope_matches(scopes: Iterable[str], name: str, scope: str, roles: Mapping[str, str] | None = None) -> bool:
    """``{re}PATTERN`` is ``re.search``ed in the dotted name and the NNCF scope; ``{block}ROLE`` matches the
    layers the family's blocks give that role (``roles``: name -> role); other entries match exactly."""
    role = (roles or {}).get(name)
    for entry in scopes:
        if entry.startswith("{block}"):
            wanted = entry[7:]
            if role is not None and (role == wanted or (wanted == "attention" and role in ATTENTION_ROLES)):
                return True
        elif entry.startswith("{re}"):
            if re.search(entry[4:], name) or re.search(entry[4:], scope):
                return True
        elif entry in (name, scope):
            return True
    return False


@dataclass
class SparseLayer:
    name: str  # dotted name of the original nn.Linear
    scope: str
    wrapper: MovementLinear

    @property
    def sparsifier(self) -> MovementSparsifier:
        return self.wrapper.sparsifier


class MovementController:
    """The sparsified layers of one model and what acts on all of them: schedule, loss, statistics."""

    def __init__(self, layers: list[SparseLayer], config: MovementConfig) -> None:
        self.layers = {layer.name: layer for layer in layers}
        self.config = config
        self.init_threshold = config.init_importance_threshold

    def __iter__(self) -> Iterator[SparseLayer]:
        return iter(self.layers.values())

    def importance_parameters(self) -> list[nn.Parameter]:
        params = []
        for layer in self:
            params.append(layer.sparsifier.weight_importance)
            if layer.sparsifier.bias_importance is not None:
                params.append(layer.sparsifier.bias_importance)
        return params

    def set_schedule(self, threshold: float, factor: float) -> None:
        for layer in self:
            layer.sparsifier.threshold = threshold
            layer.sparsifier.regularization_factor = factor

    def loss(self) -> torch.Tensor:
        """Mean regularization over the sparsified layers."""
        losses = [layer.sparsifier.loss() for layer in self]
        return torch.stack(losses).mean() if losses else torch.zeros(())

    @torch.no_grad()
    def quantile_threshold(self, fraction: float = 0.001) -> float:
        """The score below which ``fraction`` of all weight elements fall (the adaptive initial threshold)."""
        scores = [layer.sparsifier.expanded(layer.sparsifier.weight_importance).flatten().float().cpu()
                  for layer in self]
        flat = torch.cat(scores)
        k = min(flat.numel(), int(flat.numel() * fraction) + 1)
        return flat.kthvalue(k).values.item()

    @torch.no_grad()
    def sparsity(self) -> float:
        """Fraction of zeroed weight elements over the sparsified layers."""
        total = zeros = 0
        for layer in self:
            mask = layer.sparsifier.weight_mask
            total += mask.numel()
            zeros += int((mask == 0).sum())
        return zeros / max(total, 1)

    @torch.no_grad()
    def refresh_masks(self) -> None:
        """Recompute every mask from the scores at the current threshold (e.g. the final one)."""
        for layer in self:
            sp = layer.sparsifier
            was_training, sp.training = sp.training, True
            sp.masks()
            sp.training = was_training

    def freeze(self) -> None:
        for layer in self:
            layer.sparsifier.freeze()


def apply_movement(model: nn.Module, config: MovementConfig,
                   roles: Mapping[str, str] | None = None) -> MovementController:
    """Wrap every matched nn.Linear in place; unmatched, non-ignored Linears get ``fine`` mode (as NNCF).

    ``roles`` (module name -> block role, from the family's blocks) resolves ``{block}ROLE`` scopes."""
    layers = []
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    for name, linear in linears:
        scope = module_scope(model, name)
        if scope_matches(config.ignored_scopes, name, scope, roles):
            continue
        structure = next((s for s in config.sparse_structure_by_scopes
                          if scope_matches(s.target_scopes, name, scope, roles)), None)
        structure = structure or SparseStructure(mode="fine", target_scopes=[name])
        sparsifier = MovementSparsifier(tuple(linear.weight.shape), structure, linear.bias is not None)
        sparsifier.to(linear.weight.device)
        wrapper = MovementLinear(linear, sparsifier)
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, attr, wrapper)
        layers.append(SparseLayer(name, scope, wrapper))
    if not layers:
        raise ValueError("movement sparsity matched no nn.Linear layer: check sparse_structure_by_scopes "
                         "and ignored_scopes")
    return MovementController(layers, config)


@torch.no_grad()
def remove_movement(model: nn.Module, controller: MovementController) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
    """Put the plain Linears back with masks baked into their weights; return the masks that still hold zeros."""
    residual = {}
    for layer in controller:
        linear, sparsifier = layer.wrapper.linear, layer.sparsifier
        linear.weight.mul_(sparsifier.weight_mask)
        if linear.bias is not None and sparsifier.bias_mask is not None:
            linear.bias.mul_(sparsifier.bias_mask)
        parent, _, attr = layer.name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, attr, linear)
        if bool((sparsifier.weight_mask == 0).any()):
            bias_mask = sparsifier.bias_mask.clone() if sparsifier.bias_mask is not None else None
            residual[layer.name] = (sparsifier.weight_mask.clone(), bias_mask)
    return residual
