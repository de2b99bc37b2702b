"""Fixtures for the retrieval tests: a ~330-document slice of the real BBC pool and one dense index over it,
built once per session with the real MiniLM encoder (64 tokens keep it fast on two CPU cores)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthesizrr.core.config import CorpusConfig, RetrieverConfig
from synthesizrr.corpora import load_corpus


def dense_cfg(**overrides) -> RetrieverConfig:
    kw = dict(name="test_dense", kind="dense", model="offline:minilm", max_length=64, batch_size=32, top_k=10,
              device="cpu")
    kw.update(overrides)
    return RetrieverConfig(**kw)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def make_dense_cfg():
    return dense_cfg


@pytest.fixture(scope="session")
def jsonl():
    return write_jsonl


@pytest.fixture(scope="session")
def bbc_pool():
    return load_corpus(CorpusConfig(name="bbc_embedded", source="bbc_embedded"), "")


@pytest.fixture(scope="session")
def bbc_corpus(bbc_pool):
    """Every fifth pool article: all five labels, about 330 documents."""
    return bbc_pool.select(range(0, len(bbc_pool), 5))


@pytest.fixture(scope="session")
def dense_index(tmp_path_factory, bbc_corpus):
    """(index dir, work dir, cfg, build meta) of a flat MiniLM index over ``bbc_corpus``."""
    from synthesizrr.retrieval import build_index

    root = tmp_path_factory.mktemp("dense")
    cfg = dense_cfg()
    meta = build_index(bbc_corpus, cfg, root / "index", root / "work", progress=False)
    return root / "index", root / "work", cfg, meta
