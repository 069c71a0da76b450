"""``ovrecipes bench``, ``ovrecipes cpu`` and ``ovrecipes fetch``: tools around the recipes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import openvino as ov

from ovrecipes.cli.options import add_bench_args, add_json_output_arg, bench_args, check_json_output
from ovrecipes.pipelines import bert, cgd, runtime, whisper
from ovrecipes.pipelines.speech_data import embedded_speech
from ovrecipes.pipelines.text_data import vader_archive
from ovrecipes.recipes import sparse
from ovrecipes.recipes.overflow import (
    TARGET_CPUS,
    choose_overflow_fix,
    sparse_kernel_support,
    target_cpu,
)


def plugin_default_precision() -> str | None:
    """INFERENCE_PRECISION_HINT the CPU plugin of this machine reports before any model is compiled."""

    try:
        return ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name()
    except Exception:  # no CPU plugin property: nothing to report
        return None


def cpu_facts(name: str | None) -> dict:
    cpu = target_cpu(name)
    decision = choose_overflow_fix("auto", cpu)
    sparse_ok, sparse_reason = sparse_kernel_support(cpu)
    facts = {**cpu.to_dict(), "default_precision_reason": cpu.default_precision_reason(),
             "overflow_fix": decision.value, "overflow_fix_reason": decision.reason,
             "sparse_kernels": sparse_ok, "sparse_kernels_reason": sparse_reason}
    if name is None:
        facts["plugin_default_precision"] = plugin_default_precision()
    return facts


def cmd_cpu(args: argparse.Namespace) -> None:
    info = cpu_facts(args.target_cpu)
    if args.json:
        print(json.dumps(info, indent=2))
        return
    print(f"CPU:                 {info['brand']} ({info['source']})")
    print(f"class:               {info['class']}")
    print("ISA flags:           " + "  ".join(f"{f}={'yes' if on else 'no'}" for f, on in info["flags"].items()))
    print(f"VNNI / AMX / BF16:   {'yes' if info['vnni'] else 'no'} / {'yes' if info['amx'] else 'no'} / "
          f"{'yes' if info['bf16'] else 'no'}")
    plugin = info.get("plugin_default_precision")
    agrees = "" if plugin is None else (" (the plugin reports the same)" if plugin == info["default_precision"]
                                        else f" (but the plugin reports {plugin})")
    print(f"default precision:   {info['default_precision']}{agrees}")
    print(f"  why: {info['default_precision_reason']}")
    print(f"int8 can saturate:   {'yes' if info['int8_can_saturate'] else 'no'}")
    print(f"overflow_fix (auto): {info['overflow_fix']}")
    print(f"  why: {info['overflow_fix_reason']}")
    print(f"sparse kernels:      {'yes' if info['sparse_kernels'] else 'no'}")
    print(f"  why: {info['sparse_kernels_reason']}")


def sparse_rate_note(config: dict) -> str | None:
    """Why a sparse rate in the compile config does nothing on this CPU (no AMX), so the figure is dense."""
    rate = config.get(sparse.RATE_KEY)
    if rate is None or sparse.parse_rate(rate, allow_auto=False) >= 1.0:
        return None
    supported, why = sparse_kernel_support()
    return None if supported else f"{why} This throughput is a dense figure."


def cmd_bench(args: argparse.Namespace) -> None:
    check_json_output(args)
    shape = runtime.parse_shape(args.shape) if args.shape else None
    config = runtime.load_config_file(args.config_file) if args.config_file else {}
    if args.sparse_rate is not None:
        if not 0.0 <= args.sparse_rate <= 1.0:
            raise ValueError(f"--sparse-rate must be in [0, 1]: got {args.sparse_rate}")
        config = {**config, sparse.RATE_KEY: args.sparse_rate}
    note = sparse_rate_note(config)
    session = {**bench_args(args), "hint": runtime.resolve_hint(args.hint, config)}
    result = runtime.benchmark_openvino(args.model, None, shape=shape, config=config,
                                        precision=args.inference_precision, **session)
    print(result.to_text())
    if note:
        print(f"Note:             {note}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**result.to_dict(), **({"notes": [note]} if note else {})}, indent=2))


def cmd_fetch(args: argparse.Namespace) -> None:
    """Build every embedded default now (each is cached; later runs start warm)."""

    print(f"embedded sentiment data:  {vader_archive()}")
    print(f"embedded BERT model:      {bert.embedded_model_dir()}")
    print(f"embedded speech:          {len(embedded_speech())} synthesised clips")
    print(f"embedded Whisper tiny.en: {whisper.embedded_whisper_dir()}")
    print(f"embedded CGD model:       {cgd.embedded_model_dir()}")


def register(sub) -> None:
    bench = sub.add_parser("bench", help="benchmark_app-style throughput/latency run of one IR")
    bench.add_argument("model", type=Path, help="model directory or .xml file")
    bench.add_argument("--shape", default=None, help="benchmark_app syntax: '[1,64]' or 'input_ids[1,64],...'")
    bench.add_argument("--config-file", type=Path, default=None, help="benchmark_app -load_config JSON")
    bench.add_argument("--sparse-rate", type=float, default=None, metavar="R",
                       help="CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE (acts on AMX CPUs only; see 'ovrecipes sparse check')")
    add_bench_args(bench, time_default=15.0, hint_default=None,
                   hint_help="PERFORMANCE_HINT; 'none' sets no hint (default: the --config-file's PERFORMANCE_HINT, "
                             "else throughput)")
    add_json_output_arg(bench, "also write the result as JSON here (must not exist unless --overwrite)")
    bench.set_defaults(handler=cmd_bench)

    cpu = sub.add_parser("cpu", help="ISA flags, VNNI/AMX/BF16, default precision, the overflow_fix used and why")
    cpu.add_argument("--target-cpu", choices=tuple(TARGET_CPUS), default=None)
    cpu.add_argument("--json", action="store_true", help="print JSON")
    cpu.set_defaults(handler=cmd_cpu)

    fetch = sub.add_parser("fetch", help="build every embedded default (data, BERT, speech, Whisper, CGD) into the cache")
    fetch.set_defaults(handler=cmd_fetch)
