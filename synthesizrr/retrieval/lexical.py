"""Non-dense retrievers: BM25 (bm25s, Okapi) and Random (the paper's ablations).

BM25 tokenizes with bm25s's regex tokenizer: lowercase, words of 2+ word characters, English stopwords removed, and
PyStemmer's English stemmer when that package is installed (``meta.json`` records whether it was used). The
reference used nltk's word_tokenize without stemming. Scores are raw BM25 (unbounded, not cosine), so similarity
bands do not apply to them. Token ids are kept per document while indexing, so memory grows with corpus tokens.

Random returns distinct random rows per query, seeded by ``(seed, sha1(query))``: the same query and seed always
give the same documents, whatever else is in the batch. Its scores are NaN: no similarity filter applies.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from synthesizrr.core.config import RetrieverConfig
from synthesizrr.retrieval.common import (READ_BATCH, iter_text_batches, read_doc_table, read_meta,
                                          whitespace_counts, write_doc_table, write_meta)

BM25_DIR = "bm25"


def _stemmer():
    try:
        import Stemmer  # PyStemmer, optional
    except ImportError:
        return None
    return Stemmer.Stemmer("english")


def build_bm25(corpus, cfg: RetrieverConfig, out_dir: Path, progress: bool = True) -> dict:
    import bm25s
    from tqdm.auto import tqdm

    stemmer = _stemmer()
    tokenizer = bm25s.tokenization.Tokenizer(stopwords="en", stemmer=stemmer)
    ids: list[list[int]] = []
    for _, texts in tqdm(iter_text_batches(corpus, 0, len(corpus), READ_BATCH), desc="bm25 tokenize",
                         total=-(-len(corpus) // READ_BATCH), disable=not progress):
        ids.extend(tokenizer.streaming_tokenize(texts, update_vocab=True))
    model = bm25s.BM25()
    model.index((ids, tokenizer.get_vocab_dict()), show_progress=progress)
    del ids
    out_dir = Path(out_dir)
    model.save(str(out_dir / BM25_DIR), show_progress=False)
    tokenizer.save_vocab(str(out_dir / BM25_DIR))
    tokenizer.save_stopwords(str(out_dir / BM25_DIR))
    write_doc_table(out_dir, corpus, whitespace_counts(corpus))
    return write_meta(out_dir, cfg, corpus, stemmer="english" if stemmer else None, scores="bm25")


def build_random(corpus, cfg: RetrieverConfig, out_dir: Path, progress: bool = True) -> dict:
    write_doc_table(Path(out_dir), corpus, whitespace_counts(corpus))
    return write_meta(out_dir, cfg, corpus, scores="nan")


class BM25Retriever:
    def __init__(self, cfg: RetrieverConfig, index_dir: Path, progress: bool = True):
        import bm25s

        self.cfg, self.progress = cfg, progress
        self.meta = read_meta(index_dir, cfg)
        path = str(Path(index_dir) / BM25_DIR)
        self.model = bm25s.BM25.load(path, mmap=True)
        self.tokenizer = bm25s.tokenization.Tokenizer(stopwords="en", stemmer=_stemmer() if self.meta["stemmer"]
                                                      else None)
        self.tokenizer.load_vocab(path)
        self.tokenizer.load_stopwords(path)
        self.doc_table = read_doc_table(index_dir)

    def search(self, queries: list[str], top_k: int, seed: int = 0) -> list[list[tuple[int, float]]]:
        """Per query: (corpus row, BM25 score), best first; rows with score 0 (no shared term) are dropped."""
        if not queries:
            return []
        k = min(top_k, self.meta["num_docs"])
        tokens = self.tokenizer.tokenize(list(queries), update_vocab="never", return_as="ids", show_progress=False)
        rows, scores = self.model.retrieve(tokens, k=k, show_progress=self.progress)
        return [[(int(r), float(s)) for r, s in zip(rr, ss) if s > 0] for rr, ss in zip(rows, scores)]


class RandomRetriever:
    def __init__(self, cfg: RetrieverConfig, index_dir: Path, progress: bool = True):
        self.cfg = cfg
        self.meta = read_meta(index_dir, cfg)
        self.doc_table = read_doc_table(index_dir)

    def search(self, queries: list[str], top_k: int, seed: int = 0) -> list[list[tuple[int, float]]]:
        n = self.meta["num_docs"]
        out = []
        for q in queries:
            digest = int.from_bytes(hashlib.sha1(q.encode("utf-8")).digest()[:8], "little")
            rng = np.random.default_rng([seed, digest])
            out.append([(int(r), float("nan")) for r in rng.choice(n, size=min(top_k, n), replace=False)])
        return out
