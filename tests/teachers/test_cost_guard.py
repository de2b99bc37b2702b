"""The cost guard: before the first uncached call the teacher plans the calls (misses, prompt tokens by the backend's
count, max new tokens, cost at this teacher's prices), logs the plan, and teacher.max_cost_usd refuses to start above
the cap with one line and nothing sent; the progress bar shows tokens and cost so far."""
from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synthesizrr.methods.teacher import complete
from synthesizrr.teachers import Request, build_teacher
from synthesizrr.teachers.base import Backend, Completion, CostCapExceeded
from synthesizrr.teachers.batches import BatchesPending
from synthesizrr.teachers.cached import CachedTeacher
from synthesizrr.testing.fake_llm_server import FakeLLMServer

PRICES = dict(price_per_1m_input=2.0, price_per_1m_output=8.0)


def reqs(n, prefix="prompt", max_new_tokens=16):
    return [Request(f"{prefix} {i}", max_new_tokens, seed=i) for i in range(n)]


def test_plan_counts_the_calls_that_would_be_sent(server, api_cfg, tmp_path):
    teacher = build_teacher(api_cfg(server, **PRICES), tmp_path / "c.sqlite")
    teacher.generate(reqs(2), progress=False)                          # prompt 0 and 1 are cached
    before = server.count
    requests = reqs(5) + [reqs(5)[4]] + [Request("with system", 32, seed=9, system="be brief")]
    plan = teacher.plan(requests)
    misses = requests[2:5] + requests[6:]                              # the duplicate is sent once
    prompt = sum(math.ceil(len(r.prompt) / 4) + (math.ceil(len(r.system) / 4) if r.system else 0) for r in misses)
    assert plan == {"requests": 7, "cached": 2, "in_flight": 0, "calls": 4, "prompt_tokens": prompt,
                    "max_new_tokens": 3 * 16 + 32, "cost_usd": pytest.approx((prompt * 2.0 + 80 * 8.0) / 1e6)}
    assert server.count == before                                      # planning sends nothing


class WordBackend(Backend):
    """A backend with its own token count (one token per word)."""
    name = "words"

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def token_counting(self) -> str:
        return "one token per word"

    def run(self, requests, emit):
        for i, r in enumerate(requests):
            emit(i, Completion("ok", self.count_tokens(r.prompt), 1, False, "stop"))


def test_plan_uses_the_backends_token_count(api_cfg, server, caplog):
    cfg = api_cfg(server, **PRICES)
    teacher = CachedTeacher(cfg, WordBackend(cfg), None)
    caplog.set_level(logging.INFO, logger="synthesizrr")
    plan = teacher.guard([Request("a b c d e f g", 10, seed=1)], desc="teacher FewGen")
    assert plan["prompt_tokens"] == 7 and plan["cost_usd"] == pytest.approx((7 * 2.0 + 10 * 8.0) / 1e6)
    [line] = [r.getMessage() for r in caplog.records if "calls to make" in r.getMessage()]
    assert line == ("teacher FewGen: 1 calls to make (0 of 1 requests cached, 0 in batches in flight): 7 prompt "
                    "tokens (one token per word) + at most 10 new tokens, estimated cost $0.0001 (every new token "
                    "used; prices $2 / $8 per 1M tokens in / out)")


def test_the_cap_refuses_before_anything_is_sent(server, api_cfg):
    teacher = build_teacher(api_cfg(server, max_cost_usd=0.001, **PRICES), None)
    requests = reqs(100, "a long prompt " * 20, max_new_tokens=64)       # ~7,000 + 6,400 tokens: ~$0.065
    with pytest.raises(CostCapExceeded) as err:
        complete(teacher, requests, "teacher FewGen")
    message = str(err.value)
    assert "\n" not in message and server.count == 0
    assert message.startswith("estimated cost $0.06") and "of 100 teacher calls" in message
    assert "exceeds teacher.max_cost_usd=0.001; nothing was sent" in message and "teacher.batch=true" in message


def test_the_cap_counts_what_this_run_spent_and_ignores_cached_calls(server, api_cfg, tmp_path):
    probe = build_teacher(api_cfg(server, **PRICES), None)
    probe.generate(reqs(10), progress=False)
    spent, rest = probe.stats["cost_usd"], probe.plan(reqs(20))["cost_usd"]       # the first 10, the other 10
    cap = spent + 0.75 * rest
    teacher = build_teacher(api_cfg(server, max_cost_usd=cap, **PRICES), tmp_path / "c.sqlite")
    teacher.generate(reqs(10), progress=False)                                      # this run spends `spent`
    teacher.guard(reqs(10))                                                         # all cached: nothing to pay
    with pytest.raises(CostCapExceeded, match=r"on top of \$0\.000\d+ spent by this run"):
        teacher.guard(reqs(20))
    fresh = build_teacher(api_cfg(server, max_cost_usd=cap, **PRICES), tmp_path / "c.sqlite")
    assert fresh.guard(reqs(20))["calls"] == 10                                     # a new run has spent nothing


def test_batch_plans_use_batch_prices_and_leave_out_requests_in_flight(api_cfg, tmp_path):
    with FakeLLMServer(batch_polls=None) as srv:
        cfg = api_cfg(srv, batch=True, batch_wait_hours=0, **PRICES)
        teacher = build_teacher(cfg, tmp_path / "c.sqlite")
        online = build_teacher(api_cfg(srv, **PRICES), None).plan(reqs(6))
        assert teacher.plan(reqs(6))["cost_usd"] == pytest.approx(online["cost_usd"] * 0.5)
        with pytest.raises(BatchesPending):
            teacher.generate(reqs(4), progress=False)
        plan = teacher.plan(reqs(6))
        assert (plan["calls"], plan["in_flight"]) == (2, 4)
        assert plan["cost_usd"] == pytest.approx(online["cost_usd"] * 0.5 / 3)


def test_the_progress_bar_shows_tokens_and_cost(server, api_cfg, capsys):
    teacher = build_teacher(api_cfg(server, concurrency=1, **PRICES), None)
    teacher.generate(reqs(3), progress=True, desc="teacher X")
    bar = capsys.readouterr().err
    t = teacher.stats
    assert f"{t['tokens_in'] + t['tokens_out']:,} tokens ${t['cost_usd']:.4f}" in bar


def test_the_pipeline_stops_at_the_cap_with_one_line_and_exit_2(tmp_path):
    with FakeLLMServer() as server:
        cmd = [sys.executable, "-m", "synthesizrr.cli", "experiment=smoke", "method=fewgen", "method.num_shots=2",
               "method.num_samples_per_label=6", "teacher=openai_compatible", f"teacher.base_urls=[{server.url}]",
               "teacher.price_per_1m_input=5", "teacher.price_per_1m_output=15", "teacher.max_cost_usd=0.001",
               "stage=synthesize", f"store_dir={tmp_path}/store", f"results_dir={tmp_path}/results",
               f"hydra.run.dir={tmp_path}/outputs"]
        run = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "WANDB_MODE": "disabled",
                                                                          "HF_HUB_OFFLINE": "1"})
        assert run.returncode == 2 and server.count == 0, run.stderr[-2000:]
        last = run.stderr.strip().splitlines()[-1]
        assert "CostCapExceeded: estimated cost $0.0" in last and "of 30 teacher calls" in last
        assert "teacher.max_cost_usd=0.001" in last
        assert not list(Path(tmp_path / "store").glob("synthesize/*/_stage.json"))
