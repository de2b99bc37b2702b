"""The stage pipeline: prepare -> index -> retrieve -> synthesize -> filter -> distill -> evaluate -> report.

Each stage's output lives in the run store under a key made of the config fields declared for the stage
(synthesizrr/core/config.py), the stage's own extra parts, and the content fingerprints of its inputs. So a rerun
does no work, an override recomputes only what depends on it, a stage recomputed with different output
recomputes what follows, and the corpus index and retrieval are shared by every method and sweep point that
uses them. Stages live in synthesizrr/stages/, one module each; which of them a run needs is the method's say.
"""
from __future__ import annotations

import importlib
import logging
import time
from pathlib import Path

from .core.config import STAGES, Config
from .core.keys import stage_fields
from .core.store import Store, atomic_write_json, fingerprint, read_json
from .methods.base import Method, load_method
from .stages import ORDER

log = logging.getLogger("synthesizrr")


def stage_module(name: str):
    return importlib.import_module(f"synthesizrr.stages.{name}")


VERSIONS = {name: stage_module(name).VERSION for name in ORDER}


def _duration(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds // 60)}m {int(seconds % 60):02d}s"


class Pipeline:
    def __init__(self, cfg: Config, tracker=None, method: Method | None = None):
        self.cfg = cfg
        self.method = method or load_method(cfg.method)
        self.store = Store(cfg.store_dir)
        self.tracker = tracker
        self.summary: dict = {"stages": {}}
        self.paths: dict[str, Path] = {}
        self.content: dict[str, str] = {}
        self._teacher = None

    # ---- stage machinery -------------------------------------------------------------------------------
    def key_parts(self, name: str) -> dict:
        mod = stage_module(name)
        skip = mod.skip_sections(self.method) if hasattr(mod, "skip_sections") else ()
        return {"config": stage_fields(self.cfg, name, skip=skip), "extra": mod.key_extra(self),
                "inputs": {i: self.content[i] for i in mod.INPUTS if i in self.content}}

    def _forced(self, name: str) -> bool:
        force = self.cfg.force
        return force is not None and (force == "all" or ORDER.index(name) >= ORDER.index(force))

    def run_stage(self, name: str) -> Path:
        """The stage's output folder: from the store when cached (and not forced), else computed now."""
        mod = stage_module(name)
        parts = self.key_parts(name)
        key = fingerprint(name, mod.VERSION, parts)
        t0 = time.time()
        forced = self._forced(name)
        cached = self.store.done(name, key) and not forced
        if not cached:
            with self.store.lock(name, key):
                cached = self.store.done(name, key) and not forced  # a concurrent run may have finished it
                if not cached:
                    log.debug("stage %s: computing (key %s)", name, key)
                    if forced:
                        self.store.remove(name, key)
                    with self.store.writing(name, key, {"inputs": parts}, mod.OUTPUTS) as tmp:
                        figures = mod.compute(self, tmp, self.store.work_dir(name, key)) or {}
                        atomic_write_json(tmp / "figures.json", figures)
        path = self.paths[name] = self.store.path(name, key)
        self.content[name] = self.store.content(name, key, mod.OUTPUTS)
        figures = read_json(path / "figures.json")
        self.summary["stages"][name] = {"key": key, "cached": cached, "seconds": round(time.time() - t0, 2)}
        log.debug("stage %s: %s in %.1fs (key %s)", name, "cache hit" if cached else "done", time.time() - t0, key)
        log.info("  %-10s %s", name, "cached" if cached else f"done in {_duration(time.time() - t0)}")
        if self.tracker:
            self.tracker.log_stage(name, figures, cached)
        return path

    def _reach(self, stage: str) -> bool:
        return STAGES.index(stage) <= STAGES.index(self.cfg.stage)

    # ---- driver ----------------------------------------------------------------------------------------
    def teacher(self):
        if self._teacher is None:
            from .teachers import build_teacher
            self._teacher = build_teacher(self.cfg.teacher, self.store.root / "teacher_cache.sqlite")
        return self._teacher

    def close_teacher(self) -> None:
        """Release the teacher (and a GPU engine's memory) as soon as synthesis is done."""
        if self._teacher is not None:
            self.summary["teacher_session"] = dict(self._teacher.stats)
            self._teacher.close()
            self._teacher = None

    def run(self) -> dict:
        t0 = time.time()
        m = self.method
        if self._reach("evaluate"):
            from .stages.evaluate import check_requirements
            check_requirements(self.cfg)
        try:
            self.run_stage("prepare")
            if m.needs_index and self._reach("index"):
                self.run_stage("index")
                if m.needs_retrieval and self._reach("retrieve"):
                    self.run_stage("retrieve")
            if not self._reach("synthesize"):
                return self._finish(t0)
            self.summary["synthesize"] = read_json(self.run_stage("synthesize") / "figures.json")
            self.close_teacher()
            if not self._reach("filter"):
                return self._finish(t0)
            self.summary["filter"] = read_json(self.run_stage("filter") / "figures.json")
            for name in ("distill", "evaluate"):
                if self._reach(name):
                    self.summary[name] = read_json(self.run_stage(name) / "figures.json")
            if self._reach("report"):
                from .report import record_run
                self.summary["report_dir"] = str(record_run(self.cfg, m, self.summary, self.paths["filter"]))
            return self._finish(t0)
        finally:
            self.close_teacher()

    def _finish(self, t0: float) -> dict:
        self.summary["seconds"] = round(time.time() - t0, 2)
        return self.summary
