"""scripts/whisper_timestamps.py: cue scoring against the sentence joins, the table, a bad file size (no model)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from conftest import load_script

from ovrecipes.pipelines.subtitles import Segment


@pytest.fixture(scope="module")
def stamps():
    return load_script("whisper_timestamps")


FILE = {"joins": [3.0, 6.5, 10.0], "sentences": 4, "duration": 13.0}


def test_a_join_is_hit_by_a_cue_boundary_near_it(stamps):
    one_cue = [Segment(0.0, 13.0, "all of it")]
    assert stamps.score(one_cue, FILE, 0.5) == {"cues_per_sentence": 0.25, "joins_hit": 0.0}
    # boundaries at 3.2 (hit), 7.2 (0.7 s off: missed at 0.5, hit at 1.0), the last cue's end is no join
    cues = [Segment(0.0, 3.2, "a"), Segment(3.2, 7.2, "b c"), Segment(7.2, 13.0, "d")]
    assert stamps.score(cues, FILE, 0.5) == {"cues_per_sentence": 0.75, "joins_hit": pytest.approx(1 / 3)}
    assert stamps.score(cues, FILE, 1.0)["joins_hit"] == pytest.approx(2 / 3)


def test_table_rows(stamps):
    rows = [{"model": "w/fp32", "engine": "genai", "precision": "default", "cues_per_sentence": 0.96,
             "joins_hit": 0.9, "WER": 3.456}]
    md = stamps.markdown(rows, [dict(FILE, duration=45.0), dict(FILE, duration=49.5)], 0.5)
    assert md.startswith("2 files of 4 test sentences joined (45.0-49.5 s)")
    assert "| w/fp32 | genai | default | 0.96 | 90% | 3.46 |" in md


def test_more_clips_per_file_than_the_split_holds_is_refused(stamps):
    pipeline = SimpleNamespace(examples=lambda split: [object()] * 5)
    with pytest.raises(ValueError, match="--per-file 6 is more than the 5 test clips"):
        stamps.long_files(pipeline, 6)
