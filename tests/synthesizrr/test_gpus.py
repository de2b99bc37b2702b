"""GPUs per worker and per sweep job, on faked GPUs (SYNTHESIZRR_FAKE_GPUS with a CUDA_VISIBLE_DEVICES list): the
visible set, pinned worker pools, file-lock leases (in spawned processes: a lease lasts as long as its process)
and the joblib_gpus Hydra launcher giving each job process a GPU of its own."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from synthesizrr.core import gpus
from synthesizrr.core.gpus import CVD, FAKE, LEASE_DIR, TRACE

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """fake(visible, count): CUDA_VISIBLE_DEVICES=visible and a believed count; leases and the trace in tmp_path."""
    monkeypatch.setenv(LEASE_DIR, str(tmp_path / "leases"))
    monkeypatch.setenv(TRACE, str(tmp_path / "trace.jsonl"))

    def set_gpus(visible, count):
        monkeypatch.setenv(FAKE, str(count))
        if visible is None:
            monkeypatch.delenv(CVD, raising=False)
        else:
            monkeypatch.setenv(CVD, visible)
    return set_gpus


def trace(tmp_path) -> list[dict]:
    path = tmp_path / "trace.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("visible,count,expected", [
    ("0,1,2,3", 4, ["0", "1", "2", "3"]),
    ("0,1,2,3", 2, ["0", "1"]),                       # torch sees fewer than listed
    ("3, 1", 8, ["3", "1"]),                          # the listed ids, in their order
    ("GPU-5f2a,1,-1,2", 4, ["GPU-5f2a", "1"]),        # CUDA stops at the first invalid entry
    ("", 4, []),
    (None, 3, ["0", "1", "2"]),
])
def test_visible_gpus(fake, visible, count, expected):
    fake(visible, count)
    assert gpus.visible_gpus() == expected


def test_a_bad_fake_count_is_named(fake):
    fake(None, "two")
    with pytest.raises(ValueError, match="SYNTHESIZRR_FAKE_GPUS='two' is not a GPU count"):
        gpus.visible_gpus()


def test_assign_and_jobs_per_host(fake):
    assert gpus.assign(["0", "1", "2"], 2) == ["0", "1"]
    assert gpus.assign(["0", "1"], 3) == ["0", "1", "0"]
    assert gpus.assign([], 2) == [None, None]
    fake(None, 8)
    assert gpus.jobs_for(1) == 8 and gpus.jobs_for(2) == 4 and gpus.jobs_for(3) == 2
    fake(None, 0)
    assert gpus.jobs_for(1) == 1


def test_a_pinned_pool_gives_each_worker_its_own_gpu(fake, tmp_path):
    fake("0,1,2", 3)
    with gpus.pinned_pool(3, gpus.visible_gpus(), "demo") as pool:
        seen = [f.result() for f in [pool.submit(os.getenv, CVD) for _ in range(6)]]
    workers = trace(tmp_path)
    assert len({w["pid"] for w in workers}) == 3
    assert sorted(w["devices"] for w in workers) == ["0", "1", "2"]
    assert set(seen) <= {"0", "1", "2"}


JOB = ("import json, os, sys\n"
       "from synthesizrr.core import gpus\n"
       "got = gpus.lease(int(sys.argv[1]), poll_seconds=0.05)\n"
       "print(json.dumps([os.getpid(), got, os.environ.get('CUDA_VISIBLE_DEVICES')]), flush=True)\n"
       "sys.stdin.read()\n")


def start_job(count: int) -> subprocess.Popen:
    """A stand-in sweep job process: it leases `count` GPUs, prints them, and holds them until its stdin closes."""
    return subprocess.Popen([sys.executable, "-c", JOB, str(count)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)})


def leased(job: subprocess.Popen) -> tuple:
    pid, got, env = json.loads(job.stdout.readline())
    assert pid == job.pid
    return got, env


def end(job: subprocess.Popen) -> None:
    job.stdin.close()
    assert job.wait(timeout=120) == 0


def test_leases_are_disjoint_cover_the_gpus_and_wait_for_a_free_one(fake, tmp_path):
    fake("0,1,2,3", 4)
    jobs = [start_job(1) for _ in range(4)]
    held = [leased(job) for job in jobs]
    assert sorted(got[0] for got, _ in held) == ["0", "1", "2", "3"]
    assert all([env] == got for got, env in held)                        # CUDA_VISIBLE_DEVICES points at it
    fifth = start_job(1)                                                 # more jobs than GPUs: it waits ...
    end(jobs[1])                                                         # ... until a job's process ends
    assert leased(fifth)[0] == held[1][0]
    for job in (jobs[0], *jobs[2:], fifth):
        end(job)
    assert sorted(w["devices"] for w in trace(tmp_path)) == sorted(["0", "1", "2", "3", *held[1][0]])


def test_jobs_of_two_gpus_each(fake):
    fake("0,1,2,3", 4)
    jobs = [start_job(2) for _ in range(2)]
    got = [leased(job)[0] for job in jobs]
    for job in jobs:
        end(job)
    assert all(len(g) == 2 for g in got) and sorted(got[0] + got[1]) == ["0", "1", "2", "3"]


def test_without_gpus_a_lease_is_empty_and_per_job_is_checked(fake, monkeypatch):
    fake(None, 0)
    assert gpus.lease(1) == [] and CVD not in os.environ
    fake("0,1", 2)
    with pytest.raises(ValueError, match=r"gpu_lease.per_job=3 is not allowed: use 1..2 \(2 GPUs visible\)"):
        gpus.GpuLease(per_job=3)


APP = """
import json, os, time
from pathlib import Path

import hydra


@hydra.main(config_path=".", config_name="app", version_base="1.3")
def job(cfg):
    out = Path(cfg.out)
    seen = {"pid": os.getpid(), "gpus": os.environ.get("CUDA_VISIBLE_DEVICES")}
    (out / f"job-{cfg.point}.json").write_text(json.dumps(seen))
    if cfg.point < cfg.gather:   # the first jobs meet, so each runs in a worker process of its own
        deadline = time.time() + 120
        while len(list(out.glob("job-*.json"))) < cfg.gather and time.time() < deadline:
            time.sleep(0.05)


if __name__ == "__main__":
    job()
"""


def test_joblib_gpus_launcher_gives_every_job_process_a_gpu_of_its_own(fake, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    fake("0,1,2,3", 4)
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "app.yaml").write_text(textwrap.dedent(f"""
        defaults:
          - override hydra/launcher: joblib_gpus
          - _self_
        hydra:
          searchpath: [file://{REPO / 'conf'}]
          sweep: {{dir: {tmp_path / 'multirun'}, subdir: '${{hydra.job.num}}'}}
        point: 0
        gather: 4
        out: {tmp_path}
        """))
    proc = subprocess.run([sys.executable, "app.py", "-m", "point=range(8)"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "n_jobs=4" in proc.stderr + proc.stdout                      # one job per GPU at a time
    jobs = [json.loads((tmp_path / f"job-{i}.json").read_text()) for i in range(8)]
    by_pid = {}
    for job in jobs:
        by_pid.setdefault(job["pid"], set()).add(job["gpus"])
    assert all(len(g) == 1 for g in by_pid.values())                    # a worker keeps its GPU for every job
    assert sorted(g for s in by_pid.values() for g in s) == ["0", "1", "2", "3"]   # disjoint, covering
    assert len({jobs[i]["pid"] for i in range(4)}) == 4
