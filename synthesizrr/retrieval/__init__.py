"""Retrieval: index a corpus once (``build_index``), then search it with seed texts (``load_retriever``).

    meta = build_index(corpus, cfg, out_dir, work_dir)        # out_dir: persisted index; work_dir: resumable scratch
    retriever = load_retriever(cfg, out_dir)
    hits = retriever.search(queries, top_k)                   # per query: [(corpus row, score), ...] best first
    retriever.doc_table                                       # pyarrow Table: doc_id, num_tokens (corpus order)
    load_doc_table(out_dir)                                   # the same table without loading the retriever

Kinds: ``dense`` (HF encoder + FAISS flat/ivf/hnsw; cosine scores), ``bm25`` (bm25s; BM25 scores) and ``random``
(NaN scores). Dense embedding is sharded and resumable: ``embed_shard`` + ``merge_shards``, or
``embed_shards_parallel`` for several local processes or cluster jobs. See docs/retrieval.md.
"""
from __future__ import annotations

from pathlib import Path

from synthesizrr.core.config import RetrieverConfig
from synthesizrr.retrieval.common import DOC_TABLE, META, RetrievalError, corpus_fingerprint, read_doc_table
from synthesizrr.retrieval.embed import embed_shard, open_shard, shard_rows
from synthesizrr.retrieval.faiss_index import DenseRetriever, merge_shards
from synthesizrr.retrieval.parallel import embed_shards_parallel
from synthesizrr.retrieval.lexical import BM25Retriever, RandomRetriever, build_bm25, build_random

load_doc_table = read_doc_table   # pyarrow Table (doc_id, num_tokens) of an index dir, memory-mapped

_RETRIEVERS = {"dense": DenseRetriever, "bm25": BM25Retriever, "random": RandomRetriever}


def build_index(corpus, cfg: RetrieverConfig, out_dir: Path, work_dir: Path, progress: bool = True) -> dict:
    """Index ``corpus`` (columns doc_id, text) into ``out_dir``; dense embeddings go to ``work_dir`` first and a
    rerun after a kill resumes from the last finished batch. Returns the index metadata (also in meta.json)."""
    if len(corpus) == 0:
        raise RetrievalError("the corpus has no documents: nothing to index")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.kind == "bm25":
        return build_bm25(corpus, cfg, out_dir, progress)
    if cfg.kind == "random":
        return build_random(corpus, cfg, out_dir, progress)
    embed_shard(corpus, cfg, 0, 1, Path(work_dir), progress=progress)
    return merge_shards(corpus, cfg, Path(work_dir), 1, out_dir, progress=progress)


def load_retriever(cfg: RetrieverConfig, index_dir: Path, progress: bool = True):
    """The retriever for an index built by ``build_index`` with the same kind (and, for dense, encoder)."""
    return _RETRIEVERS[cfg.kind](cfg, Path(index_dir), progress=progress)


__all__ = ["build_index", "load_retriever", "embed_shard", "merge_shards", "embed_shards_parallel", "open_shard",
           "shard_rows", "corpus_fingerprint", "read_doc_table", "load_doc_table", "RetrievalError", "DenseRetriever",
           "BM25Retriever", "RandomRetriever", "META", "DOC_TABLE"]
