"""Pieces shared by every retriever kind: the index directory layout, the doc table and the corpus fingerprint.

An index directory holds ``meta.json`` (kind, settings, document count, corpus fingerprint), ``docs.parquet`` (one
row per corpus row, in corpus order: ``doc_id`` and ``num_tokens``) and the kind's own files.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from synthesizrr.core.config import RetrieverConfig
from synthesizrr.core.errors import DataError
from synthesizrr.core.store import atomic_write_json, read_json

META = "meta.json"
DOC_TABLE = "docs.parquet"
READ_BATCH = 10_000           # rows read from the arrow corpus at a time when only counting or hashing


class RetrievalError(DataError):
    """An index is missing, incomplete or does not match the config; one line naming the path and the fix."""


def corpus_fingerprint(corpus: datasets.Dataset, sample: int = 1000) -> str:
    """Cheap, stable identity of a corpus: its size and the ids and text lengths of its first and last rows
    (a change confined to the middle of a large corpus is not seen; the pipeline keys work dirs by file too)."""
    n = len(corpus)
    h = hashlib.sha256(str(n).encode())
    for rows in (range(0, min(sample, n)), range(max(0, n - sample), n)):
        part = corpus.select(rows)
        for doc_id, text in zip(part["doc_id"], part["text"]):
            h.update(f"{doc_id}\t{len(text)}\n".encode())
    return h.hexdigest()[:16]


def iter_text_batches(corpus: datasets.Dataset, start: int, stop: int, batch_size: int) -> Iterator[tuple[int, list]]:
    """(first row, texts) for consecutive slices of rows [start, stop); only one slice is in memory at a time."""
    texts = corpus.select_columns(["text"])
    for lo in range(start, stop, batch_size):
        yield lo, texts[lo:min(lo + batch_size, stop)]["text"]


def whitespace_counts(corpus: datasets.Dataset) -> np.ndarray:
    out = np.empty(len(corpus), dtype=np.int32)
    for lo, texts in iter_text_batches(corpus, 0, len(corpus), READ_BATCH):
        out[lo:lo + len(texts)] = [len(t.split()) for t in texts]
    return out


def write_doc_table(out_dir: Path, corpus: datasets.Dataset, num_tokens: np.ndarray) -> None:
    """docs.parquet: doc_id and num_tokens for every corpus row, written in slices to bound memory."""
    schema = pa.schema([("doc_id", pa.string()), ("num_tokens", pa.int32())])
    ids = corpus.select_columns(["doc_id"]).with_format("arrow")
    with pq.ParquetWriter(Path(out_dir) / DOC_TABLE, schema) as writer:
        for lo in range(0, len(corpus), READ_BATCH):
            hi = min(lo + READ_BATCH, len(corpus))
            writer.write_table(pa.table({"doc_id": ids[lo:hi]["doc_id"].cast(pa.string()),
                                         "num_tokens": pa.array(num_tokens[lo:hi], pa.int32())}, schema=schema))


def read_doc_table(index_dir: Path) -> pa.Table:
    return pq.read_table(Path(index_dir) / DOC_TABLE, memory_map=True)


def write_meta(out_dir: Path, cfg: RetrieverConfig, corpus: datasets.Dataset, **extra) -> dict:
    meta = {"kind": cfg.kind, "model": cfg.model if cfg.kind == "dense" else None,
            "pooling": cfg.pooling if cfg.kind == "dense" else None,
            "max_length": cfg.max_length if cfg.kind == "dense" else None,
            "num_docs": len(corpus), "corpus_fingerprint": corpus_fingerprint(corpus),
            "num_tokens": "retriever tokenizer, no special tokens" if cfg.kind == "dense" else "whitespace words",
            **extra}
    atomic_write_json(Path(out_dir) / META, meta)
    return meta


def read_meta(index_dir: Path, cfg: RetrieverConfig) -> dict:
    path = Path(index_dir) / META
    if not path.is_file():
        raise RetrievalError(f"no index at {index_dir}: {META} is missing; run build_index first")
    meta = read_json(path)
    if meta["kind"] != cfg.kind:
        raise RetrievalError(f"index at {index_dir} is kind '{meta['kind']}' but retriever.kind={cfg.kind!r}: "
                             f"rebuild it or use kind {meta['kind']}")
    if cfg.kind == "dense":
        for key in ("model", "pooling", "max_length"):
            if meta[key] != getattr(cfg, key):
                raise RetrievalError(f"index at {index_dir} was built with {key}={meta[key]!r} but retriever.{key}="
                                     f"{getattr(cfg, key)!r}: queries must use the corpus encoder; rebuild the index")
    return meta
