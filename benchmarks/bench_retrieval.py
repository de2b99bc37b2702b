"""Search speed of exact (flat) vs approximate (hnsw, ivf) FAISS indexes over a ~100k-document index.

The index vectors are REAL MiniLM embeddings of the first ``--real-docs`` texts of the shared corpora (BBC news, movie
plots, IMDb reviews, interleaved), tiled up to ``--total`` vectors: each extra copy of a real vector v is
normalize(v + e), e ~ N(0, sigma^2 I) with sigma = --noise / sqrt(dim) (so |e| ~ --noise). Embedding 100k documents
with MiniLM on two CPU cores takes hours; the tiling keeps the real vectors' cluster structure. Queries are
MiniLM embeddings of the first 32 tokens of held-out texts (IMDb reviews not in the index).

Reported per index type: build seconds, batched queries/s (all queries in one search call), single-query queries/s
(one call per query), and recall@10 against the exact flat results; plus the speedup over flat.

    python benchmarks/bench_retrieval.py [--real-docs 10000] [--total 100000] [--queries 1000] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from synthesizrr.core.config import RetrieverConfig  # noqa: E402
from synthesizrr.retrieval.encoder import Encoder  # noqa: E402
from synthesizrr.retrieval.faiss_index import new_index, set_search_params  # noqa: E402

SOURCES = ("news_bbc/bbc_news.jsonl", "movie_plots_movielens/movie_plots.jsonl",
           "imdb_unsup_reviews/imdb_unsup_reviews.jsonl")
TOP_K = 10


def read_texts(corpus_root: Path) -> list[str]:
    """Texts of the shared corpora interleaved round-robin, so any prefix mixes the three domains."""
    lists = []
    for rel in SOURCES:
        with open(corpus_root / rel, encoding="utf-8") as fh:
            lists.append([json.loads(line)["text"] for line in fh if line.strip()])
    out = []
    for i in range(max(len(x) for x in lists)):
        out.extend(x[i] for x in lists if i < len(x))
    return out


def embed(texts: list[str], max_length: int, cache: Path | None, tag: str) -> np.ndarray:
    path = cache / f"{tag}-{len(texts)}-{max_length}.npy" if cache else None
    if path and path.is_file():
        return np.load(path)
    cfg = RetrieverConfig(name="bench", model="offline:minilm", max_length=max_length, batch_size=64, device="cpu")
    enc, t0 = Encoder(cfg), time.perf_counter()
    parts = []
    for i in range(0, len(texts), cfg.batch_size):
        parts.append(enc.encode(texts[i:i + cfg.batch_size]))
        done = min(i + cfg.batch_size, len(texts))
        print(f"\r  embedded {tag} {done}/{len(texts)} ({done / (time.perf_counter() - t0):.1f}/s)", end="",
              file=sys.stderr)
    print(file=sys.stderr)
    vectors = np.concatenate(parts)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors


def tile(real: np.ndarray, total: int, noise: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((total, real.shape[1]), dtype=np.float32)
    out[:len(real)] = real[:total]
    for lo in range(len(real), total, len(real)):
        hi = min(lo + len(real), total)
        block = real[:hi - lo] + rng.normal(0, noise / np.sqrt(real.shape[1]), (hi - lo, real.shape[1]))
        out[lo:hi] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def measure(index, queries: np.ndarray, single: int) -> tuple[float, float, np.ndarray]:
    t0 = time.perf_counter()
    _, rows = index.search(queries, TOP_K)
    batched = len(queries) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for q in queries[:single]:
        index.search(q[None], TOP_K)
    return batched, single / (time.perf_counter() - t0), rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus-root", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "corpora")
    ap.add_argument("--real-docs", type=int, default=10_000)
    ap.add_argument("--total", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--single", type=int, default=200, help="queries searched one at a time")
    ap.add_argument("--max-length", type=int, default=128, help="document tokens embedded")
    ap.add_argument("--noise", type=float, default=0.3)
    ap.add_argument("--cache", type=Path, default=Path(".synthesizrr/bench_retrieval"))
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--nprobe", type=int, default=32)
    ap.add_argument("--hnsw-m", type=int, default=32)
    ap.add_argument("--ef-search", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0, help="faiss OpenMP threads (0: faiss default)")
    args = ap.parse_args(argv)
    if args.threads:
        import faiss
        faiss.omp_set_num_threads(args.threads)

    texts = read_texts(args.corpus_root)
    if args.real_docs + args.queries > len(texts):
        sys.exit(f"--real-docs + --queries = {args.real_docs + args.queries} exceeds the {len(texts)} shared texts")
    t0 = time.perf_counter()
    real = embed(texts[:args.real_docs], args.max_length, args.cache, "docs")
    queries = embed(texts[-args.queries:], 32, args.cache, "queries")
    print(f"embedding: {time.perf_counter() - t0:.1f}s (cached runs skip it)", file=sys.stderr)
    vectors = tile(real, args.total, args.noise)
    print(f"index: {len(vectors)} vectors (dim {vectors.shape[1]}): {len(real)} real MiniLM document embeddings "
          f"(max_length {args.max_length}) tiled with noise |e|~{args.noise}; {len(queries)} real queries; "
          f"faiss threads {__import__('faiss').omp_get_max_threads()}")

    results, exact = {}, None
    for kind in ("flat", "hnsw", "ivf"):
        cfg = RetrieverConfig(name="bench", index=kind, ivf_nlist=args.nlist, ivf_nprobe=args.nprobe,
                              hnsw_m=args.hnsw_m, hnsw_ef_search=args.ef_search)
        t0 = time.perf_counter()
        index = new_index(cfg, vectors.shape[1], [vectors])
        index.add(vectors)
        build = time.perf_counter() - t0
        set_search_params(index, cfg, TOP_K)
        batched, single, rows = measure(index, queries, args.single)
        exact = rows if kind == "flat" else exact
        recall = float(np.mean([len(set(a) & set(b)) / TOP_K for a, b in zip(rows, exact)]))
        params = {"flat": "", "hnsw": f"M={args.hnsw_m} efSearch={args.ef_search}",
                  "ivf": f"nlist={getattr(index, 'nlist', '')} nprobe={args.nprobe}"}[kind]
        results[kind] = dict(build_s=build, batched_qps=batched, single_qps=single, recall_at_10=recall,
                             params=params)
    flat = results["flat"]
    print(f"{'index':6} {'params':24} {'build s':>8} {'batch q/s':>10} {'speedup':>8} {'single q/s':>10} "
          f"{'speedup':>8} {'recall@10':>9}")
    for kind, r in results.items():
        print(f"{kind:6} {r['params']:24} {r['build_s']:8.1f} {r['batched_qps']:10.0f} "
              f"{r['batched_qps'] / flat['batched_qps']:7.1f}x {r['single_qps']:10.0f} "
              f"{r['single_qps'] / flat['single_qps']:7.1f}x {r['recall_at_10']:9.3f}")


if __name__ == "__main__":
    main()
