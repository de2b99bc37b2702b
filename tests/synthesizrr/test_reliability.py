"""Crash and resume, concurrent runs on one store, and secrets: real pipeline subprocesses against a real
OpenAI-compatible server on loopback (the teacher whose timing a test can control)."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path


from synthesizrr.testing.fake_llm_server import FakeLLMServer

N_PROMPTS = 30  # 6 prompts x 5 labels


def pipeline_cmd(tmp: Path, url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "synthesizrr.cli", "experiment=smoke", "method=fewgen", "method.num_shots=2",
            "method.num_samples_per_label=6", "teacher=openai_compatible", f"teacher.base_urls=[{url}]",
            "teacher.concurrency=1", "teacher.max_retries=0", "stage=synthesize", f"store_dir={tmp}/store",
            f"results_dir={tmp}/results", f"hydra.run.dir={tmp}/outputs", *extra]


def env(**kw):
    return {**os.environ, "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1", **kw}


def cached_calls(store: Path) -> int:
    db = store / "teacher_cache.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    except sqlite3.OperationalError:  # table not created yet
        return 0


def synthetic(store: Path) -> str:
    [path] = list((store / "synthesize").glob("*/synthetic.jsonl"))
    return path.read_text()


def test_sigkill_mid_synthesis_loses_nothing_and_resumes_identically(tmp_path):
    with FakeLLMServer(delay=0.2) as server:
        killed = tmp_path / "killed"
        proc = subprocess.Popen(pipeline_cmd(killed, server.url), env=env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while cached_calls(killed / "store") < 8 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        saved = cached_calls(killed / "store")
        assert 8 <= saved < N_PROMPTS, "the kill must land mid-synthesis"
        assert not list((killed / "store" / "synthesize").glob("*/synthetic.jsonl")), "no half-written stage"

        before = server.count
        rerun = subprocess.run(pipeline_cmd(killed, server.url), env=env(), capture_output=True, text=True)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        assert server.count - before == N_PROMPTS - saved  # only the calls that had not completed

        fresh = tmp_path / "fresh"
        clean = subprocess.run(pipeline_cmd(fresh, server.url), env=env(), capture_output=True, text=True)
        assert clean.returncode == 0, clean.stderr[-2000:]
        assert synthetic(killed / "store") == synthetic(fresh / "store")


def test_two_concurrent_runs_share_one_store_without_corruption(tmp_path):
    with FakeLLMServer(delay=0.05) as server:
        procs = [subprocess.Popen(pipeline_cmd(tmp_path, server.url, f"hydra.run.dir={tmp_path}/out{i}"),
                                  env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for i in range(2)]
        errs = [p.communicate(timeout=300)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], errs
        assert server.count == N_PROMPTS  # the stage was computed once; the other run waited and reused it
        assert len(list((tmp_path / "store" / "synthesize").iterdir())) == 1
        assert cached_calls(tmp_path / "store") == N_PROMPTS


def test_api_key_never_reaches_disk_logs_or_wandb(tmp_path):
    secret = "sk-test-Zq8S3cr3tV4lue"
    with FakeLLMServer(api_key=secret) as server:
        cmd = pipeline_cmd(tmp_path, server.url, "teacher.api_key_env=MY_TEST_KEY", "tracking=wandb",
                           "tracking.mode=offline", "stage=report", "method.num_samples_per_label=1")
        proc = subprocess.run(cmd, env=env(MY_TEST_KEY=secret, WANDB_MODE="offline"), capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert server.count == 5 and server.requests[0].headers.get("Authorization") == f"Bearer {secret}"
    assert secret not in proc.stdout + proc.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any("wandb" in str(p) for p in files), "the W&B offline run must exist to be checked"
    leaks = [str(p) for p in files if secret.encode() in p.read_bytes()]
    assert not leaks, leaks


def test_failed_calls_under_the_budget_leave_the_stage_incomplete_and_a_rerun_sends_exactly_them(tmp_path):
    """8 of 30 calls failing (budget 20) used to store a complete stage of 22 examples, and the rerun after the
    server came back made zero requests. Now: exit non-zero saying what failed, no stage stored; the rerun sends
    the failed calls only and completes."""
    with FakeLLMServer() as server:
        server.fail("500", times=None, match="sport: matches")     # one label's 6 prompts, every attempt
        first = subprocess.run(pipeline_cmd(tmp_path, server.url, "stage=report", "tracking=none"), env=env(),
                               capture_output=True, text=True)
        assert first.returncode != 0
        err = first.stderr.strip().splitlines()
        assert "6 of 30 teacher calls failed" in err[-1] and "rerun" in err[-1], first.stderr[-2000:]
        assert not (tmp_path / "store" / "synthesize").exists() or not any(
            (tmp_path / "store" / "synthesize").glob("*/_stage.json")), "an incomplete stage must not be stored"
        assert not (tmp_path / "results" / "smoke").exists(), "no table row from an incomplete stage"
        assert server.count == 30 + 6          # every call once, the failed ones once more in the same run

        server.clear_faults()
        before = server.count
        second = subprocess.run(pipeline_cmd(tmp_path, server.url, "stage=report", "tracking=none"), env=env(),
                                capture_output=True, text=True)
        assert second.returncode == 0, second.stderr[-2000:]
        assert server.count - before == 6      # exactly the calls that had failed
        rows = synthetic(tmp_path / "store").splitlines()
        assert sum('"label": "sport"' in r for r in rows) >= 1
