"""Dense retrieval with the real MiniLM encoder over ~330 real BBC articles."""
from __future__ import annotations

import faiss
import numpy as np
import pytest

from synthesizrr.core.assets import minilm_path
from synthesizrr.retrieval import RetrievalError, build_index, load_doc_table, load_retriever, open_shard

QUERIES = ["The central bank raised interest rates to curb inflation",
           "The striker scored twice as the club reached the cup final",
           "A new mobile phone lets users download music and video"]


def titles(corpus, rows):
    return [corpus[i]["text"].split("\n", 1)[0] for i in rows]


def test_own_title_retrieves_the_article_first(dense_index, bbc_corpus):
    index_dir, _, cfg, _ = dense_index
    rows = list(range(0, len(bbc_corpus), 11))
    hits = load_retriever(cfg, index_dir, progress=False).search(titles(bbc_corpus, rows), top_k=5)
    misses = [(title, h[0][0]) for title, r, h in zip(titles(bbc_corpus, rows), rows, hits) if h[0][0] != r]
    assert len(misses) <= len(rows) // 10, misses


def test_scores_are_cosine_of_independently_computed_embeddings(dense_index, bbc_corpus):
    from sentence_transformers import SentenceTransformer

    index_dir, _, cfg, _ = dense_index
    hits = load_retriever(cfg, index_dir, progress=False).search(QUERIES, top_k=10)
    st = SentenceTransformer(str(minilm_path()), device="cpu")
    st.max_seq_length = cfg.max_length
    q = st.encode(QUERIES, normalize_embeddings=True)
    for qi, ranked in enumerate(hits):
        rows, scores = [r for r, _ in ranked], np.array([s for _, s in ranked])
        assert len(ranked) == 10 and np.all(np.diff(scores) <= 1e-7) and np.all(np.abs(scores) <= 1)
        docs = st.encode(bbc_corpus.select(rows)["text"], normalize_embeddings=True)
        np.testing.assert_allclose(docs @ q[qi], scores, atol=1e-4)


def test_flat_search_is_exact_over_the_stored_vectors(dense_index):
    index_dir, _, cfg, _ = dense_index
    retriever = load_retriever(cfg, index_dir, progress=False)
    vectors = retriever.index.reconstruct_n(0, retriever.index.ntotal)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    q = retriever.encode(QUERIES)
    for qi, ranked in enumerate(retriever.search_vectors(q, 10)):
        exact = vectors @ q[qi]
        rows, scores = [r for r, _ in ranked], [s for _, s in ranked]
        np.testing.assert_allclose(exact[rows], scores, atol=1e-5)                # each score is the row's cosine
        np.testing.assert_allclose(np.sort(exact)[::-1][:10], scores, atol=1e-5)  # and they are the ten best


def test_persisted_index_matches_the_embedded_shard_and_doc_table(dense_index, bbc_corpus):
    index_dir, work_dir, cfg, meta = dense_index
    assert sorted(p.name for p in index_dir.iterdir()) == ["docs.parquet", "index.faiss", "meta.json"]
    assert meta["num_docs"] == len(bbc_corpus) and meta["dim"] == 384 and meta["index"] == "flat"
    retriever = load_retriever(cfg, index_dir, progress=False)
    _, emb, ntok = open_shard(work_dir, 0, 1)
    np.testing.assert_array_equal(retriever.index.reconstruct_n(0, len(bbc_corpus)), emb)
    table = load_doc_table(index_dir)
    assert table["doc_id"].to_pylist() == bbc_corpus["doc_id"]
    tok = retriever.encoder.tokenizer
    sample = bbc_corpus.select(range(0, len(bbc_corpus), 40))["text"]
    expected = [len(tok(t, add_special_tokens=False)["input_ids"]) for t in sample]
    assert table["num_tokens"].to_pylist()[::40] == expected == list(ntok[::40])
    assert max(expected) > cfg.max_length, "num_tokens counts the whole document, not the truncated input"


def test_loading_with_another_encoder_or_kind_is_refused(dense_index, make_dense_cfg, tmp_path):
    index_dir, _, cfg, _ = dense_index
    with pytest.raises(RetrievalError, match="max_length=64 but retriever.max_length=128"):
        load_retriever(make_dense_cfg(max_length=128), index_dir)
    with pytest.raises(RetrievalError, match="kind 'dense' but retriever.kind='bm25'"):
        load_retriever(make_dense_cfg(kind="bm25"), index_dir)
    with pytest.raises(RetrievalError, match="no index at"):
        load_retriever(cfg, tmp_path)


@pytest.mark.parametrize("kind, index_type", [("hnsw", faiss.IndexHNSWFlat), ("ivf", faiss.IndexIVFFlat)])
def test_approximate_indexes_recall_the_flat_neighbours(dense_index, bbc_corpus, make_dense_cfg, tmp_path, kind,
                                                        index_type):
    index_dir, work_dir, cfg, _ = dense_index
    flat = load_retriever(cfg, index_dir, progress=False)
    vectors = flat.index.reconstruct_n(0, flat.index.ntotal)
    rng = np.random.default_rng(0)
    pairs = rng.choice(len(vectors), size=(60, 2))
    queries = vectors[pairs[:, 0]] + vectors[pairs[:, 1]]
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = [{r for r, _ in h} for h in flat.search_vectors(queries, 10)]

    meta = build_index(bbc_corpus, make_dense_cfg(index=kind), tmp_path, work_dir, progress=False)  # reuses vectors
    assert meta["index"] == kind

    def recall(**search_params) -> float:
        approx = load_retriever(make_dense_cfg(index=kind, **search_params), tmp_path, progress=False)
        assert isinstance(approx.index, index_type)
        found = approx.search_vectors(queries, 10)
        assert all(abs(s - float(vectors[r] @ q)) < 1e-5 for h, q in zip(found, queries) for r, s in h)
        return float(np.mean([len(e & {r for r, _ in h}) / 10 for e, h in zip(exact, found)]))

    if kind == "hnsw":
        assert recall(hnsw_ef_search=128) >= 0.95
    else:
        nlist = len(bbc_corpus) // 39
        assert recall(ivf_nprobe=nlist) == 1.0          # every list scanned: exact
        assert 0.3 <= recall(ivf_nprobe=1) < 0.95      # one list of eight: approximate, still useful
