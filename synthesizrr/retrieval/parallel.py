"""Corpus embedding in several worker processes (or cluster jobs), then one merged index."""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Optional

from synthesizrr.core.config import CorpusConfig, RetrieverConfig
from synthesizrr.corpora import load_corpus
from synthesizrr.retrieval.common import RetrievalError
from synthesizrr.retrieval.embed import embed_shard
from synthesizrr.retrieval.faiss_index import merge_shards


def _shard_worker(corpus_cfg: CorpusConfig, corpus_root: str, cfg: RetrieverConfig, shard_id: int,
                  num_shards: int, work_dir: str, threads: Optional[int]) -> dict:
    """Entry point of one worker process (or one SLURM array task): load the corpus and embed one shard."""
    if threads:
        import torch
        torch.set_num_threads(threads)
    return embed_shard(load_corpus(corpus_cfg, corpus_root), cfg, shard_id, num_shards, Path(work_dir),
                       progress=False)


def embed_shards_parallel(corpus_cfg: CorpusConfig, corpus_root: str, cfg: RetrieverConfig, out_dir: Path,
                          work_dir: Path, num_workers: int = 2, num_shards: Optional[int] = None,
                          executor: Any = None) -> dict:
    """Embed ``num_shards`` shards (default ``num_workers``) in worker processes, then merge them into ``out_dir``.

    ``executor`` is anything with ``submit(fn, *args)`` returning futures with ``.result()``: by default a
    ``ProcessPoolExecutor`` (spawn) of ``num_workers`` processes, each with cpu_count/num_workers torch threads; a
    ``submitit`` executor runs the shards as cluster jobs instead.
    """
    if cfg.kind != "dense":
        raise RetrievalError(f"retriever.kind={cfg.kind!r} has no embeddings to shard: only kind dense is sharded")
    if num_workers < 1:
        raise RetrievalError(f"num_workers={num_workers} is not allowed: use 1 or more")
    num_shards = num_shards or num_workers
    threads = max(1, (os.cpu_count() or 1) // num_workers)
    own = executor is None
    if own:
        executor = ProcessPoolExecutor(max_workers=num_workers, mp_context=get_context("spawn"))
    try:
        futures = [executor.submit(_shard_worker, corpus_cfg, corpus_root, cfg, i, num_shards, str(work_dir),
                                   threads if own else None) for i in range(num_shards)]
        for fut in futures:
            fut.result()
    finally:
        if own:
            executor.shutdown()
    return merge_shards(load_corpus(corpus_cfg, corpus_root), cfg, Path(work_dir), num_shards, Path(out_dir))
