"""GPUs of this host for worker processes and sweep jobs.

- ``visible_gpus()``: the ids (``CUDA_VISIBLE_DEVICES`` entries, else ``0..n-1``) of the GPUs this process sees.
  ``SYNTHESIZRR_FAKE_GPUS=N`` makes it believe N exist without CUDA (tests; the work itself still runs on CPU).
- ``pinned_pool(n, gpus, role)``: spawned worker processes, each with ``CUDA_VISIBLE_DEVICES`` set to a GPU of
  its own before torch starts CUDA there (student seeds, corpus shards).
- ``lease(count)`` and the ``GpuLease`` Hydra callback (conf/hydra/launcher/joblib_gpus.yaml): a sweep job takes
  GPUs from a pool of file locks, one per GPU of the host, and keeps them until its process exits.

``SYNTHESIZRR_GPU_TRACE=FILE``: each pinned worker and leased job appends ``{"role", "pid", "devices"}`` there.
"""
from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Optional

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

log = logging.getLogger(__name__)
FAKE, TRACE, LEASE_DIR = "SYNTHESIZRR_FAKE_GPUS", "SYNTHESIZRR_GPU_TRACE", "SYNTHESIZRR_GPU_LEASE_DIR"
CVD = "CUDA_VISIBLE_DEVICES"


def _listed() -> Optional[list[str]]:
    raw = os.environ.get(CVD)
    if raw is None:
        return None
    out = []
    for entry in (e.strip() for e in raw.split(",")):
        if not entry or entry.startswith("-"):   # CUDA ignores everything from the first invalid entry on
            break
        out.append(entry)
    return out


def gpu_count() -> int:
    """GPUs visible to this process. torch counts them through NVML, so CUDA is not started here."""
    fake = os.environ.get(FAKE)
    if fake is not None:
        if not fake.strip().isdigit():
            raise ValueError(f"{FAKE}={fake!r} is not a GPU count: use an integer >= 0")
        return int(fake)
    import torch

    return torch.cuda.device_count()


def visible_gpus() -> list[str]:
    listed = _listed()
    n = gpu_count()
    return (listed if listed is not None else [str(i) for i in range(n)])[:n]


def assign(gpus: list[str], n: int) -> list[Optional[str]]:
    """The GPU of each of `n` workers: distinct while n <= len(gpus), then shared in turn; None without GPUs."""
    return [gpus[i % len(gpus)] if gpus else None for i in range(n)]


def _trace(role: str, devices: Optional[str]) -> None:
    path = os.environ.get(TRACE)
    if path:
        with open(path, "a") as fh:   # one short appended line per process
            fh.write(json.dumps({"role": role, "pid": os.getpid(), "devices": devices}) + "\n")


def pin(devices: Optional[str], role: str) -> None:
    """Restrict this process to `devices` (comma-separated ids; None leaves it as is). Call it before torch starts
    CUDA in this process: CUDA reads the variable once."""
    if devices is not None:
        if "torch" in sys.modules and sys.modules["torch"].cuda.is_initialized():
            log.warning("%s: CUDA already started in process %d; pinning it to GPU %s has no effect", role,
                        os.getpid(), devices)
        os.environ[CVD] = devices
    _trace(role, devices)
    log.debug("%s process %d on GPUs %s", role, os.getpid(), devices)


def _init_worker(queue, role: str, threads: Optional[int]) -> None:
    pin(queue.get(), role)
    if threads:
        import torch
        torch.set_num_threads(threads)


def pinned_pool(n: int, gpus: list[str], role: str, threads: Optional[int] = None) -> ProcessPoolExecutor:
    """`n` spawned worker processes; each pins itself to its entry of ``assign(gpus, n)`` as it starts and sets
    `threads` torch threads. A pool never starts more than `n` processes, so each takes one entry."""
    if len(gpus) and n > len(gpus):
        log.warning("%d %s workers share %d GPUs", n, role, len(gpus))
    ctx = get_context("spawn")
    queue = ctx.Queue()
    for devices in assign(gpus, n):
        queue.put(devices)
    return ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker, initargs=(queue, role, threads))


# --- sweep jobs: a file lock per GPU of the host ---------------------------------------------------------------

_held: list = []   # (lock, gpu id) of this process's lease, kept until the process exits


def lease_dir() -> Path:
    """Where the locks live: $SYNTHESIZRR_GPU_LEASE_DIR, else a per-user folder in the host's temp dir."""
    folder = os.environ.get(LEASE_DIR)
    return Path(folder) if folder else Path(tempfile.gettempdir()) / f"synthesizrr-gpu-leases-{os.getuid()}"


def _lock_path(gpu: str) -> Path:
    return lease_dir() / f"{socket.gethostname()}-gpu-{re.sub(r'[^A-Za-z0-9_.-]', '_', gpu)}.lock"


def _try_take(gpus: list[str], count: int) -> list:
    from filelock import FileLock, Timeout

    got = []
    for gpu in gpus:
        lock = FileLock(str(_lock_path(gpu)))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue
        got.append((lock, gpu))
        if len(got) == count:
            return got
    for lock, _ in got:
        lock.release()
    return []


def lease(count: int = 1, poll_seconds: float = 1.0) -> list[str]:
    """Take `count` free GPUs of the visible set (waiting while none are free), point CUDA_VISIBLE_DEVICES at them
    and return their ids; [] without GPUs. The process keeps them until it exits (the OS drops its locks then):
    CUDA cannot change devices once started, and joblib reuses a worker process for several jobs."""
    if _held:
        return [gpu for _, gpu in _held]
    gpus = visible_gpus()
    if not gpus:
        _trace("job", None)
        return []
    if count > len(gpus):
        raise ValueError(f"a sweep job asks for {count} GPUs but {len(gpus)} are visible: use per_job <= {len(gpus)}")
    lease_dir().mkdir(parents=True, exist_ok=True)
    waited = False
    while not (got := _try_take(gpus, count)):
        if not waited:
            log.info("waiting for %d free GPU(s) of %s (locks in %s)", count, ",".join(gpus), lease_dir())
            waited = True
        time.sleep(poll_seconds)
    _held.extend(got)
    devices = ",".join(gpu for _, gpu in got)
    pin(devices, "job")
    log.info("sweep job process %d leased GPU(s) %s", os.getpid(), devices)
    return [gpu for _, gpu in got]


def jobs_for(per_job: int = 1) -> int:
    """Parallel sweep jobs this host holds: visible GPUs // per_job, at least 1."""
    return max(1, len(visible_gpus()) // max(1, int(per_job)))


if not OmegaConf.has_resolver("synthesizrr_gpu_jobs"):
    OmegaConf.register_new_resolver("synthesizrr_gpu_jobs", jobs_for)


class GpuLease(Callback):
    """Hydra callback: each job leases `per_job` GPUs as it starts (in its own process, before any stage)."""

    def __init__(self, per_job: int = 1):
        self.per_job = int(per_job)
        visible = len(visible_gpus())
        if self.per_job < 1 or (visible and self.per_job > visible):
            raise ValueError(f"gpu_lease.per_job={per_job} is not allowed: use 1..{max(visible, 1)} "
                             f"({visible} GPUs visible)")

    def on_job_start(self, config, **kwargs) -> None:
        lease(self.per_job)
