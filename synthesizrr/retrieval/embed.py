"""Resumable, shardable corpus embedding.

Shard ``i`` of ``n`` covers the contiguous corpus rows ``[i*N//n, (i+1)*N//n)``. It writes three files into a shard
directory (``work_dir``):

- ``shard-IIIII-of-NNNNN.emb``: float32 ``np.memmap`` of shape (rows, dim), unit-length vectors;
- ``shard-IIIII-of-NNNNN.ntok``: int32 ``np.memmap`` of untruncated token counts;
- ``shard-IIIII-of-NNNNN.json``: the shard's rows (``start``/``stop``; the row ids are ``range(start, stop)``),
  ``done_rows`` and a fingerprint of encoder settings and corpus.

After every batch the vectors are flushed to disk and only then ``done_rows`` is advanced (atomic json write), so a
killed job resumes from its last finished batch and never re-encodes it. A changed model, pooling, max_length or
corpus changes the fingerprint and the shard starts over. Shards are independent: run them in local processes
(``embed_shards_parallel``) or as SLURM array tasks (see docs/retrieval.md), then ``merge_shards`` builds the index.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from synthesizrr.core.config import RetrieverConfig
from synthesizrr.retrieval.common import RetrievalError, corpus_fingerprint, iter_text_batches
from synthesizrr.core.store import atomic_write_json, fingerprint, read_json


def shard_name(shard_id: int, num_shards: int) -> str:
    return f"shard-{shard_id:05d}-of-{num_shards:05d}"


def shard_rows(num_docs: int, shard_id: int, num_shards: int) -> tuple[int, int]:
    if num_shards < 1 or not 0 <= shard_id < num_shards:
        raise RetrievalError(f"shard_id={shard_id} is out of range: allowed 0..num_shards-1 with num_shards>=1")
    return shard_id * num_docs // num_shards, (shard_id + 1) * num_docs // num_shards


def settings_key(cfg: RetrieverConfig, corpus_fp: str, shard_id: int, num_shards: int) -> str:
    return fingerprint("embed", cfg.model, cfg.pooling, cfg.max_length, getattr(cfg, "dtype", "float32"),
                       corpus_fp, shard_id, num_shards)


def embed_shard(corpus, cfg: RetrieverConfig, shard_id: int, num_shards: int, out_dir: Path,
                progress: bool = True, encoder=None) -> dict:
    """Embed one shard of ``corpus`` into ``out_dir``, resuming a killed run; return its progress record."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start, stop = shard_rows(len(corpus), shard_id, num_shards)
    base = out_dir / shard_name(shard_id, num_shards)
    key = settings_key(cfg, corpus_fingerprint(corpus), shard_id, num_shards)
    state = read_json(base.with_suffix(".json")) if base.with_suffix(".json").is_file() else None
    if state and state["key"] == key and state["done_rows"] >= stop - start:
        return state
    if encoder is None:
        from synthesizrr.retrieval.encoder import Encoder
        encoder = Encoder(cfg)
    resume = bool(state and state["key"] == key and state["dim"] == encoder.dim
                  and base.with_suffix(".emb").is_file() and base.with_suffix(".ntok").is_file())
    if not resume:
        state = {"key": key, "shard_id": shard_id, "num_shards": num_shards, "start": start, "stop": stop,
                 "dim": encoder.dim, "done_rows": 0, "model": cfg.model}
    rows, mode = stop - start, "r+" if resume else "w+"
    emb = np.memmap(base.with_suffix(".emb"), dtype=np.float32, mode=mode, shape=(max(rows, 1), encoder.dim))
    ntok = np.memmap(base.with_suffix(".ntok"), dtype=np.int32, mode=mode, shape=(max(rows, 1),))
    atomic_write_json(base.with_suffix(".json"), state)
    done = state["done_rows"]
    bar = tqdm(total=rows, initial=done, unit="doc", disable=not progress,
               desc=f"embed {shard_name(shard_id, num_shards)}")
    for lo, texts in iter_text_batches(corpus, start + done, stop, cfg.batch_size):
        i = lo - start
        emb[i:i + len(texts)] = encoder.encode(texts)
        ntok[i:i + len(texts)] = encoder.count_tokens(texts)
        emb.flush()
        ntok.flush()
        state["done_rows"] = i + len(texts)
        atomic_write_json(base.with_suffix(".json"), state)
        bar.update(len(texts))
    bar.close()
    del emb, ntok
    return state


def open_shard(shard_dir: Path, shard_id: int, num_shards: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """(progress record, read-only embeddings, token counts) of a finished shard."""
    base = Path(shard_dir) / shard_name(shard_id, num_shards)
    if not base.with_suffix(".json").is_file():
        raise RetrievalError(f"shard {base.name} is missing in {shard_dir}: run embed_shard({shard_id}, {num_shards})")
    state = read_json(base.with_suffix(".json"))
    rows = state["stop"] - state["start"]
    if state["done_rows"] < rows:
        raise RetrievalError(f"shard {base.name} in {shard_dir} is unfinished ({state['done_rows']}/{rows} rows): "
                             f"rerun embed_shard for it; it resumes")
    emb = np.memmap(base.with_suffix(".emb"), dtype=np.float32, mode="r", shape=(max(rows, 1), state["dim"]))[:rows]
    ntok = np.memmap(base.with_suffix(".ntok"), dtype=np.int32, mode="r", shape=(max(rows, 1),))[:rows]
    return state, emb, ntok
