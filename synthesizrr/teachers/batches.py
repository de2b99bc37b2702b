"""Provider batch APIs (teacher.batch=true): OpenAI's Batch API and Anthropic's Message Batches, about half the
price of online calls and outside the per-minute limits.

The call-cache SQLite file holds two more tables. `batches`: one row per batch (id, backend, base URL, the
TeacherConfig that made it, state, the provider's last status, owner process). `batch_requests`: one row per
submitted request (batch id, custom_id, cache key, stop list, state, error).

    batch:   submitting --(the provider accepted it: provider id recorded)--> submitted --(it ended and its
             results are in `calls`)--> collected.  A `submitting` batch whose process died is `abandoned`.
    request: pending --> done (its completion is in `calls`) | failed (errored, expired, canceled)

A request whose key is cached or pending in an open batch is never submitted again, so nothing is paid twice; a
failed one is submitted again (errored and expired results count against teacher.failure_budget). The run polls
with backoff (teacher.batch_poll_seconds, doubling up to 10x) until it has every result, or stops after
teacher.batch_wait_hours with BatchesPending (no stage is stored); a rerun, or `synthesizrr-store collect`,
downloads the results into the call cache.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

from ..core.config import TeacherConfig
from .base import Completion, Emit, Request, TeacherError, failed, prices
from .cache import CallCache
from .http import HttpBackend, Retryable

log = logging.getLogger(__name__)

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY, backend TEXT NOT NULL, base_url TEXT NOT NULL, teacher TEXT NOT NULL, state TEXT NOT NULL,
    provider_status TEXT, requests INTEGER NOT NULL, owner TEXT NOT NULL, submitted REAL NOT NULL,
    updated REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS batch_requests (
    batch_id TEXT NOT NULL, custom_id TEXT NOT NULL, key TEXT NOT NULL, stop TEXT NOT NULL, state TEXT NOT NULL,
    error TEXT, PRIMARY KEY (batch_id, custom_id))""",
    "CREATE INDEX IF NOT EXISTS batch_requests_key ON batch_requests (key, state)",
)
OWNER = f"{socket.gethostname()}:{os.getpid()}"
MARGIN_BYTES = 64 * 1024        # room for the envelope around the lines (Anthropic's {"requests": [...]})


class BatchesPending(TeacherError):
    """Requests wait in provider batches; a rerun (or `synthesizrr-store collect`) collects them."""


@dataclass
class Batch:
    id: str
    backend: str
    base_url: str
    teacher: str          # TeacherConfig as JSON (no secrets: keys stay in the environment)
    requests: int
    submitted: float


@dataclass
class Outcome:
    key: str
    completion: Optional[Completion]
    error: str = ""
    retryable: bool = False


def _alive(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True                        # another machine's process: cannot tell, assume it lives
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


class BatchStore:
    """The batch tables in the call-cache file."""

    def __init__(self, cache: CallCache):
        self.cache = cache
        for statement in SCHEMA:
            cache.sql(statement)

    def in_flight(self) -> dict[str, str]:
        """Cache key -> batch id of every request pending in an open batch."""
        return dict(self.cache.sql(
            "SELECT r.key, r.batch_id FROM batch_requests r JOIN batches b ON b.id = r.batch_id "
            "WHERE r.state = 'pending' AND b.state IN ('submitting', 'submitted')"))

    def open_batches(self, ids: Optional[set] = None) -> list[Batch]:
        rows = self.cache.sql("SELECT id, backend, base_url, teacher, requests, submitted FROM batches "
                              "WHERE state = 'submitted' ORDER BY submitted")
        return [Batch(*row) for row in rows if ids is None or row[0] in ids]

    def pending(self, batch_id: str) -> dict[str, tuple[str, list[str]]]:
        """custom_id -> (cache key, stop list) of the batch's pending requests."""
        rows = self.cache.sql("SELECT custom_id, key, stop FROM batch_requests WHERE batch_id = ? AND "
                              "state = 'pending'", (batch_id,))
        return {cid: (key, json.loads(stop)) for cid, key, stop in rows}

    def reserve(self, items: list[tuple[str, str, list[str]]], cfg: TeacherConfig,
                base_url: str) -> tuple[str, set[str]]:
        """Record a batch about to be submitted with those of ``items`` (key, custom_id, stop) that no open batch
        holds, atomically (another process may be submitting too); (local id, keys taken)."""
        local, now = f"local-{uuid.uuid4().hex}", time.time()
        with self.cache.transaction():
            busy = self.in_flight()
            take = [item for item in items if item[0] not in busy]
            if take:
                self.cache.sql("INSERT INTO batches VALUES (?, ?, ?, ?, 'submitting', NULL, ?, ?, ?, ?)",
                               (local, cfg.backend, base_url, json.dumps(dataclasses.asdict(cfg)), len(take), OWNER,
                                now, now))
                self.cache.sql_many("INSERT INTO batch_requests VALUES (?, ?, ?, ?, 'pending', NULL)",
                                    [(local, cid, key, json.dumps(stop)) for key, cid, stop in take])
        return local, {key for key, _, _ in take}

    def submitted(self, local: str, batch_id: str) -> None:
        with self.cache.transaction():
            self.cache.sql("UPDATE batches SET id = ?, state = 'submitted', updated = ? WHERE id = ?",
                           (batch_id, time.time(), local))
            self.cache.sql("UPDATE batch_requests SET batch_id = ? WHERE batch_id = ?", (batch_id, local))

    def drop(self, local: str) -> None:
        with self.cache.transaction():
            self.cache.sql("DELETE FROM batch_requests WHERE batch_id = ?", (local,))
            self.cache.sql("DELETE FROM batches WHERE id = ?", (local,))

    def note(self, batch_id: str, provider_status: str) -> None:
        self.cache.sql("UPDATE batches SET provider_status = ?, updated = ? WHERE id = ?",
                       (provider_status, time.time(), batch_id))

    def settle(self, batch: Batch, provider_status: str, outcomes: dict[str, Outcome], model: str) -> None:
        """Save the results and mark the batch collected, in one transaction."""
        done = [(cid, o) for cid, o in outcomes.items() if o.completion is not None]
        with self.cache.transaction():
            self.cache.put_many([(o.key, o.completion) for _, o in done], batch.backend, model)
            self.cache.sql_many("UPDATE batch_requests SET state = ?, error = ? WHERE batch_id = ? AND custom_id = ?",
                                [("done" if o.completion else "failed", o.error or None, batch.id, cid)
                                 for cid, o in outcomes.items()])
            self.cache.sql("UPDATE batches SET state = 'collected', provider_status = ?, updated = ? WHERE id = ?",
                           (provider_status, time.time(), batch.id))

    def abandon_dead(self) -> int:
        """Mark batches whose submitting process died before recording the provider's id: their requests may be
        submitted again (if the provider had accepted the batch, those requests are paid twice)."""
        rows = self.cache.sql("SELECT id, owner, requests FROM batches WHERE state = 'submitting'")
        dead = [(bid, n) for bid, owner, n in rows if not _alive(owner)]
        for bid, n in dead:
            log.warning("batch %s (%d requests) was being submitted when its process stopped; its requests will "
                        "be submitted again", bid, n)
            with self.cache.transaction():
                self.cache.sql("UPDATE batches SET state = 'abandoned', updated = ? WHERE id = ?", (time.time(), bid))
                self.cache.sql("UPDATE batch_requests SET state = 'failed', error = 'abandoned' WHERE batch_id = ?",
                               (bid,))
        return len(dead)


def split(items: list, max_requests: int, max_bytes: int) -> Iterator[list]:
    """Chunks of (key, line, stop) items within the provider's requests and bytes per batch."""
    chunk, size, budget = [], 0, max_bytes - MARGIN_BYTES
    for item in items:
        n = len(json.dumps(item[1]).encode()) + 1
        if n > budget:
            raise TeacherError(f"one batch request is {n} bytes, more than the {budget} bytes a batch may hold")
        if chunk and (len(chunk) >= max_requests or size + n > budget):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += n
    if chunk:
        yield chunk


def collect_batch(backend: HttpBackend, store: BatchStore, client, batch: Batch) -> Optional[dict[str, Outcome]]:
    """Poll one batch; once it ended, download its results into the call cache. Outcomes by custom_id, or None
    while the batch runs."""
    status = backend.batch_status(client, batch.base_url, batch.id)
    provider_status = str(status.get("status") or status.get("processing_status"))
    ended = backend.batch_ended(status)
    if ended is None:
        store.note(batch.id, provider_status)
        return None
    pending, outcomes = store.pending(batch.id), {}
    for cid, body, error, retryable in backend.batch_results(client, status):
        if cid not in pending or cid in outcomes:
            continue
        key, stop = pending[cid]
        if body is None:
            outcomes[cid] = Outcome(key, None, error, retryable)
            continue
        try:
            outcomes[cid] = Outcome(key, backend.batch_completion(body, stop))
        except (Retryable, ValueError, KeyError, IndexError, TypeError) as exc:
            outcomes[cid] = Outcome(key, None, f"bad result in batch {batch.id}: {type(exc).__name__}: "
                                               f"{str(exc)[:120]}", True)
    missing_error, missing_retryable = ended
    for cid, (key, _) in pending.items():
        outcomes.setdefault(cid, Outcome(key, None, missing_error, missing_retryable))
    store.settle(batch, provider_status, outcomes, str(backend.cfg.model))
    bad = sum(o.completion is None for o in outcomes.values())
    log.info("batch %s %s: %d results collected, %d failed", batch.id, provider_status, len(outcomes) - bad, bad)
    return outcomes


def submit(backend: HttpBackend, store: BatchStore, client, items: list[tuple[str, Request]]) -> tuple[int, int]:
    """Submit requests (key, request) in as many batches as the provider's limits need; (requests, batches)."""
    base = backend.base_urls[0]
    lines = [(key, backend.batch_line(key, req, base), backend.stop_for(req)) for key, req in items]
    sent = batches = 0
    for chunk in split(lines, backend.batch_max_requests, backend.batch_max_bytes):
        local, taken = store.reserve([(key, key, stop) for key, _, stop in chunk], backend.cfg, base)
        if not taken:
            continue
        body = [line for key, line, _ in chunk if key in taken]
        try:
            batch_id = backend.submit_batch(client, base, body, local)
        except BaseException:
            store.drop(local)
            raise
        store.submitted(local, batch_id)
        sent, batches = sent + len(body), batches + 1
        log.info("submitted batch %s: %d requests to %s", batch_id, len(body), base)
    return sent, batches


def run_batched(cache: CallCache, backend: HttpBackend, keys: list[str], requests: list[Request], emit: Emit,
                note_failure: Callable[[str], bool]) -> None:
    """CachedTeacher.generate in batch mode: completions of the missing ``keys`` through provider batches.
    ``emit(j, completion)`` as each result arrives (already saved); ``note_failure(error)`` for a retryable failure,
    False when the failure budget is spent."""
    cfg = backend.cfg
    store = BatchStore(cache)
    index = {k: j for j, k in enumerate(keys)}
    need = dict(zip(keys, requests))
    deadline = time.monotonic() + cfg.batch_wait_hours * 3600
    interval, sent, made = cfg.batch_poll_seconds, 0, 0
    with backend.batch_client() as client:
        store.abandon_dead()
        while True:
            flight = store.in_flight()
            for batch in store.open_batches({flight[k] for k in need if k in flight}):
                for o in (collect_batch(backend, store, client, batch) or {}).values():
                    if o.key not in need:
                        continue
                    if o.completion is not None or not o.retryable:
                        del need[o.key]
                        if not emit(index[o.key], o.completion or failed(o.error)):
                            return
                    elif not note_failure(o.error):
                        return
            for key, completion in cache.get_many(need).items():     # collected by another process
                del need[key]
                emit(index[key], completion)
            flight = store.in_flight()
            fresh = [(k, r) for k, r in need.items() if k not in flight]
            if fresh:
                n, b = submit(backend, store, client, fresh)
                sent, made = sent + n, made + b
            if not need:
                return
            now = time.monotonic()
            if now >= deadline:
                raise BatchesPending(pending_message(sent, made, need, store.in_flight(), cfg.batch_wait_hours))
            time.sleep(min(interval, deadline - now))
            interval = min(interval * 2, cfg.batch_poll_seconds * 10)


def pending_message(sent: int, made: int, need: dict, flight: dict[str, str], hours: float) -> str:
    waiting = [k for k in need if k in flight]
    earlier, earlier_batches = len(waiting) - sent, len({flight[k] for k in waiting}) - made
    parts = [f"submitted {sent} requests in {made} {'batch' if made == 1 else 'batches'}"] if sent else []
    if earlier > 0 or not sent:
        parts.append(f"{earlier} requests submitted earlier in {earlier_batches} "
                     f"{'batch' if earlier_batches == 1 else 'batches'} are still in flight")
    return (f"{'; '.join(parts)} (teacher.batch_wait_hours={hours:g}); the stage is not stored: rerun the same "
            f"command (or `synthesizrr-store collect`) to collect the results")


def teacher_config(blob: str) -> TeacherConfig:
    """The TeacherConfig stored with a batch (fields this version does not know are left out)."""
    known = {f.name for f in dataclasses.fields(TeacherConfig)}
    return TeacherConfig(**{k: v for k, v in json.loads(blob).items() if k in known})


def collect_all(cache_path, make_backend: Callable[[TeacherConfig], HttpBackend], echo=print) -> dict:
    """Poll every open batch of a call-cache file once and download the ended ones (`synthesizrr-store collect`)."""
    cache = CallCache(cache_path)
    try:
        store = BatchStore(cache)
        store.abandon_dead()
        groups: dict[str, list[Batch]] = defaultdict(list)
        for batch in store.open_batches():
            groups[batch.teacher].append(batch)
        out = {"batches": 0, "collected": 0, "results": 0, "failed": 0, "in_flight": 0, "waiting": 0,
               "cost_usd": 0.0}
        for blob, batches in groups.items():
            cfg = teacher_config(blob)
            backend = make_backend(cfg)
            price_in, price_out = prices(cfg)
            with backend.batch_client() as client:
                for batch in batches:
                    out["batches"] += 1
                    outcomes = collect_batch(backend, store, client, batch)
                    if outcomes is None:
                        out["in_flight"] += 1
                        out["waiting"] += batch.requests
                        hours = (time.time() - batch.submitted) / 3600
                        echo(f"batch {batch.id} ({cfg.backend} {cfg.model}): {batch.requests} requests, still in "
                             f"flight after {hours:.1f} h")
                        continue
                    ok = [o.completion for o in outcomes.values() if o.completion is not None]
                    cost = sum(c.tokens_in * price_in + c.tokens_out * price_out for c in ok) / 1e6
                    out["collected"] += 1
                    out["results"] += len(ok)
                    out["failed"] += len(outcomes) - len(ok)
                    out["cost_usd"] += cost
                    echo(f"batch {batch.id} ({cfg.backend} {cfg.model}): collected {len(ok)} results "
                         f"(${cost:.4f} at batch prices), {len(outcomes) - len(ok)} failed")
        echo(f"collected {out['results']} results from {out['collected']} batches (${out['cost_usd']:.4f}); "
             f"{out['failed']} failed requests are submitted again by a rerun; {out['in_flight']} batches "
             f"({out['waiting']} requests) still in flight")
        return out
    finally:
        cache.close()
