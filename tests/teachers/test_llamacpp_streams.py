"""Batched decoding in the llama.cpp backend (llamacpp_streams.py): every request gets the text llama-cpp-python's
create_completion gives it alone, whatever decodes beside it; real SmolLM2 generations."""
from __future__ import annotations

import logging

import pytest

from synthesizrr.teachers import Request, build_teacher, llamacpp
from synthesizrr.teachers.llamacpp_streams import Streams

pytestmark = pytest.mark.slow      # real SmolLM2 generations


def mixed_requests() -> list[Request]:
    """Different prompt lengths and token limits, a stop string, three samples of one prompt, multi-byte text."""
    long = "Write a short news report about a football final. " + "Keep it factual. " * 40
    return [Request(long, 14, seed=1),
            Request("Name a fruit.", 5, seed=2),
            Request(long, 9, seed=3, sample_index=1),
            Request(long, 12, seed=4, sample_index=2),
            Request("Write one sentence about a central bank.", 16, seed=5, stop=(" is",)),
            Request("Say hello in Chinese: 你好", 10, seed=6),
            Request("Write one sentence about an election.", 11, seed=7)]


def run(backend, requests) -> dict:
    out = {}
    backend.run(requests, lambda i, c: out.__setitem__(i, c) or True)
    return out


def same(a, b) -> bool:
    return (a.text, a.tokens_in, a.tokens_out, a.finish_reason) == (b.text, b.tokens_in, b.tokens_out, b.finish_reason)


@pytest.fixture(scope="module")
def q4(smollm2_cfg):
    """q4_0: batch-invariant on both development CPUs (f16 is not on the AVX2 one, where the probe falls back)."""
    teacher = build_teacher(smollm2_cfg(weights="q4_0", batch_size=4), None)
    yield teacher.backend
    teacher.close()


@pytest.fixture(scope="module")
def alone(q4):
    return [q4.generate_one(r) for r in mixed_requests()]


def test_batched_texts_equal_each_request_alone(q4, alone, monkeypatch):
    q4._streams(4)                                       # made and probed before counting prompt evaluations
    evaluated = []
    prompt = Streams.prompt
    monkeypatch.setattr(Streams, "prompt", lambda self, slot, ids: evaluated.append(len(ids)) or prompt(self, slot, ids))
    requests = mixed_requests()
    out = run(q4, requests)
    assert q4._batched is True and q4._ctx.n_seq == 4
    assert sorted(out) == list(range(len(requests)))
    assert [i for i in range(len(requests)) if not same(out[i], alone[i])] == []
    assert len(evaluated) == len(requests) - 2           # the three samples of one prompt evaluated it once
    assert out[4].finish_reason == "stop" and " is" not in out[4].text and out[4].text
    assert len({out[i].text for i in (0, 2, 3)}) == 3     # its seeds still sample different texts


def test_texts_do_not_depend_on_order_or_batch_mates(q4, alone):
    requests = mixed_requests()
    backwards = run(q4, requests[::-1])
    assert all(same(backwards[len(requests) - 1 - i], alone[i]) for i in range(len(requests)))
    pairs = run(q4, [requests[5], requests[1]])
    assert same(pairs[0], alone[5]) and same(pairs[1], alone[1])


def test_no_new_requests_start_once_emit_says_stop(q4):
    requests = [Request(f"Write one sentence about topic {i}.", 6, seed=i) for i in range(7)]
    emitted = []
    q4.run(requests, lambda i, c: emitted.append(i) or False)
    assert len(emitted) == 4                       # the four in flight finish, none of the other three starts


def test_without_batch_invariance_one_sequence_at_a_time(smollm2_cfg, alone, monkeypatch, caplog):
    monkeypatch.setattr(Streams, "batch_invariant", lambda self, llm: False)
    monkeypatch.setattr(llamacpp, "_PROBED", {})
    teacher = build_teacher(smollm2_cfg(weights="q4_0", batch_size=4), None)
    requests = mixed_requests()
    with caplog.at_level(logging.WARNING):
        out = run(teacher.backend, requests)
        run(teacher.backend, requests[:2])
    assert teacher.backend._ctx is None and teacher.backend._batched is False    # create_completion per request
    assert sum("decodes differently in batches" in r.message for r in caplog.records) == 1    # probed once
    assert all(same(out[i], alone[i]) for i in range(len(requests)))
    teacher.close()


def test_the_probe_finds_what_batches_do_to_logits(smollm2_cfg):
    """bf16 decodes differently in batches on both development CPUs (f16 on the AVX2 one); whichever the probe
    finds, the texts equal the ones alone."""
    teacher = build_teacher(smollm2_cfg(weights="bf16", batch_size=3), None)
    requests = mixed_requests()[:4]
    out = run(teacher.backend, requests)
    assert (teacher.backend._ctx is not None) == teacher.backend._batched
    assert all(same(out[i], teacher.backend.generate_one(r)) for i, r in enumerate(requests))
    teacher.close()


def test_kv_streams_are_capped_by_available_memory(q4, monkeypatch):
    from synthesizrr.teachers import llamacpp_streams
    llm = q4._load()
    per_stream = llamacpp_streams.kv_bytes_per_token(llm) * llm.n_ctx()
    assert per_stream == 30 * 2 * 192 * 2 * llm.n_ctx()     # SmolLM2-135M: 30 layers, K and V of 3 x 64, f16
    monkeypatch.setattr(llamacpp_streams, "available_memory", lambda: 4 * per_stream * 3)
    assert llamacpp_streams.streams_that_fit(llm, 8) == 3      # a quarter of the memory: 3 streams
    assert llamacpp_streams.streams_that_fit(llm, 2) == 2
    monkeypatch.setattr(llamacpp_streams, "available_memory", lambda: per_stream)
    assert llamacpp_streams.streams_that_fit(llm, 8) == 1      # never none


def test_the_probe_with_one_stream_decodes_each_sequence_in_it_in_turn(q4):
    """With one stream (memory for no more) the probe evaluates each probe sequence in it again before decoding."""
    llm = q4._load()
    one = Streams(llm, 1)
    try:
        assert one.batch_invariant(llm) is True
        assert one.low.llama_memory_seq_pos_max(one.memory, 0) == -1      # left empty for the requests
    finally:
        one.close()
