"""The split sizes the docs state for the embedded speech are the ones the code makes (no audio needed)."""

from __future__ import annotations

import re
from pathlib import Path

from ovrecipes.pipelines import speech_data

WHISPER_DOC = Path(__file__).resolve().parent.parent / "docs" / "whisper.md"
SIZES = re.compile(r"calibration (\d+), validation (\d+), test (\d+)")


def _code_sizes() -> dict[str, int]:
    sentences = [s for s in speech_data.SENTENCES.read_text().splitlines() if s.strip()]
    splits = speech_data.split_speech(list(range(len(sentences))))
    return {name: len(items) for name, items in splits.items()}


def _documented(text: str, where: str) -> dict[str, int]:
    found = SIZES.search(" ".join(text.split()))
    assert found, f"{where} does not state 'calibration N, validation N, test N'"
    return dict(zip(("calibration", "validation", "test"), map(int, found.groups())))


def test_speech_data_docstring_states_the_real_split_sizes():
    assert _documented(speech_data.__doc__, "speech_data's docstring") == _code_sizes()


def test_whisper_page_states_the_real_split_sizes():
    assert _documented(WHISPER_DOC.read_text(), "docs/whisper.md") == _code_sizes()


def test_embedded_sentence_count_is_the_documented_one():
    assert f"of the {sum(_code_sizes().values())} clips" in " ".join(speech_data.__doc__.split())
