"""Resumable and sharded embedding: a killed build resumes without re-encoding finished batches, and shards
embedded by two worker processes, each pinned to a (faked) GPU of its own, merge into the same index as a
single-process build."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from synthesizrr.core.config import CorpusConfig
from synthesizrr.corpora import load_corpus
from synthesizrr.core.gpus import FAKE, TRACE
from synthesizrr.retrieval import (RetrievalError, build_index, embed_shard, embed_shards_parallel, load_doc_table,
                                   load_retriever, merge_shards, shard_rows)
from synthesizrr.retrieval.encoder import Encoder

PROGRESS = "shard-00000-of-00001.json"


@pytest.fixture
def count_encodes(monkeypatch):
    """Counts Encoder.encode calls; raises once the count reaches ``fail_at`` (None: never)."""
    state = {"calls": 0, "fail_at": None}
    original = Encoder.encode

    def encode(self, texts):
        if state["fail_at"] is not None and state["calls"] >= state["fail_at"]:
            raise RuntimeError("simulated crash")
        state["calls"] += 1
        return original(self, texts)

    monkeypatch.setattr(Encoder, "encode", encode)
    return state


def flat_vectors(index_dir, cfg) -> np.ndarray:
    index = load_retriever(cfg, index_dir, progress=False).index
    return index.reconstruct_n(0, index.ntotal)


def test_crashed_build_resumes_from_the_last_finished_batch(dense_index, bbc_corpus, make_dense_cfg, tmp_path,
                                                            count_encodes):
    corpus, cfg = bbc_corpus.select(range(48)), make_dense_cfg(batch_size=8)     # six batches
    count_encodes["fail_at"] = 3
    with pytest.raises(RuntimeError, match="simulated crash"):
        build_index(corpus, cfg, tmp_path / "index", tmp_path / "work", progress=False)
    assert json.loads((tmp_path / "work" / PROGRESS).read_text())["done_rows"] == 24
    assert not (tmp_path / "index" / "index.faiss").exists()

    count_encodes.update(calls=0, fail_at=None)
    build_index(corpus, cfg, tmp_path / "index", tmp_path / "work", progress=False)
    assert count_encodes["calls"] == 3                                   # only the three unfinished batches
    reference = flat_vectors(dense_index[0], dense_index[2])[:48]        # uninterrupted build, other batch size
    np.testing.assert_allclose(flat_vectors(tmp_path / "index", cfg), reference, atol=1e-5)

    count_encodes["calls"] = 0
    build_index(corpus, cfg, tmp_path / "again", tmp_path / "work", progress=False)
    assert count_encodes["calls"] == 0                                   # a finished shard is reused as is


KILLED_BUILD = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from synthesizrr.core.config import CorpusConfig, RetrieverConfig
    from synthesizrr.corpora import load_corpus
    from synthesizrr.retrieval import build_index
    from synthesizrr.retrieval.encoder import Encoder

    original, calls = Encoder.encode, [0]
    def encode(self, texts):
        if calls[0] == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        calls[0] += 1
        return original(self, texts)
    Encoder.encode = encode
    corpus = load_corpus(CorpusConfig(name="bbc", source="bbc_embedded"), "").select(range(40))
    cfg = RetrieverConfig(name="t", model="offline:minilm", max_length=64, batch_size=8, device="cpu")
    build_index(corpus, cfg, Path(sys.argv[1]), Path(sys.argv[2]), progress=False)
""")


def test_sigkilled_build_resumes(bbc_pool, make_dense_cfg, tmp_path, count_encodes):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-c", KILLED_BUILD, str(tmp_path / "index"), str(tmp_path / "work")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert json.loads((tmp_path / "work" / PROGRESS).read_text())["done_rows"] == 16
    build_index(bbc_pool.select(range(40)), make_dense_cfg(batch_size=8), tmp_path / "index", tmp_path / "work",
                progress=False)
    assert count_encodes["calls"] == 3                                   # rows 16..39 in batches of eight


def test_shard_rows_partition_the_corpus():
    for n, k in [(10, 3), (2, 5), (1000, 7)]:
        spans = [shard_rows(n, i, k) for i in range(k)]
        assert spans[0][0] == 0 and spans[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    with pytest.raises(RetrievalError, match="shard_id=3 is out of range"):
        shard_rows(10, 3, 3)


def test_merge_refuses_a_missing_or_unfinished_shard(bbc_corpus, make_dense_cfg, tmp_path, count_encodes):
    corpus, cfg = bbc_corpus.select(range(20)), make_dense_cfg(batch_size=4)
    with pytest.raises(RetrievalError, match="shard shard-00000-of-00002 is missing"):
        merge_shards(corpus, cfg, tmp_path, 2, tmp_path / "index", progress=False)
    encoder = Encoder(cfg)
    embed_shard(corpus, cfg, 0, 2, tmp_path, progress=False, encoder=encoder)
    count_encodes["fail_at"] = count_encodes["calls"] + 1
    with pytest.raises(RuntimeError):
        embed_shard(corpus, cfg, 1, 2, tmp_path, progress=False, encoder=encoder)
    with pytest.raises(RetrievalError, match=r"shard-00001-of-00002 .* is unfinished \(4/10 rows\)"):
        merge_shards(corpus, cfg, tmp_path, 2, tmp_path / "index", progress=False)
    count_encodes.update(calls=0, fail_at=None)
    embed_shard(corpus, cfg, 1, 2, tmp_path, progress=False, encoder=encoder)
    assert count_encodes["calls"] == 2                                   # rows 4..9 of the shard's ten
    assert merge_shards(corpus, cfg, tmp_path, 2, tmp_path / "index", progress=False)["num_docs"] == 20
    with pytest.raises(RetrievalError, match="shard 0 .* another corpus or encoder setting"):
        merge_shards(corpus, make_dense_cfg(pooling="cls"), tmp_path, 2, tmp_path / "index", progress=False)
    with pytest.raises(RetrievalError, match="shard 0 .* another corpus or encoder setting"):
        merge_shards(bbc_corpus.select(range(1, 21)), cfg, tmp_path, 2, tmp_path / "index", progress=False)


def test_two_worker_processes_on_their_own_gpus_build_the_single_process_index(dense_index, bbc_corpus,
                                                                               make_dense_cfg, jsonl, tmp_path,
                                                                               monkeypatch):
    head = bbc_corpus.select(range(60))
    jsonl(tmp_path / "corpus.jsonl", [{"id": d, "text": t} for d, t in zip(head["doc_id"], head["text"])])
    corpus_cfg = CorpusConfig(name="t", source="local", path="corpus.jsonl", id_column="id")
    cfg = make_dense_cfg(batch_size=16, device="auto", dtype="float32")   # device auto: workers are pinned
    monkeypatch.setenv(FAKE, "2")                  # believed GPUs; without CUDA the workers still embed on CPU
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setenv(TRACE, str(tmp_path / "trace.jsonl"))
    meta = embed_shards_parallel(corpus_cfg, str(tmp_path), cfg, tmp_path / "index", tmp_path / "work",
                                 num_workers=2, num_shards=3)
    workers = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    assert sorted(w["devices"] for w in workers) == ["0", "1"] and len({w["pid"] for w in workers}) == 2
    assert meta["num_shards"] == 3 and meta["num_docs"] == 60
    assert len(list((tmp_path / "work").glob("shard-*-of-00003.emb"))) == 3
    single = flat_vectors(dense_index[0], dense_index[2])[:60]           # one process, one shard
    np.testing.assert_allclose(flat_vectors(tmp_path / "index", cfg), single, atol=1e-5)
    table, single_table = load_doc_table(tmp_path / "index"), load_doc_table(dense_index[0]).slice(0, 60)
    assert table.equals(single_table)
    assert load_corpus(corpus_cfg, str(tmp_path))["doc_id"] == table["doc_id"].to_pylist()
