"""A family's own commands next to its recipes (``cgd index``/``cgd query``, ``whisper transcribe``), and its
declared options (:class:`~ovrecipes.pipelines.base.FamilyOption`) turned into flags."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Callable

from ovrecipes.cli.argtypes import argtype, positive_int
from ovrecipes.core.openvino import PRECISIONS
from ovrecipes.core.paths import require_dir
from ovrecipes.core.staging import check_output_file
from ovrecipes.pipelines import cgd, cgd_retrieval, whisper_engines, whisper_transcribe
from ovrecipes.pipelines.base import FamilySpec
from ovrecipes.pipelines.subtitles import FORMATS


def add_family_options(parser: argparse.ArgumentParser, spec: FamilySpec) -> None:
    """One flag per option the family declares, in its groups (``model and data (<family>)`` first)."""
    groups: dict[str | None, argparse._ArgumentGroup] = {}
    for option in spec.options:
        if option.group not in groups:
            groups[option.group] = parser.add_argument_group(option.group or f"model and data ({spec.name})")
        kwargs: dict = {"help": option.help}
        if option.switch:
            kwargs["action"] = "store_true"
        else:
            kwargs.update(default=option.default, choices=option.choices, metavar=option.metavar)
            if option.parse is not None:
                kwargs["type"] = argtype(option.parse)
            if option.required:
                kwargs["required"] = True
        groups[option.group].add_argument(option.flag, **kwargs)


def _model_dir(text: str) -> Path:
    if text == "embedded":
        return cgd.embedded_model_dir()
    return require_dir(text, "model directory").resolve()


def cmd_index(args: argparse.Namespace) -> None:
    meta = cgd_retrieval.build_index(_model_dir(args.model), args.images, args.out, args.limit, args.overwrite)
    print(f"Indexed {meta['count']} images ({meta['embedding_dim']}-d, {len(meta['classes'])} classes) "
          f"with {meta['model']} into {args.out}")


def cmd_query(args: argparse.Namespace) -> None:
    if args.grid is not None and args.grid.suffix.lower() != ".png":
        raise ValueError(f"--grid {args.grid} must name a .png file")
    check_output_file(args.grid, "--grid")
    hits, _ = cgd_retrieval.search(args.db, args.image, args.k, _model_dir(args.model) if args.model else None)
    print(f"{'rank':>4}  {'distance':>8}  {'label':<10}  path")
    for h in hits:
        print(f"{h['rank']:>4}  {h['distance']:8.4f}  {h['label']:<10}  {h['path']}")
    grid = args.grid or Path(args.db) / "queries" / f"{args.image.stem}-top{args.k}.png"
    print(f"grid: {cgd_retrieval.save_grid(args.image, hits, grid)}")


def add_cgd_commands(recipes) -> None:
    """`cgd index` and `cgd query` next to `cgd ptq`."""
    p = recipes.add_parser("index", help="embed a folder of images (or the embedded test split) into a database")
    p.add_argument("--model", required=True, help="CGD directory (OpenVINO FP32/INT8 or PyTorch), or 'embedded'")
    p.add_argument("--images", required=True,
                   help="a folder (label = parent folder name) or 'embedded'/'mnist'/'digits' (their test split, "
                        "written as PNGs into the database)")
    p.add_argument("--out", type=Path, required=True, help="database directory")
    p.add_argument("--limit", type=positive_int, default=None, help="index at most this many images")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(handler=cmd_index)
    q = recipes.add_parser("query", help="nearest database images to one image, printed and as a PNG grid")
    q.add_argument("--db", type=Path, required=True, help="database directory from 'ovrecipes cgd index'")
    q.add_argument("--image", type=Path, required=True, help="query image file")
    q.add_argument("-k", type=positive_int, default=8, help="results (default 8)")
    q.add_argument("--model", default=None, help="model to embed the query (default: the one that built the database)")
    q.add_argument("--grid", type=Path, default=None, help="PNG grid path (default: DB/queries/<image>-top<k>.png)")
    q.set_defaults(handler=cmd_query)


def cmd_transcribe(args: argparse.Namespace) -> None:
    """Transcripts of audio files (files, directories, patterns) as txt/json/srt/vtt, into --out or to stdout."""
    language = whisper_transcribe.check_request(args.model_dir, args.language, args.task)
    paths = whisper_transcribe.expand_inputs(args.audio)
    targets = whisper_transcribe.output_paths(paths, args.out, args.format, args.overwrite)
    options = dict(engine=None if args.engine == "auto" else args.engine,
                   precision=None if args.inference_precision == "default" else args.inference_precision,
                   threads=args.threads, max_new_tokens=args.max_new_tokens, language=language, task=args.task,
                   words=args.format == "json")
    if targets is None:  # the transcript is standard output: the library's log lines go to stderr meanwhile
        with contextlib.redirect_stdout(sys.stderr):
            [result] = whisper_transcribe.transcribe_files(args.model_dir, paths, **options)
        sys.stdout.write(result.render(args.format))
        return
    done = []
    results = whisper_transcribe.transcribe_files(args.model_dir, paths, progress=not getattr(args, "quiet", False),
                                                  **options)
    for result, target in zip(results, targets):  # the results first, so that their progress bar ends at N/N
        whisper_transcribe.write_output(target, result.render(args.format), args.overwrite)  # each as it is done
        done.append(result)
    print(f"Wrote {len(done)} {args.format} file{'s' * (len(done) != 1)} into {args.out} ({done[-1].timestamps} "
          f"timestamps, engine {done[-1].engine}; {sum(r.duration_s for r in done):.1f} s of audio transcribed in "
          f"{sum(r.seconds for r in done):.1f} s)")


def add_whisper_commands(recipes) -> None:
    """``whisper transcribe MODEL_DIR AUDIO...`` next to ``whisper ptq``."""
    t = recipes.add_parser(
        "transcribe", help="transcribe audio files of any length with timestamps: txt, json, srt or vtt",
        description="Transcribe audio files, directories of them or glob patterns with a Whisper model directory "
                    "(genai by default). Clips longer than 30 s are transcribed in 30 s windows; segment "
                    "timestamps always, word timestamps in json where the engine gives them.")
    t.add_argument("model_dir", type=Path, help="OpenVINO (from 'whisper ptq') or PyTorch Whisper directory")
    t.add_argument("audio", nargs="+",
                   help="audio files (any format librosa reads; resampled to 16 kHz), directories (their audio "
                        f"files: {', '.join(whisper_transcribe.AUDIO_SUFFIXES)}, sorted) or quoted glob patterns")
    t.add_argument("--format", choices=FORMATS, default="txt",
                   help="txt (the text), json (text, segments and words with times), srt or vtt subtitles "
                        "(default txt)")
    t.add_argument("--out", type=Path, default=None,
                   help="directory for one <audio stem>.<format> file per input (default: standard output, "
                        "for one input)")
    t.add_argument("--overwrite", action="store_true", help="replace transcripts that already exist in --out")
    t.add_argument("--engine", choices=("auto", *whisper_engines.ENGINES), default="auto")
    t.add_argument("--inference-precision", choices=PRECISIONS, default="default")
    t.add_argument("--threads", type=positive_int, default=None, help="CPU threads (default: all cores)")
    t.add_argument("--max-new-tokens", type=positive_int, default=96, help="tokens per 30 s window (default 96)")
    t.add_argument("--language", default="en", help="a code or a name: en, de, german ... (default en)")
    t.add_argument("--task", choices=whisper_transcribe.TASKS, default="transcribe",
                   help="transcribe, or translate into English (multilingual models only)")
    t.set_defaults(handler=cmd_transcribe)


#: family name -> what adds its own commands beside its recipes
FAMILY_COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "cgd": add_cgd_commands, "whisper": add_whisper_commands}
