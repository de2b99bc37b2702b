"""Word tokenizers shared by Self-BLEU and distinct-n (not named `tokenize`: that would shadow the stdlib).

- ``whitespace``: ``str.split()`` (runs of whitespace separate tokens).
- ``regex``: maximal runs of word characters (``\\w+``, Unicode) or single non-space, non-word characters, so
  ``"U.S. won't"`` gives ``U . S . won ' t``. Fast and dependency-free.
- ``spacy``: ``token.text`` of a spaCy tokenizer (the reference: ``en_core_web_lg``, tokenizer only), loaded
  through the fallback chain of :func:`metrics.spacy_models.load_pipeline`.

Tokens keep their case; nothing is lowercased.
"""
from __future__ import annotations

import re
from typing import Sequence

from metrics.spacy_models import DEFAULT_SPACY

TOKENIZERS = ("whitespace", "regex", "spacy")
_REGEX = re.compile(r"\w+|[^\w\s]")


def check_tokenizer(tokenizer: str) -> None:
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer '{tokenizer}': allowed {list(TOKENIZERS)}")


def tokenize(texts: Sequence[str], tokenizer: str = "regex",
             spacy_model: str = DEFAULT_SPACY, batch_size: int = 256) -> tuple[list[list[str]], str | None]:
    """Tokenize every text; return ``(token_lists, spacy_model_used)``, the second None unless
    ``tokenizer == "spacy"``."""
    check_tokenizer(tokenizer)
    if tokenizer == "whitespace":
        return [t.split() for t in texts], None
    if tokenizer == "regex":
        return [_REGEX.findall(t) for t in texts], None
    from metrics.spacy_models import load_pipeline

    nlp, used = load_pipeline(spacy_model, "tokenizer")
    return [[tok.text for tok in doc] for doc in nlp.tokenizer.pipe(list(texts), batch_size=batch_size)], used
