"""Where the transformer layers of the text classifiers the BERT family knows are, by module names: what
structured pruning slices (heads and FFN units)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ovrecipes.pipelines.types import Block


@dataclass(frozen=True)
class BlockLayout:
    """Module names of one encoder-layer layout, relative to the layer."""

    attention: str  # module with the head count
    q: str
    k: str
    v: str
    o: str
    ffn_in: str
    ffn_out: str
    head_count_attrs: tuple[str, ...]
    width_attrs: tuple[str, ...]
    config_heads: str  # config attribute with the number of heads (fallback)
    config_width: str  # config attribute with the hidden size (fallback)


LAYOUTS = (
    BlockLayout("attention.self", "attention.self.query", "attention.self.key", "attention.self.value",
                 "attention.output.dense", "intermediate.dense", "output.dense",
                 ("num_attention_heads",), ("all_head_size",), "num_attention_heads", "hidden_size"),
    BlockLayout("attention", "attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin",
                 "ffn.lin1", "ffn.lin2", ("n_heads",), (), "n_heads", "dim"),
)


def find_blocks(model: Any, layout: BlockLayout) -> list[Block]:
    """Every layer whose query projection matches ``layout``; head count and size read from the module."""
    suffix = "." + layout.q
    blocks = []
    for name, _ in model.named_modules():
        if not name.endswith(suffix):
            continue
        layer = name[: -len(suffix)]
        attn = model.get_submodule(f"{layer}.{layout.attention}")
        heads = int(next((getattr(attn, a) for a in layout.head_count_attrs if hasattr(attn, a)),
                         getattr(model.config, layout.config_heads)))
        size = int(getattr(attn, "attention_head_size", getattr(model.config, layout.config_width) // heads))
        full = {role: f"{layer}.{getattr(layout, role)}" for role in ("q", "k", "v", "o", "ffn_in", "ffn_out")}
        blocks.append(Block(layer=int(layer.rsplit(".", 1)[-1]), num_heads=heads, head_size=size,
                            attention=f"{layer}.{layout.attention}", head_count_attrs=layout.head_count_attrs,
                            width_attrs=layout.width_attrs, **full))
    return blocks
