"""Side-by-side measurement of model variants on one family pipeline: metric, speed, size, precision.

Every variant is evaluated on the same split, then benchmarked in interleaved rounds (A B C, A B C,
...) with the same input shape in the same process: a burst of load from another job hits every
variant in the same round, so per-round ratios repeat where single runs do not. The total time per
variant is the same as one long run (``time_s`` split over ``rounds``).

Precision is part of a variant. An FP32 IR runs pinned to f32 ("OV FP32"); on CPUs whose plugin
defaults to bf16 the same IR runs again at the default ("OV BF16"); quantized IRs run at the plugin
default, as they would be deployed. The precision each compiled model reports back is recorded.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ovrecipes.core.cpu import CpuInfo, host_cpu
from ovrecipes.core.openvino import read_model
from ovrecipes.measure.engine import BenchResult, session_for
from ovrecipes.pipelines import onnx_runtime
from ovrecipes.pipelines.base import FamilyPipeline
from ovrecipes.pipelines.model_dirs import engine_of_dir, is_onnx_dir, is_openvino_dir, openvino_files
from ovrecipes.recipes.ir import count_ops
from ovrecipes.report.model import Round, Throughput, VariantResult

log = logging.getLogger(__name__)

DEFAULT_ROUNDS = 3
#: precision policy of a side-by-side: "auto" applies the rules above; a value pins every OV variant
PRECISION_CHOICES = ("auto", "f32", "bf16", "f16", "default")


@dataclass(frozen=True)
class Variant:
    """A model directory to measure, under a label, at an inference precision (None: plugin default),
    run the family's default way or by a named ``runner`` (e.g. Whisper's genai or optimum engine).
    ``peer``: another runtime's or library's model built for comparison, not one the user brought or the run made."""

    label: str
    path: Path
    precision: str | None = None
    runner: str | None = None
    peer: bool = False

    @property
    def engine(self) -> str:
        return engine_of_dir(self.path)

    def call_options(self) -> dict[str, str]:
        """Keyword arguments for the family's evaluate() and bench_target()."""
        return {"precision": self.precision, **({"runner": self.runner} if self.runner else {})}


def model_size_mb(path: Path) -> float:
    """Bytes of the model's weights and graph files (IR .xml/.bin, or PyTorch weights)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size / 2**20
    suffixes = ({".xml", ".bin"} if is_openvino_dir(path) else {".onnx"} if is_onnx_dir(path)
                else {".safetensors", ".bin", ".pt", ".pth"})
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file() and p.suffix in suffixes) / 2**20


def weights_format(path: Path) -> str:
    """'int8' when an IR of the directory holds FakeQuantize ops, 'fp32' otherwise (also for PyTorch)."""
    path = Path(path)
    if is_onnx_dir(path):
        return onnx_runtime.weights_of(path)
    if not is_openvino_dir(path):
        return "fp32"
    for xml in openvino_files(path) or sorted(path.glob("*.xml")):
        if count_ops(read_model(xml), "FakeQuantize"):  # a broken IR fails here in one clear line
            return "int8"
    return "fp32"


def bf16_label(label: str) -> str:
    return label.replace("FP32", "BF16") if "FP32" in label else f"{label} (bf16)"


def with_precisions(variants: list[Variant], policy: str = "auto", cpu: CpuInfo | None = None) -> tuple[list[Variant], str]:
    """The variants at their precisions, and one line that says why there is or is no BF16 row.

    ``auto``: FP32 IRs pinned to f32, plus a BF16 row of each on a CPU whose plugin defaults to bf16;
    quantized IRs at the plugin default. Any other policy pins every OpenVINO variant to it.
    """
    if policy not in PRECISION_CHOICES:
        raise ValueError(f"inference precision must be one of {', '.join(PRECISION_CHOICES)}: got {policy!r}")
    cpu = cpu or host_cpu()
    if policy != "auto":
        pinned = [replace(v, precision=None if policy == "default" else policy) if v.engine == "openvino" else v
                  for v in variants]
        return pinned, f"Every OpenVINO variant runs at inference precision {policy} (--inference-precision)."
    out: list[Variant] = []
    for v in variants:
        if v.engine != "openvino" or v.precision is not None:
            out.append(v)
        elif weights_format(v.path) == "fp32":
            out.append(replace(v, precision="f32"))
            if cpu.default_precision == "bf16":
                out.append(replace(v, label=bf16_label(v.label), precision="default"))
        else:
            out.append(v)
    if cpu.default_precision == "bf16":
        note = (f"FP32 rows are pinned to f32; BF16 rows run the same IRs at the plugin default. "
                f"{cpu.default_precision_reason()}")
    else:
        note = f"No BF16 row: {cpu.default_precision_reason()}"
    return out, note


def _throughput(results: list[BenchResult]) -> Throughput:
    first = results[0]
    return Throughput(
        rounds=[Round(throughput_fps=r.throughput_fps, latency_ms=r.latency_ms, count=r.count, duration_s=r.duration_s)
                for r in results],
        hint=first.hint, streams=first.streams, threads=first.threads, nireq=first.nireq, batch=first.batch,
        shapes=first.shapes)


def measure(
    pipeline: FamilyPipeline,
    variants: list[Variant],
    *,
    split: str = "test",
    limit: int | None = None,
    evaluate: bool = True,
    bench: bool = True,
    bench_args: dict | None = None,
    rounds: int = DEFAULT_ROUNDS,
) -> tuple[list[VariantResult], list[float]]:
    """Metric of every variant, then interleaved benchmark rounds; returns results and the load per round.

    ``bench_args``: hint, streams, threads and ``time_s`` (seconds per variant over all rounds).
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1: got {rounds}")
    args = dict(bench_args or {})
    time_s = float(args.pop("time_s", 10.0))
    # read every IR first: a broken one fails now, in one line naming the file, not after minutes of work
    weights = {v.path: weights_format(v.path) for v in variants}
    results: list[VariantResult] = []
    for v in variants:
        seconds: dict[str, float] = {}
        metric = None
        if evaluate:
            started = time.perf_counter()
            metric = pipeline.evaluate(v.path, split=split, limit=limit, **v.call_options())
            seconds["evaluate"] = round(time.perf_counter() - started, 1)
            log.info(f"  {v.label}: {metric.name} {metric.value:.2f}{metric.unit} on {metric.samples} {split} samples")
        results.append(VariantResult(label=v.label, path=str(v.path), engine=pipeline.engine_of(v.path),
                                     runner=v.runner, weights=weights[v.path], requested_precision=v.precision,
                                     metric=metric, peer=v.peer,
                                     size_mb=round(model_size_mb(v.path), 2), seconds=seconds))
    loads: list[float] = []
    if bench:
        sessions = []
        for v, r in zip(variants, results):
            started = time.perf_counter()
            target = pipeline.bench_target(v.path, **v.call_options(), threads=args.get("threads"))
            session = session_for(target, precision=v.precision, **args)
            sessions.append(session)
            r.inference_precision = session.precision.get("inference_precision")
            r.execution_mode = session.precision.get("execution_mode")
            r.seconds["compile"] = round(time.perf_counter() - started, 1)
        runs: list[list[BenchResult]] = [[] for _ in variants]
        for round_no in range(1, rounds + 1):
            for i, (v, session) in enumerate(zip(variants, sessions)):
                runs[i].append(session.run(time_s / rounds))
                log.info(f"  round {round_no}/{rounds} {v.label}: {runs[i][-1].throughput_fps:.1f} FPS")
            loads.append(round(os.getloadavg()[0], 2))
        for r, measured in zip(results, runs):
            r.throughput = _throughput(measured)
            r.seconds["benchmark"] = round(sum(m.duration_s for m in measured), 1)
        set_ratios(results)
    return results, loads


def reference(results: list[VariantResult]) -> VariantResult | None:
    """The baseline ratios and drops refer to: the first OpenVINO f32 variant, else the first OpenVINO one."""
    ov = [r for r in results if r.engine == "openvino"]
    pinned = [r for r in ov if r.weights == "fp32" and r.requested_precision == "f32"]
    return (pinned or ov or results or [None])[0]


def set_ratios(results: list[VariantResult]) -> None:
    """Each variant's speed against the reference: the median of the per-round ratios."""

    ref = reference(results)
    if ref is None or ref.throughput is None:
        return
    for r in results:
        if r.throughput is None:
            continue
        r.ratio = r.throughput.ratio_to(ref.throughput)  # rounds from other runs (--from-reports): medians
