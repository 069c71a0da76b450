"""Magnitude pruning of one OpenVINO IR into a staged model directory, with the accuracy change measured by a
family's pipeline when one is given (:mod:`ovrecipes.recipes.sparse_prune` does the pruning)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ovrecipes.core import openvino as runtime
from ovrecipes.pipelines.base import FamilyPipeline
from ovrecipes.pipelines.model_dirs import copy_model_dir
from ovrecipes.recipes import sparse
from ovrecipes.recipes.ir import save
from ovrecipes.recipes.sparse_prune import PruneResult, prune_model
from ovrecipes.report.model import Report
from ovrecipes.report.plots import plot_zero_fractions
from ovrecipes.report.writer import write_report
from ovrecipes.runs import sparse_report as text
from ovrecipes.runs.outdir import staged_output
from ovrecipes.runs.sparse import HIST_NAME, SparseResult, checked_out, read_ir

log = logging.getLogger(__name__)

#: what an earlier run wrote beside the source IR: not copied into the pruned model directory
_REPORT_FILES = {"report.json", "report.md", "recipe.yaml"}
#: a family's pipeline, or a function of the source model directory that makes one (its tokenizer, config)
FamilySource = FamilyPipeline | Callable[[Path], FamilyPipeline]


@dataclass
class SparsePruneResult(SparseResult):
    """The pruned IR, per layer zeros before and after, and the accuracy change when a family measured it."""

    model: Path  # the pruned IR (.xml) in ``out``
    source: Path  # the IR it was pruned from
    target: float
    layers: list[PruneResult] = field(repr=False)
    report: Report = field(repr=False)
    out: Path

    @property
    def accuracy(self) -> dict[str, Any] | None:
        """``{"name", "before", "after", "drop", "samples", "unit"}``, or None without a family."""
        return self.data["accuracy"]

    def lines(self) -> list[str]:
        return text.prune_lines(self.data)


def run_prune(model: str | Path, target: float, out: str | Path, *, family: FamilySource | None = None,
              eval_samples: int = 500, overwrite: bool = False, inputs: Iterable[Path] = ()) -> SparsePruneResult:
    """In every prunable MatMul weight, zero the smallest values by magnitude until it reaches ``target``; write
    the pruned IR with the source's other model files (config, tokenizer) into ``out``.

    ``family`` evaluates the source and the pruned model on ``eval_samples`` test samples.
    """
    if not 0.0 < target < 1.0:
        raise ValueError(f"target must be a zero fraction in (0, 1): got {target}")
    if eval_samples <= 0:
        raise ValueError(f"eval_samples must be positive: got {eval_samples}")
    out = checked_out(out, overwrite, [model, *inputs])
    xml, ir = read_ir(model)
    src = xml.parent
    if out == src:
        raise ValueError(f"the output directory {out} is the input model directory; choose another one")
    pipeline = None
    if family is not None:
        pipeline = (family if isinstance(family, FamilyPipeline) else family(src)).resolve()
    results = prune_model(ir, target)
    pruned = [r for r in results if r.skipped is None]
    if not pruned:
        raise ValueError(f"{xml}: no prunable MatMul weight (2-D, both dims multiples of 64, symmetric i8 or float); "
                         "nothing written")
    timings: dict[str, float] = {}
    with staged_output(out, overwrite) as stage:
        skip = [xml.name, xml.with_suffix(".bin").name, *_REPORT_FILES] + [p.name for p in src.glob("*.png")]
        copy_model_dir(src, stage, skip=skip)
        save(ir, stage / xml.name)
        metrics = {}
        if pipeline is not None:
            for label, path in (("before", src), ("after", stage)):
                t0 = time.perf_counter()
                metrics[label] = metric = pipeline.evaluate(path, split="test", limit=eval_samples)
                timings[f"evaluate {label}"] = round(time.perf_counter() - t0, 1)
                log.info(f"  {label}: {metric.name} {metric.value:.2f}{metric.unit} on {metric.samples} test samples")
        layers = sparse.weight_stats(runtime.read_model(stage / xml.name))
        summary = sparse.summarize(layers)
        plot = plot_zero_fractions(layers, summary["auto_rate"], stage / HIST_NAME, f"after pruning to {target:g}")
        data = text.prune_data(xml, out / xml.name, target, pipeline.family if pipeline else None, results, summary,
                               metrics)
        if metrics:  # the accuracy change was measured at the plugin's default precision: say which
            data.update(runtime.compiled_precision(runtime.compile_model(stage / xml.name)))
        report = text.sparse_report("sparse-prune", f"Magnitude pruning to {target:g}", [text.prune_section(data, plot)],
                                    data, timings)
        write_report(stage, report)
    return SparsePruneResult(out / xml.name, xml, target, results, report, out)
