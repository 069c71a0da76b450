#!/usr/bin/env python
"""Whisper side by side: OpenVINO FP32 / INT8 / weight-only INT8 through openvino-genai and optimum,
and faster-whisper int8/float32, on the same test clips in interleaved rounds.

    python scripts/bench_whisper_engines.py --work runs/whisper-engines            # embedded tiny.en
    python scripts/bench_whisper_engines.py --work runs/base --model embedded:whisper-base
    python scripts/bench_whisper_engines.py --work runs/whisper-engines --rounds 5 --limit 20
    /usr/bin/time -v python scripts/bench_whisper_engines.py --work runs/fresh --build-only   # PTQ peak RSS
    /usr/bin/time -v python scripts/bench_whisper_engines.py --work runs/stateless --build-only --stateless

The FP32 export, the INT8 model (recipes/configs/whisper-ptq.yaml with its settings for the model's size)
and the weight-only model (whisper-wc.yaml) are built once into --work and reused; faster-whisper runs the
CTranslate2 files the embedded model was converted from. Each round runs every variant once over
the same clips (A, B, C, ..., A, B, C, ...), so machine load hits all of them alike; the table gives
the WER (identical in every round: decoding is deterministic) and the median of the rounds'
transcription seconds. Then each engine runs once more alone in a fresh process, for the memory it
adds while it loads and transcribes (--no-memory skips it). Writes engines.json and engines.md into --work.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable

# Every round runs each variant over the whole test set (A, B, C, A, B, C, ...), so a burst of load
# from other jobs hits all variants alike; the WER does not depend on load (decoding is deterministic),
# so it comes from the first round and is checked to be the same in every round.
STAGES = ("features_s", "encoder_s", "decoder_s", "generate_s")


def interleaved(pipeline: Any, loaders: dict[str, Callable[[], Any]], rounds: int = 3,
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
            metric = pipeline.score(transcriber, split, limit, name=label, conditions=number == 1)
            rows[label]["rounds"].append({"extra": metric.extra, "load1": load})
            rows[label]["info"] = metric.info
            log(f"round {number} {label}: WER {metric.extra['WER']:.2f}  {metric.extra['transcribe_s']:.2f} s  "
                f"load {load:.2f}")
    return [_summary(row) for row in rows.values()]


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    first = row["rounds"][0]["extra"]

    def median(key: str) -> float:
        return statistics.median(r["extra"][key] for r in row["rounds"])

    # per-voice and held-out condition WERs come with the first round only (conditions=number == 1)
    row.update(subsets={k[4:]: v for k, v in first.items() if k.startswith("WER ")})
    row.update(WER=first["WER"], real_WER=first.get("real_WER"), audio_s=first["audio_s"],
               WER_same_every_round=all(r["extra"]["WER"] == first["WER"] for r in row["rounds"]),
               transcribe_s_median=median("transcribe_s"), RTF_median=median("RTF"),
               transcribe_s_min=min(r["extra"]["transcribe_s"] for r in row["rounds"]),
               transcribe_s_max=max(r["extra"]["transcribe_s"] for r in row["rounds"]))
    for stage in STAGES:
        if stage in first:
            row[f"{stage}_median"] = median(stage)
    return row



def _variants(pipeline, work: Path, peers: bool, stateless_int8: Path | None) -> list[tuple[str, Callable[[], Any]]]:
    """(label, loader of a Transcriber) in the order every round runs them."""
    from ovrecipes.pipelines.whisper_peers import FasterWhisperTranscriber, ct2_dir_for, faster_whisper_available

    load = pipeline.transcriber
    found = [
        ("OV FP32, f32 pinned (genai)", lambda: load(work / "fp32", "genai", "f32")),
        ("OV FP32, plugin default (genai)", lambda: load(work / "fp32", "genai", None)),
        ("OV INT8 (genai)", lambda: load(work / "int8", "genai", None)),
        ("OV INT8, f32 pinned (genai)", lambda: load(work / "int8", "genai", "f32")),
        ("OV weight-only INT8 (genai)", lambda: load(work / "wc", "genai", None)),
        ("OV INT8 (optimum generate)", lambda: load(work / "int8", "optimum", None)),
        ("OV FP32, plugin default (optimum generate)", lambda: load(work / "fp32", "optimum", None)),
    ]
    if stateless_int8 is not None:
        found.append(("OV INT8 stateless recipe (optimum generate)", lambda: load(stateless_int8, "optimum", None)))
    if peers and faster_whisper_available():
        threads = pipeline.threads or 2
        for compute_type in ("int8", "float32"):
            found.append((f"faster-whisper {compute_type}",
                          lambda c=compute_type: FasterWhisperTranscriber(
                              ct2_dir_for(pipeline.source), c, threads=threads, max_new_tokens=pipeline.max_new_tokens,
                              language=pipeline.language)))
    return found


def engine_memory(model: str, work: str, label: str, threads: int, limit: int | None,
                  stateless_int8: str | None) -> dict[str, float]:
    """Run in a fresh process (``in_fresh_process``): the clips are decoded first, then one engine is loaded
    and transcribes every clip once; what that adds to the process at its peak is the engine's memory."""
    from ovrecipes.core.memory import rss_growth
    from ovrecipes.pipelines.speech_data import load_audio
    from ovrecipes.pipelines.whisper import WhisperPipeline

    pipeline = WhisperPipeline(model, threads=threads, progress=False)
    audio = [load_audio(e.audio) for e in pipeline.examples("test", limit)]
    loaders = dict(_variants(pipeline, Path(work), True, Path(stateless_int8) if stateless_int8 else None))
    with rss_growth() as growth:
        transcriber = loaders[label]()
        for clip in audio:
            transcriber.transcribe(clip)
    return {"engine_MB": round(growth.grown_mb, 1), "process_peak_MB": round(growth.peak_mb, 1),
            "peak_exact": growth.exact}


def build(pipeline, work: Path) -> dict[str, Any]:
    """FP32 export, INT8 PTQ and weight-only INT8 into ``work`` (skipped when present)."""
    from ovrecipes.recipes import ptq, weight_compression
    from ovrecipes.runs.config import load_config

    built: dict[str, Any] = {}
    if not (work / "fp32" / "openvino_encoder_model.xml").exists():
        pipeline.export(work / "fp32")
    if not (work / "int8" / "openvino_encoder_model.xml").exists():
        started = time.perf_counter()
        built["ptq"] = ptq.quantize(pipeline, work / "fp32", work / "int8",
                                    load_config(ptq.PTQConfig, "whisper", "ptq", None, {},
                                                model_key=pipeline.settings_key())[0]).model_dump(mode="json")
        built["ptq_seconds"] = round(time.perf_counter() - started, 1)
    if not (work / "wc" / "openvino_encoder_model.xml").exists():
        built["wc"] = weight_compression.compress(
            pipeline, work / "fp32", work / "wc",
            load_config(weight_compression.WeightCompressionConfig, "whisper", "wc", None, {})[0]).model_dump(mode="json")
    return built


def machine() -> dict[str, Any]:
    import openvino

    from ovrecipes.core.cpu import host_cpu

    cpu = host_cpu()
    versions = {}
    for name in ("openvino", "openvino_genai", "nncf", "optimum.intel", "transformers", "ctranslate2", "faster_whisper"):
        try:
            module = __import__(name, fromlist=["__version__"])
            versions[name] = getattr(module, "__version__", "?")
        except ImportError:
            continue
    versions["openvino"] = openvino.get_version()
    return {"cpu": cpu.brand, "flags": sorted(cpu.flags), "cores": os.cpu_count(), "python": platform.python_version(),
            "versions": versions}


def markdown(rows: list[dict], meta: dict[str, Any]) -> str:
    ref = next(r for r in rows if r["label"].startswith("OV FP32, f32"))
    lines = [f"Whisper engines on {meta['clips']} test clips ({rows[0]['audio_s']:.1f} s of audio), "
             f"{meta['rounds']} interleaved rounds, medians; CPU {meta['machine']['cpu']} "
             f"({meta['machine']['cores']} cores), load average {meta['load_before'][0]:.2f} before, "
             f"{meta['load_after'][0]:.2f} after.", "",
             "| variant | precision | WER | vs FP32 f32 | real_WER | transcription s | min-max s | RTF | encoder s "
             "| decoder s | engine MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        stage = lambda k: f"{r[k]:.2f}" if k in r else "-"  # noqa: E731
        memory = f"{r['memory']['engine_MB']:.0f}" if r.get("memory") else "-"
        lines.append(f"| {r['label']} | {r['info'].get('inference_precision', '?')} | {r['WER']:.2f} | "
                     f"{r['WER'] - ref['WER']:+.2f} | {r['real_WER']:.2f} | {r['transcribe_s_median']:.2f} | "
                     f"{r['transcribe_s_min']:.2f}-{r['transcribe_s_max']:.2f} | {r['RTF_median']:.3f} | "
                     f"{stage('encoder_s_median')} | {stage('decoder_s_median')} | "
                     f"{memory} |")
    if any(r.get("memory") for r in rows):
        lines += ["", "engine MB: what loading the engine and transcribing every clip once adds to a fresh process's "
                  "peak resident memory (the clips decoded before it starts; one process per engine)."]
    subsets = list(dict.fromkeys(k for r in rows for k in r.get("subsets", {})))
    if subsets:  # WER per voice of the test split and per held-out condition, change from FP32 f32 in brackets
        lines += ["", "| variant | " + " | ".join(f"WER {k}" for k in subsets) + " |",
                  "|---|" + "---|" * len(subsets)]
        for r in rows:
            cells = [f"{r['subsets'][k]:.2f} ({r['subsets'][k] - ref['subsets'][k]:+.2f})"
                     if k in r["subsets"] and k in ref["subsets"] else "-" for k in subsets]
            lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    by_label = {r["label"]: r for r in rows}
    ratios = [(a, b) for a, b in (("OV INT8 (genai)", "faster-whisper int8"), ("OV INT8 (genai)", "OV INT8 (optimum generate)"),
                                  ("OV INT8 (genai)", "OV FP32, f32 pinned (genai)")) if a in by_label and b in by_label]
    if ratios:
        lines.append("")
    for a, b in ratios:
        lines.append(f"- {a} / {b} transcription time: {round_ratio(by_label[a], by_label[b]):.2f}x "
                     "(median of the per-round ratios)")
    return "\n".join(lines) + "\n"


def round_ratio(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Median over rounds of a's transcription seconds over b's, measured in the same round."""
    return statistics.median(x["extra"]["transcribe_s"] / y["extra"]["transcribe_s"]
                             for x, y in zip(a["rounds"], b["rounds"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="where the models and results go (reused)")
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="test clips (default: all)")
    parser.add_argument("--no-peers", action="store_true", help="skip faster-whisper")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the memory pass (each engine once more, alone in a fresh process)")
    parser.add_argument("--build-only", action="store_true",
                        help="export, quantize and compress, then stop (run it under /usr/bin/time -v for the PTQ peak RSS)")
    parser.add_argument("--stateless", action="store_true",
                        help="build the stateless export (encoder + decoder_with_past) instead; with --build-only")
    parser.add_argument("--stateless-int8", type=Path, default=None,
                        help="also time a stateless INT8 directory (the old recipe) through optimum")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1: got {args.rounds}")

    from ovrecipes.cli.quiet import quiet_third_party
    from ovrecipes.core.memory import in_fresh_process, peak_rss_mb
    from ovrecipes.pipelines.whisper import WhisperPipeline

    if not os.environ.get("OVRECIPES_DEBUG"):  # the same known-harmless warnings the CLI hides
        quiet_third_party()

    if args.stateless and not args.build_only:
        parser.error("--stateless builds a directory genai cannot load; use it with --build-only")
    pipeline = WhisperPipeline(args.model, threads=args.threads, stateful=not args.stateless)
    args.work.mkdir(parents=True, exist_ok=True)
    built = build(pipeline, args.work)
    if args.build_only:
        (args.work / "built.json").write_text(json.dumps({**built, "calibration": pipeline.calibration_stats,
                                                          "peak_rss_MB": peak_rss_mb()}, indent=2, default=str))
        print(f"built {args.work}: peak RSS {peak_rss_mb():.0f} MB")
        return 0
    load_before = os.getloadavg()
    rows = interleaved(pipeline, dict(_variants(pipeline, args.work, not args.no_peers, args.stateless_int8)),
                       args.rounds, limit=args.limit, log=lambda line: print(line, flush=True))
    if not args.no_memory:  # after the timed rounds, so the children do not share the CPU with them
        for row in rows:
            row["memory"] = in_fresh_process(engine_memory, args.model, str(args.work), row["label"], args.threads,
                                             args.limit, str(args.stateless_int8) if args.stateless_int8 else None)
            print(f"memory {row['label']}: {row['memory']['engine_MB']:.0f} MB", flush=True)
    meta = {"model": args.model, "rounds": args.rounds, "threads": args.threads, "clips": len(pipeline.examples("test", args.limit)),
            "load_before": load_before, "load_after": os.getloadavg(), "machine": machine(), "built": built}
    (args.work / "engines.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2, default=str))
    table = markdown(rows, meta)
    (args.work / "engines.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
