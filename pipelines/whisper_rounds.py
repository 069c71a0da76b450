"""Timing several Whisper engines fairly on a shared machine: interleaved rounds, medians.

Every round runs each variant once over the same clips (A, B, C, A, B, C, ...), so a burst of
load from other jobs hits all variants alike instead of whichever happened to run then. WER does
not depend on load (decoding is deterministic), so it comes from the first round and is checked
to be the same in every round.
"""

from __future__ import annotations

import os
import statistics
from typing import Any, Callable

from ovrecipes.pipelines.whisper_engines import Transcriber

STAGES = ("features_s", "encoder_s", "decoder_s", "generate_s")


def interleaved(pipeline: Any, loaders: dict[str, Callable[[], Transcriber]], rounds: int = 3,
                split: str = "test", limit: int | None = None, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """One row per variant: WER, real_WER, medians of transcription seconds, RTF and stage seconds.

    ``loaders`` maps a label to a function that loads its engine (all are loaded before round 1).
    Each row keeps its rounds with the 1-minute load average when the round started.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1: got {rounds}")
    loaded = {label: load() for label, load in loaders.items()}
    rows: dict[str, dict[str, Any]] = {label: {"label": label, "rounds": []} for label in loaded}
    for number in range(1, rounds + 1):
        for label, transcriber in loaded.items():
            load = os.getloadavg()[0]
            metric = pipeline.score(transcriber, split, limit, name=label)
            rows[label]["rounds"].append({"extra": metric.extra, "load1": load})
            rows[label]["info"] = metric.info
            log(f"round {number} {label}: WER {metric.extra['WER']:.2f}  {metric.extra['transcribe_s']:.2f} s  "
                f"load {load:.2f}")
    return [_summary(row) for row in rows.values()]


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    first = row["rounds"][0]["extra"]

    def median(key: str) -> float:
        return statistics.median(r["extra"][key] for r in row["rounds"])

    row.update(WER=first["WER"], real_WER=first.get("real_WER"), audio_s=first["audio_s"],
               WER_same_every_round=all(r["extra"]["WER"] == first["WER"] for r in row["rounds"]),
               transcribe_s_median=median("transcribe_s"), RTF_median=median("RTF"))
    for stage in STAGES:
        if stage in first:
            row[f"{stage}_median"] = median(stage)
    return row
