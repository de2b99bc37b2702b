"""OpenAI-compatible and Anthropic backends against real loopback HTTP servers."""
from __future__ import annotations

import asyncio
import time

import pytest

from synthesizrr.teachers import FailureBudgetExceeded, Request, TeacherError, build_teacher
from synthesizrr.testing.fake_llm_server import FakeLLMServer, fake_text


def reqs(n, prefix="prompt", max_new_tokens=16):
    return [Request(f"{prefix} {i}", max_new_tokens, seed=100 + i) for i in range(n)]


def test_chat_completion_sends_settings_and_parses(server, api_cfg):
    cfg = api_cfg(server, temperature=0.7, top_p=0.8, top_k=None, stop=["\n\n"], price_per_1m_input=2.0,
                  price_per_1m_output=10.0)
    teacher = build_teacher(cfg, None)
    [out] = teacher.generate([Request("hello world", 12, seed=7, system="be brief")], progress=False)
    seen = server.requests[0]
    assert seen.path == "/v1/chat/completions"
    assert seen.body["seed"] == 7 and seen.body["max_tokens"] == 12 and seen.body["temperature"] == 0.7
    assert seen.body["top_p"] == 0.8 and "top_k" not in seen.body and seen.body["stop"] == ["\n\n"]
    assert seen.body["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello world"}]
    assert out.text == fake_text("fake-model", "hello world", "be brief", 7, 12)
    assert (out.tokens_in, out.tokens_out) == (2, len(out.text.split())) and not out.cached
    assert teacher.stats["cost_usd"] == pytest.approx((2 * 2.0 + out.tokens_out * 10.0) / 1e6)


def test_raw_prompts_use_completions_endpoint_with_top_k(server, api_cfg):
    teacher = build_teacher(api_cfg(server, chat=False, top_k=50), None)
    out = teacher.generate(reqs(2), progress=False)
    assert [r.path for r in server.requests] == ["/v1/completions"] * 2
    assert sorted(r.body["prompt"] for r in server.requests) == ["prompt 0", "prompt 1"]
    assert all(r.body["top_k"] == 50 for r in server.requests)
    assert out[1].text == fake_text("fake-model", "prompt 1", None, 101, 16)


def test_stop_sequences_are_applied_locally_too(server, api_cfg):
    text = fake_text("fake-model", "prompt 0", None, 100, 16)
    word = text.split()[1]
    teacher = build_teacher(api_cfg(server, stop=["#1", "#2", "#3", "#4", " " + word]), None)
    [out] = teacher.generate(reqs(1), progress=False)
    assert server.requests[0].body["stop"] == ["#1", "#2", "#3", "#4"]        # OpenAI takes at most 4
    assert out.text == text.split()[0] and out.finish_reason == "stop"


def test_retry_after_is_honoured(server, api_cfg):
    server.fail("429", retry_after=0.6)
    server.fail("503", retry_after=0.3)
    teacher = build_teacher(api_cfg(server, concurrency=1), None)
    [out] = teacher.generate(reqs(1), progress=False)
    gaps = [b.at - a.at for a, b in zip(server.requests, server.requests[1:])]
    assert out.error is None and server.count == 3 and teacher.stats["retries"] == 2
    assert 0.6 <= gaps[0] < 0.6 + 1.0 and 0.3 <= gaps[1] < 0.3 + 1.0     # slack for a busy machine


def test_exponential_backoff_with_jitter(server, api_cfg):
    server.fail("500", times=3)
    teacher = build_teacher(api_cfg(server, backoff_base=0.1, backoff_max=10.0, concurrency=1), None)
    [out] = teacher.generate(reqs(1), progress=False)
    gaps = [b.at - a.at for a, b in zip(server.requests, server.requests[1:])]
    assert out.error is None and len(gaps) == 3
    for k, gap in enumerate(gaps):                      # attempt k waits in [base * 2^k / 2, base * 2^k]
        assert 0.1 * 2 ** k / 2 <= gap < 0.1 * 2 ** k + 0.3, gaps


@pytest.mark.parametrize("fault", ["500", "502", "504", "reset", "timeout", "malformed", "empty"])
def test_transient_faults_are_retried_and_counted(fault, api_cfg):
    with FakeLLMServer(timeout_sleep=1.0) as srv:
        srv.fail(fault, times=2)
        teacher = build_teacher(api_cfg(srv, request_timeout=0.3, concurrency=1), None)
        [out] = teacher.generate(reqs(1), progress=False)
        assert out.error is None and out.text == fake_text("fake-model", "prompt 0", None, 100, 16)
        assert teacher.stats["retries"] == 2 and srv.count == 3 and teacher.stats["failures"] == 0


def test_client_errors_are_not_retried(server, api_cfg):
    teacher = build_teacher(api_cfg(server, base_urls=[server.url.replace("/v1", "/nope")]), None)
    [out] = teacher.generate(reqs(1), progress=False)
    assert out.error.startswith("HTTP 404") and server.count == 1 and teacher.stats["failures"] == 1


def test_failed_calls_are_not_cached_and_retried_on_rerun(server, api_cfg, tmp_path):
    server.fail("500", times=None, match="prompt 3")
    teacher = build_teacher(api_cfg(server, max_retries=1, failure_budget=5), tmp_path / "c.sqlite")
    out = teacher.generate(reqs(5), progress=False)
    assert out[3].error and "HTTP 500" in out[3].error and out[3].finish_reason == "error"
    assert teacher.stats["failures"] == 1 and len(teacher.cache) == 4
    teacher.close()
    server.clear_faults()
    again = build_teacher(api_cfg(server), tmp_path / "c.sqlite")
    out = again.generate(reqs(5), progress=False)
    assert again.stats["calls"] == 1 and again.stats["cache_hits"] == 4 and out[3].error is None


def test_failure_budget_stops_after_saving_and_rerun_continues(server, api_cfg, tmp_path):
    server.fail("503", times=None, match="doomed")
    prompts = [Request(f"{'doomed' if i in (5, 6, 7) else 'fine'} {i}", 16, seed=i) for i in range(30)]
    teacher = build_teacher(api_cfg(server, concurrency=2, max_retries=1, failure_budget=1), tmp_path / "c.sqlite")
    with pytest.raises(FailureBudgetExceeded, match=r"failure_budget=1.*saved in the cache") as err:
        teacher.generate(prompts, progress=False)
    assert "\n" not in str(err.value)
    ok = sum(1 for r in server.requests if r.fault is None)
    assert len(teacher.cache) == ok and 0 < ok < 27             # stopped early, every success saved
    teacher.close()
    server.clear_faults()
    again = build_teacher(api_cfg(server, failure_budget=1), tmp_path / "c.sqlite")
    out = again.generate(prompts, progress=False)
    assert again.stats["calls"] == 30 - ok and again.stats["cache_hits"] == ok
    assert [c.text for c in out] == [fake_text("fake-model", r.prompt, None, r.seed, 16) for r in prompts]


def test_requests_spread_over_several_servers():
    with FakeLLMServer(delay=0.02) as a, FakeLLMServer(delay=0.02) as b, FakeLLMServer(delay=0.02) as c:
        from synthesizrr.core.config import TeacherConfig
        cfg = TeacherConfig(name="t", backend="openai", model="m", base_urls=[a.url, b.url, c.url], concurrency=6)
        out = build_teacher(cfg, None).generate(reqs(30), progress=False)
        assert all(o.error is None for o in out)
        assert sorted([a.count, b.count, c.count]) == [10, 10, 10]


def test_a_dead_server_is_avoided(server, api_cfg):
    import socket
    with socket.socket() as s:                 # a port with nothing listening: connection refused
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    teacher = build_teacher(api_cfg([dead, server.url], concurrency=4, backoff_base=0.5, backoff_max=1.0), None)
    out = teacher.generate(reqs(20), progress=False)
    assert all(o.error is None for o in out) and server.count == 20
    assert 1 <= teacher.stats["retries"] <= 4         # it rests after a failure; without that about 10 would fail


def test_concurrency_is_bounded_and_used(api_cfg):
    with FakeLLMServer(delay=0.2) as srv:
        teacher = build_teacher(api_cfg(srv, concurrency=8), None)
        start = time.perf_counter()
        teacher.generate(reqs(32), progress=False)
        elapsed = time.perf_counter() - start
    assert srv.max_active == 8
    assert elapsed < 0.2 * 32 / 2            # sequential would take 6.4 s; 8 at a time about 0.8 s


def test_identical_requests_are_sent_once(server, api_cfg):
    teacher = build_teacher(api_cfg(server), None)
    out = teacher.generate([Request("same", 8, seed=1)] * 3, progress=False)
    assert server.count == 1 and teacher.stats["calls"] == 1 and len({o.text for o in out}) == 1


def test_works_inside_a_running_event_loop(server, api_cfg):
    teacher = build_teacher(api_cfg(server), None)

    async def main():
        return teacher.generate(reqs(3), progress=False)
    assert [o.error for o in asyncio.run(main())] == [None] * 3


def test_api_key_is_sent_but_never_stored_or_logged(api_cfg, tmp_path, monkeypatch, caplog):
    key = "sk-test-DO-NOT-LEAK-8f3a2c"
    monkeypatch.setenv("FAKE_LLM_KEY", key)
    caplog.set_level("DEBUG")
    with FakeLLMServer(api_key=key) as srv:
        srv.fail("429", retry_after=0.05)
        srv.fail("reset")
        teacher = build_teacher(api_cfg(srv, api_key_env="FAKE_LLM_KEY"), tmp_path / "c.sqlite")
        out = teacher.generate(reqs(4), progress=False)
        assert all(o.error is None for o in out)
        assert srv.requests[-1].headers["Authorization"] == f"Bearer {key}"
        anth = build_teacher(api_cfg(srv, backend="anthropic", api_key_env="FAKE_LLM_KEY"), tmp_path / "c.sqlite")
        assert all(o.error is None for o in anth.generate(reqs(2, "claude"), progress=False))
        monkeypatch.setenv("FAKE_LLM_KEY", key + "-wrong")
        wrong = build_teacher(api_cfg(srv, api_key_env="FAKE_LLM_KEY"), None)
        [bad] = wrong.generate(reqs(1, "other"), progress=False)
        assert bad.error.startswith("HTTP 401") and "$FAKE_LLM_KEY" in bad.error
    blobs = [str(t.stats) + str(t.identity) for t in (teacher, anth, wrong)] + [caplog.text, bad.error]
    blobs += [p.read_bytes().decode("latin-1") for p in tmp_path.iterdir()]
    assert caplog.text and all(key not in b and "DO-NOT-LEAK" not in b for b in blobs)


def test_missing_key_variable_is_a_clear_error(server, api_cfg, monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    teacher = build_teacher(api_cfg(server, api_key_env="NO_SUCH_KEY_VAR"), None)
    with pytest.raises(TeacherError, match=r"\$NO_SUCH_KEY_VAR, which is not set"):
        teacher.generate(reqs(1), progress=False)


def test_anthropic_messages_request(server, api_cfg):
    cfg = api_cfg(server, backend="anthropic", stop=["\n\n", "END"], temperature=0.95,
                  extra={"sampling": "temperature"})
    teacher = build_teacher(cfg, None)
    [out] = teacher.generate([Request("hi there", 10, seed=3, system="sys")], progress=False)
    seen = server.requests[0]
    assert seen.path == "/v1/messages" and seen.headers["anthropic-version"] == "2023-06-01"
    assert "x-api-key" not in seen.headers
    assert seen.body["system"] == "sys" and seen.body["stop_sequences"] == ["END"] and "top_p" not in seen.body
    assert seen.body["temperature"] == 0.95 and seen.body["top_k"] == 50 and seen.body["max_tokens"] == 10
    assert out.text == fake_text("fake-model", "hi there", "sys", None, 10) and out.finish_reason in ("stop", "length")


def test_anthropic_refuses_raw_prompts_and_unknown_sampling(server, api_cfg):
    with pytest.raises(TeacherError, match="chat=false is not allowed for backend anthropic"):
        build_teacher(api_cfg(server, backend="anthropic", chat=False), None)
    with pytest.raises(TeacherError, match="extra.sampling='x' is not allowed"):
        build_teacher(api_cfg(server, backend="anthropic", extra={"sampling": "x"}), None)


def test_token_approximation_without_a_local_tokenizer(server, api_cfg):
    teacher = build_teacher(api_cfg(server), None)
    assert teacher.count_tokens("x" * 40) == 10 and teacher.context_length == 2048
    cut = teacher.truncate_tokens("word " * 100, 10)
    assert len(cut) <= 40 and cut.startswith("word word") and not cut.endswith(" wo")
