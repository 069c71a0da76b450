"""What openvino-genai's WhisperPipeline needs from a model directory, and how to add it.

WhisperPipeline runs its decoding loop in C++ on a *stateful* decoder (the KV cache lives in the
model's variables, reordered through a ``beam_idx`` input) and reads the tokenizer and detokenizer
as OpenVINO IRs made by openvino-tokenizers. optimum-intel's stateless export (decoder +
decoder_with_past) and a directory without those IRs cannot be loaded by it.
"""

from __future__ import annotations

from pathlib import Path

import openvino as ov

TOKENIZER_IR = "openvino_tokenizer.xml"
DETOKENIZER_IR = "openvino_detokenizer.xml"
ENCODER_IR = "openvino_encoder_model.xml"
DECODER_IR = "openvino_decoder_model.xml"
DECODER_WITH_PAST_IR = "openvino_decoder_with_past_model.xml"


def write_tokenizer_irs(tokenizer_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Convert the Hugging Face tokenizer in ``tokenizer_dir`` to the two IRs genai reads, offline."""
    from openvino_tokenizers import convert_tokenizer
    from transformers import AutoTokenizer

    tokenizer_dir, out_dir = Path(tokenizer_dir), Path(out_dir)
    if not (tokenizer_dir / "tokenizer_config.json").is_file() and not (tokenizer_dir / "tokenizer.json").is_file():
        raise ValueError(f"no Hugging Face tokenizer in {tokenizer_dir} (tokenizer.json or tokenizer_config.json)")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    tokenizer_model, detokenizer_model = convert_tokenizer(tokenizer, with_detokenizer=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / TOKENIZER_IR, out_dir / DETOKENIZER_IR]
    ov.save_model(tokenizer_model, str(written[0]))
    ov.save_model(detokenizer_model, str(written[1]))
    return written


def decoder_is_stateful(model_dir: str | Path) -> bool:
    """True when the directory's decoder keeps its KV cache in model state (it has a ``beam_idx`` input)."""

    xml = Path(model_dir) / DECODER_IR
    if not xml.is_file():
        return False
    model = ov.Core().read_model(str(xml))
    return any("beam_idx" in port.get_names() for port in model.inputs)


def genai_missing(model_dir: str | Path) -> str | None:
    """Why WhisperPipeline cannot load ``model_dir`` (one line), or None when it can."""
    model_dir = Path(model_dir)
    if not (model_dir / ENCODER_IR).is_file():
        return f"{model_dir} has no {ENCODER_IR}"
    if (model_dir / DECODER_WITH_PAST_IR).is_file() or not decoder_is_stateful(model_dir):
        return f"{model_dir} holds a stateless decoder (decoder + decoder_with_past); genai needs the stateful export"
    missing = [name for name in (TOKENIZER_IR, DETOKENIZER_IR) if not (model_dir / name).is_file()]
    if missing:
        return f"{model_dir} lacks {' and '.join(missing)} (openvino-tokenizers)"
    return None
