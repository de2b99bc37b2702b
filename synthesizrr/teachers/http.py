"""Shared machinery of the HTTP API backends: bounded concurrency over one or more servers, bounded retries with
exponential backoff and jitter (honouring Retry-After), a shared cooldown per server after a 429 and optional
send-rate limits (ratelimit.py), the API key read from the environment only, and the calls that administer
provider batches (batches.py drives them; the subclasses know each provider's format).

The key is read when the first request is sent, kept in a header and never put into a message, a log line, the
identity or the cache.
"""
from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import logging
import os
import random
import threading
import time
from collections import deque
from typing import Iterator, Optional
from urllib.parse import urlparse

import httpx

from ..core.config import TeacherConfig
from .base import Backend, Completion, Emit, Request, TeacherError, cut_at_stop, failed
from .ratelimit import SendLimits, pause

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}
COOLDOWN_STATUS = {429, 529}     # rate limited / overloaded: the whole server is paused, not just this request


class Retryable(Exception):
    """A response worth another attempt: a malformed body or an empty completion."""


def retry_after_seconds(value: Optional[str]) -> Optional[float]:
    """Retry-After header as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpBackend(Backend):
    default_base_url = ""
    shared_cooldown = True      # a 429 pauses every worker sending to that server (benchmarks turn it off)
    batch_max_requests = 0      # provider batch limits; 0: no batch API
    batch_max_bytes = 0

    def __init__(self, cfg: TeacherConfig):
        super().__init__(cfg)
        urls = list(cfg.base_urls) or [self.default_base_url]
        bad = [u for u in urls if not str(u).startswith(("http://", "https://"))]
        if bad:
            raise TeacherError(f"teacher.base_urls has {bad[0]!r}: allowed http:// or https:// URLs")
        self.base_urls = [str(u).rstrip("/") for u in urls]
        self._outstanding = {u: 0 for u in self.base_urls}
        self._resting = {u: 0.0 for u in self.base_urls}   # monotonic time until which a failing server is avoided
        self._turn = 0
        self._rng = random.Random()
        self._tokenizer = None
        self.limits = SendLimits(cfg.requests_per_minute, cfg.tokens_per_minute)

    # --- per-API parts -------------------------------------------------------------------------------------
    def endpoint(self, request: Request) -> tuple[str, dict]:
        """(path below the base URL, JSON body) of one request."""
        raise NotImplementedError

    def headers(self, key: Optional[str]) -> dict:
        raise NotImplementedError

    def parse(self, data: dict, request: Request) -> Completion:
        """Completion from a response body; raise Retryable when it is malformed or empty."""
        raise NotImplementedError

    # --- shared parts ---------------------------------------------------------------------------------------
    def identity(self) -> dict:
        return {"model": self.cfg.model, "extra": {k: v for k, v in sorted(self.cfg.extra.items())}}

    def _api_key(self) -> Optional[str]:
        name = self.cfg.api_key_env
        if not name:
            return None
        key = os.environ.get(name)
        if not key:
            raise TeacherError(f"teacher.api_key_env names ${name}, which is not set: export it, or set "
                               f"teacher.api_key_env=null for a server without keys")
        return key

    def _pick_url(self) -> str:
        """Least-outstanding server among those not resting after a failure; ties go round-robin."""
        n, now = len(self.base_urls), time.monotonic()
        order = [self.base_urls[(self._turn + i) % n] for i in range(n)]
        self._turn = (self._turn + 1) % n
        healthy = [u for u in order if self._resting[u] <= now] or order
        return min(healthy, key=lambda u: self._outstanding[u])

    def _backoff(self, attempt: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            return retry_after
        ceiling = min(self.cfg.backoff_max, self.cfg.backoff_base * 2 ** attempt)
        return ceiling * (0.5 + 0.5 * self._rng.random())     # jitter in [ceiling/2, ceiling]

    def _cut(self, completion: Completion, request: Request) -> Completion:
        """Apply every stop sequence here too: APIs cap their number or refuse whitespace-only ones."""
        text, hit = cut_at_stop(completion.text, self.stop_for(request))
        return dataclasses.replace(completion, text=text, finish_reason="stop") if hit else completion

    def send_tokens(self, request: Request) -> int:
        """What a request counts against teacher.tokens_per_minute: prompt, system message and max new tokens."""
        return self.count_tokens(request.prompt) + self.count_tokens(request.system or "") + request.max_new_tokens

    async def _call(self, client: httpx.AsyncClient, headers: dict, request: Request) -> Completion:
        path, body = self.endpoint(request)
        need = self.send_tokens(request) if self.limits.tokens else 0
        error = "no attempt made"
        for attempt in range(self.cfg.max_retries + 1):
            url = self._pick_url()
            await self.limits.before_send(url, need, self.shared_cooldown)
            self._outstanding[url] += 1
            retry_after, status = None, None
            try:
                resp = await client.post(url + path, json=body, headers=headers)
                if resp.status_code == 200:
                    return self._cut(self.parse(resp.json(), request), request)
                error, status = f"HTTP {resp.status_code} from {url}{path}", resp.status_code
                if resp.status_code not in RETRY_STATUS:
                    if resp.status_code in (401, 403):
                        return failed(f"{error}: authentication failed, check ${self.cfg.api_key_env}")
                    return failed(f"{error}: {resp.text[:200]}")
                retry_after = retry_after_seconds(resp.headers.get("retry-after"))
            except httpx.TimeoutException as exc:
                error = f"timeout after {self.cfg.request_timeout}s from {url}{path} ({type(exc).__name__})"
            except httpx.TransportError as exc:
                error = f"connection error from {url}{path} ({type(exc).__name__})"
            except (ValueError, KeyError, IndexError, TypeError, Retryable) as exc:   # JSON errors are ValueErrors
                error = f"bad response from {url}{path}: {type(exc).__name__}: {str(exc)[:120]}"
            finally:
                self._outstanding[url] -= 1
            if attempt == self.cfg.max_retries:
                break
            delay = self._backoff(attempt, retry_after)
            self._resting[url] = max(self._resting[url], time.monotonic() + delay)
            if status in COOLDOWN_STATUS and self.shared_cooldown:
                pause(url, delay)
            self.retries += 1
            log.warning("teacher retry %d/%d in %.2fs: %s", attempt + 1, self.cfg.max_retries, delay, error)
            await asyncio.sleep(delay)
        return failed(f"{error} (after {self.cfg.max_retries} retries)")

    async def _run_async(self, requests: list[Request], emit: Emit) -> None:
        headers = self.headers(self._api_key())
        pending = deque(range(len(requests)))
        stop = False
        limits = httpx.Limits(max_connections=self.cfg.concurrency, max_keepalive_connections=self.cfg.concurrency)
        async with httpx.AsyncClient(timeout=self.cfg.request_timeout, limits=limits) as client:
            async def worker() -> None:
                nonlocal stop
                while pending and not stop:
                    i = pending.popleft()
                    completion = await self._call(client, headers, requests[i])
                    if not emit(i, completion):
                        stop = True

            await asyncio.gather(*(worker() for _ in range(min(self.cfg.concurrency, len(requests)))))

    def run(self, requests: list[Request], emit: Emit) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self._run_async(requests, emit))
            return
        errors: list[BaseException] = []     # called from inside an event loop (e.g. a notebook): use a thread

        def target() -> None:
            try:
                asyncio.run(self._run_async(requests, emit))
            except BaseException as exc:     # re-raised in the caller's thread
                errors.append(exc)

        thread = threading.Thread(target=target, name="teacher-http")
        thread.start()
        thread.join()
        if errors:
            raise errors[0]

    # --- batch administration (teacher.batch=true); the per-provider parts are in the subclasses ----------------
    def batch_client(self) -> httpx.Client:
        return httpx.Client(timeout=self.cfg.request_timeout, headers=self.headers(self._api_key()))

    def batch_path(self, base_url: str, path: str) -> str:
        """The path of an online endpoint as a batch line names it (``/v1/chat/completions``)."""
        return urlparse(base_url).path.rstrip("/") + path

    def admin(self, client: httpx.Client, method: str, url: str, **kw) -> httpx.Response:
        """One batch-administration call with the backend's retries (connection refused, 408/409/429/5xx). A POST
        whose answer is lost (timeout, reset) is not retried: it may have created a batch, so the run stops."""
        error = "no attempt made"
        for attempt in range(self.cfg.max_retries + 1):
            retry_after = None
            try:
                resp = client.request(method, url, **kw)
            except httpx.ConnectError as exc:
                error = f"connection error from {url} ({type(exc).__name__})"
            except httpx.TransportError as exc:
                if method != "GET":
                    raise TeacherError(f"{method} {url} got no answer ({type(exc).__name__}); it may have been "
                                       f"accepted: check the provider's batch list before rerunning") from None
                error = f"{type(exc).__name__} from {url}"
            else:
                if resp.status_code < 300:
                    return resp
                error = f"HTTP {resp.status_code} from {url}"
                if resp.status_code in (401, 403):
                    raise TeacherError(f"{error}: authentication failed, check ${self.cfg.api_key_env}")
                if resp.status_code not in RETRY_STATUS:
                    raise TeacherError(f"{error}: {resp.text[:200]}")
                retry_after = retry_after_seconds(resp.headers.get("retry-after"))
            if attempt < self.cfg.max_retries:
                delay = self._backoff(attempt, retry_after)
                self.retries += 1
                log.warning("batch call retry %d/%d in %.2fs: %s", attempt + 1, self.cfg.max_retries, delay, error)
                time.sleep(delay)
        raise TeacherError(f"{error} (after {self.cfg.max_retries} retries)")

    def batch_completion(self, body: dict, stop: list[str]) -> Completion:
        """A completion from one batch result body (the online response's format); raises like ``parse``."""
        request = Request("", 1, 0, stop=tuple(stop))
        return self._cut(self.parse(body, request), request)

    def batch_line(self, custom_id: str, request: Request, base_url: str) -> dict:
        raise NotImplementedError

    def submit_batch(self, client: httpx.Client, base_url: str, lines: list[dict], label: str) -> str:
        """Create one batch of ``lines``; the provider's batch id."""
        raise NotImplementedError

    def batch_status(self, client: httpx.Client, base_url: str, batch_id: str) -> dict:
        raise NotImplementedError

    def batch_ended(self, status: dict) -> Optional[tuple[str, bool]]:
        """None while the batch runs; once it ended, (why a request without a result has none, retryable)."""
        raise NotImplementedError

    def batch_results(self, client: httpx.Client, status: dict) -> Iterator[tuple[str, Optional[dict], str, bool]]:
        """(custom_id, response body or None, error, retryable) of each request of an ended batch."""
        raise NotImplementedError

    # --- tokens: an optional local tokenizer (teacher.extra.tokenizer), else ~4 characters per token ----------
    def _local_tokenizer(self):
        name = self.cfg.extra.get("tokenizer")
        if name and self._tokenizer is None:
            from .hf import load_tokenizer
            self._tokenizer = load_tokenizer(str(name))
        return self._tokenizer

    def count_tokens(self, text: str) -> int:
        tok = self._local_tokenizer()
        return len(tok(text, add_special_tokens=False)["input_ids"]) if tok else super().count_tokens(text)

    def token_counting(self) -> str:
        name = self.cfg.extra.get("tokenizer")
        return f"the tokenizer {name} (teacher.extra.tokenizer)" if name else super().token_counting()

    def truncate_tokens(self, text: str, n: int) -> str:
        tok = self._local_tokenizer()
        if not tok:
            return super().truncate_tokens(text, n)
        return tok.decode(tok(text, add_special_tokens=False)["input_ids"][:n])
