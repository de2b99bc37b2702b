"""index: load the corpus and index it (dense embeddings into FAISS, BM25, or random), resumably."""
from __future__ import annotations

from pathlib import Path

NAME, VERSION = "index", 1
INPUTS = ()
OUTPUTS = ()   # too large to hash: the key (corpus, encoder, index settings, local file signature) stands for it


def local_signature(path: str, root: str) -> list:
    p = Path(path) if Path(path).is_absolute() else Path(root) / path
    files = sorted(p.parent.glob(p.name)) if any(ch in p.name for ch in "*?[") else [p]
    return [[str(f), f.stat().st_size, int(f.stat().st_mtime)] for f in files if f.exists()]


def key_extra(run) -> dict:
    c = run.cfg
    return {"source": local_signature(c.corpus.path, c.corpus_root)} if c.corpus.source == "local" else {}


def compute(run, out: Path, work: Path) -> dict:
    from ..corpora import load_corpus
    from ..retrieval import build_index

    c = run.cfg
    corpus = load_corpus(c.corpus, c.corpus_root)
    meta = build_index(corpus, c.retriever, out / "index", work, progress=True)
    corpus.save_to_disk(str(out / "corpus"))
    return {"num_docs": len(corpus), **(meta or {})}
