"""Persistent call cache: one SQLite row per completed teacher call, committed as soon as the call completes.

WAL mode lets several processes read while one writes; a busy timeout makes concurrent writers wait for each
other instead of failing. A killed run loses only the calls in flight, and a rerun finds the rest here.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Optional

from .base import Completion, Request

SCHEMA = """CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY, text TEXT NOT NULL, tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,
    finish_reason TEXT NOT NULL, created REAL NOT NULL, backend TEXT NOT NULL, model TEXT NOT NULL)"""
BUSY_TIMEOUT_MS = 60_000
_CHUNK = 500   # keys per SELECT (SQLite limits bound parameters)


def _while_locked(statement, timeout_s: float = BUSY_TIMEOUT_MS / 1000):
    """Run a statement, retrying while another process holds the lock. Switching to WAL (and creating the table
    in a brand-new file) can fail with 'database is locked' at once: SQLite's busy handler does not cover it."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return statement()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def call_key(identity: dict, request: Request, stop: list[str]) -> str:
    """sha256 of everything that determines a call's output: teacher identity (backend, model, chat flag,
    decoding settings) and the request (prompt, system, max_new_tokens, stop, seed, sample_index)."""
    blob = json.dumps({"teacher": identity, "prompt": request.prompt, "system": request.system,
                       "max_new_tokens": request.max_new_tokens, "stop": list(stop), "seed": request.seed,
                       "sample_index": request.sample_index}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class CallCache:
    def __init__(self, path: Optional[Path]):
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path) if self.path else ":memory:", timeout=BUSY_TIMEOUT_MS / 1000,
                                   isolation_level=None, check_same_thread=False)
        self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if self.path is not None:
            _while_locked(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
            self._db.execute("PRAGMA synchronous=NORMAL")   # durable across process kills; WAL keeps it safe
        _while_locked(lambda: self._db.execute(SCHEMA))

    def get_many(self, keys: Iterable[str]) -> dict[str, Completion]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, Completion] = {}
        with self._lock:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT key, text, tokens_in, tokens_out, finish_reason FROM calls "
                                        f"WHERE key IN ({marks})", chunk).fetchall()
                for key, text, t_in, t_out, reason in rows:
                    found[key] = Completion(text=text, tokens_in=t_in, tokens_out=t_out, cached=True,
                                            finish_reason=reason)
        return found

    def put(self, key: str, completion: Completion, backend: str, model: str) -> None:
        """Commit one completed call (autocommit: the row is durable when this returns)."""
        self.put_many([(key, completion)], backend, model)

    def put_many(self, rows: list[tuple[str, Completion]], backend: str, model: str) -> None:
        """Commit completed calls in one statement (inside ``transaction()`` when one is open)."""
        now = time.time()
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                 [(key, c.text, c.tokens_in, c.tokens_out, c.finish_reason, now, backend, model)
                                  for key, c in rows])

    def sql(self, statement: str, params: Iterable = ()) -> list:
        """Run one statement on this file (the batch tables live here too); its rows."""
        with self._lock:
            return _while_locked(lambda: self._db.execute(statement, tuple(params)).fetchall())

    def sql_many(self, statement: str, rows: list) -> None:
        with self._lock:
            _while_locked(lambda: self._db.executemany(statement, rows))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT: what runs inside (in this thread) is atomic and excludes other writers."""
        with self._lock:
            _while_locked(lambda: self._db.execute("BEGIN IMMEDIATE"))
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
