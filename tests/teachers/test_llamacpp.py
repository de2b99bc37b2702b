"""The offline default teacher: SmolLM2-135M-Instruct (GGUF) on llama.cpp, for real."""
from __future__ import annotations

import pytest

from synthesizrr.teachers import Request, build_teacher
from synthesizrr.teachers.cached import CachedTeacher

N_TOKENS = 8
pytestmark = pytest.mark.slow      # real SmolLM2 generations


@pytest.fixture(scope="module")
def smollm2(smollm2_cfg):
    # the offline default's weights (conf/teacher/smollm2_offline.yaml); the packaged Q4_1 as it is crashes in
    # llama.cpp's AMX kernels on some CPUs (docs/teachers.md), test_weights.py covers the conversion itself
    return lambda **kw: smollm2_cfg(**{"weights": "f16", **kw})


@pytest.fixture(scope="module")
def shared(smollm2):
    """One loaded backend for the tests that only need generations (each test gets its own cache)."""
    teacher = build_teacher(smollm2(), None)
    yield teacher.backend
    teacher.close()


def fresh(backend, path=None):
    return CachedTeacher(backend.cfg, backend, path)


def topics(n, seed0=0):
    return [Request(f"Write one sentence about {t}.", N_TOKENS, seed=seed0 + i)
            for i, t in enumerate(["football", "a bank", "a new phone", "an election", "a film"][:n])]


def test_generates_then_reruns_from_cache_without_loading(smollm2, tmp_path):
    path = tmp_path / "c.sqlite"
    teacher = build_teacher(smollm2(), path)
    out = teacher.generate(topics(3), progress=False)
    assert teacher.stats["calls"] == 3 and all(c.text.strip() and not c.cached for c in out)
    assert all(0 < c.tokens_out <= N_TOKENS and c.finish_reason in ("stop", "length") for c in out)
    teacher.close()
    again = build_teacher(smollm2(), path)
    out2 = again.generate(topics(3), progress=False)
    assert again.stats["calls"] == 0 and again.stats["cache_hits"] == 3
    assert [c.text for c in out2] == [c.text for c in out] and all(c.cached for c in out2)
    assert again.backend._llm is None                  # a full cache hit never loads the model


def test_per_request_seeds_are_reproducible(shared):
    a, b = Request("Write one sentence about football.", N_TOKENS, seed=11), Request("Name a fruit.", N_TOKENS, seed=5)
    first = fresh(shared).generate([a, b], progress=False)
    again = fresh(shared).generate([b, a], progress=False)     # another order, another KV-cache history
    assert [c.text for c in first] == [again[1].text, again[0].text]
    [other] = fresh(shared).generate([Request(a.prompt, N_TOKENS, seed=12345)], progress=False)
    assert other.text != first[0].text                  # another seed samples another text


def test_tokenizer_helpers(shared):
    teacher = fresh(shared)
    text = "The central bank raised interest rates by a quarter point on Thursday."
    n = teacher.count_tokens(text)
    assert 10 <= n <= 25 and teacher.context_length == 2048
    head = teacher.truncate_tokens(text, 5)
    assert text.startswith(head) and teacher.count_tokens(head) == 5
    assert teacher.truncate_tokens(text, 100) == text


def test_long_prompts_are_shortened_from_the_left(smollm2):
    teacher = build_teacher(smollm2(context_length=64), None)
    prompt = " ".join(f"word{i}" for i in range(200)) + " Now write one sentence."
    [out] = teacher.generate([Request(prompt, 8, seed=1)], progress=False)
    assert out.error is None and out.tokens_in <= 64 - 8 and teacher.stats["truncated"] == 1
    teacher.close()


def test_raw_prompt_and_stop_sequence(smollm2):
    teacher = build_teacher(smollm2(chat=False, stop=[" "]), None)
    prompt = "The capital of France is"
    [out] = teacher.generate([Request(prompt, N_TOKENS, seed=3)], progress=False)
    assert out.tokens_in == teacher.count_tokens(prompt)    # no chat template around it
    assert " " not in out.text and out.finish_reason == "stop"
    teacher.close()
