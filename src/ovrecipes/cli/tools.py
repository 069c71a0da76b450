"""``ovrecipes bench``, ``ovrecipes cpu`` and ``ovrecipes fetch``: tools around the recipes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ovrecipes.api import cpu_info
from ovrecipes.cli.argtypes import positive_int
from ovrecipes.cli.family_commands import add_family_options
from ovrecipes.cli.options import (
    add_bench_args,
    add_json_output_arg,
    add_workload_args,
    bench_args,
    check_json_output,
)
from ovrecipes.core import openvino as ov_io
from ovrecipes.core.cpu import TARGET_CPUS, host_cpu, sparse_kernel_support
from ovrecipes.measure import engine
from ovrecipes.measure.deployment import check_record, deployment_entry, label_at_precision, record_variant
from ovrecipes.measure.serving import WorkloadOptions, serve_side_by_side
from ovrecipes.measure.variants import Variant
from ovrecipes.pipelines import bert_embedded, cgd, whisper_embedded
from ovrecipes.pipelines.registry import FAMILIES
from ovrecipes.pipelines.speech_data import embedded_speech
from ovrecipes.pipelines.text_data import vader_archive
from ovrecipes.recipes import sparse
from ovrecipes.report.model import Table, VariantResult


def cmd_cpu(args: argparse.Namespace) -> None:
    info = cpu_info(args.target_cpu)
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
    if args.record and not args.inputs:
        raise ValueError("--record has no effect without --inputs: only serving the real inputs chooses a shape policy")
    if args.json is not None or not args.record:  # with --record alone, --overwrite is the record's
        check_json_output(args)
    if args.inputs:
        bench_inputs(args)
        return
    shape = ov_io.parse_shape(args.shape) if args.shape else None
    config = ov_io.load_config_file(args.config_file) if args.config_file else {}
    if args.sparse_rate is not None:
        if not 0.0 <= args.sparse_rate <= 1.0:
            raise ValueError(f"--sparse-rate must be in [0, 1]: got {args.sparse_rate}")
        config = {**config, sparse.RATE_KEY: args.sparse_rate}
    note = sparse_rate_note(config)
    session = {**bench_args(args), "hint": ov_io.resolve_hint(args.hint, config)}
    result = engine.benchmark_openvino(args.model, None, shape=shape, config=config,
                                        precision=args.inference_precision, **session)
    print(result.to_text())
    if note:
        print(f"Note:             {note}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**result.to_dict(), **({"notes": [note]} if note else {})}, indent=2))


def bench_inputs(args: argparse.Namespace) -> None:
    """``bench DIR --inputs FAMILY``: the family's real test inputs served by one model directory, one at a
    time and concurrently, under each shape policy (see ``ovrecipes.measure.serving``)."""
    given = (("--shape", args.shape), ("--config-file", args.config_file), ("--sparse-rate", args.sparse_rate),
             ("--hint", args.hint))
    for flag, value in given:
        if value is not None:
            raise ValueError(f"{flag} has no effect with --inputs: serving sets the LATENCY hint one at a time and "
                             "THROUGHPUT concurrently, with the shapes of the real inputs")
    spec = FAMILIES[args.inputs]
    family_parser = argparse.ArgumentParser(prog=f"ovrecipes bench --inputs {spec.name}")
    add_family_options(family_parser, spec)
    family_args = ["--model", str(args.model)] + (["--dataset", args.dataset] if args.dataset else [])
    family_args += ["--max-length", str(args.max_length)] if args.max_length else []
    pipeline = spec.make_pipeline(family_parser.parse_args(family_args)).resolve()
    variant = Variant(Path(args.model).name, Path(args.model),
                      None if args.inference_precision == "default" else args.inference_precision)
    result = VariantResult(label=variant.label, path=str(variant.path), engine=pipeline.engine_of(variant.path),
                           weights="-", size_mb=0.0, requested_precision=variant.precision)
    model_dir = variant.path if variant.path.is_dir() else variant.path.parent
    label = (label_at_precision(model_dir, variant.precision) or variant.label) if args.record else variant.label
    if args.record:
        check_record(model_dir, label, args.overwrite)  # before measuring, not after
    summary = serve_side_by_side(pipeline, [variant], [result], WorkloadOptions(
        samples=args.workload_samples, policy=args.shape_policy, clients=args.clients), rounds=args.rounds,
        threads=args.threads, streams=args.streams)
    rows = [[w.mode, w.policy, f"{w.median_fps:.1f}", f"{w.min_fps:.1f}-{w.max_fps:.1f}", f"{w.latency('p50'):.2f}",
             f"{w.latency('p90'):.2f}", f"{w.latency('p99'):.2f}", str(w.clients), w.inference_precision or "-",
             "yes" if result.chosen_policy.get(w.mode) == w.policy else ""]
            for w in result.workload if w.study or len(summary.policies) == 1]
    print(f"{summary.items} {summary.split} {summary.unit} of the {spec.name} family, {summary.sizes_text()}; "
          f"{args.rounds} interleaved rounds; preparing each took {summary.prepare_ms['mean']:.3f} ms (not included)")
    print(Table(header=["mode", "shape policy", f"{summary.unit}/s", "range", "p50 ms", "p90 ms", "p99 ms",
                        "clients", "precision", "chosen"], rows=rows).format())
    for mode, why in result.policy_reason.items():
        print(f"{mode}: {why}")
    if args.record:
        cpu = host_cpu()
        path = record_variant(model_dir, label, deployment_entry(result, summary, cpu.brand, cpu.cpu_class),
                              args.overwrite)
        print(f"Recorded for {label!r} in {path} ({cpu.cpu_class}): "
              + ", ".join(f"{mode} {policy}" for mode, policy in result.chosen_policy.items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"workload": summary.model_dump(), "runs": [
            w.model_dump() for w in result.workload if w.study or len(summary.policies) == 1],
            "chosen_policy": result.chosen_policy}, indent=2))


def cmd_fetch(args: argparse.Namespace) -> None:
    """Build every embedded default now (each is cached; later runs start warm)."""

    print(f"embedded sentiment data:  {vader_archive()}")
    print(f"embedded BERT model:      {bert_embedded.embedded_model_dir()}")
    print(f"embedded speech:          {len(embedded_speech())} synthesised clips")
    print(f"embedded Whisper tiny.en: {whisper_embedded.embedded_whisper_dir()}")
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
    add_json_output_arg(bench, "also write the result as JSON here (must not exist unless --overwrite)",
                        "replace an existing --json file, and with --record the variant's existing record")
    real = bench.add_argument_group("real inputs instead of one padded random input")
    real.add_argument("--inputs", choices=[n for n, f in FAMILIES.items() if f.serves_workload], default=None,
                      metavar="FAMILY",
                      help="serve this family's test inputs at their natural sizes, one at a time and concurrently, "
                           "under each shape policy (a bert directory must hold its tokenizer; cgd its config.json)")
    real.add_argument("--dataset", default=None, help="the family's --dataset (default: its embedded data)")
    real.add_argument("--max-length", type=positive_int, default=None, help="the family's --max-length (bert)")
    real.add_argument("--rounds", type=positive_int, default=3, help="interleaved rounds (default 3)")
    add_workload_args(real, switch=False)
    real.add_argument("--record", action="store_true",
                      help="write the shape policy chosen per mode on this CPU into the directory's deployment.json "
                           "(ovrecipes.deploy serves with it); an existing record of the variant is replaced only "
                           "with --overwrite")
    bench.set_defaults(handler=cmd_bench)

    cpu = sub.add_parser("cpu", help="ISA flags, VNNI/AMX/BF16, default precision, the overflow_fix used and why")
    cpu.add_argument("--target-cpu", choices=tuple(TARGET_CPUS), default=None)
    cpu.add_argument("--json", action="store_true", help="print JSON")
    cpu.set_defaults(handler=cmd_cpu)

    fetch = sub.add_parser("fetch", help="build every embedded default (data, BERT, speech, Whisper, CGD) into the cache")
    fetch.set_defaults(handler=cmd_fetch)
