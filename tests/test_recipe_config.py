"""Recipe configs: per-model settings (``per_model``) merged in the right order, and the Whisper size key."""

from __future__ import annotations

import json

import pytest

from ovrecipes.pipelines.whisper import whisper_size
from ovrecipes.recipes.ptq import PTQConfig
from ovrecipes.runs.config import load_config, settings_for


def test_settings_for_merges_the_entry_of_the_key_only():
    data = {"preset": "performance", "subset_size": 10,
            "per_model": {"big": {"subset_size": 99, "smooth_quant": {"encoder": {"matmul": 0.8}}}}}
    assert settings_for(data, "big", "f.yaml") == {"preset": "performance", "subset_size": 99,
                                                    "smooth_quant": {"encoder": {"matmul": 0.8}}}
    assert settings_for(data, "small", "f.yaml") == {"preset": "performance", "subset_size": 10}
    assert settings_for(data, None, "f.yaml") == {"preset": "performance", "subset_size": 10}


@pytest.mark.parametrize("table", [["big"], {"big": 3}])
def test_a_bad_per_model_table_names_the_file(table):
    with pytest.raises(ValueError, match=r"^f\.yaml: per_model must map a model key"):
        settings_for({"per_model": table}, "big", "f.yaml")


def test_packaged_whisper_base_settings_and_who_wins(tmp_path):
    tiny, _ = load_config(PTQConfig, "whisper", "ptq", None, {}, model_key="whisper-tiny")
    base, _ = load_config(PTQConfig, "whisper", "ptq", None, {}, model_key="whisper-base")
    assert tiny.ignored_scope.patterns == [] and tiny.smooth_quant["encoder"].matmul == 0.5
    assert base.ignored_scope.patterns == [".*fc2.*"] and base.smooth_quant["encoder"].matmul == 0.8
    assert base.smooth_quant["decoder"].matmul == tiny.smooth_quant["decoder"].matmul  # the rest is shared
    # a user's file beats the packaged per-model entry, and its own per_model entry beats its plain keys
    user = tmp_path / "mine.yaml"
    user.write_text("smooth_quant:\n  encoder:\n    matmul: 0.3\n"
                    "per_model:\n  whisper-base:\n    subset_size: 7\n")
    mine, _ = load_config(PTQConfig, "whisper", "ptq", user, {}, model_key="whisper-base")
    assert mine.smooth_quant["encoder"].matmul == 0.3 and mine.subset_size == 7
    assert mine.ignored_scope.patterns == [".*fc2.*"]
    # command-line options beat both
    flags, _ = load_config(PTQConfig, "whisper", "ptq", user, {"ignored_scope": {"patterns": []}},
                           model_key="whisper-base")
    assert flags.ignored_scope.patterns == []


def test_ptq_config_of_a_pipeline_uses_its_settings_key(tmp_path):
    import ovrecipes
    from ovrecipes.pipelines.whisper import WhisperPipeline

    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "whisper", "d_model": 512, "encoder_layers": 6,
                                                   "decoder_layers": 6}))
    pipeline = WhisperPipeline(model, progress=False)
    assert pipeline.settings_key() == "whisper-base"
    assert ovrecipes.ptq_config(pipeline).ignored_scope.patterns == [".*fc2.*"]
    assert ovrecipes.ptq_config("whisper").ignored_scope.patterns == []


@pytest.mark.parametrize(("dims", "expected"), [((384, 4, 4), "whisper-tiny"), ((512, 6, 6), "whisper-base"),
                                                ((768, 12, 12), "whisper-small"), ((1280, 32, 2), "distil-whisper-large"),
                                                ((64, 2, 2), None)])
def test_whisper_size_from_config(tmp_path, dims, expected):
    (tmp_path / "config.json").write_text(json.dumps(dict(zip(("d_model", "encoder_layers", "decoder_layers"), dims))))
    assert whisper_size(tmp_path) == expected


def test_whisper_size_of_an_uncached_hub_id_is_unknown(tmp_path):
    assert whisper_size("nobody/whisper-made-up") is None
    assert whisper_size(tmp_path / "no-such-dir") is None
