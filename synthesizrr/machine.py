"""What a run ran on, for its run record: the CPU (model and widest vector extension), GPUs, and the versions of
the packages whose kernels decide the numbers. The same config gives other texts on another CPU or llama.cpp
build (docs/teachers.md), so rows made on different machines are told apart by this (report.py)."""
from __future__ import annotations

import functools
import importlib.metadata
import platform
import sys
from pathlib import Path

PACKAGES = ("llama_cpp_python", "torch", "transformers", "vllm", "sentence-transformers", "spacy")
# widest first: the one that names the kernels llama.cpp and torch pick on this CPU
SIMD = (("amx_tile", "amx"), ("avx512f", "avx512"), ("avx2", "avx2"), ("asimd", "neon"))


@functools.lru_cache(maxsize=1)
def cpu() -> tuple[str, frozenset[str]]:
    """This CPU's model name and feature flags (/proc/cpuinfo; no flags where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), frozenset()
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model") and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model or platform.machine(), frozenset(flags)


def _gpus() -> list[str]:
    torch = sys.modules.get("torch")       # only where the run already imported it: no CUDA start for this
    try:
        if torch is not None and torch.cuda.is_available():
            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:                      # a broken driver must not cost the run record
        pass
    return []


@functools.lru_cache(maxsize=1)
def machine() -> dict:
    """{"cpu", "simd", "gpus", "packages": {name: version}} (installed packages of PACKAGES only)."""
    model, flags = cpu()
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return {"cpu": model, "simd": next((name for flag, name in SIMD if flag in flags), "-"), "gpus": _gpus(),
            "packages": packages}
