"""The families the command line knows: how to read their options and build their pipeline.

This is the one place that names families; recipes and the workflow only see FamilyPipeline.
"""

from __future__ import annotations

import argparse
from typing import Callable

from pipelines.base import FamilyPipeline


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
    from pipelines.bert import BertPipeline
    from pipelines.text_data import TextDataSpec

    data = TextDataSpec(source=args.dataset, config=args.dataset_config, split=args.split,
                        text_column=args.text_column, label_column=args.label_column)
    if args.max_length <= 0:
        raise ValueError(f"--max-length must be a positive number of tokens: got {args.max_length}")
    return BertPipeline(args.model, data, max_length=args.max_length)


#: family -> (add its options to a parser, build its pipeline from parsed options)
FAMILIES: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], FamilyPipeline]]] = {
    "bert": (_add_bert_args, _make_bert),
}
