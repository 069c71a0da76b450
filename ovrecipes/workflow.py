"""Runs that tie a family pipeline to a recipe: export, compress, measure side by side, report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ovrecipes.compare import DEFAULT_ACCURACY_BUDGET, Variant, measure
from ovrecipes.outdir import staged_output
from ovrecipes.report import Timer, build_report, print_summary, write_report
from ovrecipes.pipelines.base import FamilyPipeline
from ovrecipes.recipes import ptq

FP32_SUBDIR = "fp32"


def _relocate(report: dict[str, Any], stage: Path, out: Path) -> None:
    """Paths measured inside the staging directory, rewritten to where the results now live."""
    for variant in report["variants"]:
        variant["path"] = variant["path"].replace(str(stage), str(out))


def run_ptq(
    pipeline: FamilyPipeline,
    config: ptq.PTQConfig,
    out: Path,
    *,
    overwrite: bool = False,
    compare_torch: bool = False,
    evaluate: bool = True,
    bench: bool = True,
    bench_args: dict | None = None,
    eval_limit: int | None = None,
    budget: float = DEFAULT_ACCURACY_BUDGET,
    title: str | None = None,
) -> dict[str, Any]:
    """Export FP32, quantize, compare (PyTorch FP32,) OV FP32 and OV INT8; write everything to ``out``.

    ``out`` receives the INT8 model in HF layout with recipe.yaml/report.json/report.md and a plot;
    the FP32 IR it was made from stays in ``out/fp32`` for later comparisons and benchmarks.
    """
    out = Path(out).resolve()
    timer = Timer()
    with staged_output(out, overwrite) as stage:
        with timer.stage("export FP32 OpenVINO IR"):
            fp32 = pipeline.export(stage / FP32_SUBDIR)
        with timer.stage("quantize (NNCF PTQ)"):
            recipe_report = ptq.quantize(pipeline, fp32, stage, config)
        variants = [Variant("PyTorch FP32", Path(pipeline.torch_source()))] if compare_torch else []
        extra = recipe_report.get("scope_variants") or {}  # one more INT8 model per compared scope mode
        variants += [Variant("OV FP32", fp32),
                     Variant(f"OV INT8 [{config.ignored_scope_mode}]" if extra else "OV INT8", stage)]
        variants += [Variant(f"OV INT8 [{mode}]", stage / v["dir"]) for mode, v in extra.items()]
        results = []
        if evaluate or bench:
            with timer.stage("evaluate and benchmark side by side"):
                results = measure(pipeline, variants, limit=eval_limit, evaluate=evaluate, bench=bench,
                                  bench_args=bench_args)
        report = build_report(
            title=title or f"{pipeline.family} PTQ",
            pipeline_info=pipeline.describe(),
            results=results,
            recipe=recipe_report,
            timer=timer,
            budget=budget,
        )
        _relocate(report, stage, out)
        resolved = ptq.resolved_config(config, recipe_report).model_dump(mode="json", by_alias=True)
        write_report(stage, report, results, config=resolved)
    print_summary(report)
    print(f"\nWrote {out} (INT8 model, fp32/, recipe.yaml, report.md, report.json, accuracy_vs_throughput.png)")
    return report


def run_compare(
    pipeline: FamilyPipeline,
    variants: list[Variant],
    out: Path | None,
    *,
    overwrite: bool = False,
    bench_args: dict | None = None,
    eval_limit: int | None = None,
    budget: float = DEFAULT_ACCURACY_BUDGET,
) -> dict[str, Any]:
    """Measure existing model directories side by side; write the report if ``out`` is given."""
    for v in variants:
        if not Path(v.path).exists():
            raise ValueError(f"model directory {v.path} does not exist")
    timer = Timer()
    with timer.stage("evaluate and benchmark side by side"):
        results = measure(pipeline, variants, limit=eval_limit, bench_args=bench_args)
    report = build_report(title=f"{pipeline.family} comparison", pipeline_info=pipeline.describe(),
                          results=results, recipe=None, timer=timer, budget=budget)
    if out is not None:
        with staged_output(Path(out), overwrite) as stage:
            write_report(stage, report, results)
    print_summary(report)
    return report
