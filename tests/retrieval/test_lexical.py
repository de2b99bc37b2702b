"""BM25 (bm25s) and Random retrievers on the real BBC slice."""
from __future__ import annotations

import math
import re

import pytest

from synthesizrr.retrieval import build_index, load_doc_table, load_retriever


@pytest.fixture(scope="module")
def bm25(tmp_path_factory, bbc_corpus, make_dense_cfg):
    cfg = make_dense_cfg(kind="bm25", name="bm25")
    out = tmp_path_factory.mktemp("bm25")
    meta = build_index(bbc_corpus, cfg, out, out / "work", progress=False)
    return load_retriever(cfg, out, progress=False), meta, out


def words(text: str) -> set[str]:
    return set(re.findall(r"\w\w+", text.lower()))


def test_bm25_returns_lexical_matches_best_first(bm25, bbc_corpus):
    retriever, meta, _ = bm25
    assert meta["kind"] == "bm25" and meta["num_docs"] == len(bbc_corpus)
    rows = list(range(0, len(bbc_corpus), 23))
    titles = [bbc_corpus[r]["text"].split("\n", 1)[0] for r in rows]
    hits = retriever.search(titles, top_k=5)
    assert sum(h[0][0] == r for h, r in zip(hits, rows)) >= 0.8 * len(rows)
    for title, ranked in zip(titles, hits):
        scores = [s for _, s in ranked]
        assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
        for row, _ in ranked:
            assert words(title) & words(bbc_corpus[row]["text"]), (title, row)


def test_bm25_rare_term_and_unknown_terms(bm25, bbc_corpus):
    retriever, _, _ = bm25
    texts = bbc_corpus["text"]
    hits = retriever.search(["Yukos", "zzqxj wvvbk"], top_k=50)
    with_term = {i for i, t in enumerate(texts) if "yukos" in words(t)}
    assert with_term and {r for r, _ in hits[0]} == with_term            # every and only the documents with it
    assert hits[1] == []                                                  # no shared term: nothing retrieved


def test_bm25_doc_table_counts_whitespace_words(bm25, bbc_corpus):
    table = load_doc_table(bm25[2])
    assert table["doc_id"].to_pylist() == bbc_corpus["doc_id"]
    assert table["num_tokens"].to_pylist()[:5] == [len(t.split()) for t in bbc_corpus["text"][:5]]


def test_random_is_seeded_per_query(bbc_corpus, make_dense_cfg, tmp_path):
    cfg = make_dense_cfg(kind="random", name="random")
    meta = build_index(bbc_corpus, cfg, tmp_path, tmp_path / "work", progress=False)
    assert meta["scores"] == "nan"
    retriever = load_retriever(cfg, tmp_path)
    queries = ["first seed text", "second seed text"]
    a, b = retriever.search(queries, 20, seed=1), retriever.search(queries, 20, seed=1)
    assert all(math.isnan(s) for h in a for _, s in h)
    rows = [[r for r, _ in h] for h in a]
    assert rows == [[r for r, _ in h] for h in b]
    assert all(len(set(r)) == 20 for r in rows) and rows[0] != rows[1]
    assert [r for r, _ in retriever.search(queries[1:], 20, seed=1)[0]] == rows[1]   # independent of the batch
    assert [r for r, _ in retriever.search(queries, 20, seed=2)[0]] != rows[0]
    assert sorted(r for r, _ in retriever.search(["x"], 10_000)[0]) == list(range(len(bbc_corpus)))
