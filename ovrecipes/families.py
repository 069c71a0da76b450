"""The families the command line knows: how to read their options and build their pipeline.

This is the one place that names families; recipes and the workflow only see FamilyPipeline.
"""

from __future__ import annotations

import argparse
from typing import Callable

from ovrecipes.pipelines.base import FamilyPipeline


def _add_bert_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model and data (bert)")
    g.add_argument("--model", default="embedded",
                   help="'embedded' (MiniLM-L6 sentiment, offline), a local HF directory, or a hub id")
    g.add_argument("--dataset", default="embedded",
                   help="'embedded' (Rotten Tomatoes snippets), a .csv/.tsv/.json/.jsonl file, or a datasets name")
    g.add_argument("--dataset-config", default=None, help="datasets config name (e.g. sst2 for glue)")
    g.add_argument("--split", default=None, help="datasets evaluation split (default: validation)")
    g.add_argument("--text-column", default="text")
    g.add_argument("--label-column", default="label")
    g.add_argument("--max-length", type=int, default=64, help="tokens per sentence, padded (default 64)")


def _make_bert(args: argparse.Namespace) -> FamilyPipeline:
    from ovrecipes.pipelines.bert import BertPipeline
    from ovrecipes.pipelines.text_data import TextDataSpec

    data = TextDataSpec(source=args.dataset, config=args.dataset_config, split=args.split,
                        text_column=args.text_column, label_column=args.label_column)
    if args.max_length <= 0:
        raise ValueError(f"--max-length must be a positive number of tokens: got {args.max_length}")
    return BertPipeline(args.model, data, max_length=args.max_length)


def _add_cgd_args(parser: argparse.ArgumentParser) -> None:
    from ovrecipes.cgd_commands import add_cgd_args

    add_cgd_args(parser)


def _make_cgd(args: argparse.Namespace) -> FamilyPipeline:
    from ovrecipes.cgd_commands import make_cgd

    return make_cgd(args)


def _cgd_commands(recipes) -> None:
    from ovrecipes.cgd_commands import add_commands

    add_commands(recipes)


def _add_whisper_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model and data (whisper)")
    g.add_argument("--model", default="embedded",
                   help="'embedded' (tiny.en, offline), 'embedded:whisper-base', a local HF directory, or a hub id")
    g.add_argument("--dataset", default="embedded",
                   help="'embedded' (synthesised sentences + alsa clips), a transcript manifest (.csv/.jsonl with "
                        "audio,text), or a datasets audio dataset name")
    g.add_argument("--dataset-config", default=None)
    g.add_argument("--split", default=None, help="datasets split (default: test)")
    g.add_argument("--audio-column", default="audio")
    g.add_argument("--text-column", default="text")
    g.add_argument("--stateful", action="store_true", help="export one stateful decoder instead of "
                   "decoder + decoder_with_past")
    g.add_argument("--quantize-decoder", action="store_true",
                   help="also quantize the first-step decoder (stateless export; FP32 by default)")
    g.add_argument("--max-new-tokens", type=int, default=96, help="generate() limit per utterance (default 96)")
    g.add_argument("--language", default="en", help="spoken language for multilingual checkpoints (default en)")


def _make_whisper(args: argparse.Namespace) -> FamilyPipeline:
    from ovrecipes.pipelines.speech_data import SpeechDataSpec
    from ovrecipes.pipelines.whisper import WhisperPipeline

    if args.max_new_tokens <= 0:
        raise ValueError(f"--max-new-tokens must be positive: got {args.max_new_tokens}")
    data = SpeechDataSpec(source=args.dataset, config=args.dataset_config, split=args.split,
                          audio_column=args.audio_column, text_column=args.text_column)
    return WhisperPipeline(args.model, data, stateful=args.stateful, quantize_decoder=args.quantize_decoder,
                           max_new_tokens=args.max_new_tokens, language=args.language)


def _bert_commands(recipes) -> None:
    from ovrecipes.jpqd_commands import add_commands

    add_commands(recipes, "bert")


#: family -> (add its options to a parser, build its pipeline from parsed options)
FAMILIES: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], FamilyPipeline]]] = {
    "bert": (_add_bert_args, _make_bert),
    "cgd": (_add_cgd_args, _make_cgd),
    "whisper": (_add_whisper_args, _make_whisper),
}

#: family -> functions adding family-specific subcommands (each sets a ``handler`` default) next to its recipes
FAMILY_COMMANDS: dict[str, list[Callable]] = {
    "bert": [_bert_commands],
    "cgd": [_cgd_commands],
}
