"""Speech conditions the recipe never sees, and the varied audio it calibrates on.

The embedded clips are spoken by two synthetic voices (festival ``slt`` and flite ``kal``) in a quiet
room; an INT8 model calibrated and tuned on them can hold there and slip on anyone else's audio. So:

* **Held-out conditions** (scored beside the test split, never used for calibration or alpha choice):
  ``held-out voices`` - the test sentences spoken by flite's ``awb`` (Scottish
  English male) and ``rms`` (US English male), alternately; ``noise 10 dB`` - those same clips with
  alsa-utils' noise recording (``Noise.wav``, looped from a per-clip offset) mixed in at 10 dB SNR.
* **Validation in another voice**: what recipe choices (SmoothQuant alphas, ignored scopes) are scored on
  for the embedded data - the calibration and validation sentences spoken by festival's ``ked_diphone``
  (US English male, Debian's festvox-kdlpc16k), every other clip with seeded white noise at 10 dB SNR:
  neither the calibration voices nor the held-out ones, clean and noisy.
* **Varied calibration**: every other calibration clip gets seeded white noise at 15-30 dB SNR, and
  every clip a seeded gain between -12 and +3 dB, so the quantization ranges are set on quiet, loud,
  clean and noisy audio. Different noise (white, generated) and SNRs than the held-out condition.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
from tqdm.auto import tqdm

from ovrecipes.core.cache import building, cache_path
from ovrecipes.pipelines.speech_data import ALSA_DIR, SAMPLE_RATE, SpeechExample, load_audio, read_manifest, synthesise

HELDOUT_VOICES = ("awb", "rms")  # flite voices no calibration, alpha choice or test clip uses
HELDOUT_SIZE = 60  # every test sentence (the embedded test split holds 60)
HELDOUT_SNR_DB = 10.0
NOISE_RECORDING = ALSA_DIR / "Noise.wav"
#: condition name (as reports show it) -> split name in the pipeline's splits
CONDITIONS = {"held-out voices": "voices", f"noise {HELDOUT_SNR_DB:g} dB": "noise"}
VALIDATION_VOICE = "ked_diphone"  # festival, Debian's festvox-kdlpc16k
VALIDATION_SNR_DB = 10.0
CALIBRATION_SNR_DB = (15.0, 30.0)
CALIBRATION_GAIN_DB = (-12.0, 3.0)
VARIETY_SEED = 7


def text_digest(sentences: list[str]) -> str:
    """A short key of a sentence list for a cache entry's name: another list builds its own entry."""
    return hashlib.sha1("\n".join(sentences).encode()).hexdigest()[:12]


def power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float, offset: int = 0) -> np.ndarray:
    """``speech`` plus ``noise`` (looped from ``offset`` to the speech's length) scaled so that the
    power ratio speech/noise over the whole clip is ``snr_db``; clipped to [-1, 1]."""
    if noise.size == 0 or power(noise) == 0.0:
        raise ValueError("the noise signal is silent: it cannot be mixed at an SNR")
    looped = np.resize(np.roll(noise, -offset), speech.shape)
    scale = np.sqrt(power(speech) / (power(looped) * 10 ** (snr_db / 10)))
    return np.clip(speech + scale * looped, -1.0, 1.0).astype(np.float32)


def heldout_splits(test: list[SpeechExample], progress: bool = True) -> dict[str, list[SpeechExample]]:
    """The held-out condition splits (``voices``, ``noise``) from the test sentences, built once into the cache."""
    sentences = [e.text for e in test[:HELDOUT_SIZE]]
    target = cache_path("data", f"speech-heldout-v1-{text_digest(sentences)}")
    manifests = {split: target / f"{split}.jsonl" for split in CONDITIONS.values()}
    if not all(m.exists() for m in manifests.values()):
        import soundfile

        noise = load_audio(NOISE_RECORDING)
        with building(target) as tmp:
            rows: dict[str, list[dict]] = {split: [] for split in manifests}
            for i, text in enumerate(tqdm(sentences, desc="synthesising held-out voices", disable=not progress)):
                voice = HELDOUT_VOICES[i % len(HELDOUT_VOICES)]
                clean = tmp / f"{i:03d}-{voice}.wav"
                synthesise(text, "flite", clean, voice=voice)
                noisy = tmp / f"{i:03d}-{voice}-noise{HELDOUT_SNR_DB:g}dB.wav"
                offset = (i * 7919) % noise.size
                soundfile.write(noisy, mix_at_snr(load_audio(clean), noise, HELDOUT_SNR_DB, offset), SAMPLE_RATE)
                rows["voices"].append({"audio": clean.name, "text": text, "source": f"flite-{voice}"})
                rows["noise"].append({"audio": noisy.name, "text": text, "source": f"flite-{voice}+noise"})
            for split, path in manifests.items():
                (tmp / path.name).write_text("".join(json.dumps(r) + "\n" for r in rows[split]))
    return {split: read_manifest(path) for split, path in manifests.items()}


def validation_split(sentences: list[str], progress: bool = True) -> list[SpeechExample]:
    """``sentences`` spoken by the validation voice, every other clip with seeded white noise at 10 dB SNR;
    built once into the cache (the key holds the sentences' hash, so another set builds its own)."""
    target = cache_path("data", f"speech-validation-v1-{text_digest(sentences)}")
    manifest = target / "manifest.jsonl"
    if not manifest.exists():
        import soundfile

        rng = np.random.RandomState(VARIETY_SEED)
        with building(target) as tmp:
            rows = []
            for i, text in enumerate(tqdm(sentences, desc="synthesising the validation voice", disable=not progress)):
                name = f"{i:03d}-{VALIDATION_VOICE}.wav"
                synthesise(text, "festival", tmp / name, voice=VALIDATION_VOICE)
                noise = rng.standard_normal(16000).astype(np.float32)
                source = f"festival-{VALIDATION_VOICE}"
                if i % 2:
                    soundfile.write(tmp / name, mix_at_snr(load_audio(tmp / name), noise, VALIDATION_SNR_DB), SAMPLE_RATE)
                    source += f"+noise{VALIDATION_SNR_DB:g}dB"
                rows.append({"audio": name, "text": text, "source": source})
            (tmp / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return read_manifest(manifest)


def varied(audios: list[np.ndarray], seed: int = VARIETY_SEED) -> list[np.ndarray]:
    """Calibration audio with seeded level and noise variety (see the module docstring); same input, same output."""
    rng = np.random.RandomState(seed)
    out = []
    for i, audio in enumerate(audios):
        gain = 10 ** (rng.uniform(*CALIBRATION_GAIN_DB) / 20)
        x = np.clip(audio * gain, -1.0, 1.0).astype(np.float32)
        snr = rng.uniform(*CALIBRATION_SNR_DB)
        noise = rng.standard_normal(x.size).astype(np.float32)
        out.append(mix_at_snr(x, noise, snr) if i % 2 else x)
    return out
