"""Word error rate as the Whisper family reports it: both sides through Whisper's English text
normaliser (case, punctuation, numbers, British/American spelling), then jiwer's word alignment."""

from __future__ import annotations

from typing import Callable, Sequence


def english_normaliser(spelling: dict[str, str] | None = None) -> Callable[[str], str]:
    """Whisper's English normaliser; ``spelling`` is the tokenizer's spelling map when it has one."""
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    return EnglishTextNormalizer(spelling or {})


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str],
                    normalise: Callable[[str], str] | None = None) -> float:
    """WER in percent over the whole set: (substitutions + deletions + insertions) / reference words."""
    import jiwer

    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    normalise = normalise or (lambda text: text)
    return 100.0 * jiwer.wer([normalise(r) for r in references], [normalise(h) for h in hypotheses])
