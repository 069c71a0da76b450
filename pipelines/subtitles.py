"""Timed transcripts as text, JSON, SRT and WebVTT, from segments (start, end, text) and their words.

What an engine returns is made safe to write first (:func:`tidy`): times are whole milliseconds,
inside the clip (an engine can place a timestamp past the end of a short clip, a random-weight
model anywhere), monotonic (each cue starts where the previous one ended at the earliest) and never
ending before they start; the words of a segment obey the same rules inside it. The renderers then
only format:

* SRT: cues numbered from 1, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, the text on one line, a blank line
  after every cue.
* WebVTT: a ``WEBVTT`` header, a blank line, cues ``HH:MM:SS.mmm --> HH:MM:SS.mmm``, the text with
  ``&``, ``<`` and ``>`` escaped.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

FORMATS = ("txt", "json", "srt", "vtt")


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = field(default_factory=tuple)


def _ms(seconds: float) -> int:
    return int(round(float(seconds) * 1000)) if math.isfinite(seconds) else 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


def tidy(segments: Iterable[Segment], duration_s: float) -> list[Segment]:
    """Segments with times in whole milliseconds, inside [0, duration], monotonic and start <= end; words
    likewise inside their segment; text on one line. Segments without text are dropped."""
    limit = math.floor(max(duration_s, 0.0) * 1000 + 1e-6)  # the last whole millisecond of the clip
    clean, cursor = [], 0
    for segment in segments:
        text = _one_line(segment.text)
        if not text:
            continue
        start = min(max(_ms(segment.start), cursor), limit)
        end = min(max(_ms(segment.end), start), limit)
        words, word_cursor = [], start
        for word in segment.words:
            label = _one_line(word.word)
            if not label:
                continue
            word_start = min(max(_ms(word.start), word_cursor), end)
            word_end = min(max(_ms(word.end), word_start), end)
            words.append(Word(label, word_start / 1000, word_end / 1000))
            word_cursor = word_end
        clean.append(Segment(start / 1000, end / 1000, text, tuple(words)))
        cursor = end
    return clean


def attach_words(segments: list[Segment], words: Iterable[Word]) -> list[Segment]:
    """Give each segment the words of a flat, time-ordered list (what openvino-genai returns): a word
    belongs to the first segment, from the current one on, that has not ended before its midpoint."""
    groups: list[list[Word]] = [[] for _ in segments]
    current = 0
    for word in words:
        middle = (word.start + word.end) / 2
        while current < len(segments) - 1 and middle >= segments[current].end:
            current += 1
        if segments:
            groups[current].append(word)
    return [Segment(s.start, s.end, s.text, tuple(g)) for s, g in zip(segments, groups)]


def clock(seconds: float, separator: str) -> str:
    """``HH:MM:SS<separator>mmm`` (hours grow past 99 if they must)."""
    hours, rest = divmod(max(_ms(seconds), 0), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{separator}{millis:03d}"


def to_srt(segments: Iterable[Segment]) -> str:
    cues = [f"{i}\n{clock(s.start, ',')} --> {clock(s.end, ',')}\n{_one_line(s.text)}\n"
            for i, s in enumerate(segments, 1)]
    return "\n".join(cues)


def _vtt_text(text: str) -> str:
    return _one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(segments: Iterable[Segment]) -> str:
    cues = [f"{clock(s.start, '.')} --> {clock(s.end, '.')}\n{_vtt_text(s.text)}\n" for s in segments]
    return "\n".join(["WEBVTT\n", *cues])


def segments_json(segments: Iterable[Segment]) -> list[dict[str, Any]]:
    return [{"start": s.start, "end": s.end, "text": s.text,
             "words": [{"word": w.word, "start": w.start, "end": w.end} for w in s.words]} for s in segments]


def render(fmt: str, text: str, segments: list[Segment], fields: dict[str, Any] | None = None) -> str:
    """One transcript in ``fmt``: txt (the text), json (``fields`` then text and segments), srt or vtt."""
    if fmt == "txt":
        return _one_line(text) + "\n"
    if fmt == "json":
        return json.dumps({**(fields or {}), "text": text, "segments": segments_json(segments)},
                          ensure_ascii=False, indent=2) + "\n"
    if fmt == "srt":
        return to_srt(segments)
    if fmt == "vtt":
        return to_vtt(segments)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}: got {fmt!r}")
