"""Labelled text sources and the fixed, documented splits."""

from __future__ import annotations

import re

import pytest

from ovrecipes.pipelines.text_data import (
    EMBEDDED_SPLITS,
    TextDataSpec,
    TextExample,
    embedded_examples,
    load_splits,
    read_snippets,
    split_examples,
)


def test_embedded_snippets_are_the_published_set():
    rows = read_snippets()
    assert len(rows) == 10605
    examples = embedded_examples()
    assert len(examples) == sum(1 for _, r, _ in rows if abs(r) >= 0.5)
    assert 9900 < len(examples) < 10200
    positive = sum(e.label for e in examples) / len(examples)
    assert 0.45 < positive < 0.55


def test_embedded_splits_are_fixed_disjoint_and_sized():
    splits = load_splits(TextDataSpec())
    for name, size in EMBEDDED_SPLITS.items():
        assert len(splits[name]) == size
    texts = [set(e.text for e in splits[n]) for n in ("train", "validation", "calibration", "test")]
    for i in range(4):
        for j in range(i + 1, 4):
            assert len(texts[i] & texts[j]) <= 2  # a couple of duplicated snippets exist in the source
    assert load_splits(TextDataSpec())["test"][:5] == splits["test"][:5]


def test_small_sets_shrink_splits_but_keep_them_non_empty():
    examples = [TextExample(f"s{i}", i % 2) for i in range(40)]
    splits = split_examples(examples)
    assert all(len(v) >= 1 for v in splits.values())
    assert sum(len(v) for v in splits.values()) == 40
    with pytest.raises(ValueError, match="at least 8"):
        split_examples(examples[:3])


def test_local_jsonl_and_bad_label(tmp_path):
    good = tmp_path / "d.jsonl"
    good.write_text("\n".join(f'{{"sentence": "s{i}", "y": {i % 2}}}' for i in range(20)))
    splits = load_splits(TextDataSpec(source=str(good), text_column="sentence", label_column="y"))
    assert sum(len(v) for v in splits.values()) == 20
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nfine,positive\n")
    with pytest.raises(ValueError, match="row 1: label 'positive' is not an integer"):
        load_splits(TextDataSpec(source=str(bad)))
    with pytest.raises(ValueError, match="is a directory"):
        load_splits(TextDataSpec(source=str(tmp_path)))
    other = tmp_path / "d.parquet"
    other.write_text("")
    with pytest.raises(ValueError, match="must end in .csv, .tsv, .json or .jsonl"):
        load_splits(TextDataSpec(source=str(other)))


@pytest.mark.parametrize("name, content, message", [
    ("latin1.json", b"\xff\xfe[]", r"dataset file .*latin1\.json cannot be read as JSON: 'utf-8' codec"),
    ("cut.json", b'{"data": [', r"dataset file .*cut\.json cannot be read as JSON: Expecting value"),
    ("cut.jsonl", b'{"text": "a", "label": 1}\n{"text"', r"dataset file .*cut\.jsonl cannot be read as JSONL"),
    ("numbers.json", b'{"data": [1, 2]}', r"dataset file .*numbers\.json must hold rows of named columns"),
    ("scalar.json", b"7", r"dataset file .*scalar\.json must hold rows of named columns"),
])
def test_an_unreadable_dataset_file_is_named_in_one_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as err:
        load_splits(TextDataSpec(source=str(path)))
    assert len(str(err.value).splitlines()) == 1


@pytest.mark.parametrize("spec, message", [
    (TextDataSpec(label_column="y"), "--label-column 'y' has no effect with --dataset embedded"),
    (TextDataSpec(split="validation"), "--split 'validation' has no effect with --dataset embedded"),
    (TextDataSpec(source="d.csv", config="sst2"), "--dataset-config 'sst2' has no effect with --dataset d.csv "
                                                  "(a local file): it applies only to a hub dataset"),
])
def test_an_option_the_source_would_ignore_is_refused(spec, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        load_splits(spec)


def test_hub_dataset_keeps_its_evaluation_split(monkeypatch):
    """The `datasets` code path for hub users, with load_dataset faked (the hub is unreachable here)."""
    import datasets

    calls = []

    def fake_load_dataset(name, config=None, split=None):
        calls.append((name, config, split))
        n = 50 if split == "validation" else 600
        return [{"sentence": f"{split} {i}", "label": i % 2} for i in range(n)]

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    spec = TextDataSpec(source="glue", config="sst2", split="validation", text_column="sentence")
    splits = load_splits(spec)
    assert ("glue", "sst2", "validation") in calls and ("glue", "sst2", "train") in calls
    assert len(splits["test"]) == 50 and all(e.text.startswith("validation") for e in splits["test"])
    assert all(e.text.startswith("train") for n in ("validation", "calibration", "train") for e in splits[n])
    assert sum(len(splits[n]) for n in ("validation", "calibration", "train")) == 600


@pytest.mark.parametrize("source, message", [
    ("/data/reviews.txt", "dataset file /data/reviews.txt does not exist"),
    ("../reviews", "dataset file ../reviews does not exist"),
])
def test_a_missing_path_is_named_and_never_asked_of_the_hub(source, message, monkeypatch):
    import datasets

    def no_hub(*args, **kwargs):
        raise AssertionError("a path was sent to the hub")

    monkeypatch.setattr(datasets, "load_dataset", no_hub)
    with pytest.raises(ValueError, match=f"^{message}$"):
        load_splits(TextDataSpec(source=source))


def test_fine_tuning_a_headless_encoder_logs_one_line_instead_of_the_load_report(tmp_path, tiny_csv, caplog):
    """The embedded build trains a new classification head on purpose: transformers' report listing that
    head as missing would only alarm a user, so the build says what it does in one line instead."""
    import logging

    from transformers import AutoTokenizer, BertConfig, BertModel
    from transformers.utils import logging as transformers_logging

    from ovrecipes.pipelines.bert_embedded import embedded_base_dir, fine_tune
    from ovrecipes.pipelines.text_data import TextDataSpec

    base = tmp_path / "encoder"
    tokenizer = AutoTokenizer.from_pretrained(embedded_base_dir())
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=64)).save_pretrained(base)
    tokenizer.save_pretrained(base)
    before = transformers_logging.get_verbosity()
    transformers_logging.enable_propagation()  # so that caplog sees what transformers would print
    try:
        with caplog.at_level(logging.INFO):
            fine_tune(base, TextDataSpec(source=str(tiny_csv)), tmp_path / "out", epochs=0.05, learning_rate=1e-4,
                      batch_size=16, max_length=16, seed=0, progress=False)
    finally:
        transformers_logging.disable_propagation()
    assert "Fine-tuning a new 2-label classification head" in caplog.text
    assert "LOAD REPORT" not in caplog.text
    assert transformers_logging.get_verbosity() == before  # the caller's verbosity is given back
