"""Turn a raw teacher completion into task examples, or drop reasons (docs/fidelity.md, items 1-2).

Two behaviours, chosen by `generation.*` (the fidelity group sets them together):
- reference (run_on=split, no lead-in stripping, no refusal rule, no dedup, min_words=1): the reference's
  rejection parser. A completion containing a dataset rejection marker is dropped; otherwise it is split on the
  answer prefix and every non-empty piece, stripped and with one pair of surrounding quotes removed, is an example.
- improved (run_on=cut): one example per completion. A leading answer prefix and a lead-in ("Sure! Here is a
  summary:") are stripped first, then the text is cut before the next block (answer prefix, document header or a
  stop sequence such as a blank line), so a lead-in followed by a blank line never empties a real answer.
Exact duplicates are counted in both; `generation.dedup` decides whether they are dropped.
"""
from __future__ import annotations

import re
from typing import Optional

from ..core.config import GenerationConfig, PromptConfig

_REFUSALS = ("i'm sorry", "i am sorry", "i cannot", "i can't", "as an ai", "i apologize", "i'm unable",
             "i am unable")
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "`": "`"}
_LEADIN = re.compile(r"^(sure|certainly|here is|here's)[^\n:]*:\s*", re.IGNORECASE)
DROP_REASONS = ("empty", "too_short", "refusal", "duplicate")


def _norm(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def _unquote(text: str, once: bool) -> str:
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] == _QUOTES[text[0]]:
        text = text[1:-1].strip()
        if once:
            break
    return text


def _strip_prefix(text: str, prefix: str) -> str:
    return text[len(prefix):].strip() if prefix and text.lower().startswith(prefix.lower()) else text


def clean(raw: str, p: PromptConfig, prefix: Optional[str] = None, strip_lead_in: bool = True) -> str:
    """One example (run_on=cut): strip a leading answer prefix and lead-in, cut at the next block, unquote."""
    prefix = (prefix or p.answer_prefix).strip()
    text = _strip_prefix(raw.strip(), prefix)
    if strip_lead_in:
        text = _strip_prefix(_LEADIN.sub("", text, count=1).strip(), prefix)
    cuts = [text.find(m) for m in (prefix, p.document_header, *p.stop) if m and text.find(m) > 0]
    return _unquote(text[:min(cuts)].strip() if cuts else text, once=False)


def split(raw: str, p: PromptConfig, prefix: Optional[str] = None) -> list[str]:
    """Every non-empty piece of the completion split on the answer prefix (run_on=split, the reference)."""
    prefix = (prefix or p.answer_prefix).strip()
    pieces = raw.split(prefix) if prefix else [raw]
    return [t for t in (_unquote(piece.strip(), once=True) for piece in pieces) if t]


def examples(raw: str, p: PromptConfig, g: GenerationConfig, prefix: Optional[str] = None) -> tuple[list[str], Optional[str]]:
    """(texts, reason): the candidate examples of one completion, or none and why (empty, refusal)."""
    if any(_norm(m) in _norm(raw) for m in p.refusal_markers):
        return [], "refusal"
    texts = split(raw, p, prefix) if g.run_on == "split" else [clean(raw, p, prefix, g.strip_lead_in)]
    texts = [t for t in texts if t]
    return (texts, None) if texts else ([], "empty")


def drop_reason(text: str, g: GenerationConfig, seen: set) -> Optional[str]:
    """Why `text` is not kept (None: keep). Adds texts to `seen`; a repeat is a duplicate (dropped if g.dedup)."""
    if len(text.split()) < g.min_words:
        return "too_short"
    low = _norm(text)
    if g.refusal_filter and any(low.startswith(_norm(r)) for r in _REFUSALS):
        return "refusal"
    if low in seen:
        return "duplicate"
    seen.add(low)
    return None
