"""Load a spaCy pipeline by name with the offline fallback chain, keeping only the components a task needs.

Two purposes are supported:

- ``"tokenizer"``: every component is excluded; only ``nlp.tokenizer`` is used.
- ``"ner"``: only ``ner`` (and an ``entity_ruler`` if the package has one) plus the embedding component that
  ``ner`` listens to (``tok2vec``/``transformer``) stay enabled. Parser, tagger, lemmatizer, attribute_ruler,
  senter, ... are excluded at load time. In the ``en_core_web_*`` CNN packages ``ner`` has its own embedded
  tok2vec, so the shared ``tok2vec`` is disabled too.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from synthesizrr.core.assets import spacy_model_candidates

PURPOSES = ("tokenizer", "ner")
# The library's default: the reference's pipeline, else the small one (the pipeline used is always returned).
# The experiment pipeline passes exactly metrics.spacy_model, with en_core_web_sm only if metrics.spacy_fallback.
DEFAULT_SPACY = "en_core_web_lg,en_core_web_sm"
NER_COMPONENTS = ("ner", "entity_ruler")
EMBEDDING_COMPONENTS = ("tok2vec", "transformer")
# Used when a pipeline's meta.json cannot be read (e.g. a pipeline given as a directory without one).
KNOWN_NON_NER = ("parser", "tagger", "morphologizer", "lemmatizer", "trainable_lemmatizer", "attribute_ruler",
                 "senter", "sentencizer", "textcat", "textcat_multilabel", "spancat", "entity_linker")


class SpacyModelMissing(OSError):
    """None of the spaCy pipelines in the fallback chain is installed."""


def _package_components(name: str) -> list[str] | None:
    """Component names from an installed package's (or a directory's) meta.json; None when unreadable."""
    import spacy.util

    try:
        path = Path(name) if Path(name).is_dir() else spacy.util.get_package_path(name)
        meta = json.loads((path / "meta.json").read_text())
    except Exception:  # noqa: BLE001 - any failure just means "no meta"; the load below reports real errors
        return None
    return list(meta.get("components") or meta.get("pipeline") or [])


def _excluded(name: str, purpose: str) -> list[str]:
    components = _package_components(name)
    if purpose == "tokenizer":
        return components if components is not None else list(KNOWN_NON_NER + NER_COMPONENTS + EMBEDDING_COMPONENTS)
    if components is None:
        return list(KNOWN_NON_NER)
    return [c for c in components if c not in NER_COMPONENTS + EMBEDDING_COMPONENTS]


def _disable_unused_embedders(nlp) -> None:
    """Disable tok2vec/transformer components that no remaining component (i.e. not ner) listens to."""
    for pipe_name, pipe in list(nlp.pipeline):
        if pipe_name in NER_COMPONENTS:
            continue
        listeners = getattr(pipe, "listening_components", None)
        if not listeners or not any(lst in NER_COMPONENTS for lst in listeners):
            nlp.disable_pipe(pipe_name)


@lru_cache(maxsize=8)
def load_pipeline(preferred: str, purpose: str):
    """Return ``(nlp, name_used)``: the first installed pipeline of ``spacy_model_candidates(preferred)``,
    loaded for `purpose` (see the module docstring)."""
    import spacy

    if purpose not in PURPOSES:
        raise ValueError(f"unknown spaCy purpose '{purpose}': allowed {list(PURPOSES)}")
    tried = spacy_model_candidates(preferred)
    for name in tried:
        try:
            nlp = spacy.load(name, exclude=_excluded(name, purpose))
        except OSError:
            continue
        if purpose == "ner":
            if "ner" not in nlp.pipe_names:
                raise ValueError(f"spaCy pipeline '{name}' has no 'ner' component: use a pipeline with NER")
            _disable_unused_embedders(nlp)
        return nlp, name
    raise SpacyModelMissing(f"no spaCy pipeline installed among {tried}: install one, e.g. python -m spacy "
                            f"download {tried[0]}")
