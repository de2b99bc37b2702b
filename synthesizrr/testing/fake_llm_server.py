"""A real HTTP server on 127.0.0.1 that speaks the OpenAI (/v1/chat/completions, /v1/completions) and Anthropic
(/v1/messages) APIs with deterministic text, for tests and benchmarks, and their batch APIs. Faults can be scheduled:

    with FakeLLMServer(delay=0.1) as server:                 # server.url == "http://127.0.0.1:<port>/v1"
        server.fail("429", times=2, retry_after=0.5)         # the next two requests get 429 + Retry-After
        server.fail("reset", match="prompt 7")               # the next request whose prompt contains "prompt 7"
        server.fail("500", times=None, match="doomed")       # every request containing "doomed"

Faults: 429, 500, 502, 503, 504 (with Retry-After when given), reset (socket closed without a response),
timeout (sleeps ``timeout_sleep`` seconds before answering), malformed (200 with a broken JSON body), empty
(200 with an empty completion), 401, 400. The text is a function of (model, prompt, system, seed): the same request
always gets the same answer. ``FakeLLMServer(rate_limit=(n, seconds))`` answers 429 with a Retry-After (the time
left in the window) to requests beyond n per fixed window; rejected requests do not count.

Batch APIs: OpenAI (POST /v1/files multipart with purpose=batch, POST /v1/batches, GET /v1/batches/{id},
POST /v1/batches/{id}/cancel, GET /v1/files/{id}/content for output and error files) and Anthropic
(POST /v1/messages/batches, GET /v1/messages/batches/{id}, GET its results_url, JSONL). A batch ends on its
``batch_polls``-th status poll (None: only on ``server.end_batches()``); when it ends every request is answered as
the online endpoint would, except:

    server.fail_in_batch("500", match="prompt 3")           # errored (retryable: 500; not retryable: 400)
    server.expire_batches(times=1, done=2)                   # the next batch to end expires after 2 answers

``server.batches`` holds each batch (its lines, status, polls); batch administration is recorded in
``server.requests`` like any request (prompt "").
"""
from __future__ import annotations

import hashlib
import itertools
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

WORDS = ("market", "team", "vote", "film", "chip", "shares", "goal", "minister", "album", "phone", "profit",
         "league", "election", "actor", "software", "bank", "coach", "party", "award", "network")
FAULTS = ("429", "500", "502", "503", "504", "401", "400", "reset", "timeout", "malformed", "empty")
BATCH_FAULTS = ("500", "400")
ONLINE = ("/v1/chat/completions", "/v1/completions", "/v1/messages")


def fake_text(model: str, prompt: str, system: Optional[str], seed, max_tokens: int) -> str:
    digest = hashlib.sha256(json.dumps([model, prompt, system, seed]).encode()).digest()
    n = min(max_tokens, 4 + digest[0] % 8)
    return " ".join(WORDS[b % len(WORDS)] for b in digest[1:1 + n])


class _QuietServer(ThreadingHTTPServer):
    request_queue_size = 256      # many clients connect at once in concurrency tests
    def handle_error(self, request, client_address) -> None:   # resets and timeouts break pipes on purpose
        pass


@dataclass
class Rule:
    kind: str
    times: Optional[int]          # None: forever
    match: Optional[str]
    retry_after: Optional[float]


@dataclass
class Seen:
    path: str
    prompt: str
    body: dict
    headers: dict
    fault: Optional[str]
    at: float = field(default_factory=time.monotonic)    # when the request arrived
    done: Optional[float] = None                          # when its response was sent


@dataclass
class FakeBatch:
    id: str
    api: str                      # openai | anthropic
    lines: list                   # OpenAI: {custom_id, method, url, body}; Anthropic: {custom_id, params}
    endpoint: str                 # online path each line is answered as
    status: str = "in_progress"
    polls: int = 0
    output: list = field(default_factory=list)   # OpenAI output file lines, or Anthropic result lines
    errors: list = field(default_factory=list)   # OpenAI error file lines
    output_file_id: Optional[str] = None
    error_file_id: Optional[str] = None

    def prompts(self) -> list[str]:
        return [_prompt_of(self.endpoint, line.get("body") or line.get("params") or {})[0] for line in self.lines]


class FakeLLMServer:
    def __init__(self, delay: float = 0.0, timeout_sleep: float = 5.0, api_key: Optional[str] = None,
                 batch_polls: Optional[int] = 1, rate_limit: Optional[tuple[int, float]] = None):
        self.delay, self.timeout_sleep, self.api_key = delay, timeout_sleep, api_key
        self.batch_polls, self.rate_limit = batch_polls, rate_limit
        self.requests: list[Seen] = []
        self._rules: list[Rule] = []
        self._batch_rules: list[Rule] = []
        self._expiries: list[int] = []          # answers before expiry, for each of the next batches to end
        self.batches: dict[str, FakeBatch] = {}
        self.files: dict[str, bytes] = {}
        self._ids = itertools.count(1)
        self._window = (0.0, 0)                 # rate limit: (window start, requests admitted in it)
        self._lock = threading.Lock()
        self._active = 0
        self.max_active = 0          # most requests handled at the same time
        self._httpd = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def count(self) -> int:
        return len(self.requests)

    def fail(self, kind: str, times: Optional[int] = 1, match: Optional[str] = None,
             retry_after: Optional[float] = None) -> None:
        if kind not in FAULTS:
            raise ValueError(f"fault {kind!r} is not allowed: choose one of {', '.join(FAULTS)}")
        with self._lock:
            self._rules.append(Rule(kind, times, match, retry_after))

    def clear_faults(self) -> None:
        with self._lock:
            self._rules.clear()
            self._batch_rules.clear()
            self._expiries.clear()

    # --- batches --------------------------------------------------------------------------------------------
    def fail_in_batch(self, kind: str = "500", match: Optional[str] = None, times: Optional[int] = None) -> None:
        """Batch requests whose prompt contains ``match`` come back errored when their batch ends."""
        if kind not in BATCH_FAULTS:
            raise ValueError(f"batch fault {kind!r} is not allowed: choose one of {', '.join(BATCH_FAULTS)}")
        with self._lock:
            self._batch_rules.append(Rule(kind, times, match, None))

    def expire_batches(self, times: int = 1, done: int = 0) -> None:
        """The next ``times`` batches to end expire after answering their first ``done`` requests."""
        with self._lock:
            self._expiries.extend([done] * times)

    def end_batches(self) -> int:
        """End every batch still in progress now; how many ended."""
        with self._lock:
            live = [b for b in self.batches.values() if b.status == "in_progress"]
            for b in live:
                self._end(b)
        return len(live)

    @property
    def batch_lines(self) -> int:
        """Requests submitted in batches so far."""
        return sum(len(b.lines) for b in self.batches.values())

    def _take_fault(self, prompt: str) -> Optional[Rule]:
        with self._lock:
            return _take(self._rules, prompt)

    def _over_rate(self) -> Optional[float]:
        """Seconds left in the window when the rate limit is spent (None: admitted)."""
        if self.rate_limit is None:
            return None
        limit, seconds = self.rate_limit
        with self._lock:
            now = time.monotonic()
            start, n = self._window
            if now - start >= seconds:
                start, n = now, 0
            if n >= limit:
                return start + seconds - now
            self._window = (start, n + 1)
        return None

    def start(self) -> "FakeLLMServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="fake-llm",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "FakeLLMServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True     # headers and body go out in separate writes

            def log_message(self, *args) -> None:   # keep test output quiet
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Type", "").startswith("multipart/form-data"):
                    body = _multipart(self.headers["Content-Type"], raw)
                else:
                    body = json.loads(raw or b"{}")
                with server._lock:
                    server._active += 1
                    server.max_active = max(server.max_active, server._active)
                try:
                    if "/batches" in self.path or self.path.startswith("/v1/files"):
                        server._batch_api(self, "POST", body)
                    else:
                        server._answer(self, body)
                finally:
                    with server._lock:
                        server._active -= 1

            def do_GET(self) -> None:
                server._batch_api(self, "GET", {})

        return Handler

    def _answer(self, h: BaseHTTPRequestHandler, body: dict) -> None:
        path = h.path.split("?")[0]
        prompt, system = _prompt_of(path, body)
        rule = self._take_fault(prompt)
        seen = Seen(path, prompt, body, dict(h.headers), rule.kind if rule else None)
        with self._lock:
            self.requests.append(seen)
        wait = None if rule else self._over_rate()
        if wait is not None:                                   # rate limited: answered at once
            seen.fault = "429"
            _send(h, 429, {"error": {"message": "fake rate limit"}}, {"Retry-After": f"{wait:.3f}"})
            seen.done = time.monotonic()
            return
        try:
            self._reply(h, path, body, prompt, system, rule)
        finally:
            seen.done = time.monotonic()

    def _reply(self, h, path: str, body: dict, prompt: str, system: Optional[str], rule: Optional[Rule]) -> None:
        if self.delay:
            time.sleep(self.delay)
        kind = rule.kind if rule else None
        if kind is None and self.api_key is not None and not _authorized(path, h.headers, self.api_key):
            kind = "401"
        if kind == "reset":
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.close_connection = True
            h.connection.close()
            return
        if kind == "timeout":
            time.sleep(self.timeout_sleep)
            kind = None
        if kind in ("429", "500", "502", "503", "504", "401", "400"):
            extra = {"Retry-After": f"{rule.retry_after:g}"} if rule and rule.retry_after is not None else {}
            return _send(h, int(kind), {"error": {"message": f"fake fault {kind}"}}, extra)
        if kind == "malformed":
            return _send_raw(h, 200, b'{"choices": [{"text": "trunc')
        if path not in ONLINE:
            return _send(h, 404, {"error": {"message": f"unknown path {path}"}})
        _send(h, 200, _answer_body(path, body, empty=kind == "empty"))

    # --- batch administration --------------------------------------------------------------------------------
    def _batch_api(self, h: BaseHTTPRequestHandler, method: str, body: dict) -> None:
        path = h.path.split("?")[0]
        shown = {k: f"<{len(v)} bytes>" if isinstance(v, bytes) else v for k, v in body.items()}
        seen = Seen(path, "", shown, dict(h.headers), None)
        with self._lock:
            self.requests.append(seen)
        try:
            if self.api_key is not None and not _authorized(path, h.headers, self.api_key):
                return _send(h, 401, {"error": {"message": "fake fault 401"}})
            status, answer = self._batch_route(method, path.split("/")[2:], body)
            if isinstance(answer, bytes):
                return _send_raw(h, status, answer, {"Content-Type": "application/jsonl"})
            _send(h, status, answer)
        finally:
            seen.done = time.monotonic()

    def _batch_route(self, method: str, parts: list[str], body: dict) -> tuple[int, object]:
        with self._lock:
            if method == "POST" and parts == ["files"]:
                if body.get("purpose") != "batch" or "file" not in body:
                    return 400, {"error": {"message": "purpose=batch and a file are required"}}
                fid = f"file-{next(self._ids)}"
                self.files[fid] = body["file"]
                return 200, {"id": fid, "object": "file", "bytes": len(body["file"]), "purpose": "batch"}
            if method == "POST" and parts == ["batches"]:
                data = self.files.get(body.get("input_file_id", ""))
                if data is None:
                    return 404, {"error": {"message": "no such input file"}}
                lines = [json.loads(x) for x in data.decode().splitlines() if x.strip()]
                return 200, self._new_batch("openai", lines, body.get("endpoint", "/v1/chat/completions"))
            if method == "POST" and parts == ["messages", "batches"]:
                return 200, self._new_batch("anthropic", body.get("requests", []), "/v1/messages")
            if parts[:1] == ["files"] and len(parts) == 3 and parts[2] == "content":
                data = self.files.get(parts[1])
                return (200, data) if data is not None else (404, {"error": {"message": "no such file"}})
            api = "anthropic" if parts[:1] == ["messages"] else "openai"
            rest = parts[2:] if api == "anthropic" else parts[1:]
            batch = self.batches.get(rest[0]) if rest else None
            if batch is None or batch.api != api:
                return 404, {"error": {"message": f"unknown path /v1/{'/'.join(parts)}"}}
            if method == "GET" and len(rest) == 1:
                batch.polls += 1
                if batch.status == "in_progress" and self.batch_polls is not None and batch.polls >= self.batch_polls:
                    self._end(batch)
                return 200, self._describe(batch)
            if method == "POST" and rest[1:] == ["cancel"] and api == "openai":
                if batch.status == "in_progress":
                    self._end(batch, cancel=True)
                return 200, self._describe(batch)
            if method == "GET" and rest[1:] == ["results"] and api == "anthropic" and batch.status == "ended":
                return 200, "".join(json.dumps(x) + "\n" for x in batch.output).encode()
            return 404, {"error": {"message": f"unknown path /v1/{'/'.join(parts)}"}}

    def _new_batch(self, api: str, lines: list, endpoint: str) -> dict:
        prefix = "batch_" if api == "openai" else "msgbatch_"
        batch = FakeBatch(f"{prefix}{next(self._ids)}", api, lines, endpoint)
        self.batches[batch.id] = batch
        return self._describe(batch)

    def _end(self, batch: FakeBatch, cancel: bool = False) -> None:
        """Answer the batch's requests (called with the lock held)."""
        done = 0 if cancel else (self._expiries.pop(0) if self._expiries else None)
        results = []                     # (custom_id, succeeded | errored | expired | canceled, payload)
        for i, (line, prompt) in enumerate(zip(batch.lines, batch.prompts())):
            rule = None if done is not None and i >= done else _take(self._batch_rules, prompt)
            if done is not None and i >= done:
                results.append((line["custom_id"], "canceled" if cancel else "expired", None))
            elif rule is not None:
                status, kind = (400, "invalid_request_error") if rule.kind == "400" else (500, "api_error")
                results.append((line["custom_id"], "errored", (status, {"type": kind,
                                                                        "message": f"fake batch fault {rule.kind}"})))
            else:
                body = line.get("body") or line.get("params") or {}
                results.append((line["custom_id"], "succeeded", _answer_body(batch.endpoint, body)))
        if batch.api == "anthropic":
            batch.output = [{"custom_id": cid, "result": {"type": kind} if payload is None else
                             {"type": kind, "message": payload} if kind == "succeeded" else
                             {"type": kind, "error": {"type": "error", "error": payload[1]}}}
                            for cid, kind, payload in results]
            batch.status = "ended"
            return
        for i, (cid, kind, payload) in enumerate(results):
            line = {"id": f"batch_req_{i}", "custom_id": cid, "response": None, "error": None}
            if kind == "succeeded":
                line["response"] = {"status_code": 200, "request_id": f"req_{i}", "body": payload}
                batch.output.append(line)
                continue
            if kind == "errored":
                line["response"] = {"status_code": payload[0], "request_id": f"req_{i}", "body": {"error": payload[1]}}
            else:
                line["error"] = {"code": f"batch_{'cancelled' if cancel else 'expired'}",
                                 "message": "This request was not executed before the batch ended."}
            batch.errors.append(line)
        for attr, lines in (("output_file_id", batch.output), ("error_file_id", batch.errors)):
            if lines:
                fid = f"file-{next(self._ids)}"
                self.files[fid] = "".join(json.dumps(x) + "\n" for x in lines).encode()
                setattr(batch, attr, fid)
        batch.status = "cancelled" if cancel else "expired" if done is not None else "completed"

    def _describe(self, batch: FakeBatch) -> dict:
        n = len(batch.lines)
        if batch.api == "openai":
            ok = len(batch.output)
            return {"id": batch.id, "object": "batch", "endpoint": batch.endpoint, "status": batch.status,
                    "output_file_id": batch.output_file_id, "error_file_id": batch.error_file_id,
                    "request_counts": {"total": n, "completed": ok, "failed": len(batch.errors)}}
        counts = {"processing": n if batch.status == "in_progress" else 0, "succeeded": 0, "errored": 0,
                  "canceled": 0, "expired": 0}
        for x in batch.output:
            counts[x["result"]["type"]] += 1
        ended = batch.status == "ended"
        return {"id": batch.id, "type": "message_batch", "processing_status": batch.status,
                "request_counts": counts,
                "results_url": f"{self.url}/messages/batches/{batch.id}/results" if ended else None}


def _take(rules: list[Rule], prompt: str) -> Optional[Rule]:
    """The first rule matching the prompt, used up once (call with the server's lock held)."""
    for rule in rules:
        if rule.match is None or rule.match in prompt:
            if rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    rules.remove(rule)
            return rule
    return None


def _answer_body(path: str, body: dict, empty: bool = False) -> dict:
    prompt, system = _prompt_of(path, body)
    max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
    text = "" if empty else fake_text(body.get("model", ""), prompt, system, body.get("seed"), max_tokens)
    return _response(path, body, prompt, text, max_tokens)


def _multipart(content_type: str, raw: bytes) -> dict:
    """Fields of a multipart/form-data body: text fields as str, files as bytes."""
    msg = BytesParser(policy=policy.HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    out: dict = {}
    for part in msg.iter_parts():
        data = part.get_payload(decode=True)
        name = part.get_param("name", header="content-disposition")
        out[name] = data if part.get_filename() else data.decode()
    return out


def _prompt_of(path: str, body: dict) -> tuple[str, Optional[str]]:
    if path.endswith("/completions") and "prompt" in body:
        return str(body["prompt"]), None
    messages = body.get("messages") or [{}]
    system = body.get("system") or next((m["content"] for m in messages if m.get("role") == "system"), None)
    return str(messages[-1].get("content", "")), system


def _authorized(path: str, headers, key: str) -> bool:
    if path.startswith("/v1/messages"):
        return headers.get("x-api-key") == key
    return headers.get("Authorization") == f"Bearer {key}"


def _response(path: str, body: dict, prompt: str, text: str, max_tokens: int) -> dict:
    n_in, n_out = len(prompt.split()), len(text.split())
    full = n_out >= max_tokens
    if path.endswith("/messages"):
        return {"id": "msg_fake", "type": "message", "role": "assistant", "model": body.get("model"),
                "content": [{"type": "text", "text": text}], "stop_reason": "max_tokens" if full else "end_turn",
                "usage": {"input_tokens": n_in, "output_tokens": n_out}}
    choice = {"index": 0, "finish_reason": "length" if full else "stop"}
    choice.update({"message": {"role": "assistant", "content": text}} if path.endswith("chat/completions")
                  else {"text": text})
    return {"id": "cmpl-fake", "object": "chat.completion", "model": body.get("model"), "choices": [choice],
            "usage": {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}}


def _send(h: BaseHTTPRequestHandler, status: int, obj: dict, headers: Optional[dict] = None) -> None:
    _send_raw(h, status, json.dumps(obj).encode(), headers)


def _send_raw(h: BaseHTTPRequestHandler, status: int, data: bytes, headers: Optional[dict] = None) -> None:
    headers = {"Content-Type": "application/json", **(headers or {})}
    h.send_response(status)
    h.send_header("Content-Length", str(len(data)))
    for k, v in headers.items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(data)
