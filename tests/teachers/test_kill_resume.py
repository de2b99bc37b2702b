"""A run SIGKILLed mid-generation resumes from the cache: only the missing calls are made, and the outputs equal
those of an uninterrupted run (llama.cpp with per-request seeds is deterministic)."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthesizrr.teachers import Request, build_teacher

WORKER = Path(__file__).with_name("worker.py")
REPO = Path(__file__).resolve().parents[2]
N, TOKENS = 10, 6


def rows(path: Path) -> int:
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    except sqlite3.OperationalError:           # table not created yet
        return 0
    finally:
        db.close()


@pytest.mark.slow
def test_sigkill_mid_generation_then_resume(smollm2_cfg, tmp_path):
    cfg = smollm2_cfg()
    prompts = [[f"Write a headline about topic number {i}.", 1000 + i] for i in range(N)]
    cache = tmp_path / "killed.sqlite"
    job = json.dumps({"cfg": {k: getattr(cfg, k) for k in ("name", "backend", "model", "n_threads", "context_length")},
                      "cache": str(cache), "prompts": prompts, "max_new_tokens": TOKENS, "out": None})
    proc = subprocess.Popen([sys.executable, str(WORKER), job], env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 120
    while rows(cache) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    saved = rows(cache)
    assert proc.returncode == -signal.SIGKILL and 2 <= saved < N, (proc.returncode, saved)

    requests = [Request(text, TOKENS, seed=seed) for text, seed in prompts]
    resumed = build_teacher(cfg, cache)
    out = resumed.generate(requests, progress=False)
    assert resumed.stats["calls"] == N - saved and resumed.stats["cache_hits"] == saved
    assert sqlite3.connect(cache).execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    whole = CachedTeacherFresh(resumed)
    reference = whole.generate(requests, progress=False)
    assert whole.stats["calls"] == N
    assert [c.text for c in out] == [c.text for c in reference]
    resumed.close()


def CachedTeacherFresh(teacher):
    """Another teacher on the same loaded model with an empty (in-memory) cache: an uninterrupted run."""
    from synthesizrr.teachers.cached import CachedTeacher
    return CachedTeacher(teacher.cfg, teacher.backend, None)
