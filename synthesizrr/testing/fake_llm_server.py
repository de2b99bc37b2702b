"""A real HTTP server on 127.0.0.1 that speaks the OpenAI (/v1/chat/completions, /v1/completions) and Anthropic
(/v1/messages) APIs with deterministic text, for tests and benchmarks. Faults can be scheduled:

    with FakeLLMServer(delay=0.1) as server:                 # server.url == "http://127.0.0.1:<port>/v1"
        server.fail("429", times=2, retry_after=0.5)         # the next two requests get 429 + Retry-After
        server.fail("reset", match="prompt 7")               # the next request whose prompt contains "prompt 7"
        server.fail("500", times=None, match="doomed")       # every request containing "doomed"

Faults: 429, 500, 502, 503, 504 (with Retry-After when given), reset (socket closed without a response),
timeout (sleeps ``timeout_sleep`` seconds before answering), malformed (200 with a broken JSON body), empty
(200 with an empty completion), 401. The text is a function of (model, prompt, system, seed): the same request
always gets the same answer.
"""
from __future__ import annotations

import hashlib
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

WORDS = ("market", "team", "vote", "film", "chip", "shares", "goal", "minister", "album", "phone", "profit",
         "league", "election", "actor", "software", "bank", "coach", "party", "award", "network")
FAULTS = ("429", "500", "502", "503", "504", "401", "reset", "timeout", "malformed", "empty")


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
    at: float = field(default_factory=time.monotonic)


class FakeLLMServer:
    def __init__(self, delay: float = 0.0, timeout_sleep: float = 5.0, api_key: Optional[str] = None):
        self.delay, self.timeout_sleep, self.api_key = delay, timeout_sleep, api_key
        self.requests: list[Seen] = []
        self._rules: list[Rule] = []
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

    def _take_fault(self, prompt: str) -> Optional[Rule]:
        with self._lock:
            for rule in self._rules:
                if rule.match is None or rule.match in prompt:
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rules.remove(rule)
                    return rule
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
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with server._lock:
                    server._active += 1
                    server.max_active = max(server.max_active, server._active)
                try:
                    server._answer(self, body)
                finally:
                    with server._lock:
                        server._active -= 1

        return Handler

    def _answer(self, h: BaseHTTPRequestHandler, body: dict) -> None:
        path = h.path.split("?")[0]
        prompt, system = _prompt_of(path, body)
        rule = self._take_fault(prompt)
        with self._lock:
            self.requests.append(Seen(path, prompt, body, dict(h.headers), rule.kind if rule else None))
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
        if kind in ("429", "500", "502", "503", "504", "401"):
            extra = {"Retry-After": f"{rule.retry_after:g}"} if rule and rule.retry_after is not None else {}
            return _send(h, int(kind), {"error": {"message": f"fake fault {kind}"}}, extra)
        if kind == "malformed":
            return _send_raw(h, 200, b'{"choices": [{"text": "trunc')
        if path not in ("/v1/chat/completions", "/v1/completions", "/v1/messages"):
            return _send(h, 404, {"error": {"message": f"unknown path {path}"}})
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
        text = "" if kind == "empty" else fake_text(body.get("model", ""), prompt, system, body.get("seed"),
                                                     max_tokens)
        _send(h, 200, _response(path, body, prompt, text, max_tokens))


def _prompt_of(path: str, body: dict) -> tuple[str, Optional[str]]:
    if path.endswith("/completions") and "prompt" in body:
        return str(body["prompt"]), None
    messages = body.get("messages") or [{}]
    system = body.get("system") or next((m["content"] for m in messages if m.get("role") == "system"), None)
    return str(messages[-1].get("content", "")), system


def _authorized(path: str, headers, key: str) -> bool:
    if path.endswith("/messages"):
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
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(data)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(data)
