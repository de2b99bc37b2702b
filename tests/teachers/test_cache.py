"""The SQLite call cache: what goes into a key, persistence, and two real processes sharing one file."""
from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from synthesizrr.teachers import Completion, Request, build_teacher
from synthesizrr.teachers.cache import CallCache, call_key
from synthesizrr.testing.fake_llm_server import fake_text

WORKER = Path(__file__).with_name("worker.py")
REPO = Path(__file__).resolve().parents[2]


def test_every_output_determining_field_changes_the_key():
    ident = {"backend": "openai", "model": "m", "chat": True, "temperature": 0.95, "top_p": 0.9, "top_k": 50}
    req = Request("p", 16, seed=1)
    base = call_key(ident, req, [])
    assert call_key(dict(ident), Request("p", 16, seed=1), []) == base and len(base) == 64
    variants = [call_key({**ident, k: v}, req, []) for k, v in
                [("backend", "hf"), ("model", "m2"), ("chat", False), ("temperature", 0.7), ("top_p", 0.8),
                 ("top_k", None)]]
    variants += [call_key(ident, dataclasses.replace(req, **kw), []) for kw in
                 [{"prompt": "q"}, {"max_new_tokens": 17}, {"seed": 2}, {"sample_index": 1}, {"system": "s"}]]
    variants.append(call_key(ident, req, ["\n"]))
    assert len(set(variants + [base])) == len(variants) + 1


def test_rows_persist_and_reopen(tmp_path):
    cache = CallCache(tmp_path / "c.sqlite")
    cache.put("k1", Completion("text", 3, 4, False, "length"), "openai", "m")
    cache.close()
    again = CallCache(tmp_path / "c.sqlite")
    assert again.get_many(["k1", "k2"]) == {"k1": Completion("text", 3, 4, True, "length")}
    mode = sqlite3.connect(tmp_path / "c.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_rerun_makes_no_backend_calls_and_config_changes_miss(server, api_cfg, tmp_path):
    path = tmp_path / "c.sqlite"
    requests = [Request(f"p {i}", 8, seed=i) for i in range(5)]
    first = build_teacher(api_cfg(server), path)
    texts = [c.text for c in first.generate(requests, progress=False)]
    first.close()
    again = build_teacher(api_cfg(server), path)
    out = again.generate(requests, progress=False)
    assert [c.text for c in out] == texts and all(c.cached for c in out)
    assert again.stats["calls"] == 0 and again.stats["cache_hits"] == 5 and server.count == 5
    hotter = build_teacher(api_cfg(server, temperature=0.5), path)
    hotter.generate(requests[:2], progress=False)
    assert hotter.stats["calls"] == 2 and server.count == 7


def _job(server, cache, prompts, out, ready, go):
    cfg = {"name": "t", "backend": "openai", "model": "fake-model", "base_urls": [server.url], "concurrency": 2}
    return json.dumps({"cfg": cfg, "cache": str(cache), "prompts": prompts, "max_new_tokens": 8, "out": str(out),
                       "ready": str(ready), "go": str(go)})


def test_two_processes_share_one_cache_file(server, tmp_path):
    server.delay = 0.01
    cache = tmp_path / "shared.sqlite"
    a = [[f"prompt {i}", i] for i in range(0, 200)]
    b = [[f"prompt {i}", i] for i in range(299, 99, -1)]        # half of each overlaps the other
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, str(WORKER), _job(server, cache, p, tmp_path / f"{n}.json",
                                                                tmp_path / f"{n}.ready", tmp_path / "go")], env=env)
             for n, p in (("a", a), ("b", b))]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"{n}.ready").exists() for n in "ab") and time.monotonic() < deadline:
        time.sleep(0.01)
    (tmp_path / "go").touch()
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    db = sqlite3.connect(cache)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 300
    for name, prompts in (("a", a), ("b", b)):
        texts = json.loads((tmp_path / f"{name}.json").read_text())["texts"]
        assert texts == [fake_text("fake-model", p, None, s, 8) for p, s in prompts]
    assert 300 <= server.count <= 400                           # overlapping prompts are sent at most twice
    only_a = [r.at for r in server.requests if int(r.prompt.split()[1]) < 100]
    only_b = [r.at for r in server.requests if int(r.prompt.split()[1]) >= 200]
    assert min(only_b) < max(only_a) and min(only_a) < max(only_b)   # the two processes really wrote at once


def _open_and_close(path, barrier):
    from synthesizrr.teachers.cache import CallCache

    barrier.wait()          # every process opens the brand-new file at the same moment
    CallCache(Path(path)).close()


def test_processes_opening_a_new_cache_at_once_all_succeed(tmp_path):
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    failures = 0
    for trial in range(15):
        barrier = ctx.Barrier(4)
        procs = [ctx.Process(target=_open_and_close, args=(tmp_path / f"c{trial}.sqlite", barrier)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=60)
        failures += sum(p.exitcode != 0 for p in procs)
    assert failures == 0  # switching to WAL raised 'database is locked' without the retry
