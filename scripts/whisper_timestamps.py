#!/usr/bin/env python
"""Subtitles off long files: the embedded test sentences joined end to end into files past 30 s, transcribed
with segment timestamps by each model directory, engine and precision, as ``ovrecipes whisper transcribe``
does. Says what a WER on single clips cannot: whether a model still predicts timestamps (cues per
sentence, joins of two sentences that a cue boundary lands near) and keeps the words at a 30 s window edge.

    python scripts/whisper_timestamps.py W/fp32 W W/weight-only                      # a whisper ptq output
    python scripts/whisper_timestamps.py W/fp32 W --engines genai,optimum --precisions default,f32
    python scripts/whisper_timestamps.py W/fp32 W --model embedded:whisper-base --per-file 15

Files: the test split in order, ``--per-file`` clips each (default 15: 45-50 s, two windows). Columns:
cues per sentence; joins hit = share of sentence joins with a cue boundary within ``--tolerance`` s
(default 0.5); WER of each file's text against its sentences joined; cue boundaries are those the
command writes (clamped to the file, monotonic). Writes timestamps.md beside the first directory
unless --out is given.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import numpy as np


def long_files(pipeline: Any, per_file: int) -> list[dict[str, Any]]:
    """The test clips in order, ``per_file`` to a file: audio, reference text and the join times."""
    from ovrecipes.pipelines.speech_data import SAMPLE_RATE, load_audio

    examples = pipeline.examples("test")
    files = []
    for start in range(0, len(examples) - per_file + 1, per_file):
        group = examples[start:start + per_file]
        clips = [load_audio(e.audio) for e in group]
        ends = np.cumsum([len(c) / SAMPLE_RATE for c in clips])
        files.append({"audio": np.concatenate(clips), "text": " ".join(e.text for e in group),
                      "joins": ends[:-1].tolist(), "sentences": len(group), "duration": float(ends[-1])})
    if not files:
        raise ValueError(f"--per-file {per_file} is more than the {len(examples)} test clips")
    return files


def score(segments: list[Any], file: dict[str, Any], tolerance: float) -> dict[str, float]:
    """Cues per sentence and the share of sentence joins with a cue boundary within ``tolerance`` s."""
    boundaries = [s.end for s in segments[:-1]]
    hits = sum(any(abs(b - j) <= tolerance for b in boundaries) for j in file["joins"])
    return {"cues_per_sentence": len(segments) / file["sentences"], "joins_hit": hits / len(file["joins"])}


def run(pipeline: Any, model_dir: Path, engine: str, precision: str | None, files: list[dict[str, Any]],
        tolerance: float) -> dict[str, Any]:
    from ovrecipes.pipelines.speech_metrics import word_error_rate
    from ovrecipes.pipelines.subtitles import tidy
    from ovrecipes.pipelines.whisper_transcribe import load_timed

    timed = load_timed(model_dir, engine, precision=precision, threads=pipeline.threads,
                       max_new_tokens=pipeline.max_new_tokens, language=pipeline.language)
    texts, scores = [], []
    for file in files:
        text, segments = timed.run(file["audio"])
        scores.append(score(tidy(segments, file["duration"]), file, tolerance))
        texts.append(text)
    return {"model": str(model_dir), "engine": timed.engine, "precision": precision or "default",
            "cues_per_sentence": statistics.mean(s["cues_per_sentence"] for s in scores),
            "joins_hit": statistics.mean(s["joins_hit"] for s in scores),
            "WER": word_error_rate([f["text"] for f in files], texts, pipeline.normalise)}


def markdown(rows: list[dict[str, Any]], files: list[dict[str, Any]], tolerance: float) -> str:
    lines = [f"{len(files)} files of {files[0]['sentences']} test sentences joined "
             f"({min(f['duration'] for f in files):.1f}-{max(f['duration'] for f in files):.1f} s); a join is hit "
             f"when a cue boundary lies within {tolerance:g} s of it.", "",
             "| model | engine | precision | cues per sentence | joins hit | WER |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['engine']} | {r['precision']} | {r['cues_per_sentence']:.2f} | "
              f"{100 * r['joins_hit']:.0f}% | {r['WER']:.2f} |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dirs", nargs="+", type=Path, help="OpenVINO Whisper directories (whisper ptq outputs)")
    parser.add_argument("--model", default="embedded", help="the pipeline whose test sentences are joined")
    parser.add_argument("--engines", default="genai", help="comma-separated: genai, optimum, pytorch")
    parser.add_argument("--precisions", default="default", help="comma-separated: default, f32, bf16")
    parser.add_argument("--per-file", type=int, default=15)
    parser.add_argument("--tolerance", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="the markdown table (default: timestamps.md "
                                                                "beside the first model directory)")
    args = parser.parse_args(argv)
    if args.per_file < 2:
        parser.error(f"--per-file must be at least 2 (a file needs a join): got {args.per_file}")

    from ovrecipes.cli.quiet import quiet_third_party
    from ovrecipes.pipelines.whisper import WhisperPipeline

    quiet_third_party()
    pipeline = WhisperPipeline(args.model, threads=args.threads, progress=False)
    files = long_files(pipeline, args.per_file)
    rows = []
    for model_dir in args.model_dirs:
        for engine in args.engines.split(","):
            for precision in args.precisions.split(","):
                rows.append(run(pipeline, model_dir, engine, None if precision == "default" else precision, files,
                                args.tolerance))
                print(markdown(rows[-1:], files, args.tolerance).splitlines()[-1], flush=True)
    table = markdown(rows, files, args.tolerance)
    out = args.out or args.model_dirs[0].resolve().parent / "timestamps.md"
    out.write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
