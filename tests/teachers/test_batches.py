"""teacher.batch=true against the loopback server's OpenAI Batch API and Anthropic Message Batches: results land in
the call cache, batch ids are persisted, nothing completed or in flight is submitted twice, expired and errored
requests (only those) are submitted again, and a run killed after submission is collected by the rerun."""
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

from synthesizrr.housekeeping import collect, main
from synthesizrr.teachers import FailureBudgetExceeded, Request, TeacherError, build_teacher
from synthesizrr.teachers.batches import MARGIN_BYTES, BatchesPending
from synthesizrr.teachers.openai_api import OpenAIBackend
from synthesizrr.testing.fake_llm_server import FakeLLMServer, fake_text

REPO = Path(__file__).resolve().parents[2]


def reqs(n, prefix="prompt"):
    return [Request(f"{prefix} {i}", 16, seed=100 + i) for i in range(n)]


def expected(requests, backend="openai"):
    return [fake_text("fake-model", r.prompt, None, r.seed if backend == "openai" else None, 16) for r in requests]


def batch_cfg(api_cfg, srv, backend="openai", **kw):
    base = dict(backend=backend, batch=True, batch_poll_seconds=0.02, batch_wait_hours=0.1)
    return api_cfg(srv, **{**base, **kw})


def table(path: Path, sql: str) -> list:
    with sqlite3.connect(path, timeout=30) as con:
        return con.execute(sql).fetchall()


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_batch_results_land_in_the_cache_and_a_rerun_sends_nothing(backend, api_cfg, tmp_path):
    db = tmp_path / "c.sqlite"
    with FakeLLMServer(batch_polls=2) as srv:
        teacher = build_teacher(batch_cfg(api_cfg, srv, backend), db)
        requests = reqs(6)
        out = teacher.generate(requests, progress=False)
        assert [c.text for c in out] == expected(requests, backend)
        [batch] = srv.batches.values()
        assert len(batch.lines) == 6 and batch.polls == 2
        assert not [r for r in srv.requests if r.path in ("/v1/chat/completions", "/v1/messages")]  # no online call
        keys = teacher.call_keys(requests)
        rows = table(db, "SELECT key, batch_id, custom_id, state FROM batch_requests")
        assert sorted(rows) == sorted((k, batch.id, k, "done") for k in keys)
        assert table(db, "SELECT id, state FROM batches") == [(batch.id, "collected")]
        teacher.close()

        before = srv.count
        again = build_teacher(batch_cfg(api_cfg, srv, backend), db)
        assert [c.text for c in again.generate(requests, progress=False)] == expected(requests, backend)
        assert srv.count == before and again.stats["cache_hits"] == 6 and again.stats["calls"] == 0


def test_openai_batch_upload_and_lines(api_cfg, tmp_path):
    with FakeLLMServer() as srv:
        teacher = build_teacher(batch_cfg(api_cfg, srv, chat=False, top_k=40), tmp_path / "c.sqlite")
        teacher.generate(reqs(2), progress=False)
        upload, create = srv.requests[:2]
        assert upload.path == "/v1/files" and upload.body["purpose"] == "batch" and "bytes" in upload.body["file"]
        assert create.path == "/v1/batches" and create.body["endpoint"] == "/v1/completions"
        assert create.body["completion_window"] == "24h"
        [batch] = srv.batches.values()
        line = batch.lines[0]
        assert line["method"] == "POST" and line["url"] == "/v1/completions"
        assert line["body"]["prompt"] == "prompt 0" and line["body"]["seed"] == 100 and line["body"]["top_k"] == 40


def test_submit_and_exit_then_rerun_collects_without_resubmitting(api_cfg, tmp_path):
    db = tmp_path / "c.sqlite"
    with FakeLLMServer(batch_polls=None) as srv:
        cfg = batch_cfg(api_cfg, srv, batch_wait_hours=0)
        with pytest.raises(BatchesPending, match=r"^submitted 5 requests in 1 batch \(teacher.batch_wait_hours=0\); "
                                                 r"the stage is not stored: rerun .*synthesizrr-store collect") as err:
            build_teacher(cfg, db).generate(reqs(5), progress=False)
        assert "\n" not in str(err.value)
        assert table(db, "SELECT COUNT(*) FROM calls") == [(0,)]
        with pytest.raises(BatchesPending, match=r"^5 requests submitted earlier in 1 batch are still in flight"):
            build_teacher(cfg, db).generate(reqs(5), progress=False)       # still running: nothing resubmitted
        srv.end_batches()
        teacher = build_teacher(cfg, db)
        out = teacher.generate(reqs(5), progress=False)
        assert [c.text for c in out] == expected(reqs(5)) and len(srv.batches) == 1 and srv.batch_lines == 5
        assert teacher.stats["calls"] == 5 and teacher.stats["resubmitted"] == 0


WORKER = """
import json, sys
from synthesizrr.core.config import TeacherConfig
from synthesizrr.teachers import Request, build_teacher
job = json.loads(sys.argv[1])
teacher = build_teacher(TeacherConfig(**job["cfg"]), job["cache"])
teacher.generate([Request(p, 16, seed=s) for p, s in job["prompts"]], progress=False)
"""


def test_sigkill_after_submission_then_rerun_collects_without_resubmitting(api_cfg, tmp_path):
    db = tmp_path / "c.sqlite"
    requests = reqs(8)
    with FakeLLMServer(batch_polls=None) as srv:
        cfg = batch_cfg(api_cfg, srv, batch_wait_hours=1.0)
        fields = ("name", "backend", "model", "base_urls", "batch", "batch_poll_seconds", "batch_wait_hours",
                  "backoff_base", "backoff_max")
        job = {"cfg": {k: getattr(cfg, k) for k in fields}, "cache": str(db),
               "prompts": [[r.prompt, r.seed] for r in requests]}
        proc = subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(job)],
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        deadline = time.monotonic() + 120
        submitted = []
        while not submitted and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            if db.exists():
                try:
                    submitted = table(db, "SELECT id FROM batches WHERE state = 'submitted'")
                except sqlite3.OperationalError:     # tables not created yet
                    pass
        polls_seen = 0
        while polls_seen < 2 and proc.poll() is None and time.monotonic() < deadline:   # it is polling now
            time.sleep(0.02)
            polls_seen = sum(b.polls for b in srv.batches.values())
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL and polls_seen >= 2
        assert [b for (b,) in submitted] == list(srv.batches) and srv.batch_lines == 8

        srv.end_batches()                        # the provider finishes while nobody is running
        teacher = build_teacher(cfg, db)
        out = teacher.generate(requests, progress=False)
        assert [c.text for c in out] == expected(requests)
        assert len(srv.batches) == 1 and srv.batch_lines == 8, "nothing submitted twice"
        assert teacher.stats["calls"] == 8
        assert table(db, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_an_expired_batch_is_resubmitted_except_what_it_answered(backend, api_cfg, tmp_path):
    with FakeLLMServer() as srv:
        srv.expire_batches(times=1, done=2)
        teacher = build_teacher(batch_cfg(api_cfg, srv, backend), tmp_path / "c.sqlite")
        requests = reqs(6)
        out = teacher.generate(requests, progress=False)
        assert [c.text for c in out] == expected(requests, backend)
        first, second = srv.batches.values()
        assert first.status in ("expired", "ended") and first.prompts() == [f"prompt {i}" for i in range(6)]
        assert second.prompts() == [f"prompt {i}" for i in range(2, 6)]
        assert teacher.stats["resubmitted"] == 4 and teacher.stats["failures"] == 0


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_only_the_errored_requests_are_resubmitted(backend, api_cfg, tmp_path):
    with FakeLLMServer() as srv:
        srv.fail_in_batch("500", match="prompt 3", times=1)
        srv.fail_in_batch("500", match="prompt 5", times=1)
        teacher = build_teacher(batch_cfg(api_cfg, srv, backend), tmp_path / "c.sqlite")
        requests = reqs(7)
        out = teacher.generate(requests, progress=False)
        assert [c.text for c in out] == expected(requests, backend)
        assert [b.prompts() for b in srv.batches.values()][1:] == [["prompt 3", "prompt 5"]]
        assert teacher.stats["resubmitted"] == 2 and teacher.stats["calls"] == 7


def test_an_invalid_request_is_not_resubmitted(api_cfg, tmp_path):
    with FakeLLMServer() as srv:
        srv.fail_in_batch("400", match="prompt 1")
        teacher = build_teacher(batch_cfg(api_cfg, srv), tmp_path / "c.sqlite")
        out = teacher.generate(reqs(3), progress=False)
        assert out[1].finish_reason == "error" and "400" in out[1].error and out[0].error is None
        assert len(srv.batches) == 1 and teacher.stats["failures"] == 1 and len(teacher.cache) == 2


def test_resubmission_stops_at_the_failure_budget(api_cfg, tmp_path):
    with FakeLLMServer() as srv:
        srv.fail_in_batch("500", match="doomed")                    # every time
        requests = [Request(f"{'doomed' if i == 2 else 'fine'} {i}", 16, seed=i) for i in range(4)]
        teacher = build_teacher(batch_cfg(api_cfg, srv, failure_budget=2), tmp_path / "c.sqlite")
        with pytest.raises(FailureBudgetExceeded, match="failure_budget=2"):
            teacher.generate(requests, progress=False)
        assert len(srv.batches) == 3 and len(teacher.cache) == 3     # first batch, then two resubmissions


def test_batches_are_split_by_request_count_and_bytes(api_cfg, tmp_path, monkeypatch):
    with FakeLLMServer() as srv:
        monkeypatch.setattr(OpenAIBackend, "batch_max_requests", 4)
        teacher = build_teacher(batch_cfg(api_cfg, srv), tmp_path / "a.sqlite")
        teacher.generate(reqs(10), progress=False)
        assert [len(b.lines) for b in srv.batches.values()] == [4, 4, 2]
        monkeypatch.setattr(OpenAIBackend, "batch_max_requests", 50_000)
        teacher = build_teacher(batch_cfg(api_cfg, srv), tmp_path / "b.sqlite")
        requests = reqs(7, "x" * 900)
        line = len(json.dumps(teacher.backend.batch_line("k" * 64, requests[0], srv.url)).encode()) + 1
        monkeypatch.setattr(OpenAIBackend, "batch_max_bytes", MARGIN_BYTES + 3 * line + 2)   # 3 lines per batch
        out = teacher.generate(requests, progress=False)
        assert [len(b.lines) for b in list(srv.batches.values())[3:]] == [3, 3, 1]
        assert all(c.error is None for c in out)


def test_two_runs_never_submit_the_same_request_twice(api_cfg, tmp_path):
    db = tmp_path / "c.sqlite"
    with FakeLLMServer(batch_polls=None) as srv:
        cfg = batch_cfg(api_cfg, srv, batch_wait_hours=0)
        with pytest.raises(BatchesPending):
            build_teacher(cfg, db).generate(reqs(4), progress=False)
        with pytest.raises(BatchesPending, match="submitted 2 requests in 1 batch; 4 requests submitted earlier"):
            build_teacher(cfg, db).generate(reqs(6), progress=False)         # overlaps the first 4
        assert [len(b.lines) for b in srv.batches.values()] == [4, 2]


def test_store_collect_downloads_results_and_says_what_waits(api_cfg, tmp_path, capsys):
    store = tmp_path / "store"
    db = store / "teacher_cache.sqlite"
    with FakeLLMServer(batch_polls=None) as srv:
        cfg = batch_cfg(api_cfg, srv, batch_wait_hours=0, price_per_1m_input=2.0, price_per_1m_output=8.0)
        with pytest.raises(BatchesPending):
            build_teacher(cfg, db).generate(reqs(5), progress=False)
        main(["size", "--store", str(store)])
        assert "1 in flight (5 requests" in capsys.readouterr().out
        assert collect(store) == 1                                  # still running
        assert "still in flight" in capsys.readouterr().out
        srv.end_batches()
        with pytest.raises(SystemExit) as code:
            main(["collect", "--store", str(store)])
        printed = capsys.readouterr().out
        assert code.value.code == 0 and "collected 5 results from 1 batches" in printed
        assert table(db, "SELECT COUNT(*) FROM calls") == [(5,)]
        before = srv.count
        teacher = build_teacher(cfg, db)
        assert [c.text for c in teacher.generate(reqs(5), progress=False)] == expected(reqs(5))
        assert srv.count == before                                   # everything was cached


def test_batch_mode_costs_the_batch_price(api_cfg, tmp_path):
    with FakeLLMServer() as srv:
        prices = dict(price_per_1m_input=2.0, price_per_1m_output=8.0)
        online = build_teacher(api_cfg(srv, **prices), None)
        online.generate(reqs(6), progress=False)
        batch = build_teacher(batch_cfg(api_cfg, srv, **prices), tmp_path / "a.sqlite")
        batch.generate(reqs(6), progress=False)
        assert batch.stats["tokens_out"] == online.stats["tokens_out"] > 0
        assert batch.stats["cost_usd"] == pytest.approx(online.stats["cost_usd"] * 0.5)
        explicit = build_teacher(batch_cfg(api_cfg, srv, **prices, price_per_1m_input_batch=0.0,
                                           price_per_1m_output_batch=1.0), tmp_path / "b.sqlite")
        explicit.generate(reqs(6), progress=False)
        assert explicit.stats["cost_usd"] == pytest.approx(explicit.stats["tokens_out"] / 1e6)


def test_batch_mode_needs_a_batch_api(api_cfg, server):
    from synthesizrr.teachers.cached import CachedTeacher
    from synthesizrr.teachers.base import Backend
    with pytest.raises(TeacherError, match="teacher.batch=true is not allowed for backend base"):
        CachedTeacher(api_cfg(server, batch=True), Backend(api_cfg(server)), None)


def test_the_pipeline_exits_2_without_a_stage_until_the_batches_are_collected(tmp_path):
    def run(url):
        cmd = [sys.executable, "-m", "synthesizrr.cli", "experiment=smoke", "method=fewgen", "method.num_shots=2",
               "method.num_samples_per_label=6", "teacher=openai_compatible", f"teacher.base_urls=[{url}]",
               "teacher.batch=true", "teacher.batch_wait_hours=0", "stage=synthesize", f"store_dir={tmp_path}/store",
               f"results_dir={tmp_path}/results", f"hydra.run.dir={tmp_path}/outputs"]
        return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "WANDB_MODE": "disabled",
                                                                           "HF_HUB_OFFLINE": "1"})
    stages = lambda: list((tmp_path / "store").glob("synthesize/*/_stage.json"))    # noqa: E731
    with FakeLLMServer(batch_polls=None) as srv:
        first = run(srv.url)
        assert first.returncode == 2, first.stderr[-2000:]
        assert first.stderr.strip().splitlines()[-1].endswith(
            "BatchesPending: submitted 30 requests in 1 batch (teacher.batch_wait_hours=0); the stage is not stored: "
            "rerun the same command (or `synthesizrr-store collect`) to collect the results")
        assert not stages()
        srv.end_batches()
        assert collect(tmp_path / "store") == 0
        second = run(srv.url)
        assert second.returncode == 0, second.stderr[-2000:]
        assert len(stages()) == 1 and len(srv.batches) == 1 and srv.batch_lines == 30
        assert not [r for r in srv.requests if r.path == "/v1/chat/completions"]


def test_a_cancelled_batch_is_resubmitted(api_cfg, tmp_path):
    import httpx
    db = tmp_path / "c.sqlite"
    with FakeLLMServer(batch_polls=None) as srv:
        cfg = batch_cfg(api_cfg, srv, batch_wait_hours=0)
        with pytest.raises(BatchesPending):
            build_teacher(cfg, db).generate(reqs(3), progress=False)
        [first] = srv.batches
        assert httpx.post(f"{srv.url}/batches/{first}/cancel").json()["status"] == "cancelled"
        with pytest.raises(BatchesPending, match="^submitted 3 requests in 1 batch"):   # collected, sent again
            build_teacher(cfg, db).generate(reqs(3), progress=False)
        srv.end_batches()
        teacher = build_teacher(cfg, db)
        assert [c.text for c in teacher.generate(reqs(3), progress=False)] == expected(reqs(3))
        assert len(srv.batches) == 2


def test_a_batch_whose_submitter_died_before_recording_its_id_is_submitted_again(api_cfg, tmp_path, caplog):
    import socket
    from synthesizrr.teachers.batches import BatchStore
    from synthesizrr.teachers.cache import CallCache
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    db = tmp_path / "c.sqlite"
    with FakeLLMServer() as srv:
        cfg = batch_cfg(api_cfg, srv)
        teacher = build_teacher(cfg, db)
        store = BatchStore(CallCache(db))
        local, taken = store.reserve([(k, k, []) for k in teacher.call_keys(reqs(2))], cfg, srv.url)
        store.cache.sql("UPDATE batches SET owner = ? WHERE id = ?",
                        (f"{socket.gethostname()}:{dead.stdout.strip()}", local))
        assert len(taken) == 2 and teacher.plan(reqs(2))["in_flight"] == 2
        caplog.set_level("WARNING")
        assert [c.text for c in teacher.generate(reqs(2), progress=False)] == expected(reqs(2))
        assert "was being submitted when its process stopped" in caplog.text and len(srv.batches) == 1
        assert table(db, f"SELECT state FROM batches WHERE id = '{local}'") == [("abandoned",)]
