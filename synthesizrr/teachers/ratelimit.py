"""Send-rate control of the HTTP backends.

- A shared cooldown per server (base URL): a 429 (or 529, overloaded) pauses every worker of this process that
  would send to that server until its Retry-After, instead of each worker learning it from its own 429.
- Optional token buckets (teacher.requests_per_minute, teacher.tokens_per_minute) hold the send rate of one
  teacher. Each bucket holds one second's worth (at least one request); a request larger than the bucket waits
  for a full bucket and leaves it in debt, so the long-run rate holds for any request size.
"""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Optional

_cooldowns: dict[str, float] = {}     # base URL -> monotonic time before which nothing is sent there
_lock = threading.Lock()


def pause(url: str, seconds: float) -> None:
    """Hold every send to ``url`` (in this process) for ``seconds`` from now."""
    with _lock:
        _cooldowns[url] = max(_cooldowns.get(url, 0.0), time.monotonic() + max(0.0, seconds))


def resting_until(url: str) -> float:
    return _cooldowns.get(url, 0.0)


async def wait_cooldown(url: str) -> float:
    """Sleep until ``url``'s cooldown is over (it may be extended while sleeping); seconds waited."""
    waited = 0.0
    while True:
        left = resting_until(url) - time.monotonic()
        if left <= 0:
            return waited
        await asyncio.sleep(left)
        waited += left


class TokenBucket:
    """``rate`` units per second, at most ``capacity`` saved up; ``take(n)`` waits until the bucket holds
    min(n, capacity) units, then removes n (the level may go negative: later takers wait for it to refill)."""

    def __init__(self, per_minute: float):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self.stamp = time.monotonic()
        self._lock: Optional[asyncio.Lock] = None
        self._loop = None

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    async def take(self, n: float = 1.0) -> None:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:     # each backend.run has its own event loop
            self._lock, self._loop = asyncio.Lock(), loop
        async with self._lock:                               # first come, first served
            need = min(n, self.capacity)
            self._refill()
            while self.level < need:
                await asyncio.sleep((need - self.level) / self.rate)
                self._refill()
            self.level -= n


class SendLimits:
    """What a worker awaits before each send: the server's cooldown and the teacher's buckets."""

    def __init__(self, requests_per_minute: Optional[float], tokens_per_minute: Optional[float]):
        self.requests = TokenBucket(requests_per_minute) if requests_per_minute else None
        self.tokens = TokenBucket(tokens_per_minute) if tokens_per_minute else None

    async def before_send(self, url: str, tokens: int, shared_cooldown: bool = True) -> None:
        if shared_cooldown:
            await wait_cooldown(url)
        if self.requests:
            await self.requests.take(1)
        if self.tokens:
            await self.tokens.take(tokens)
        if shared_cooldown:            # a 429 may have arrived while this worker waited for the buckets
            await wait_cooldown(url)
