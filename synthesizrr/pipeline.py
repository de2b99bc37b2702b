"""The stage pipeline: prepare -> index -> retrieve -> synthesize -> filter -> distill -> evaluate -> report.

Each stage's output lives in the run store under a key made of the stage's own config and its inputs' keys,
so a rerun does no work, an override recomputes only what depends on it, and the corpus index and retrieval
results are shared by every method and sweep point that uses them.
"""
from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path
from typing import Callable, Optional

from .core.config import STAGES, Config
from .data import draw_seed_set, label_distribution, load_splits, read_jsonl, source_signature, subsample, write_jsonl
from .core.store import Store, atomic_write_json, fingerprint, read_json

log = logging.getLogger("synthesizrr")

# Bump a stage's version when its output format or semantics change, so old cache entries are not reused.
VERSIONS = {"prepare": 1, "index": 1, "retrieve": 1, "synthesize": 1, "filter": 1, "distill": 1, "evaluate": 1,
            "oracle": 1}
RETRIEVAL_METHODS = ("synthesizrr", "regen")   # need the corpus index
SEED_QUERY_METHODS = ("synthesizrr",)          # also the retrieve stage (seed texts as queries); regen queries labels
TEACHER_OUTPUT_FIELDS = ("backend", "model", "chat", "temperature", "top_p", "top_k", "max_new_tokens", "stop",
                         "context_length", "extra")


def _fields(obj, names=None) -> dict:
    d = dataclasses.asdict(obj)
    return {k: d[k] for k in names} if names else d


class Pipeline:
    def __init__(self, cfg: Config, tracker=None):
        self.cfg = cfg
        self.store = Store(cfg.store_dir)
        self.tracker = tracker
        self.summary: dict = {"stages": {}}
        self.keys: dict[str, str] = {}
        self._teacher = None

    # ---- stage machinery -------------------------------------------------------------------------------
    def _stage(self, name: str, key_parts: dict, compute: Callable[[Path, Path], dict]) -> Path:
        key = fingerprint(name, VERSIONS[name], key_parts)
        self.keys[name] = key
        t0 = time.time()
        cached = self.store.done(name, key)
        if not cached:
            with self.store.lock(name, key):
                cached = self.store.done(name, key)  # a concurrent run may have finished it meanwhile
                if not cached:
                    log.info("stage %s: computing (key %s)", name, key)
                    with self.store.writing(name, key, {"inputs": key_parts}) as tmp:
                        figures = compute(tmp, self.store.work_dir(name, key)) or {}
                        atomic_write_json(tmp / "figures.json", figures)
        path = self.store.path(name, key)
        figures = read_json(path / "figures.json")
        self.summary["stages"][name] = {"key": key, "cached": cached, "seconds": round(time.time() - t0, 2)}
        log.info("stage %s: %s in %.1fs (key %s)", name, "cache hit" if cached else "done", time.time() - t0, key)
        if self.tracker:
            self.tracker.log_stage(name, figures, cached)
        return path

    def _reach(self, stage: str) -> bool:
        return STAGES.index(stage) <= STAGES.index(self.cfg.stage)

    # ---- stages ----------------------------------------------------------------------------------------
    def prepare(self) -> Path:
        c = self.cfg
        parts = {"dataset": _fields(c.dataset), "seed": c.seed, "source": source_signature(c.dataset, c.data_root)}

        def compute(out: Path, _work: Path) -> dict:
            splits = load_splits(c.dataset, c.data_root)
            splits["test"] = subsample(splits["test"], c.dataset.max_test_examples, c.seed)
            seeds = draw_seed_set(splits["train"], c.dataset.labels, c.dataset.seed_size_per_label, c.seed,
                                  with_replacement=c.dataset.seed_sampling == "with_replacement")
            for split, rows in splits.items():
                write_jsonl(out / f"{split}.jsonl", rows)
            write_jsonl(out / "seeds.jsonl", seeds)
            return {"labels": list(c.dataset.labels), "train_distribution": label_distribution(splits["train"]),
                    **{f"num_{k}": len(v) for k, v in splits.items()}, "num_seeds": len(seeds),
                    "num_unique_seeds": len({s["id"] for s in seeds})}

        return self._stage("prepare", parts, compute)

    def index(self) -> Path:
        from .corpora import load_corpus
        from .retrieval import build_index

        c = self.cfg
        r = _fields(c.retriever, ["kind", "model", "pooling", "max_length", "index", "ivf_nlist", "hnsw_m",
                                         "dtype"])
        parts = {"corpus": _fields(c.corpus, ["name", "source", "path", "split", "text_column", "id_column",
                                              "max_docs"]), "retriever": r}
        if c.corpus.source == "local":
            parts["source"] = _local_signature(c.corpus.path, c.corpus_root)

        def compute(out: Path, work: Path) -> dict:
            corpus = load_corpus(c.corpus, c.corpus_root)
            meta = build_index(corpus, c.retriever, out / "index", work, progress=True)
            corpus.save_to_disk(str(out / "corpus"))
            return {"num_docs": len(corpus), **(meta or {})}

        return self._stage("index", parts, compute)

    def retrieve(self, prep: Path, index: Path) -> Path:
        from .retrieval import load_retriever

        c = self.cfg
        parts = {"prepare": self.keys["prepare"], "index": self.keys["index"], "top_k": c.retriever.top_k,
                 "seed": c.seed, "hnsw_ef_search": c.retriever.hnsw_ef_search, "ivf_nprobe": c.retriever.ivf_nprobe}

        def compute(out: Path, _work: Path) -> dict:
            seeds = read_jsonl(prep / "seeds.jsonl")
            retriever = load_retriever(c.retriever, index / "index")
            hits = retriever.search([s["text"] for s in seeds], c.retriever.top_k, seed=c.seed)
            write_jsonl(out / "hits.jsonl", ({"seed_id": s["id"], "rows": [int(r) for r, _ in h],
                                              "scores": [None if sc is None else float(sc) for _, sc in h]}
                                             for s, h in zip(seeds, hits)))
            top1 = [h[0][1] for h in hits if h and h[0][1] is not None]
            return {"num_queries": len(seeds), "top1_mean_score": sum(top1) / len(top1) if top1 else None}

        return self._stage("retrieve", parts, compute)

    def synthesize(self, prep: Path, retrieved: Optional[Path], index: Optional[Path]) -> Path:
        from .synthesize import run_gold, run_teacher_method

        c = self.cfg
        m = c.method
        parts = {"prepare": self.keys["prepare"], "method": _fields(m), "seed": c.seed}
        if m.name == "regen":  # prior work: no teacher (docs/prior_work.md)
            from .methods.regen import key_parts
            parts.update(key_parts(c, self.keys["index"]))
        elif m.name != "gold":
            parts.update(teacher=_fields(c.teacher, TEACHER_OUTPUT_FIELDS),
                         prompts=_fields(c.dataset.prompts), labels=dict(c.dataset.labels),
                         max_num_tokens=c.dataset.max_num_tokens)
        else:
            parts.update(num_samples=c.filter.num_samples)
        if m.name in SEED_QUERY_METHODS:
            parts.update(retrieve=self.keys["retrieve"],
                         bands=_fields(c.retriever, ["top_k", "icl_ranks", "icl_band", "gen_band", "dedup", "kind"]),
                         token_range=_fields(c.corpus, ["min_tokens", "max_tokens", "long_documents"]))

        def compute(out: Path, work: Path) -> dict:
            if m.name == "gold":
                return run_gold(c, prep, out)
            if m.name == "regen":
                from .methods.regen import run_regen
                return run_regen(c, index, out, work)
            return run_teacher_method(c, prep, retrieved, index, out, self.teacher())

        return self._stage("synthesize", parts, compute)

    def filter(self, prep: Path, synth: Path) -> Path:
        from .filtering import run_filter

        c = self.cfg
        parts = {"prepare": self.keys["prepare"], "synthesize": self.keys["synthesize"],
                 "filter": _fields(c.filter), "seed": c.seed, "gold": c.method.name == "gold"}
        return self._stage("filter", parts, lambda out, work: run_filter(c, prep, synth, out, work))

    def distill(self, prep: Path, filtered: Path) -> Path:
        from distill.train import train_students

        c = self.cfg
        parts = {"prepare": self.keys["prepare"], "filter": self.keys["filter"], "student": _fields(c.student)}

        def compute(out: Path, work: Path) -> dict:
            # train in the persistent work dir: finished seeds and epoch checkpoints survive a kill
            res = train_students(read_jsonl(filtered / "final.jsonl"), read_jsonl(prep / "test.jsonl"),
                                 list(c.dataset.labels), c.student, work, work_dir=work / "checkpoints",
                                 progress=True)
            for f in work.glob("*.json"):
                shutil.copy2(f, out / f.name)
            atomic_write_json(out / "results.json", res)
            return {k: v for k, v in res.items() if k != "per_seed"}

        return self._stage("distill", parts, compute)

    def evaluate(self, prep: Path, filtered: Path) -> Path:
        from .evaluation import run_metrics

        c = self.cfg
        parts = {"prepare": self.keys["prepare"], "filter": self.keys["filter"], "metrics": _fields(c.metrics),
                 "seed": c.seed}
        oracle = (lambda: self.oracle(prep)) if c.metrics.label_preservation else None
        return self._stage("evaluate", parts, lambda out, work: run_metrics(c, prep, filtered, out,
                                                                            self.store.root / "features", oracle))

    def oracle(self, prep: Path) -> Path:
        """Label-preservation oracle: the student model trained on real train data, its learning rate chosen on
        validation data (never test). Shared by every method on the same dataset."""
        from distill.oracle import split_validation, train_oracle

        c = self.cfg
        parts = {"prepare": self.keys["prepare"], "student": _fields(c.student), "seed": c.seed,
                 "max_train": c.metrics.oracle_max_train}

        def compute(out: Path, work: Path) -> dict:
            train = subsample(read_jsonl(prep / "train.jsonl"), c.metrics.oracle_max_train, c.seed)
            val_path = prep / "validation.jsonl"
            if val_path.exists():
                validation = read_jsonl(val_path)
            else:
                train, validation = split_validation(train, 0.2, c.seed)
            train_oracle(train, validation, list(c.dataset.labels), c.student, work)
            shutil.copytree(work / "model", out / "model")
            return read_json(work / "oracle.json")

        return self._stage("oracle", parts, compute) / "model"

    # ---- driver ----------------------------------------------------------------------------------------
    def teacher(self):
        if self._teacher is None:
            from .teachers import build_teacher
            self._teacher = build_teacher(self.cfg.teacher, self.store.root / "teacher_cache.sqlite")
        return self._teacher

    def run(self) -> dict:
        c = self.cfg
        t0 = time.time()
        try:
            prep = self.prepare()
            index = retrieved = None
            if c.method.name in RETRIEVAL_METHODS and self._reach("index"):
                index = self.index()
                if self._reach("retrieve") and c.method.name in SEED_QUERY_METHODS:
                    retrieved = self.retrieve(prep, index)
            if not self._reach("synthesize"):
                return self._finish(t0)
            synth = self.synthesize(prep, retrieved, index)
            self.summary["synthesize"] = read_json(synth / "figures.json")
            if not self._reach("filter"):
                return self._finish(t0)
            filtered = self.filter(prep, synth)
            self.summary["filter"] = read_json(filtered / "figures.json")
            if self._reach("distill"):
                self.summary["distill"] = read_json(self.distill(prep, filtered) / "figures.json")
            if self._reach("evaluate"):
                self.summary["evaluate"] = read_json(self.evaluate(prep, filtered) / "figures.json")
            if self._reach("report"):
                from .report import record_run
                self.summary["report_dir"] = str(record_run(c, self.summary, filtered))
            return self._finish(t0)
        finally:
            if self._teacher is not None:
                self.summary["teacher_session"] = dict(self._teacher.stats)
                self._teacher.close()
                self._teacher = None

    def _finish(self, t0: float) -> dict:
        self.summary["seconds"] = round(time.time() - t0, 2)
        return self.summary


def _local_signature(path: str, root: str) -> list:
    p = Path(path) if Path(path).is_absolute() else Path(root) / path
    files = sorted(p.parent.glob(p.name)) if any(ch in p.name for ch in "*?[") else [p]
    return [[str(f), f.stat().st_size, int(f.stat().st_mtime)] for f in files if f.exists()]
