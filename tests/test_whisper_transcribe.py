"""``ovrecipes whisper transcribe`` on the tiny random Whisper of test_whisper.py: every format (SRT and
WebVTT checked by a parser), segment and word timestamps per engine, clips past 30 s, directories and
patterns, atomic writes, and the one-line errors. Random weights give arbitrary words: the tests check
structure and times, never text."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_whisper import speech_manifest, tiny_ct2, tiny_fp32, tiny_pipeline, tiny_whisper_dir  # noqa: F401

from ovrecipes.cli.main import main
from ovrecipes.pipelines import whisper_transcribe
from ovrecipes.pipelines.speech_data import load_audio
from ovrecipes.pipelines.subtitles import Segment, Word, attach_words, render, tidy

RATE = 16000
TOKENS = ["--max-new-tokens", "4"]


@pytest.fixture(scope="module")
def clips(speech_manifest, tmp_path_factory) -> dict[str, Path]:  # noqa: F811
    """A short spoken clip and a 45 s one (the spoken clips one after another), written at 16 kHz."""
    out = tmp_path_factory.mktemp("clips")
    spoken = [load_audio(p) for p in sorted(speech_manifest.parent.glob("*.wav"))]
    sf.write(out / "short.wav", spoken[0], RATE)
    long = np.concatenate(spoken * (1 + 45 * RATE // sum(len(a) for a in spoken)))[: 45 * RATE]
    sf.write(out / "long.wav", long, RATE)
    return {"short": out / "short.wav", "long": out / "long.wav"}


@pytest.fixture(scope="module")
def aligned(tiny_fp32, tiny_whisper_dir, tmp_path_factory) -> dict[str, Path]:  # noqa: F811
    """The tiny models with alignment heads that exist in their 2-layer decoder (the converter copies
    tiny.en's, which name layers 2 and 3), so that word timing can run."""
    dirs = {}
    for engine, source in (("genai", tiny_fp32), ("pytorch", tiny_whisper_dir)):
        target = tmp_path_factory.mktemp(f"aligned-{engine}") / "model"
        shutil.copytree(source, target)
        config = target / "generation_config.json"
        config.write_text(json.dumps({**json.loads(config.read_text()), "alignment_heads": [[0, 0], [1, 1]]}))
        dirs[engine] = target
    return dirs


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main(["whisper", "transcribe", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def duration(path: Path) -> float:
    return sf.info(str(path)).frames / RATE


def parse_cues(text: str, fmt: str, clip_s: float) -> list[tuple[float, float, str]]:
    """SRT or WebVTT cues, asserting the syntax: numbering (SRT), the time format, one blank line between
    cues, start <= end, cues in order without overlap, inside the clip."""
    sep = "," if fmt == "srt" else r"\."
    stamp = rf"(\d{{2,}}):([0-5]\d):([0-5]\d){sep}(\d{{3}})"
    if fmt == "vtt":
        assert text.startswith("WEBVTT\n"), text[:20]
        text = text[len("WEBVTT\n"):]
        assert text == "" or text.startswith("\n")
    if not text.strip():
        return []
    assert text.endswith("\n") and not text.endswith("\n\n")
    cues, previous_end = [], 0.0
    for number, block in enumerate(text.strip("\n").split("\n\n"), 1):
        lines = block.split("\n")
        if fmt == "srt":
            assert lines.pop(0) == str(number), block
        match = re.fullmatch(rf"{stamp} --> {stamp}", lines[0])
        assert match, lines[0]
        h, m, sec, ms, h2, m2, s2, ms2 = map(int, match.groups())
        start, end = ((h * 3600 + m * 60 + sec) * 1000 + ms) / 1000, ((h2 * 3600 + m2 * 60 + s2) * 1000 + ms2) / 1000
        assert len(lines) == 2 and lines[1].strip(), block
        assert previous_end <= start <= end <= clip_s + 1e-9, (previous_end, start, end, clip_s)
        cues.append((start, end, lines[1]))
        previous_end = end
    return cues


def check_json(doc: dict, clip: Path, engine: str) -> None:
    assert list(doc) == ["file", "language", "task", "text", "duration_s", "engine", "timestamps", "segments"]
    assert doc["file"] == str(clip) and doc["engine"] == engine and doc["language"] == "en"
    assert doc["duration_s"] == pytest.approx(duration(clip), abs=1e-3)
    previous_end = 0.0
    for segment in doc["segments"]:
        assert set(segment) == {"start", "end", "text", "words"} and segment["text"].strip()
        assert previous_end <= segment["start"] <= segment["end"] <= doc["duration_s"]
        word_end = segment["start"]
        for word in segment["words"]:
            assert set(word) == {"word", "start", "end"} and word["word"]
            assert word_end <= word["start"] <= word["end"] <= segment["end"]
            word_end = word["end"]
        previous_end = segment["end"]
    assert bool(doc["text"]) == bool(doc["segments"])


def test_every_format_to_standard_output(capsys, tiny_fp32, clips):  # noqa: F811
    clip = clips["short"]
    outputs = {}
    for fmt in ("txt", "json", "srt", "vtt"):
        code, out, err = cli(capsys, tiny_fp32, clip, "--format", fmt, *TOKENS)
        assert code == 0, err
        outputs[fmt] = out
    assert outputs["txt"].endswith("\n") and len(outputs["txt"].splitlines()) == 1 and outputs["txt"].strip()
    doc = json.loads(outputs["json"])  # nothing but the transcript on stdout: log lines went to stderr
    check_json(doc, clip, "genai")
    assert doc["text"] == outputs["txt"].strip()
    assert doc["timestamps"] == "segment"  # the converter's alignment heads name layers this decoder lacks
    cues = {fmt: parse_cues(outputs[fmt], fmt, duration(clip)) for fmt in ("srt", "vtt")}
    assert cues["srt"] and cues["srt"] == cues["vtt"]
    assert [(c[0], c[1]) for c in cues["srt"]] == [(s["start"], s["end"]) for s in doc["segments"]]


def test_word_timestamps_where_the_engine_gives_them(capsys, tiny_fp32, aligned, clips):  # noqa: F811
    for engine, model in (("genai", aligned["genai"]), ("pytorch", aligned["pytorch"])):
        code, out, err = cli(capsys, model, clips["short"], "--format", "json", *TOKENS)
        assert code == 0, err
        doc = json.loads(out)
        check_json(doc, clips["short"], engine)
        assert doc["timestamps"] == "word" and any(s["words"] for s in doc["segments"]), doc
    code, out, err = cli(capsys, tiny_fp32, clips["short"], "--format", "json", "--engine", "optimum", *TOKENS)
    assert code == 0 and json.loads(out)["timestamps"] == "segment"
    assert "word timestamps unavailable with engine optimum: optimum-intel's decoder IR returns no " in err
    code, out, err = cli(capsys, tiny_fp32, clips["short"], "--format", "json", *TOKENS)
    assert code == 0 and json.loads(out)["timestamps"] == "segment"
    assert [line for line in err.splitlines() if "word timestamps unavailable" in line] == [
        f"word timestamps unavailable with engine genai: alignment_heads in {tiny_fp32 / 'generation_config.json'} "
        "names (layer, head) (2, 0), outside the decoder's 2 layers of 2 heads; segment timestamps only"]


@pytest.mark.parametrize("engine", ["genai", "pytorch"])
def test_a_clip_past_30_seconds_has_segments_offset_past_30_seconds(capsys, engine, tiny_fp32, tiny_whisper_dir,  # noqa: F811
                                                                    clips, tmp_path):
    model = tiny_fp32 if engine == "genai" else tiny_whisper_dir
    clip = clips["long"]
    code, out, err = cli(capsys, model, clip, "--format", "json", *TOKENS)
    assert code == 0, err
    doc = json.loads(out)
    check_json(doc, clip, engine)
    assert doc["duration_s"] == 45.0 and any(s["start"] >= 30.0 for s in doc["segments"]), doc["segments"]
    code, out, err = cli(capsys, model, clip, "--format", "srt", "--out", tmp_path, *TOKENS)
    assert code == 0, err
    cues = parse_cues((tmp_path / "long.srt").read_text(), "srt", 45.0)
    assert [(c[0], c[1]) for c in cues] == [(s["start"], s["end"]) for s in doc["segments"]]


def test_directories_and_patterns_give_one_file_per_audio_file(capsys, tiny_fp32, clips, tmp_path):  # noqa: F811
    audio = tmp_path / "audio"
    (audio / "sub").mkdir(parents=True)
    shutil.copy(clips["short"], audio / "b.wav")
    sf.write(audio / "a.flac", sf.read(str(clips["short"]))[0], RATE)
    shutil.copy(clips["short"], audio / "sub" / "c.wav")
    shutil.copy(clips["short"], audio / ".hidden.wav")
    (audio / "notes.txt").write_text("not audio")
    assert whisper_transcribe.expand_inputs([audio]) == [audio / "a.flac", audio / "b.wav"]
    assert whisper_transcribe.expand_inputs([f"{audio}/**/*.wav", audio / "b.wav"]) == [audio / "b.wav",
                                                                                         audio / "sub" / "c.wav"]
    out = tmp_path / "out"
    code, stdout, err = cli(capsys, tiny_fp32, audio, f"{audio}/sub/*.wav", "--format", "vtt", "--out", out, *TOKENS)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a.vtt", "b.vtt", "c.vtt"]  # no temporary file left
    for name in ("a", "b", "c"):
        parse_cues((out / f"{name}.vtt").read_text(), "vtt", duration(clips["short"]))
    assert stdout.startswith(f"Wrote 3 vtt files into {out} (segment timestamps, engine genai;")
    assert "transcribing" in err  # the progress bar, on stderr


def test_the_errors_are_one_line_and_come_before_the_model_loads(capsys, tiny_fp32, tiny_whisper_dir, clips,  # noqa: F811
                                                                tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "short.srt").write_text("keep me")
    (tmp_path / "other").mkdir()
    shutil.copy(clips["short"], tmp_path / "other" / "short.flac")
    cases = [
        ([f"{tmp_path}/*.mp3"], f"pattern {tmp_path}/*.mp3 matches no audio files (.wav, .flac"),
        ([empty], f"directory {empty} holds no audio files (.wav"),
        ([tmp_path / "nowhere.wav"], f"audio file {tmp_path / 'nowhere.wav'} does not exist"),
        ([clips["short"], clips["long"]], "2 audio files need --out DIR (one txt file each): standard output takes "
                                          "the transcript of one file"),
        ([clips["short"], "--format", "srt", "--out", tmp_path / "out"],
         f"{tmp_path / 'out' / 'short.srt'} already exists; pass --overwrite to replace it"),
        ([clips["short"], tmp_path / "other", "--out", tmp_path / "out2"],
         f"{clips['short']} and {tmp_path / 'other' / 'short.flac'} would both be written to "
         f"{tmp_path / 'out2' / 'short.txt'}"),
        ([clips["short"], "--task", "translate"], f"model {tiny_fp32} is English-only (is_multilingual: false in "
                                                  "generation_config.json): it cannot translate"),
        ([clips["short"], "--language", "de"], f"model {tiny_fp32} is English-only (is_multilingual: false in "
                                               "generation_config.json): it cannot transcribe language 'de'"),
    ]
    for args, message in cases:
        code, out, err = cli(capsys, tiny_fp32, *args)
        lines = err.strip().splitlines()
        assert code == 2 and not out and len(lines) == 1, (args, err)
        assert lines[0].startswith(f"ovrecipes: error: {message}"), (lines[0], message)
    assert (tmp_path / "out" / "short.srt").read_text() == "keep me" and not (tmp_path / "out2").exists()
    code, _, err = cli(capsys, tiny_whisper_dir, clips["short"], "--format", "srt", "--out", tmp_path / "out",
                       "--overwrite", *TOKENS)
    assert code == 0, err
    parse_cues((tmp_path / "out" / "short.srt").read_text(), "srt", duration(clips["short"]))
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["short.srt"]


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary_one(tmp_path, monkeypatch):
    target = tmp_path / "clip.srt"
    whisper_transcribe.write_output(target, "first\n")
    assert target.read_text() == "first\n"
    with pytest.raises(ValueError, match="clip.srt already exists; pass --overwrite to replace it"):
        whisper_transcribe.write_output(target, "second\n")

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(whisper_transcribe.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        whisper_transcribe.write_output(tmp_path / "new.srt", "text\n")
    assert [p.name for p in tmp_path.iterdir()] == ["clip.srt"]


def test_times_are_tidied_and_rendered_exactly():
    words = [Word(" Hello", 0.1, 0.6), Word(" there,", 0.5, 2.0), Word(" you", 2.1, 2.3), Word(" <people>", 3720, 3730)]
    raw = [Segment(0.0, 1.5, " Hello there,"), Segment(1.2, 3725.5, " you &\n<people>"), Segment(3726, 3726, "  "),
           Segment(3800.0, 3900.0, " late")]
    segments = tidy(attach_words(raw, words), duration_s=3725.0004)
    assert [(s.start, s.end, s.text) for s in segments] == [
        (0.0, 1.5, "Hello there,"), (1.5, 3725.0, "you & <people>"), (3725.0, 3725.0, "late")]
    assert [(w.word, w.start, w.end) for w in segments[0].words] == [("Hello", 0.1, 0.6), ("there,", 0.6, 1.5)]
    assert [(w.word, w.start, w.end) for w in segments[1].words] == [("you", 2.1, 2.3), ("<people>", 3720, 3725.0)]
    assert render("srt", "x", segments) == ("1\n00:00:00,000 --> 00:00:01,500\nHello there,\n\n"
                                            "2\n00:00:01,500 --> 01:02:05,000\nyou & <people>\n\n"
                                            "3\n01:02:05,000 --> 01:02:05,000\nlate\n")
    assert render("vtt", "x", segments[1:2]) == "WEBVTT\n\n00:00:01.500 --> 01:02:05.000\nyou &amp; &lt;people&gt;\n"
    assert render("vtt", "", []) == "WEBVTT\n" and render("srt", "", []) == "" and render("txt", " a\nb ", []) == "a b\n"
    with pytest.raises(ValueError, match="format must be one of txt, json, srt, vtt: got 'ass'"):
        render("ass", "x", segments)
