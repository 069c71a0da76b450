"""Structured masking and physical pruning of transformer blocks described by the caller.

A family describes each block (attention: q/k/v/o names, heads, head size; FFN: in/out names). After
warmup, an attention head survives if any weight or bias element it owns survives in Q, K or V rows
or in the output projection's columns; an FFN unit survives if its intermediate row or its output
column does. Survivors get their whole rows/columns back ("rewind"), the rest is masked; then the
masked rows and columns can be sliced out of the Linear layers without changing the outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ovrecipes.pipelines.types import Block
from ovrecipes.recipes.jpqd.movement import MovementController


@dataclass
class BlockKeep:
    """What structured masking kept in one block."""

    layer: int
    heads: list[int]
    num_heads: int
    ffn_units: list[int]
    ffn_size: int

    def to_dict(self) -> dict:
        return {"layer": self.layer, "heads_kept": len(self.heads), "heads": self.num_heads,
                "heads_kept_ids": self.heads, "ffn_kept": len(self.ffn_units), "ffn_units": self.ffn_size}


def _rows_alive(controller: MovementController, name: str, rows: int) -> torch.Tensor:
    layer = controller.layers.get(name)
    if layer is None:  # not sparsified: everything stays
        return torch.ones(rows, dtype=torch.bool)
    sp = layer.sparsifier
    alive = sp.weight_mask.amax(dim=1) > 0
    if sp.bias_mask is not None:
        alive |= sp.bias_mask > 0
    return alive.cpu()


def _cols_alive(controller: MovementController, name: str, cols: int) -> torch.Tensor:
    layer = controller.layers.get(name)
    if layer is None:
        return torch.ones(cols, dtype=torch.bool)
    return (layer.sparsifier.weight_mask.amax(dim=0) > 0).cpu()


def resolve_keep(controller: MovementController, blocks: list[Block], ffn_sizes: dict[int, int]) -> list[BlockKeep]:
    """Heads and FFN units that survive, from the current (unstructured) masks."""
    keeps = []
    for b in blocks:
        width = b.num_heads * b.head_size
        head_rows = (_rows_alive(controller, b.q, width) | _rows_alive(controller, b.k, width)
                     | _rows_alive(controller, b.v, width) | _cols_alive(controller, b.o, width))
        heads = [h for h in range(b.num_heads) if bool(head_rows[h * b.head_size:(h + 1) * b.head_size].any())]
        size = ffn_sizes[b.layer]
        units = _rows_alive(controller, b.ffn_in, size) | _cols_alive(controller, b.ffn_out, size)
        keeps.append(BlockKeep(b.layer, heads, b.num_heads, units.nonzero().flatten().tolist(), size))
    return keeps


def _head_index(heads: list[int], head_size: int) -> torch.Tensor:
    return torch.tensor([h * head_size + i for h in heads for i in range(head_size)], dtype=torch.long)


@torch.no_grad()
def _set_masks(controller: MovementController, name: str, keep: torch.Tensor, by_row: bool) -> None:
    layer = controller.layers.get(name)
    if layer is None:
        return
    sp = layer.sparsifier
    alive = torch.zeros(sp.weight_mask.shape[0 if by_row else 1], device=sp.weight_mask.device)
    alive[keep.to(alive.device)] = 1.0
    sp.weight_mask.copy_(alive[:, None].expand_as(sp.weight_mask) if by_row
                         else alive[None, :].expand_as(sp.weight_mask))
    if sp.bias_mask is not None:
        sp.bias_mask.copy_(alive if by_row else torch.full_like(sp.bias_mask, float(bool(keep.numel()))))


def apply_structured_masks(controller: MovementController, blocks: list[Block], keeps: list[BlockKeep]) -> None:
    """Replace the masks of every block's layers by whole heads / FFN units (kept ones fully restored)."""
    for b, keep in zip(blocks, keeps):
        heads = _head_index(keep.heads, b.head_size)
        for name in (b.q, b.k, b.v):
            _set_masks(controller, name, heads, by_row=True)
        _set_masks(controller, b.o, heads, by_row=False)
        units = torch.tensor(keep.ffn_units, dtype=torch.long)
        _set_masks(controller, b.ffn_in, units, by_row=True)
        _set_masks(controller, b.ffn_out, units, by_row=False)


def _sliced(linear: nn.Linear, index: torch.Tensor, by_row: bool) -> nn.Linear:
    weight = linear.weight.index_select(0 if by_row else 1, index.to(linear.weight.device))
    out = nn.Linear(weight.shape[1], weight.shape[0], bias=linear.bias is not None,
                    device=weight.device, dtype=weight.dtype)
    out.weight.data.copy_(weight)
    if linear.bias is not None:
        out.bias.data.copy_(linear.bias.index_select(0, index.to(linear.bias.device)) if by_row else linear.bias)
    return out


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, attr, module)


@torch.no_grad()
def prune_blocks(model: nn.Module, blocks: list[Block], keeps: list[BlockKeep]) -> None:
    """Slice dropped heads and FFN units out of plain nn.Linear layers (masks already baked in).

    A block that kept nothing keeps one head / unit whose baked weights are zero, so the shapes stay
    valid and the outputs equal the masked model's.
    """
    for b, keep in zip(blocks, keeps):
        heads = keep.heads or [0]
        index = _head_index(heads, b.head_size)
        for name in (b.q, b.k, b.v):
            _replace(model, name, _sliced(model.get_submodule(name), index, by_row=True))
        _replace(model, b.o, _sliced(model.get_submodule(b.o), index, by_row=False))
        if b.attention:  # the family names the attributes that record the head count
            attention = model.get_submodule(b.attention)
            for attr in b.head_count_attrs:
                setattr(attention, attr, len(heads))
            for attr in b.width_attrs:
                setattr(attention, attr, len(heads) * b.head_size)
        units = torch.tensor(keep.ffn_units or [0], dtype=torch.long)
        _replace(model, b.ffn_in, _sliced(model.get_submodule(b.ffn_in), units, by_row=True))
        _replace(model, b.ffn_out, _sliced(model.get_submodule(b.ffn_out), units, by_row=False))


def ffn_sizes(model: nn.Module, blocks: list[Block]) -> dict[int, int]:
    sizes = {}
    for b in blocks:
        module = model.get_submodule(b.ffn_in)
        sizes[b.layer] = int(module.weight.shape[0])
    return sizes
