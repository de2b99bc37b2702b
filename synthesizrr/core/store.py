"""Run store: each stage's output lives under ``<root>/<stage>/<key>/``, where the key is a fingerprint of the
stage's own config and its inputs' keys. A directory appears only when complete (written to a temp dir, then
renamed), so a killed run never leaves a half-written stage behind.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from filelock import FileLock

DONE = "_stage.json"


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def fingerprint(*parts: Any, length: int = 16) -> str:
    """Stable hex digest of JSON-able parts (dataclasses and dicts are canonicalised)."""
    blob = json.dumps(_jsonable(parts), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def atomic_write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(_jsonable(obj), indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def content_fingerprint(folder: Path, files: Iterable[str], fallback: str) -> str:
    """sha256 over the named files (name and bytes) in `folder`; `fallback` (the stage key) when none is named,
    for stages whose output is determined by their key or too large to hash (the corpus index)."""
    files = list(files)
    if not files:
        return fallback
    h = hashlib.sha256()
    for name in files:
        path = Path(folder) / name
        if path.exists():
            h.update(name.encode() + b"\0")
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()[:16]


class Store:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def done(self, stage: str, key: str) -> bool:
        return (self.path(stage, key) / DONE).exists()

    def meta(self, stage: str, key: str) -> dict:
        return read_json(self.path(stage, key) / DONE)

    def lock(self, stage: str, key: str) -> FileLock:
        lock_dir = self.root / ".locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        return FileLock(str(lock_dir / f"{stage}-{key}.lock"))

    def work_dir(self, stage: str, key: str) -> Path:
        """A persistent scratch dir for resumable partial work of one stage key (kept across kills)."""
        path = self.root / ".partial" / stage / key
        path.mkdir(parents=True, exist_ok=True)
        return path

    def content(self, stage: str, key: str, outputs: Iterable[str] = ()) -> str:
        """The content fingerprint a finished stage recorded (computed from its outputs for older entries)."""
        meta = self.meta(stage, key)
        return meta.get("content") or content_fingerprint(self.path(stage, key), outputs, key)

    def remove(self, stage: str, key: str) -> None:
        shutil.rmtree(self.path(stage, key), ignore_errors=True)

    @contextmanager
    def writing(self, stage: str, key: str, meta: dict, outputs: Iterable[str] = ()) -> Iterator[Path]:
        """Yield a temp dir to fill; on success it is renamed to the stage's final dir with its metadata and
        the content fingerprint of `outputs` (downstream keys use it, so a changed output recomputes them)."""
        final = self.path(stage, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{key}.", suffix=".tmp"))
        try:
            yield tmp
            atomic_write_json(tmp / DONE, {**meta, "stage": stage, "key": key, "finished_at": time.time(),
                                           "content": content_fingerprint(tmp, outputs, key)})
            if final.exists():  # an incomplete leftover or a concurrent twin: replace it
                shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            shutil.rmtree(self.root / ".partial" / stage / key, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())
