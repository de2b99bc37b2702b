"""Corpus embedding in several worker processes (or cluster jobs), then one merged index."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from synthesizrr.core.config import CorpusConfig, RetrieverConfig
from synthesizrr.corpora import load_corpus
from synthesizrr.core.gpus import pinned_pool, visible_gpus
from synthesizrr.retrieval.common import RetrievalError
from synthesizrr.retrieval.embed import embed_shard
from synthesizrr.retrieval.faiss_index import merge_shards


def _shard_worker(corpus_cfg: CorpusConfig, corpus_root: str, cfg: RetrieverConfig, shard_id: int,
                  num_shards: int, work_dir: str) -> dict:
    """Entry point of one worker process (or one SLURM array task): load the corpus and embed one shard."""
    return embed_shard(load_corpus(corpus_cfg, corpus_root), cfg, shard_id, num_shards, Path(work_dir),
                       progress=False)


def embed_shards_parallel(corpus_cfg: CorpusConfig, corpus_root: str, cfg: RetrieverConfig, out_dir: Path,
                          work_dir: Path, num_workers: int = 2, num_shards: Optional[int] = None,
                          executor: Any = None) -> dict:
    """Embed ``num_shards`` shards (default ``num_workers``) in worker processes, then merge them into ``out_dir``.

    ``executor`` is anything with ``submit(fn, *args)`` returning futures with ``.result()``: by default
    ``num_workers`` spawned processes, each with cpu_count/num_workers torch threads and, for retriever.device
    auto or cuda, a visible GPU of its own (shared in turn when workers outnumber GPUs); a ``submitit`` executor
    runs the shards as cluster jobs instead.
    """
    if cfg.kind != "dense":
        raise RetrievalError(f"retriever.kind={cfg.kind!r} has no embeddings to shard: only kind dense is sharded")
    if num_workers < 1:
        raise RetrievalError(f"num_workers={num_workers} is not allowed: use 1 or more")
    num_shards = num_shards or num_workers
    own = executor is None
    if own:
        gpus = visible_gpus() if cfg.device in ("auto", "cuda") else []   # cuda:N or cpu: left as configured
        executor = pinned_pool(num_workers, gpus, "embed", max(1, (os.cpu_count() or 1) // num_workers))
    try:
        futures = [executor.submit(_shard_worker, corpus_cfg, corpus_root, cfg, i, num_shards, str(work_dir))
                   for i in range(num_shards)]
        for fut in futures:
            fut.result()
    finally:
        if own:
            executor.shutdown()
    return merge_shards(load_corpus(corpus_cfg, corpus_root), cfg, Path(work_dir), num_shards, Path(out_dir))
