"""What the CPU plugin did with sparse int8 weights: the kernel each MatMul ran, and the verdict per layer.

:func:`probe_kernels` compiles a model with a runtime config and performance counters, runs it once and
reads back, per IR MatMul, the compiled FullyConnected and its exec type; :func:`decide` says per layer
whether a sparse kernel would run, did run, and why not, for any CPU (an input, so the logic can be
checked for AMX and non-AMX CPUs on any machine). It knows no model family.
"""

from __future__ import annotations

from dataclasses import dataclass

import openvino as ov
import openvino.properties as props

from ovrecipes.core.cpu import CpuInfo, sparse_kernel_support
from ovrecipes.core.openvino import compiled_precision, random_inputs
from ovrecipes.recipes.sparse import RATE_KEY, WeightInfo, reaches


# -- what the plugin did ----------------------------------------------------------------------------
@dataclass
class KernelObservation:
    """One FullyConnected of the compiled graph: its kernel and the precisions it runs in."""

    runtime_name: str
    layer_type: str
    exec_type: str
    input_precisions: list[str]

    @property
    def sparse(self) -> bool:
        return "sparse" in self.exec_type.lower()


def _rt(rt_info, key: str) -> str:
    return rt_info[key].astype(str) if key in rt_info else ""


def observe_kernels(compiled, request=None) -> dict[str, KernelObservation]:
    """IR MatMul name -> the compiled FullyConnected that absorbed it, with its exec type.

    The runtime model names each compiled node's original layers ('originalLayersNames'); exec
    types come from the performance counters of ``request`` when given (PERF_COUNT), else from the
    runtime model's 'primitiveType'.
    """
    executed = {p.node_name: p.exec_type for p in request.profiling_info} if request is not None else {}
    found: dict[str, KernelObservation] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        rt = op.get_rt_info()
        layer_type = _rt(rt, "layerType")
        if "FullyConnected" not in layer_type and layer_type != "MatMul":
            continue
        name = op.get_friendly_name()
        obs = KernelObservation(name, layer_type, executed.get(name) or _rt(rt, "primitiveType"),
                                [op.input(i).get_element_type().get_type_name() for i in range(min(2, op.get_input_size()))])
        for original in [name, *_rt(rt, "originalLayersNames").split(",")]:
            # Low-precision transformations rename a quantized MatMul '<name>/DequantizationMultiply'.
            for key in {original, original.split("/Dequantization")[0]}:
                if key and (key not in found or "FullyConnected" in layer_type):
                    found[key] = obs
    return found


def probe_kernels(model, config: dict, core=None, device: str = "CPU") -> tuple[dict[str, KernelObservation], dict]:
    """Compile ``model`` (static shapes) with ``config`` and PERF_COUNT, run one inference, observe.

    Also returns the inference precision and execution mode the compiled model reports back: the
    activations of non-quantized layers run in that precision (bf16 by default on AVX512_BF16/AMX CPUs).
    """
    core = core or ov.Core()
    compiled = core.compile_model(model, device, {**config, props.enable_profiling(): True})
    request = compiled.create_infer_request()
    request.infer(random_inputs(model))
    return observe_kernels(compiled, request), compiled_precision(compiled)


def decide(layers: list[WeightInfo], rate: float, cpu: CpuInfo,
           observed: dict[str, KernelObservation] | None = None) -> dict:
    """Per layer: would a sparse kernel run, did it, and why; plus one plain headline.

    ``cpu`` is an input so the logic can be checked for AMX and non-AMX CPUs on any machine;
    ``observed`` (from :func:`probe_kernels`) wins over the expectation where present.
    """
    amx, support = sparse_kernel_support(cpu)
    observed = observed or {}
    rows = []
    for info in layers:
        obs = observed.get(info.name)
        expected = amx and info.sparse_at(rate)
        if not info.eligible:
            reason = "not eligible: " + "; ".join(info.reasons)
        elif rate >= 1.0:
            reason = "rate 1 turns sparse decompression off"
        elif not reaches(info.zeros, info.elements, rate):
            reason = f"zero fraction {info.zero_fraction:.3f} is below the rate {rate:g}"
        elif not amx:
            reason = (f"would use the sparse kernel on an AMX CPU (zero fraction {info.zero_fraction:.3f} >= "
                      f"{rate:g}); this CPU has no AMX")
        elif obs is not None and obs.input_precisions and obs.input_precisions[0] not in ("u8", "i8"):
            reason = f"compiled with {obs.input_precisions[0]} activations; the sparse kernel needs u8/i8"
        elif obs is not None and not obs.sparse:
            reason = f"expected a sparse kernel, but the plugin ran {obs.exec_type}"
        else:
            reason = f"zero fraction {info.zero_fraction:.3f} >= rate {rate:g} on an AMX CPU"
        ran = obs.sparse if obs is not None else None
        if ran:
            reason = f"sparse kernel ran ({obs.exec_type})"
        rows.append({"name": info.name, "shape": info.shape, "zero_fraction": info.zero_fraction,
                     "eligible": info.eligible, "expected": expected, "ran": ran,
                     "exec_type": obs.exec_type if obs else None,
                     "input_precisions": obs.input_precisions if obs else None, "reason": reason})
    eligible = [r for r in rows if r["eligible"]]
    reaching = [r for r, entry in zip(rows, layers) if entry.sparse_at(rate)]
    ran = [r for r in rows if r["ran"]]
    dense_seen = sorted({r["exec_type"] for r in reaching if r["exec_type"] and not r["ran"]})
    if not amx:
        headline = (f"Sparse weight decompression is a no-op on this CPU: {cpu.where} has no AMX "
                    f"(amx_int8/amx_tile), and OpenVINO's CPU plugin packs sparse int8 weights only for its AMX "
                    f"kernels, so {RATE_KEY}={rate:g} is accepted and ignored: expect no speedup from it here. "
                    f"{len(reaching)} of {len(eligible)} eligible layers would use the sparse kernel on an AMX CPU "
                    "(Xeon Sapphire Rapids or later).")
        if dense_seen:
            headline += f" Performance counters confirm dense kernels: {', '.join(dense_seen)}."
    elif rate >= 1.0:
        headline = f"{RATE_KEY}=1 turns sparse decompression off; pass a rate below 1."
    else:
        headline = (f"{len(ran)} of {len(reaching)} layers that reach rate {rate:g} ran a sparse kernel "
                    f"({len(eligible)} eligible layers in all).")
        if observed and len(ran) < len(reaching):
            headline += f" The others ran {', '.join(dense_seen) or 'an unobserved kernel'}."
    return {"rate": rate, "cpu": cpu.to_dict(), "amx": amx, "support": support, "headline": headline,
            "eligible_layers": len(eligible), "layers_reaching_rate": len(reaching), "layers_sparse": len(ran),
            "observed": bool(observed), "layers": rows}
