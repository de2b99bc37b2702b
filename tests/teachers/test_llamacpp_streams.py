"""Batched decoding in the llama.cpp backend (llamacpp_streams.py): a request's text does not depend on what decodes
beside it, and where one row and several agree (q4_0) it is the text llama-cpp-python's create_completion gives it
alone; real SmolLM2 generations."""
from __future__ import annotations

import ctypes
import logging

import pytest

from synthesizrr.teachers import Request, build_teacher, llamacpp
from synthesizrr.teachers.llamacpp_streams import Probe, Streams, probe

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
    """q4_0: one row and several give the same logits on both development CPUs (f16 does not on the AVX2 one)."""
    teacher = build_teacher(smollm2_cfg(weights="q4_0", batch_size=4), None)
    yield teacher.backend
    teacher.close()


@pytest.fixture(scope="module")
def alone(q4):
    """create_completion's texts (llama-cpp-python's own loop, from an empty KV cache)."""
    return [q4._alone(q4.prompt_ids(r), r) for r in mixed_requests()]


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
    monkeypatch.setattr(llamacpp, "probe", lambda llm: Probe(invariant=False, as_alone=False))
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


@pytest.mark.parametrize("weights", ["bf16", "f16"])
def test_texts_do_not_depend_on_batch_size_even_where_one_row_differs(smollm2_cfg, weights):
    """bf16 (both development CPUs) and f16 (AVX2) multiply one row differently from several; decode steps never
    have one row, so batch_size 1 and 3 and any order give the same texts (or, where the probe finds otherwise on
    some CPU, create_completion's one at a time)."""
    requests = mixed_requests()[:5]
    texts = {}
    for size in (1, 3):
        teacher = build_teacher(smollm2_cfg(weights=weights, batch_size=size), None)
        texts[size] = run(teacher.backend, requests)
        texts[size, "reversed"] = run(teacher.backend, requests[::-1])
        one = teacher.backend.generate_one(requests[1])
        batched = teacher.backend._batched
        teacher.close()
    assert all(same(texts[1][i], texts[3][i]) for i in range(len(requests)))
    assert all(same(texts[3, "reversed"][len(requests) - 1 - i], texts[3][i]) for i in range(len(requests)))
    assert same(one, texts[3][1]) and batched is not None


def test_the_probe_finds_q4_0_batches_equal_to_create_completion(q4):
    found = probe(q4._load())
    assert found == Probe(invariant=True, as_alone=True)


def test_a_lone_sequence_decodes_beside_the_companion_and_gaps_are_filled(q4):
    """A step with one sequence, or with free streams between its sequences, still multiplies one block of rows:
    llama.cpp splits a step at each gap or descending stream id (one row each there)."""
    llm = q4._load()
    streams = Streams(llm, 3)
    try:
        assert streams.n_seq == 3 and streams.scratch == 3
        ids = q4.prompt_ids(mixed_requests()[1])
        for slot in (0, 2):
            streams.prompt(slot, ids)
        first = {}
        for run in ([2], [0, 2], [0]):
            for slot in run:
                streams.low.llama_memory_seq_rm(streams.memory, slot, len(ids), -1)
            index = streams.decode_step([(ids[-1], len(ids), slot) for slot in run])
            assert streams.batch.n_tokens == (2 if len(run) == 1 else 3)        # the companion, or the gap filled
            for i, slot in zip(index, run):
                first.setdefault(slot, set()).add(ctypes.string_at(
                    streams.low.llama_get_logits_ith(streams.ctx, i), 4 * llm.n_vocab()))
        assert index == [0] and len(first[0]) == 1 and first[0] == first[2]
    finally:
        streams.close()


def test_kv_streams_are_capped_by_available_memory(q4, monkeypatch):
    from synthesizrr.teachers import llamacpp_streams
    llm = q4._load()
    per_stream = llamacpp_streams.kv_bytes_per_token(llm) * llm.n_ctx()
    assert per_stream == 30 * 2 * 192 * 2 * llm.n_ctx()     # SmolLM2-135M: 30 layers, K and V of 3 x 64, f16
    monkeypatch.setattr(llamacpp_streams, "available_memory", lambda: 4 * per_stream * 3)
    assert llamacpp_streams.streams_that_fit(llm, 8) == 2      # a quarter of the memory: 3 streams, one scratch
    assert llamacpp_streams.streams_that_fit(llm, 8, scratch=False) == 3
    assert llamacpp_streams.streams_that_fit(llm, 2, scratch=False) == 2
    monkeypatch.setattr(llamacpp_streams, "available_memory", lambda: per_stream)
    assert llamacpp_streams.streams_that_fit(llm, 8) == 1      # never none


def test_one_stream_decodes_beside_the_scratch_stream(q4, alone):
    """One stream and a lone sequence beside the companion token in the scratch stream: create_completion's texts
    for q4_0 (whose streams need neither, as one row multiplies like several)."""
    teacher_streams = q4._streams(1)
    assert teacher_streams.lone is True and teacher_streams.scratch is None
    one = Streams(q4._load(), 1)
    try:
        requests = mixed_requests()
        out = {}
        one.run(list(range(len(requests))), [q4.prompt_ids(r) for r in requests],
                lambda i: llamacpp.Sequence(q4._load(), q4.prompt_ids(requests[i]), requests[i].max_new_tokens,
                                            q4.stop_for(requests[i]), requests[i].seed, q4._sampling()),
                lambda i, seq: out.__setitem__(i, seq.text.decode("utf-8", "ignore")) or True,
                lambda i, exc: pytest.fail(str(exc)))
        assert [out[i] for i in range(len(requests))] == [a.text for a in alone]
        assert one.low.llama_memory_seq_pos_max(one.memory, 1) == 0      # the companion, at position 0
    finally:
        one.close()
