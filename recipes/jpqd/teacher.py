"""Distillation targets: the teacher's logits per training example, live or cached.

The teacher is frozen and in eval mode (no dropout), so its output for a training example never
changes during a run. Running it on every batch of every epoch (PyTorch FP32, full size, while the
student shrinks) repeats the same work ``epochs`` times. Instead the logits of the whole train split
are computed once with OpenVINO, at the fastest floating-point precision the CPU has, saved under a
key of (teacher weights, encoded data, precision, OpenVINO version), and looked up per batch by the
example index the family's collator carries. INT8 is not used: it would change the targets.

Both providers take example indices and return logits, so the trainer does not care which one runs;
the live one stays for runs that disable the cache and for checking the cache against it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import openvino as ov
import torch
from torch import nn

from ovrecipes.core.cpu import CpuInfo, host_cpu
from ovrecipes.core.openvino import precision_config
from ovrecipes.pipelines.types import TeacherInputs
from ovrecipes.recipes.jpqd import export

BF16_FLAGS = ("avx512_bf16", "amx_bf16")
CACHE_BATCH = 64
#: files whose bytes define a teacher (weights + architecture); tokenizer files are covered by the data digest
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision the teacher's logits are computed at, and why."""

    value: str  # "f32" | "bf16"
    requested: str
    reason: str

    def to_dict(self) -> dict:
        return {"value": self.value, "requested": self.requested, "reason": self.reason}


def choose_teacher_precision(requested: str = "auto", cpu: CpuInfo | None = None) -> PrecisionChoice:
    """``auto``: bf16 where the CPU computes it natively (AVX512_BF16 or AMX), else f32."""
    if requested not in ("auto", "f32", "bf16"):
        raise ValueError(f"teacher precision must be auto, f32 or bf16: got {requested!r}")
    cpu = cpu or host_cpu()
    native = [f for f in BF16_FLAGS if f in cpu.flags]
    if requested != "auto":
        note = "" if requested == "f32" or native else "; this CPU has no native bf16, so it will emulate it"
        return PrecisionChoice(requested, requested, f"teacher precision {requested} was requested{note}.")
    if native:
        return PrecisionChoice("bf16", requested, f"{cpu.brand} has {', '.join(native)}: the teacher's logits are "
                               "computed once in bf16, the fastest floating-point precision here.")
    return PrecisionChoice("f32", requested, f"{cpu.brand} has no native bf16 (AVX512_BF16/AMX): the teacher's "
                           "logits are computed once in f32.")


def logits_tolerance(precision: str, scale: float) -> float:
    """Largest expected |cached - PyTorch f32| for logits of magnitude ``scale``.

    f32: both sides round in f32 (unit roundoff 6e-8) but sum in different orders through a few
    dozen accumulations of hundreds of terms; 1e-4 relative leaves two orders of margin.
    bf16: activations and weights keep 8 significant bits (unit roundoff 2^-8 = 0.0039); a rounding
    at each of the ~10 matmul/softmax stages of a layer stack, adding up like a random walk,
    bounds the relative error of the logits near 4 x 0.0039 x sqrt(10) ~ 0.05. Measured on the
    embedded default classifier (400 training sentences, AVX512_BF16): at most 0.024 on logits up to 1.71
    (1.4%), mean 0.003, every argmax unchanged; at T = 2 that moves the soft targets by < 0.3%.
    """
    relative = {"f32": 1e-4, "bf16": 0.05}[precision]
    return relative * max(scale, 1.0)


def model_digest(model_dir: Path) -> str:
    """SHA-256 over config.json and the weight files: the same teacher gives the same key."""
    digest = hashlib.sha256()
    model_dir = Path(model_dir)
    files = [model_dir / "config.json"] + sorted(p for p in model_dir.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    for path in files:
        if not path.is_file():
            continue
        digest.update(path.name.encode())
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                digest.update(chunk)
    return digest.hexdigest()


def cache_key(teacher_dir: Path, inputs: TeacherInputs, precision: str) -> str:

    parts = {"teacher": model_digest(teacher_dir), "data": inputs.fingerprint, "count": inputs.count,
             "precision": precision, "openvino": ov.get_version()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def length_batches(lengths: np.ndarray, batch_size: int) -> list[list[int]]:
    """Indices in batches of similar length (less padding); every index exactly once."""
    order = np.argsort(lengths, kind="stable")
    return [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]


def openvino_logits(teacher: nn.Module, inputs: TeacherInputs, output_fn: Callable[[Any], torch.Tensor],
                    precision: str, batch_size: int = CACHE_BATCH) -> np.ndarray:
    """Convert the teacher to OpenVINO (dynamic batch and length) and run the whole train split."""


    example = inputs.batch([0])
    shapes = {name: [-1] * value.ndim for name, value in example.items()}
    ov_model = export.convert(teacher, example, shapes, output_fn)
    compiled = ov.Core().compile_model(ov_model, "CPU", {"PERFORMANCE_HINT": "LATENCY",
                                                         **precision_config(precision)})
    request = compiled.create_infer_request()
    out: np.ndarray | None = None
    for indices in length_batches(inputs.lengths, batch_size):
        logits = np.asarray(request.infer(inputs.batch(indices))[compiled.outputs[0]], dtype=np.float32)
        if out is None:
            out = np.zeros((inputs.count, *logits.shape[1:]), dtype=np.float32)
        out[indices] = logits
    return out


def torch_logits(teacher: nn.Module, inputs: TeacherInputs, indices: list[int],
                 output_fn: Callable[[Any], torch.Tensor]) -> torch.Tensor:
    """The PyTorch teacher (f32) on some examples: the reference the cache is checked against."""
    batch = {k: torch.from_numpy(v) for k, v in inputs.batch(indices).items()}
    device = next(teacher.parameters()).device
    with torch.no_grad():
        return output_fn(teacher(**{k: v.to(device) for k, v in batch.items()})).float()


class LiveTeacher:
    """Runs the PyTorch teacher on every batch (what JPQD did before the cache)."""

    source = "live PyTorch teacher (f32)"

    def __init__(self, teacher: nn.Module, inputs: TeacherInputs, output_fn: Callable[[Any], torch.Tensor]) -> None:
        self.teacher = teacher.eval()
        self.inputs = inputs
        self.output_fn = output_fn

    def __call__(self, indices: torch.Tensor) -> torch.Tensor:
        return torch_logits(self.teacher, self.inputs, indices.tolist(), self.output_fn)


class CachedTeacher:
    """Looks the logits of a batch up by example index."""

    def __init__(self, logits: np.ndarray, source: str) -> None:
        self.logits = torch.from_numpy(logits)
        self.source = source

    def __call__(self, indices: torch.Tensor) -> torch.Tensor:
        return self.logits[indices.cpu()]


def cached_teacher(teacher_dir: Path, load_teacher: Callable[[], nn.Module], inputs: TeacherInputs,
                   output_fn: Callable[[Any], torch.Tensor], precision: PrecisionChoice,
                   cache_dir: Path) -> tuple[CachedTeacher, dict[str, Any]]:
    """The cached logits, computed and saved first if the key is new; returns them and what happened."""
    key = cache_key(teacher_dir, inputs, precision.value)
    path = Path(cache_dir) / f"{key}.npy"
    started = time.perf_counter()
    hit = path.exists()
    if hit:
        logits = np.load(path)
    else:
        logits = openvino_logits(load_teacher(), inputs, output_fn, precision.value)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{time.time_ns()}.tmp.npy")
        np.save(partial, logits)
        partial.replace(path)  # atomic: a concurrent run never reads half a file
    info = {"path": str(path), "hit": hit, "examples": int(logits.shape[0]), "precision": precision.to_dict(),
            "seconds": round(time.perf_counter() - started, 1)}
    return CachedTeacher(logits, f"cached OpenVINO logits ({precision.value})"), info
