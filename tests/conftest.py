"""Shared fixtures: a tiny BERT built from a config, a small labelled CSV, and its FP32 IR."""

from __future__ import annotations

import csv
import importlib.util
import random
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture(autouse=True)
def _embedded_bert_is_never_built_in_the_default_suite(request, monkeypatch):
    """The default suite runs on tiny models. A test that reaches the embedded BERT default would fine-tune it
    for minutes on a fresh machine and pass unnoticed on one that has it cached, so it fails here, the same on
    every machine; slow tests (the demo, the notebooks) build and use it."""
    if request.node.get_closest_marker("slow"):
        return
    from ovrecipes.pipelines import bert

    def refuse(progress: bool = True):
        pytest.fail("a default-suite test reached the embedded BERT default (give it a tiny model, or mark it slow)")

    monkeypatch.setattr(bert, "built_embedded_model_dir", lambda: None)
    monkeypatch.setattr(bert, "embedded_model_dir", refuse)


POSITIVE = ["wonderful", "moving", "brilliant", "funny", "gorgeous", "smart", "tender", "gripping"]
NEGATIVE = ["dull", "tedious", "clumsy", "boring", "shallow", "messy", "lifeless", "predictable"]
NOUNS = ["film", "story", "cast", "script", "movie", "performance", "direction", "ending"]


def load_script(name: str) -> ModuleType:
    """A file of scripts/ imported as a module (scripts are not a package), for testing its functions."""
    path = Path(__file__).resolve().parent.parent / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_sentiment_csv(path: Path, rows: int = 400, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i in range(rows):
            label = i % 2
            adjective = rng.choice(POSITIVE if label else NEGATIVE)
            writer.writerow([f"a {adjective} {rng.choice(NOUNS)}, truly {adjective}", label])
    return path


class MovementMasks:
    """Set a movement controller's masks by hand, as training would: random importances, or whole linears off."""

    @staticmethod
    def randomise(controller, seed: int = 1, keep: float = 0.5) -> None:
        """Importance scores uniform in [-keep, 1-keep): about ``1-keep`` of each layer's blocks stay."""
        import torch

        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for layer in controller:
                sp = layer.sparsifier
                sp.weight_importance.copy_(torch.rand(sp.weight_importance.shape, generator=gen) - keep)
                if sp.bias_importance is not None:
                    sp.bias_importance.copy_(torch.rand(sp.bias_importance.shape, generator=gen) - keep)
        controller.set_schedule(0.0, 0.0)
        controller.refresh_masks()

    @staticmethod
    def zero(controller, names) -> None:
        """Mask every weight (and bias) of the named linears."""
        import torch

        with torch.no_grad():
            for name in names:
                sp = controller.layers[name].sparsifier
                sp.weight_mask.zero_()
                if sp.bias_mask is not None:
                    sp.bias_mask.zero_()

    @staticmethod
    def logits_masked_then_pruned(model, controller, blocks, keeps, ids, mask):
        """The model's logits with the frozen masks, then with the masked rows/columns removed for real.

        Returns (masked logits, pruned logits, parameter count before removal)."""
        import torch

        from ovrecipes.recipes.jpqd.movement import remove_movement
        from ovrecipes.recipes.jpqd.structure import prune_blocks

        model.eval()
        with torch.no_grad():
            masked = model(input_ids=ids, attention_mask=mask).logits
        before = sum(p.numel() for p in model.parameters())
        remove_movement(model, controller)
        prune_blocks(model, blocks, keeps)
        with torch.no_grad():
            pruned = model(input_ids=ids, attention_mask=mask).logits
        return masked, pruned, before


@pytest.fixture
def movement_masks() -> type[MovementMasks]:
    return MovementMasks


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide BERT classifier with random weights and the MiniLM tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from ovrecipes.pipelines.bert_embedded import embedded_base_dir

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(embedded_base_dir())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128, num_labels=2)
    BertForSequenceClassification(config).eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory) -> Path:
    return write_sentiment_csv(tmp_path_factory.mktemp("data") / "sentiment.csv")


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_bert_dir, tiny_csv):
    from ovrecipes.pipelines.bert import BertPipeline
    from ovrecipes.pipelines.text_data import TextDataSpec

    return BertPipeline(tiny_bert_dir, TextDataSpec(source=str(tiny_csv)), max_length=16, progress=False)


@pytest.fixture(scope="session")
def tiny_fp32_ir(tiny_pipeline, tmp_path_factory) -> Path:
    return tiny_pipeline.export(tmp_path_factory.mktemp("tiny-bert-ov"))


#: what every tiny JPQD run shares: two epochs of 8-sentence batches, movement warming up over the first
#: epoch, FFN rows pruned, the head left alone, a teacher-logit cache in the test's directory
TINY_JPQD = {
    "deploy": "int8",
    "movement": {"warmup_start_epoch": 0.0, "warmup_end_epoch": 1.0, "importance_regularization_factor": 1.0,
                 "sparse_structure_by_scopes": [{"mode": "per_dim", "axis": 0, "target_scopes": "{block}ffn_in"}],
                 "ignored_scopes": ["{re}.*classifier.*", "{re}.*pooler.*"]},
    "quantization": {"subset_size": 4, "overflow_fix": "enable"},
    "training": {"epochs": 2, "batch_size": 8, "train_limit": 16, "logging_steps": 1},
}


@pytest.fixture
def tiny_jpqd_config(tmp_path):
    """JPQD config factory: :data:`TINY_JPQD` with the test's changes merged in (nested dicts merge, lists
    replace), and the teacher cache under the test's tmp_path."""
    from ovrecipes.recipes.jpqd.config import JPQDConfig
    from ovrecipes.runs.config import deep_merge

    def make(changes: dict | None = None) -> JPQDConfig:
        base = deep_merge(TINY_JPQD, {"distillation": {"cache_dir": str(tmp_path / "cache")}})
        return JPQDConfig.model_validate(deep_merge(base, changes or {}))

    return make
