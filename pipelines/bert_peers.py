"""What a BERT user would deploy instead of this package's INT8: ONNX Runtime FP32 and dynamic INT8 of the same
PyTorch model, and optimum-intel's own default static INT8 (``OVQuantizer`` + ``OVQuantizationConfig``) of the
same model on the same calibration split. Built into a work directory, measured in the same table."""

from __future__ import annotations

import logging
from pathlib import Path

from ovrecipes.pipelines import onnx_runtime
from ovrecipes.pipelines.base import FamilyPipeline
from ovrecipes.pipelines.model_dirs import is_openvino_dir
from ovrecipes.pipelines.types import Peer

log = logging.getLogger(__name__)

ORT_NOTE = ("ONNX Runtime runs an ONNX export (torch.onnx, dynamo) of the same PyTorch model with every graph "
            "optimisation and the same thread count; its INT8 is quantize_dynamic (int8 weights, activations "
            "quantized per call, no calibration)")
OPTIMUM_NOTE = ("optimum-intel INT8 is OVQuantizer with the default OVQuantizationConfig on the same calibration "
                "sentences: static INT8 as optimum-intel's documentation shows it")


def build_peers(pipeline: FamilyPipeline, work_dir: Path) -> list[Peer]:
    """ORT FP32, ORT INT8 (dynamic) and optimum-intel INT8 of ``pipeline``'s PyTorch model, in ``work_dir``
    (``pipeline``: the BERT family's, which has ``tokenizer``, ``max_length`` and ``examples``)."""
    work_dir = Path(work_dir)
    module, _ = pipeline.torch_model()
    example = pipeline.benchmark_inputs()["model"]
    log.info("  peers: ONNX export, ONNX Runtime dynamic INT8, optimum-intel INT8 into %s", work_dir)
    fp32 = onnx_runtime.export(module, example, {name: [0, 1] for name in example}, work_dir / "ort-fp32")
    int8 = onnx_runtime.quantize_dynamic(fp32, work_dir / "ort-int8")
    optimum = optimum_int8(pipeline, work_dir / "optimum-int8")
    return [Peer("ORT FP32", fp32, note=ORT_NOTE), Peer("ORT INT8 (dynamic)", int8, note=ORT_NOTE),
            Peer("optimum-intel INT8", optimum, note=OPTIMUM_NOTE)]


def optimum_int8(pipeline: FamilyPipeline, out_dir: Path) -> Path:
    """optimum-intel's default static INT8 of the pipeline's model, calibrated on its calibration split
    (tokenized as optimum-intel's examples do: padded to the run's max_length)."""
    import datasets
    from optimum.intel import OVConfig, OVModelForSequenceClassification, OVQuantizationConfig, OVQuantizer

    model = OVModelForSequenceClassification.from_pretrained(pipeline.torch_source(), export=True, compile=False)
    texts = [e.text for e in pipeline.examples("calibration")]
    tokenizer = pipeline.tokenizer
    calibration = datasets.Dataset.from_dict({"text": texts}).map(
        lambda batch: tokenizer(batch["text"], padding="max_length", truncation=True, max_length=pipeline.max_length),
        batched=True, remove_columns=["text"])
    config = OVConfig(quantization_config=OVQuantizationConfig(num_samples=len(texts)))
    OVQuantizer.from_pretrained(model).quantize(calibration_dataset=calibration, ov_config=config,
                                                save_directory=out_dir)
    tokenizer.save_pretrained(out_dir)
    return Path(out_dir)


def peers_problem(pipeline: FamilyPipeline) -> str | None:
    """Why the peer rows cannot be built here (None: they can)."""
    missing = onnx_runtime.missing_packages()
    if missing:
        return (f"ONNX Runtime and optimum-intel INT8 peer rows need {', '.join(missing)}: "
                f"{onnx_runtime.INSTALL_HINT}")
    if is_openvino_dir(pipeline.model_path):
        return (f"peer rows are built from a PyTorch model, and --model {pipeline.source} is an OpenVINO directory")
    return None
