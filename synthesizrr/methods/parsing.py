"""Turn a raw teacher completion into one task example, or a drop reason."""
from __future__ import annotations

import re
from typing import Optional

from ..core.config import PromptConfig

_REFUSALS = ("i'm sorry", "i am sorry", "i cannot", "i can't", "as an ai", "i apologize", "i'm unable",
             "i am unable")
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "`": "`"}
_LEADIN = re.compile(r"^(sure|certainly|here is|here's)[^\n:]*:\s*", re.IGNORECASE)
DROP_REASONS = ("teacher_error", "empty", "too_short", "refusal", "duplicate")


def _norm(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def clean(raw: str, p: PromptConfig) -> str:
    """Cut at the answer prefix and at any run-on next block; strip a lead-in and wrapping quotes."""
    text = raw.strip()
    prefix = p.answer_prefix.strip()
    if prefix and text.lower().startswith(prefix.lower()):
        text = text[len(prefix):].strip()
    text = _LEADIN.sub("", text, count=1).strip()
    if prefix and text.lower().startswith(prefix.lower()):
        text = text[len(prefix):].strip()
    for marker in (prefix, p.document_header, *p.stop):
        pos = text.find(marker) if marker else -1
        if pos > 0:
            text = text[:pos]
    text = text.strip()
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] == _QUOTES[text[0]]:
        text = text[1:-1].strip()
    return text


def drop_reason(text: str, p: PromptConfig, min_words: int, seen: set) -> Optional[str]:
    """Why `text` is not kept (None: keep). Adds kept texts to `seen` for exact-duplicate removal."""
    if not text:
        return "empty"
    if len(text.split()) < min_words:
        return "too_short"
    low = _norm(text)
    if any(low.startswith(_norm(r)) for r in _REFUSALS) or any(_norm(m) in low for m in p.refusal_markers):
        return "refusal"
    if low in seen:
        return "duplicate"
    seen.add(low)
    return None
