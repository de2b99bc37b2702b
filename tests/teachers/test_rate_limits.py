"""Send-rate control of the HTTP backends, checked on the request timestamps the loopback server records (arrival
and answer times), with generous slack for a busy machine: a 429's Retry-After pauses every worker of that server,
and requests_per_minute / tokens_per_minute hold the send rate."""
from __future__ import annotations

import math

from synthesizrr.teachers import Request, build_teacher
from synthesizrr.testing.fake_llm_server import FakeLLMServer

SLACK = 0.25      # seconds a request already on its way may still arrive after the 429 was answered
EDGE = 3          # requests a window may gain at its edges: arrival times jitter on a busy machine


def reqs(n, prefix="prompt"):
    return [Request(f"{prefix} {i}", 16, seed=i) for i in range(n)]


def arrivals_during_cooldown(api_cfg, shared: bool, retry_after: float = 1.0) -> list[float]:
    with FakeLLMServer(delay=0.05) as srv:                 # 120 requests, 6 at a time: about 1 s of work
        srv.fail("429", times=1, retry_after=retry_after)
        teacher = build_teacher(api_cfg(srv, concurrency=6, max_retries=3), None)
        teacher.backend.shared_cooldown = shared
        out = teacher.generate(reqs(120), progress=False)
        assert all(c.error is None for c in out)
        [hit] = [r for r in srv.requests if r.fault == "429"]
        return [r.at - hit.done for r in srv.requests if hit.done + SLACK < r.at < hit.done + retry_after - 0.02]


def test_a_429_pauses_every_worker_of_that_server_until_retry_after(api_cfg):
    assert arrivals_during_cooldown(api_cfg, shared=True) == []
    assert len(arrivals_during_cooldown(api_cfg, shared=False)) >= 5     # each worker for itself: they keep sending


def test_the_cooldown_is_per_server(api_cfg):
    with FakeLLMServer(delay=0.05) as a, FakeLLMServer(delay=0.05) as b:
        a.fail("429", times=1, retry_after=1.0)
        teacher = build_teacher(api_cfg([a.url, b.url], concurrency=4), None)
        assert all(c.error is None for c in teacher.generate(reqs(120), progress=False))
        [hit] = [r for r in a.requests if r.fault == "429"]
        assert not [r for r in a.requests if hit.done + SLACK < r.at < hit.done + 0.98]
        assert [r for r in b.requests if hit.done + SLACK < r.at < hit.done + 0.98], "the other server keeps working"


def most_in_window(times: list[float], weights: list[float], rate: float, burst: float) -> float:
    """Largest excess of (weight sent in [t_i, t_j]) over what a bucket of ``burst`` refilled at ``rate`` allows."""
    worst = -math.inf
    for i in range(len(times)):
        total = 0.0
        for j in range(i, len(times)):
            total += weights[j]
            worst = max(worst, total - (burst + rate * (times[j] - times[i])))
    return worst


def test_requests_per_minute_holds_the_send_rate(api_cfg):
    with FakeLLMServer() as srv:
        teacher = build_teacher(api_cfg(srv, concurrency=8, requests_per_minute=600), None)   # 10/s, burst 10
        teacher.generate(reqs(30), progress=False)
        times = sorted(r.at for r in srv.requests)
    assert most_in_window(times, [1.0] * len(times), rate=10, burst=10) <= EDGE
    assert times[-1] - times[0] >= 0.8 * (30 - 10) / 10                             # ~2 s; alone it takes ~0.1 s


def test_tokens_per_minute_holds_the_token_rate(api_cfg):
    with FakeLLMServer() as srv:
        teacher = build_teacher(api_cfg(srv, concurrency=8, tokens_per_minute=12_000), None)   # 200/s, burst 200
        requests = reqs(30)
        need = {r.prompt: teacher.backend.send_tokens(r) for r in requests}            # prompt ~2 + 16 new tokens
        teacher.generate(requests, progress=False)
        seen = sorted(srv.requests, key=lambda r: r.at)
    times, weights = [r.at for r in seen], [need[r.prompt] for r in seen]
    assert most_in_window(times, weights, rate=200, burst=200) <= EDGE * max(weights)
    assert times[-1] - times[0] >= 0.8 * (sum(weights) - 200) / 200
