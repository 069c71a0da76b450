"""Held-out speech conditions and varied calibration audio: the SNR a mix claims, the seeded variety,
and the held-out splits built from flite voices the recipe never uses."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ovrecipes.pipelines import speech_conditions as sc
from ovrecipes.pipelines.speech_data import SpeechExample, load_audio


def _snr_db(clean: np.ndarray, mixed: np.ndarray) -> float:
    return 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean((mixed - clean).astype(np.float64) ** 2))


def test_mix_reaches_the_asked_snr_and_loops_the_noise_from_its_offset():
    t = np.arange(16000) / 16000
    speech = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    noise = np.array([1.0, -1.0, 2.0, 0.0], dtype=np.float32)  # power 1.5, shorter than the speech: looped
    mixed = sc.mix_at_snr(speech, noise, 10.0, offset=1)
    assert mixed.shape == speech.shape and mixed.dtype == np.float32
    assert _snr_db(speech, mixed) == pytest.approx(10.0, abs=1e-3)
    added = (mixed - speech)[:6]
    scale = added[0] / -1.0  # offset 1: the loop starts at the noise's second sample
    assert added == pytest.approx(scale * np.array([-1.0, 2.0, 0.0, 1.0, -1.0, 2.0]), abs=1e-6)
    assert _snr_db(speech, sc.mix_at_snr(speech, noise, 0.0)) == pytest.approx(0.0, abs=1e-3)
    with pytest.raises(ValueError, match="noise signal is silent"):
        sc.mix_at_snr(speech, np.zeros(10, dtype=np.float32), 10.0)


def test_calibration_variety_is_seeded_and_noisy_on_every_other_clip():
    rng = np.random.RandomState(0)
    audios = [(0.05 * rng.standard_normal(8000)).astype(np.float32) for _ in range(4)]
    first, again = sc.varied(audios), sc.varied(audios)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(sc.varied(audios, seed=1)[0], first[0])
    low, high = (10 ** (g / 20) for g in sc.CALIBRATION_GAIN_DB)
    for i, (clean, out) in enumerate(zip(audios, first)):
        assert out.shape == clean.shape and np.abs(out).max() <= 1.0
        gain = float(np.dot(out, clean) / np.dot(clean, clean))  # least-squares gain: noise is uncorrelated
        assert low * 0.9 <= gain <= high * 1.1
        residual = out - gain * clean
        if i % 2 == 0:  # clean clips are only rescaled
            assert np.abs(residual).max() < 1e-6
        else:  # noisy clips carry noise 15-30 dB below the (rescaled) speech
            assert sc.CALIBRATION_SNR_DB[0] - 0.5 <= _snr_db(gain * clean, out) <= sc.CALIBRATION_SNR_DB[1] + 0.5


def test_heldout_splits_are_other_voices_and_the_same_clips_at_10_db(tmp_path, monkeypatch):
    if shutil.which("flite") is None or not sc.NOISE_RECORDING.exists():
        pytest.skip("flite and alsa-utils are not installed (bash scripts/setup.sh installs them)")
    monkeypatch.setenv("OVRECIPES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sc, "HELDOUT_SIZE", 4)
    test = [SpeechExample(tmp_path / f"{i}.wav", text, "festival")
            for i, text in enumerate(["Good morning to you.", "The train was late again.", "Open the window.",
                                      "We will meet at noon.", "This one is never used."])]
    splits = sc.heldout_splits(test, progress=False)
    assert set(splits) == {"voices", "noise"} == set(sc.CONDITIONS.values())
    voices, noisy = splits["voices"], splits["noise"]
    assert [e.text for e in voices] == [e.text for e in noisy] == [e.text for e in test[:4]]
    assert [e.source for e in voices] == ["flite-awb", "flite-rms", "flite-awb", "flite-rms"]
    assert not set(sc.HELDOUT_VOICES) & {"kal", "slt"}  # the embedded clips' voices
    for clean, mixed in zip(voices, noisy):
        a, b = load_audio(clean.audio), load_audio(mixed.audio)
        assert a.shape == b.shape and _snr_db(a, b) == pytest.approx(sc.HELDOUT_SNR_DB, abs=0.5)  # WAV rounding
    again = sc.heldout_splits(test, progress=False)  # built once: read back from the cache
    assert [e.audio for e in again["noise"]] == [e.audio for e in noisy]


def test_validation_is_another_voice_clean_and_noisy_built_once(tmp_path, monkeypatch):
    voice_dir = Path("/usr/share/festival/voices/english") / sc.VALIDATION_VOICE
    if shutil.which("text2wave") is None or not voice_dir.is_dir():
        pytest.skip("festival's ked_diphone voice is not installed (bash scripts/setup.sh installs festvox-kdlpc16k)")
    monkeypatch.setenv("OVRECIPES_CACHE", str(tmp_path / "cache"))
    sentences = ["Good morning to you.", "The train was late again.", "Open the window."]
    split = sc.validation_split(sentences, progress=False)
    assert [e.text for e in split] == sentences
    assert [e.source for e in split] == ["festival-ked_diphone", "festival-ked_diphone+noise10dB", "festival-ked_diphone"]
    clean = tmp_path / "clean.wav"
    sc.synthesise(sentences[1], "festival", clean, voice=sc.VALIDATION_VOICE)  # the TTS is deterministic
    a, b = load_audio(clean), load_audio(split[1].audio)
    assert a.shape == b.shape and _snr_db(a, b) == pytest.approx(sc.VALIDATION_SNR_DB, abs=0.5)
    assert split[0].audio.is_relative_to(tmp_path / "cache" / "data")
    assert sc.validation_split(sentences, progress=False) == split  # read back from the cache
    assert sc.validation_split(sentences[:2], progress=False)[0].audio.parent != split[0].audio.parent  # its own entry
