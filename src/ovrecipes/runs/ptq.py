"""The PTQ run: export FP32, quantize with the PTQ recipe, measure FP32/BF16/INT8 side by side.

The output directory holds the INT8 model in HF layout (what optimum-intel loads), ``fp32/`` (the IR
it was made from, kept for later comparisons), recipe.yaml, report.json/md and the plot.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ovrecipes.measure.variants import Variant
from ovrecipes.pipelines.base import FamilyPipeline
from ovrecipes.recipes import ptq, weight_compression
from ovrecipes.recipes.weight_compression import WeightCompressionConfig, WeightCompressionResult
from ovrecipes.report.model import Report, Section, Table
from ovrecipes.report.writer import Timer
from ovrecipes.runs.common import PEERS_SUBDIR, MeasureOptions, RecipeOutcome, peer_variants, recipe_run

log = logging.getLogger(__name__)

FP32_SUBDIR = "fp32"
WEIGHT_ONLY_SUBDIR = "weight-only"


def int8_label(mode: str | None) -> str:
    return f"OV INT8 [{mode}]" if mode else "OV INT8"


def recipe_sections(result: ptq.PTQResult, main_mode: str) -> list[Section]:
    """What PTQ did per submodel, the alpha search, and the ops each INT8 variant kept in FP32."""
    lines = [f"**overflow_fix = {result.overflow_fix.value}** (requested: {result.overflow_fix.requested}). "
             f"{result.overflow_fix.reason}"]
    for name, sub in result.submodels.items():
        sq = sub.smooth_quant
        lines.append(
            f"submodel `{name}` ({sub.file}): {sub.fake_quantize} FakeQuantize nodes; quantized ops "
            f"{', '.join(f'{t} {n}' for t, n in sorted(sub.quantized_ops.items()))}; SmoothQuant alpha "
            f"matmul={sq.matmul} convolution={sq.convolution}; {len(sub.ignored_nodes)} ignored nodes; "
            f"statistics on {sub.statistics_samples if sub.statistics_samples is not None else '?'} samples; "
            f"{sub.seconds} s")
        if sub.ignored_nodes:
            shown = ", ".join(f"`{n}`" for n in sub.ignored_nodes[:20])
            more = f" and {len(sub.ignored_nodes) - 20} more" if len(sub.ignored_nodes) > 20 else ""
            lines.append(f"  - ignored: {shown}{more}")
        if sub.reverted_by_accuracy_control is not None:
            reverted = sub.reverted_by_accuracy_control
            lines.append(f"  - accuracy control reverted {len(reverted)} ops to FP32: "
                         + (", ".join(f"`{r.name}` ({r.type})" for r in reverted) or "none"))
    sections = [Section(title="Recipe", lines=lines)]
    if result.alpha_search:
        rows = [[p.submodel, p.op, str(p.alpha), f"{p.metric:.2f}", str(p.samples)] for p in result.alpha_search]
        sections.append(Section(title="SmoothQuant alpha search (validation split)",
                                tables=[Table(header=["submodel", "op", "alpha", "metric", "samples"], rows=rows)]))
    modes = {main_mode: result.submodels, **{m: v.submodels for m, v in result.scope_variants.items()}}
    if len(modes) > 1 or any(s.scope_mode.nodes for subs in modes.values() for s in subs.values()):
        scope_lines = []
        for mode, subs in modes.items():
            nodes = [n for s in subs.values() for n in s.scope_mode.nodes]
            shown = ", ".join(f"`{n}`" for n in nodes[:30]) or "none"
            scope_lines.append(f"`{mode}`: {len(nodes)} ops kept in FP32 by the scope mode: {shown}")
            for s in subs.values():
                search = s.scope_mode.search
                if search:
                    scope_lines.append(
                        f"  - auto search on {search['samples']} validation samples: FP32 {search['fp32']:.2f}, all "
                        f"quantized {search['all_quantized']:.2f}, with the chosen ops {search['metric_with_chosen']:.2f} "
                        f"(budget {search['max_drop']} points, {'met' if search['met_budget'] else 'NOT met'}; "
                        f"{len(search['per_op'])} single-op trials, {search['seconds']} s)")
        sections.append(Section(title="Ignored scopes", lines=scope_lines))
    return sections


def weight_only_section(result: WeightCompressionResult) -> Section:
    rows = [[name, sub.mode, str(sub.int8_weight_constants), f"{sub.ir_MB_before:.1f}", f"{sub.ir_MB_after:.1f}",
             str(len(sub.ignored_nodes)), f"{sub.seconds}"] for name, sub in result.submodels.items()]
    return Section(title="Weight-only INT8 (nncf.compress_weights, no calibration data)",
                   lines=[f"`{WEIGHT_ONLY_SUBDIR}/`: int8 weights with per-channel scales, activations in floating point"],
                   tables=[Table(header=["submodel", "mode", "int8 weight constants", "IR MB before", "IR MB after",
                                         "ignored", "s"], rows=rows)])


def run_ptq(pipeline: FamilyPipeline, config: ptq.PTQConfig, out: Path, *, overwrite: bool = False,
            compare_torch: bool = False, weight_only: WeightCompressionConfig | None = None,
            compare_peers: bool = False, options: MeasureOptions | None = None, title: str | None = None) -> Report:
    """Export FP32, quantize, compare (PyTorch FP32,) OV FP32, OV BF16 (on bf16 CPUs) and OV INT8;
    ``weight_only`` adds a weight-only INT8 variant (``weight-only/``), ``compare_peers`` the family's
    peer runtimes (e.g. faster-whisper for Whisper) on the same data."""
    ptq.check_config(pipeline, config)  # a typo in a submodel name fails now, not after the export
    problem = pipeline.openvino_problem()  # e.g. an engine that cannot run the models this run writes
    if problem:
        raise ValueError(problem)
    if compare_peers and pipeline.peers_problem():  # said now, not after PTQ
        log.info("No peer rows: %s", pipeline.peers_problem())
    torch_source = Path(pipeline.torch_source()) if compare_torch else None  # an OpenVINO --model has none

    def produce(stage: Path, timer: Timer) -> RecipeOutcome:
        with timer.stage("export FP32 OpenVINO IR"):
            fp32 = pipeline.export(stage / FP32_SUBDIR)
        with timer.stage("quantize (NNCF PTQ)"):
            result = ptq.quantize(pipeline, fp32, stage, config)
        extra = result.scope_variants
        variants = [Variant("PyTorch FP32", torch_source)] if torch_source else []
        variants += [Variant("OV FP32", fp32), Variant(int8_label(config.ignored_scope_mode if extra else None), stage)]
        variants += [Variant(int8_label(mode), stage / v.dir) for mode, v in extra.items()]
        sections = recipe_sections(result, config.ignored_scope_mode)
        recipe = result.model_dump(mode="json")
        if weight_only is not None:
            with timer.stage("weight-only INT8 (nncf.compress_weights)"):
                compressed = weight_compression.compress(pipeline, fp32, stage / WEIGHT_ONLY_SUBDIR, weight_only)
            variants.append(Variant("OV weight-only INT8", stage / WEIGHT_ONLY_SUBDIR))
            recipe["weight_only"] = compressed.model_dump(mode="json")
            sections.append(weight_only_section(compressed))
        peers, peer_notes = [], []
        if compare_peers:
            with timer.stage("peer runtimes"):
                peers, peer_notes = peer_variants(pipeline, stage / PEERS_SUBDIR)
            sections.append(Section(title="Peer runtimes", lines=peer_notes))
        return RecipeOutcome(
            variants=variants + peers, recipe=recipe, sections=sections,
            highlights=[f"overflow_fix={result.overflow_fix.value}: {result.overflow_fix.reason}"],
            config=ptq.resolved_config(config, result).model_dump(mode="json", by_alias=True),
            contents="INT8 model, fp32/, recipe.yaml"
                     + (f", {WEIGHT_ONLY_SUBDIR}/" if weight_only is not None else "")
                     + (f", {PEERS_SUBDIR}/" if (stage / PEERS_SUBDIR).is_dir() else ""))

    report = recipe_run(pipeline, out, overwrite=overwrite, kind="ptq", title=title or f"{pipeline.family} PTQ",
                        options=options or MeasureOptions(), produce=produce)
    return report
