"""teacher.weights: a GGUF file converted to another weight type with llama.cpp's own quantizer, made once.

The converted file is cached by the source file's content hash and the target type in ``$SYNTHESIZRR_CACHE/gguf``
(default ``~/.cache/synthesizrr/gguf``). It is written to a temp file and renamed, under a file lock, and a sidecar
json records its size: a missing, truncated or otherwise damaged file (wrong magic or size) is made again.
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import io
import os
import tempfile
import time
from functools import lru_cache
from pathlib import Path

from filelock import FileLock

from ..core.store import atomic_write_json, read_json
from .base import TeacherError

FTYPES = {"bf16": "LLAMA_FTYPE_MOSTLY_BF16", "f16": "LLAMA_FTYPE_MOSTLY_F16", "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
          "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0"}
WEIGHTS = ("native", *FTYPES)
MAGIC = b"GGUF"


def import_llama_cpp():
    # llama.cpp's OpenMP threads spin while they wait; when other processes share the cores, a descheduled
    # thread stalls the others (prompt evaluation measured 10-40x slower). Passive waiting avoids that. It must
    # be set before libgomp loads, i.e. before the first llama_cpp import; an explicit setting is kept.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import llama_cpp
    return llama_cpp


def cache_dir() -> Path:
    root = os.environ.get("SYNTHESIZRR_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "synthesizrr") / "gguf"


@lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_hash(path: Path) -> str:
    """sha256 of the file (memoized per process while its size and mtime stay the same)."""
    st = path.stat()
    return _sha256(str(path), st.st_size, st.st_mtime_ns)


def converted_path(source: Path, weights: str) -> Path:
    return cache_dir() / f"{source.stem}.{content_hash(source)[:16]}.{weights}.gguf"


def sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def is_valid(path: Path) -> bool:
    """The converted file is whole: it starts with the GGUF magic and has the size recorded when it was made."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(len(MAGIC))
        return magic == MAGIC and read_json(sidecar(path))["bytes"] == path.stat().st_size
    except (OSError, ValueError, KeyError, TypeError):
        return False


def converted(source: Path, weights: str, rebuild: bool = False) -> Path:
    """The GGUF file to load for teacher.weights: the source itself for native, else its cached conversion
    (made now when missing or damaged; ``rebuild`` makes it again, e.g. after llama.cpp failed to load it)."""
    if weights == "native":
        return source
    if weights not in FTYPES:
        raise TeacherError(f"teacher.weights={weights!r} is not allowed: choose one of {', '.join(WEIGHTS)}")
    out = converted_path(source, weights)
    if not rebuild and is_valid(out):
        return out
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(out) + ".lock"):
            if rebuild or not is_valid(out):      # another process may have made it while this one waited
                convert(source, out, weights)
    except OSError as exc:
        raise TeacherError(f"teacher.weights={weights}: cannot write the converted GGUF in {out.parent} ({exc}); "
                           f"set SYNTHESIZRR_CACHE to a writable folder or use teacher.weights=native") from None
    return out


def convert(source: Path, out: Path, weights: str) -> None:
    llama_cpp = import_llama_cpp()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, FTYPES[weights])
    params.allow_requantize = True            # the source may itself be quantized (the offline SmolLM2 is Q4_1)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    start = time.perf_counter()
    try:
        log = io.StringIO()
        with contextlib.redirect_stderr(log):     # llama.cpp logs a line per tensor through Python's stderr
            code = llama_cpp.llama_model_quantize(str(source).encode(), tmp.encode(), ctypes.byref(params))
        if code != 0 or Path(tmp).stat().st_size == 0:
            raise TeacherError(f"llama.cpp could not convert {source.name} to teacher.weights={weights} (code {code}); "
                               f"use teacher.weights=native or another of {', '.join(FTYPES)}")
        size = Path(tmp).stat().st_size
        sidecar(out).unlink(missing_ok=True)      # the sidecar marks a complete file: written last
        os.replace(tmp, out)
        atomic_write_json(sidecar(out), {"source": source.name, "source_sha256": content_hash(source),
                                         "weights": weights, "bytes": size, "llama_cpp": llama_cpp.__version__,
                                         "seconds": round(time.perf_counter() - start, 2)})
    finally:
        Path(tmp).unlink(missing_ok=True)
