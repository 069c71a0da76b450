"""OpenVINO models in and out: reading an IR with one clear line on failure, compiling, shapes, and the
performance and precision properties a session is compiled with.

Precision: on CPUs with AVX512_BF16 or AMX the CPU plugin runs floating-point IRs in bf16 unless
INFERENCE_PRECISION_HINT says f32 (``compiled.get_property("INFERENCE_PRECISION_HINT")`` reads
bfloat16); AVX2-only CPUs run f32. A session pins what it is asked to (``precision_config``) and
records what the compiled model reports back (``compiled_precision``).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import openvino.properties as props
import openvino.properties.hint as hints

HINTS = ("throughput", "latency", "none")
#: INFERENCE_PRECISION_HINT values a user can ask for; "default" leaves the plugin's choice (bf16 on
#: CPUs with AVX512_BF16 or AMX, f32 elsewhere).
PRECISIONS = ("f32", "bf16", "f16", "default")

_HINT_VALUES = {
    "throughput": hints.PerformanceMode.THROUGHPUT,
    "latency": hints.PerformanceMode.LATENCY,
}



_SHAPE_SYNTAX = "expected 'name[d0,d1,...],name2[...]' or '[d0,d1,...]' (dims: positive integers, '?' or -1)"
_SHAPE_ITEM = re.compile(r"\s*([^\[\],]*?)\s*\[([^\[\]]*)\]\s*(,?)")


def _parse_dim(text: str, spec: str) -> int:
    t = text.strip()
    if t == "?":
        return -1
    try:
        value = int(t)
    except ValueError:
        raise ValueError(f"bad dimension {t!r} in shape {spec!r}: {_SHAPE_SYNTAX}") from None
    if value < -1 or value == 0:  # a zero-size input makes the CPU plugin die with SIGFPE, not an error
        raise ValueError(f"bad dimension {t!r} in shape {spec!r}: {_SHAPE_SYNTAX}")
    return value


def parse_shape(spec: str) -> dict[str, list[int]]:
    """benchmark_app syntax: 'input_ids[1,64],attention_mask[1,64]' -> per-input; '[1,64]' -> key '*' meaning every input."""
    text = spec.strip() if isinstance(spec, str) else ""
    if not text:
        raise ValueError(f"empty shape {spec!r}: {_SHAPE_SYNTAX}")
    shapes: dict[str, list[int]] = {}
    pos = 0
    while pos < len(text):
        m = _SHAPE_ITEM.match(text, pos)
        if m is None:
            raise ValueError(f"cannot parse shape {spec!r} at {text[pos:]!r}: {_SHAPE_SYNTAX}")
        name = m.group(1) or "*"
        if name in shapes:
            raise ValueError(f"input {name!r} given twice in shape {spec!r}")
        dims = m.group(2)
        shapes[name] = [_parse_dim(d, spec) for d in dims.split(",")] if dims.strip() else []
        pos = m.end()
        if pos < len(text) and not m.group(3):
            raise ValueError(f"missing ',' before {text[pos:]!r} in shape {spec!r}: {_SHAPE_SYNTAX}")
        if m.group(3) and pos >= len(text):
            raise ValueError(f"trailing ',' in shape {spec!r}: {_SHAPE_SYNTAX}")
    if "*" in shapes and len(shapes) > 1:
        raise ValueError(f"an unnamed shape applies to every input; name all inputs in {spec!r}")
    return shapes


def load_config_file(path, device: str = "CPU") -> dict[str, str]:
    """benchmark_app -load_config JSON: {"CPU": {"NUM_STREAMS": "2", ...}} -> the CPU properties dict. Clear ValueError naming the file on bad JSON / missing device key."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{p}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or device not in data:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{p}: expected a top-level {device!r} key like {{\"{device}\": {{\"NUM_STREAMS\": \"2\"}}}}, got {keys}")
    section = data[device]
    if not isinstance(section, dict):
        raise ValueError(f"{p}: {device!r} must map to an object of properties, got {type(section).__name__}")
    # benchmark_app passes values as strings; nested objects (e.g. DEVICE_PROPERTIES) stay JSON text.
    return {str(k): v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) else str(v)
            for k, v in section.items()}


def resolve_model_xml(path) -> Path:
    """A .xml file, or a directory containing exactly one openvino*.xml, or openvino_model.xml. For a directory with several IRs (e.g. encoder/decoder) raise a ValueError that lists them and says to pass one .xml."""
    p = Path(path)
    if p.is_file():
        if p.suffix.lower() != ".xml":
            raise ValueError(f"{p}: expected an OpenVINO IR .xml file or a directory containing one")
        return p
    if not p.is_dir():
        raise FileNotFoundError(f"{p}: no such model file or directory")
    # optimum-intel exports name the main IR openvino_model.xml and may put
    # openvino_tokenizer.xml etc. next to it, so that name wins outright.
    if (p / "openvino_model.xml").is_file():
        return p / "openvino_model.xml"
    xmls = sorted(p.glob("*.xml"))
    candidates = [x for x in xmls if x.name.startswith("openvino")] or xmls
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise FileNotFoundError(f"{p}: no .xml model in this directory")
    names = ", ".join(x.name for x in candidates)
    raise ValueError(f"{p} holds several IRs ({names}); pass one .xml file, e.g. {candidates[0]}")


# ---------------------------------------------------------------- inputs and config

def port_name(port) -> str:
    """Tensor name when there is one, else the Parameter's friendly name."""
    return port.get_any_name() if port.get_names() else port.get_node().get_friendly_name()


def port_matches(port, name: str) -> bool:
    return name in port.get_names() or name == port.get_node().get_friendly_name()


def random_inputs(model: ov.Model, seed: int = 0, int_high: int = 100) -> dict[str, np.ndarray]:
    """Data for static-shaped inputs, by element type: integers in [0, int_high) (attention_mask-like names ('mask' in name) get ones), floats standard normal. Raises ValueError naming the input if a shape is still dynamic ('pass --shape')."""
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {}
    for port in model.inputs:
        name = port_name(port)
        pshape = port.get_partial_shape()
        if pshape.is_dynamic:
            raise ValueError(f"input {name!r} has dynamic shape {pshape}; pass --shape (e.g. '{name}[1,64]') "
                             "so that random data can be made")
        shape = tuple(pshape.to_shape())
        etype = port.get_element_type()
        lname = name.lower()
        if etype == ov.Type.boolean:
            arr = np.ones(shape, bool) if "mask" in lname else rng.integers(0, 2, shape).astype(bool)
        elif etype.is_integral():
            dtype = etype.to_dtype()
            if "mask" in lname:
                arr = np.ones(shape, dtype)
            elif "token_type" in lname:  # segment ids beyond 0/1 index past BERT's embedding table
                arr = np.zeros(shape, dtype)
            else:
                high = min(int_high, int(np.iinfo(dtype).max) + 1)
                arr = rng.integers(0, high, shape).astype(dtype)
        elif etype.is_real():
            arr = rng.standard_normal(shape).astype(etype.to_dtype())
        else:
            raise ValueError(f"input {name!r}: no random data for element type {etype}")
        data[name] = arr
    return data


def compile_config(hint: str = "throughput", streams: int | None = None, threads: int | None = None,
                   extra: dict | None = None) -> dict:
    """Properties for core.compile_model: PERFORMANCE_HINT (THROUGHPUT/LATENCY; 'none' sets no hint), NUM_STREAMS, INFERENCE_NUM_THREADS; extra (from a config file) merged first, explicit args win. Validate hint -> ValueError('hint must be one of ...: got X')."""
    key = hint.lower() if isinstance(hint, str) else hint
    if key not in HINTS:
        raise ValueError(f"hint must be one of {', '.join(HINTS)}: got {hint!r}")
    config: dict[str, Any] = dict(extra or {})
    if key in _HINT_VALUES:
        config[hints.performance_mode()] = _HINT_VALUES[key]
    if streams is not None:
        config[props.num_streams()] = streams
    if threads is not None:
        config[props.inference_num_threads()] = int(threads)
    return config


def resolve_hint(hint: str | None, config: dict | None = None) -> str:
    """The hint a run uses: an explicit one; else the config file's PERFORMANCE_HINT (as benchmark_app
    keeps it when -hint is not given); else "throughput". A file hint other than THROUGHPUT/LATENCY is a
    ValueError, because the run could not honour or report it."""
    if hint is not None:
        return hint
    value = (config or {}).get(hints.performance_mode())
    if value is None:
        return "throughput"
    name = str(value).split(".")[-1].lower()
    if name not in _HINT_VALUES:
        raise ValueError(f"{hints.performance_mode()} {value!r} in the config file is not supported: "
                         f"use one of {', '.join(v.upper() for v in _HINT_VALUES)}, or leave it out")
    return name


def precision_config(precision: str | None) -> dict[str, Any]:
    """The compile property that pins ``precision``; nothing for ``default``/None (the plugin decides)."""
    if precision in (None, "default"):
        return {}
    if precision not in PRECISIONS:
        raise ValueError(f"inference precision must be one of {', '.join(PRECISIONS)}: got {precision!r}")
    return {hints.inference_precision(): precision}  # plain text, so optimum's ov_config takes it too


def plugin_default_precision() -> str | None:
    """INFERENCE_PRECISION_HINT the CPU plugin of this machine reports before any model is compiled."""
    try:
        return ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name()
    except Exception:  # no CPU plugin property: nothing to report
        return None


def compiled_precision(compiled: ov.CompiledModel) -> dict[str, str | None]:
    """What the compiled model reports back: inference precision ("f32", "bf16", ...) and execution mode."""
    found: dict[str, str | None] = {"inference_precision": None, "execution_mode": None}
    try:
        found["inference_precision"] = compiled.get_property(hints.inference_precision()).get_type_name()
    except Exception:  # a plugin without the property
        pass
    try:
        found["execution_mode"] = str(compiled.get_property(hints.execution_mode())).rsplit(".", 1)[-1]
    except Exception:
        pass
    return found


def reshape(model: ov.Model, shape: dict[str, list[int]]) -> None:
    """Reshape inputs by name (key "*": every input) with a clear error for an unknown name."""
    if "*" in shape:
        new = {i: ov.PartialShape(shape["*"]) for i in range(len(model.inputs))}
    else:
        new = {}
        for name, dims in shape.items():
            idx = next((i for i, p in enumerate(model.inputs) if port_matches(p, name)), None)
            if idx is None:
                known = ", ".join(port_name(p) for p in model.inputs)
                raise ValueError(f"shape given for unknown input {name!r}; model inputs: {known}")
            new[idx] = ov.PartialShape(dims)
    try:
        model.reshape(new)
    except RuntimeError as err:  # shape inference rejects it somewhere inside the graph
        wanted = ",".join(f"{port_name(model.inputs[i])}{shape}" for i, shape in new.items())
        raise ValueError(f"the model does not take inputs of shape {wanted}: {openvino_reason(err)}") from None


def openvino_reason(err: Exception) -> str:
    """OpenVINO's own reason, without the 'Exception from src/...cpp:N:' location lines."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    useful = [line for line in lines if not re.match(r"^(Exception from |Check '.*' failed at )\S+:\d+:?$", line)]
    return " ".join(useful or lines or [type(err).__name__])


def read_model(path, core: ov.Core | None = None) -> ov.Model:
    """An IR read with one clear line on failure: the file and the actual reason.

    OpenVINO's own message for a broken .xml starts with C++ source locations and says only that no
    frontend could read it; checking the XML first names the real problem (and keeps the other
    frontends from printing their attempts).
    """

    xml = resolve_model_xml(path)
    try:
        root = ElementTree.parse(xml).getroot()
    except ElementTree.ParseError as err:
        raise ValueError(f"cannot read OpenVINO IR {xml}: the .xml is not well-formed XML ({err})") from None
    if root.tag != "net":
        raise ValueError(f"cannot read OpenVINO IR {xml}: the .xml is not an OpenVINO IR (root element <{root.tag}>)")
    weights = xml.with_suffix(".bin")
    if not weights.is_file() and xml.is_symlink() and xml.resolve().with_suffix(".bin").is_file():
        xml, weights = xml.resolve(), xml.resolve().with_suffix(".bin")  # a linked .xml: its .bin is by the target
    if not weights.is_file() and root.find(".//data[@offset]") is not None:
        raise ValueError(f"cannot read OpenVINO IR {xml}: its weights file {weights.name} is missing")
    try:
        return (core or ov.Core()).read_model(xml)
    except RuntimeError as err:
        raise ValueError(f"cannot read OpenVINO IR {xml}: {openvino_reason(err)}") from None


def compile_model(model, config: dict | None = None, device: str = "CPU",
                  core: ov.Core | None = None) -> ov.CompiledModel:
    """core.compile_model with a one-line error naming the model (an IR path or an ov.Model)."""
    core = core or ov.Core()
    source = model if isinstance(model, ov.Model) else read_model(model, core)
    try:
        return core.compile_model(source, device, config or {})
    except RuntimeError as err:
        where = model if not isinstance(model, ov.Model) else source.get_friendly_name()
        # the properties are named: a bad value from a -load_config file otherwise reads as "stoi"
        given = ", ".join(f"{k}={str(v).split('.')[-1]}" for k, v in (config or {}).items())
        raise ValueError(f"cannot compile {where} for {device}" + (f" with {given}" if given else "") +
                         f": {openvino_reason(err)}") from None
