"""JPQD's structured pruning on every architecture the text family knows (BERT/MiniLM, DistilBERT,
RoBERTa), a teacher of another architecture and size, and the rule that ``recipes/jpqd/`` names none."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from ovrecipes.pipelines.bert import BertPipeline
from ovrecipes.recipes.jpqd import export
from ovrecipes.recipes.jpqd.config import MovementConfig
from ovrecipes.recipes.jpqd.movement import apply_movement
from ovrecipes.recipes.jpqd.structure import apply_structured_masks, ffn_sizes, resolve_keep

RECIPE_DIR = Path(__file__).resolve().parents[1] / "recipes" / "jpqd"
ROLE_SCOPES = [
    {"mode": "block", "sparse_factors": [8, 8], "target_scopes": "{block}attention"},
    {"mode": "per_dim", "axis": 0, "target_scopes": "{block}ffn_in"},
    {"mode": "per_dim", "axis": 1, "target_scopes": "{block}ffn_out"},
]
ARCHITECTURES = ("bert", "distilbert", "roberta")


def tiny_classifier(arch: str, hidden: int = 32, layers: int = 2, heads: int = 4, ffn: int = 48,
                    vocab: int = 120, labels: int = 2):
    """A random sequence classifier of ``arch`` small enough to train in seconds."""
    import transformers as tf

    torch.manual_seed(0)
    if arch == "distilbert":
        config = tf.DistilBertConfig(vocab_size=vocab, dim=hidden, n_layers=layers, n_heads=heads, hidden_dim=ffn,
                                     max_position_embeddings=64, num_labels=labels)
        return tf.DistilBertForSequenceClassification(config).eval()
    kwargs = dict(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                  intermediate_size=ffn, max_position_embeddings=66, num_labels=labels)
    if arch == "roberta":
        return tf.RobertaForSequenceClassification(tf.RobertaConfig(**kwargs, type_vocab_size=1)).eval()
    return tf.BertForSequenceClassification(tf.BertConfig(**kwargs)).eval()


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_blocks_are_found_for_each_architecture(arch):
    model = tiny_classifier(arch, layers=3)
    blocks = BertPipeline.transformer_blocks(None, model)
    assert [b.layer for b in blocks] == [0, 1, 2]
    assert all(b.num_heads == 4 and b.head_size == 8 for b in blocks)
    linears = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    for b in blocks:
        assert set(b.linears()) <= linears
    expected_q = {"distilbert": "q_lin", "bert": "attention.self.query", "roberta": "attention.self.query"}[arch]
    assert blocks[0].q.endswith(expected_q)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_pruned_logits_equal_masked_and_ir_loads_in_optimum(arch, tmp_path, movement_masks):
    from optimum.intel import OVModelForSequenceClassification

    from ovrecipes.core.openvino import precision_config

    model = tiny_classifier(arch)
    blocks = BertPipeline.transformer_blocks(None, model)
    roles = {n: r for b in blocks for n, r in b.roles().items()}
    controller = apply_movement(model, MovementConfig(sparse_structure_by_scopes=ROLE_SCOPES,
                                                      ignored_scopes=["{re}.*classifier.*", "{re}.*pooler.*"]),
                                roles)
    modes = {name: layer.sparsifier.structure.mode for name, layer in controller.layers.items()}
    assert modes[blocks[0].q] == "block" and modes[blocks[0].ffn_in] == modes[blocks[0].ffn_out] == "per_dim"
    movement_masks.randomise(controller, seed=5, keep=0.7)
    movement_masks.zero(controller, blocks[-1].linears())  # the last layer loses every head and FFN unit
    keeps = resolve_keep(controller, blocks, ffn_sizes(model, blocks))
    apply_structured_masks(controller, blocks, keeps)
    controller.freeze()
    ids = torch.randint(3, 120, (3, 12))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    masked, pruned, before = movement_masks.logits_masked_then_pruned(model, controller, blocks, keeps, ids, mask)
    assert sum(p.numel() for p in model.parameters()) < before
    assert model.get_submodule(blocks[0].q).out_features == len(keeps[0].heads) * 8
    assert model.get_submodule(blocks[-1].ffn_in).out_features == 1
    torch.testing.assert_close(pruned, masked, atol=1e-5, rtol=1e-4)

    example = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
    ov_model = export.convert(model, example, {"input_ids": [-1, -1], "attention_mask": [-1, -1]},
                              lambda outputs: outputs["logits"])
    out = export.save_ir(ov_model, tmp_path / arch, None, hf_config=model.config)
    loaded = OVModelForSequenceClassification.from_pretrained(out, ov_config=precision_config("f32"))
    ov_logits = loaded(input_ids=ids, attention_mask=mask).logits
    np.testing.assert_allclose(np.asarray(ov_logits), pruned.numpy(), atol=1e-4, rtol=1e-3)


def test_recipe_code_names_no_architecture():
    """A recipe works through the family's blocks; an architecture name in recipes/jpqd/ is a leak."""
    names = ["bert", "distilbert", "roberta", "minilm", "q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2",
             "attention.self", "attention.output", "intermediate.dense", "query", "pooler"]
    pattern = re.compile("|".join(re.escape(n) for n in names), re.IGNORECASE)
    files = sorted(RECIPE_DIR.glob("*.py"))
    assert len(files) >= 8
    hits = [f"{f.name}:{i}: {line.strip()}" for f in files
            for i, line in enumerate(f.read_text().splitlines(), 1) if pattern.search(line)]
    assert not hits, "\n".join(hits)


def _save_classifier(model, tokenizer_src: Path, out: Path, input_names: list[str] | None = None) -> Path:
    from transformers import AutoTokenizer

    model.save_pretrained(out)
    extra = {"model_input_names": input_names} if input_names is not None else {}
    AutoTokenizer.from_pretrained(tokenizer_src, **extra).save_pretrained(out)
    return out


def test_teacher_of_another_architecture_and_size(tiny_pipeline, tiny_bert_dir, tmp_path, tiny_jpqd_config):
    """A 3-layer, 48-wide DistilBERT (no token_type_ids) distils into the 2-layer, 32-wide BERT student,
    with cached and with live teacher logits; the label spaces match."""
    from transformers import AutoTokenizer

    from ovrecipes.runs.common import MeasureOptions
    from ovrecipes.runs.jpqd import run_jpqd

    vocab = AutoTokenizer.from_pretrained(tiny_bert_dir).vocab_size
    teacher_model = tiny_classifier("distilbert", hidden=48, layers=3, heads=4, ffn=96, vocab=vocab)
    teacher = _save_classifier(teacher_model, tiny_bert_dir, tmp_path / "teacher", ["input_ids", "attention_mask"])
    inputs = tiny_pipeline.teacher_inputs(teacher, 8)
    assert set(inputs.batch([0, 1])) == {"input_ids", "attention_mask"}
    for cache in (True, False):
        config = tiny_jpqd_config({"deploy": "fp32", "movement": {"importance_regularization_factor": 0.05},
                                   "distillation": {"teacher_cache": cache, "teacher_precision": "f32"}})
        report = run_jpqd(tiny_pipeline, config, tmp_path / f"out-{cache}", teacher=teacher,
                          options=MeasureOptions(evaluate=False, bench=False))
        info = report.recipe
        assert info["teacher"]["source"].startswith("cached" if cache else "live")
        distilled = [row["distillation_loss"] for row in info["losses"]["stage1"] + info["losses"]["fp32"]]
        assert len(distilled) == 4 and all(np.isfinite(distilled))
    assert (tmp_path / "out-True" / "openvino_model.xml").exists()


def test_teacher_with_other_labels_is_refused_in_one_line(tiny_pipeline, tiny_bert_dir, tmp_path):
    teacher = _save_classifier(tiny_classifier("bert", labels=3), tiny_bert_dir, tmp_path / "three")
    with pytest.raises(ValueError, match=r"teacher .* predicts labels \['LABEL_0', 'LABEL_1', 'LABEL_2'\]"):
        tiny_pipeline.teacher_inputs(teacher)
