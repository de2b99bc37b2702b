"""FAISS indexes over unit-length vectors, so every score is a cosine similarity in [-1, 1].

- ``flat``: ``IndexFlatIP``, exact (the reference's choice).
- ``ivf``: ``IndexIVFFlat`` with inner product; spherical k-means trained on a seeded sample of at most
  64 * nlist vectors; nlist = min(ivf_nlist, N // 39) so every centroid gets enough training points.
  ``ivf_nprobe`` is read at search time (change it without rebuilding).
- ``hnsw``: ``IndexHNSWFlat`` with ``METRIC_INNER_PRODUCT``, M = hnsw_m, efConstruction = max(40, 2*M);
  ``hnsw_ef_search`` (at least top_k) is read at search time.

Vectors are added shard by shard in chunks straight from the shards' memmaps, so building holds one copy (the
index itself) plus one chunk. Row ``i`` of the index is row ``i`` of the corpus.
"""
from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
from tqdm.auto import tqdm

from synthesizrr.core.config import RetrieverConfig
from synthesizrr.retrieval.common import (RetrievalError, corpus_fingerprint, read_doc_table, read_meta,
                                          write_doc_table, write_meta)
from synthesizrr.retrieval.embed import open_shard, settings_key

INDEX_FILE = "index.faiss"
ADD_CHUNK = 65_536
TRAIN_SEED = 0


def ivf_nlist(cfg: RetrieverConfig, num_docs: int) -> int:
    return max(1, min(cfg.ivf_nlist, num_docs // 39))


def _train_sample(shards: list[np.ndarray], size: int) -> np.ndarray:
    total = sum(len(s) for s in shards)
    rows = np.sort(np.random.default_rng(TRAIN_SEED).choice(total, size=min(size, total), replace=False))
    out, offset = [], 0
    for emb in shards:
        mine = rows[(rows >= offset) & (rows < offset + len(emb))] - offset
        out.append(np.asarray(emb[mine], dtype=np.float32))
        offset += len(emb)
    return np.ascontiguousarray(np.concatenate(out))


def new_index(cfg: RetrieverConfig, dim: int, shards: list[np.ndarray]) -> faiss.Index:
    """An empty (trained, for ivf) index of ``cfg.index`` type for the vectors in ``shards``."""
    if cfg.index == "flat":
        return faiss.IndexFlatIP(dim)
    if cfg.index == "hnsw":
        index = faiss.IndexHNSWFlat(dim, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = max(40, 2 * cfg.hnsw_m)
        return index
    nlist = ivf_nlist(cfg, sum(len(s) for s in shards))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.spherical = True
    index.cp.seed = TRAIN_SEED
    index.train(_train_sample(shards, 64 * nlist))
    return index


def set_search_params(index: faiss.Index, cfg: RetrieverConfig, k: int) -> None:
    """Apply the search-time knobs of ``cfg`` (ivf_nprobe, hnsw_ef_search >= k) to a loaded index."""
    if isinstance(index, faiss.IndexIVF):
        index.nprobe = min(cfg.ivf_nprobe, index.nlist)
    elif isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = max(cfg.hnsw_ef_search, k)


def merge_shards(corpus, cfg: RetrieverConfig, shard_dir: Path, num_shards: int, out_dir: Path,
                 progress: bool = True) -> dict:
    """Build ``out_dir/index.faiss`` (+ doc table and meta) from the finished shards of ``corpus``."""
    opened = [open_shard(shard_dir, i, num_shards) for i in range(num_shards)]
    corpus_fp = corpus_fingerprint(corpus)
    for i, (state, _, _) in enumerate(opened):
        if state["key"] != settings_key(cfg, corpus_fp, i, num_shards):
            raise RetrievalError(f"shard {i} in {shard_dir} was embedded from another corpus or encoder setting: "
                                 f"re-embed it with this corpus and retriever config")
    dims = {state["dim"] for state, _, _ in opened}
    embs = [emb for _, emb, _ in opened]
    index = new_index(cfg, dims.pop(), embs)
    with tqdm(total=len(corpus), unit="doc", desc=f"index {cfg.index}", disable=not progress) as bar:
        for emb in embs:
            for lo in range(0, len(emb), ADD_CHUNK):
                chunk = np.ascontiguousarray(emb[lo:lo + ADD_CHUNK], dtype=np.float32)
                index.add(chunk)
                bar.update(len(chunk))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    faiss.write_index(index, str(out_dir / INDEX_FILE))
    write_doc_table(out_dir, corpus, np.concatenate([ntok for _, _, ntok in opened]))
    extra = {"nlist": index.nlist} if cfg.index == "ivf" else {}
    return write_meta(out_dir, cfg, corpus, index=cfg.index, dim=index.d, num_shards=num_shards, **extra)


class DenseRetriever:
    """Encodes queries with the corpus encoder and searches the FAISS index; scores are cosine similarities."""

    def __init__(self, cfg: RetrieverConfig, index_dir: Path, progress: bool = True):
        self.cfg, self.index_dir, self.progress = cfg, Path(index_dir), progress
        self.meta = read_meta(index_dir, cfg)
        self.index = faiss.read_index(str(self.index_dir / INDEX_FILE))
        self.doc_table = read_doc_table(index_dir)
        self._encoder = None

    @property
    def encoder(self):
        if self._encoder is None:
            from synthesizrr.retrieval.encoder import Encoder
            self._encoder = Encoder(self.cfg)
        return self._encoder

    def encode(self, texts: list[str]) -> np.ndarray:
        bs = self.cfg.batch_size
        parts = [self.encoder.encode(texts[i:i + bs])
                 for i in tqdm(range(0, len(texts), bs), desc="encode queries", disable=not self.progress)]
        return np.concatenate(parts) if parts else np.zeros((0, self.index.d), np.float32)

    def search_vectors(self, vectors: np.ndarray, top_k: int) -> list[list[tuple[int, float]]]:
        k = min(top_k, self.index.ntotal)
        set_search_params(self.index, self.cfg, k)
        scores, rows = self.index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)
        return [[(int(r), float(s)) for r, s in zip(rr, ss) if r >= 0] for rr, ss in zip(rows, scores)]

    def search(self, queries: list[str], top_k: int, seed: int = 0) -> list[list[tuple[int, float]]]:
        """Per query: (corpus row, cosine similarity), best first. ``seed`` is unused: dense search is deterministic."""
        return self.search_vectors(self.encode(list(queries)), top_k)

