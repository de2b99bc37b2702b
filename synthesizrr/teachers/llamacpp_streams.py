"""Several llama.cpp sequences decoded together, each in its own KV stream (kv_unified=false).

A decode step then costs little more than one sequence's (it is bound by per-step overhead on a small model). A
step never multiplies a single row: one that would decode one sequence also decodes a one-token companion in the
next stream (a free one, or a scratch stream after the last). llama.cpp takes another kernel for one row than for several (f16 and bf16 weights on AVX2 CPUs
then give other logits), so with the companion a sequence's logits do not depend on how many decode beside it,
and a (prompt, seed) gives one text whatever its batch-mates (``probe`` checks this per model and CPU;
tests/teachers/test_llamacpp_streams.py). Where one row and several agree (q4_0, q8_0 and Q4_1; f16 on AVX-512)
that text is the one llama-cpp-python's ``create_completion`` gives after a reset.
Prompts are evaluated one sequence at a time, in the same ``n_batch`` chunks as ``Llama.eval``; only decode steps
mix sequences. ``Sequence.push`` mirrors ``create_completion``'s loop: end-of-generation token, held-back partial
UTF-8, stop strings, max_tokens.
"""
from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from typing import Callable, Optional

from .gguf_weights import import_llama_cpp

SEED_RANGE = 2 ** 32 - 1          # llama.cpp treats 0xFFFFFFFF as "random seed"
_UTF8_LEADS = ((2, 192), (3, 224), (4, 240))


def kv_bytes_per_token(llm) -> int:
    """K and V bytes one token takes in a KV stream (f16 cells; a quantized KV type takes less)."""
    low, model = import_llama_cpp(), llm._model.model
    heads = max(1, low.llama_model_n_head(model))
    per_head = low.llama_model_n_embd(model) // heads
    return 2 * 2 * low.llama_model_n_layer(model) * per_head * low.llama_model_n_head_kv(model)


def available_memory() -> int:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def streams_that_fit(llm, wanted: int, scratch: bool = True, share: float = 0.25) -> int:
    """At most ``wanted`` KV streams of n_ctx cells each, besides the scratch stream if any, within ``share`` of
    the available memory (at least 1)."""
    per_stream = kv_bytes_per_token(llm) * llm.n_ctx()
    return max(1, min(wanted, int(share * available_memory() // per_stream) - scratch))


class Sequence:
    """One request in a slot: its sampler chain, tokens so far and, once finished, its text and reason."""

    def __init__(self, llm, prompt: list[int], max_tokens: int, stop: list[str], seed: int, sampling: dict):
        n_ctx = llm.n_ctx()
        if len(prompt) >= n_ctx:
            raise ValueError(f"Requested tokens ({len(prompt)}) exceed context window of {n_ctx}")
        self.llm, self.prompt = llm, prompt
        self.max_tokens = max_tokens if max_tokens + len(prompt) < n_ctx else n_ctx - len(prompt)
        self.stops = [s.encode("utf-8") for s in stop]
        llm.set_seed(seed % SEED_RANGE)
        self.sampler = llm._init_sampler(**sampling)      # the chain create_completion builds
        self.tokens: list[int] = []
        self.last: Optional[int] = None                  # the sampled token the next step decodes
        self.text: Optional[bytes] = None
        self.reason = "length"
        self._multibyte = 0

    @property
    def pos(self) -> int:
        return len(self.prompt) + len(self.tokens) - 1

    def sample(self, ctx, idx: int) -> bool:
        token = import_llama_cpp().llama_sampler_sample(self.sampler.sampler, ctx, idx)
        return self.push(token)

    def push(self, token: int) -> bool:
        """Take one sampled token; True when the sequence is finished (``text`` and ``reason`` set)."""
        llm = self.llm
        if import_llama_cpp().llama_vocab_is_eog(llm._model.vocab, token):
            return self._finish(llm.detokenize(self.tokens, prev_tokens=self.prompt), "stop")
        self.tokens.append(token)
        self.last = token
        text = llm.detokenize(self.tokens, prev_tokens=self.prompt)
        for k, char in enumerate(text[-3:]):            # an unfinished UTF-8 character: no checks this token
            k = 3 - k
            for num, pattern in _UTF8_LEADS:
                if num > k and pattern & char == pattern:
                    self._multibyte = num - k
        if self._multibyte > 0:
            self._multibyte -= 1
            return False
        hits = [s for s in self.stops if s in text]
        if hits:
            return self._finish(text[: text.index(hits[0])], "stop")
        if len(self.tokens) >= self.max_tokens:
            return self._finish(text, "length")
        return False

    def _finish(self, text: bytes, reason: str) -> bool:
        self.text, self.reason = text, reason
        self.sampler.close()
        return True

    def close(self) -> None:
        self.sampler.close()


class Streams:
    """A context of ``n_seq`` KV streams of ``cells`` cells each (default the loaded ``Llama``'s n_ctx) and a
    scratch stream for the companion token, over ``llm``'s model with its context settings. ``lone=True`` lets a
    lone sequence decode without the companion (where the probe found one row and several agree): no scratch
    stream then."""

    def __init__(self, llm, n_seq: int, cells: Optional[int] = None, lone: bool = False):
        low = import_llama_cpp()
        params = low.llama_context_default_params()
        ctypes.memmove(ctypes.byref(params), ctypes.byref(llm.context_params), ctypes.sizeof(params))
        streams = n_seq + (0 if lone else 1)              # the scratch stream only where a lone one needs it
        params.n_seq_max, params.kv_unified = streams, False
        params.n_ctx = (cells or llm.n_ctx()) * streams     # each stream gets n_ctx / n_seq_max cells
        self.low, self.n_seq, self.n_batch = low, n_seq, llm.n_batch
        self.scratch = None if lone else n_seq
        self.companion, self.lone = max(0, llm.token_bos()), lone
        self.ctx = low.llama_init_from_model(llm._model.model, params)
        if not self.ctx:
            raise ValueError(f"llama.cpp could not create a context of {n_seq} sequences")
        self.memory = low.llama_get_memory(self.ctx)
        self.batch = low.llama_batch_init(max(self.n_batch, n_seq + 1), 0, 1)

    def _decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """entries: (token, position, sequence, wants logits)."""
        batch = self.batch
        batch.n_tokens = len(entries)
        for i, (token, pos, seq, logits) in enumerate(entries):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, pos, 1, logits
            batch.seq_id[i][0] = seq
        rc = self.low.llama_decode(self.ctx, batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")

    def prompt(self, slot: int, ids: list[int]) -> int:
        """Evaluate a prompt into an emptied stream; returns the batch index of its last logits."""
        self.low.llama_memory_seq_rm(self.memory, slot, -1, -1)
        for start in range(0, len(ids), self.n_batch):
            chunk = ids[start:start + self.n_batch]        # logits for each chunk's last token, as Llama.eval
            self._decode([(t, start + j, slot, j == len(chunk) - 1) for j, t in enumerate(chunk)])
        return (len(ids) - 1) % self.n_batch

    def copy(self, src: int, dst: int) -> None:
        """Give stream ``dst`` the KV of stream ``src`` (the same prompt, evaluated once)."""
        self.low.llama_memory_seq_rm(self.memory, dst, -1, -1)
        self.low.llama_memory_seq_cp(self.memory, src, dst, -1, -1)

    def decode_step(self, entries: list[tuple[int, int, int]]) -> list[int]:
        """One decode step of (token, position, stream) entries, each wanting logits; returns their batch indices.

        llama.cpp splits a step into one matrix multiplication per run of consecutive streams given in increasing
        order, so the entries go in stream order and each free stream between two of them gets the companion
        token (at position 0, after emptying it: free streams hold nothing a later prompt keeps). A lone entry
        gets it in the next stream (the scratch stream after the last), wanting logits too, so that the output
        layer also multiplies two rows (unless ``lone``)."""
        by_stream = {slot: (token, pos) for token, pos, slot in entries}
        lo, hi = min(by_stream), max(by_stream)
        if lo == hi and not self.lone:
            hi += 1
        steps, index = [], {}
        for slot in range(lo, hi + 1):
            if slot in by_stream:
                index[slot] = len(steps)
                steps.append((*by_stream[slot], slot, True))
            else:
                self.low.llama_memory_seq_rm(self.memory, slot, -1, -1)
                steps.append((self.companion, 0, slot, len(entries) == 1))
        self._decode(steps)
        return [index[slot] for _, _, slot in entries]

    def step(self, slots: dict[int, Sequence]) -> dict[int, int]:
        """Decode each slot's last sampled token in one batch; returns slot -> batch index of its logits."""
        order = sorted(slots)
        return dict(zip(order, self.decode_step([(slots[s].last, slots[s].pos, s) for s in order])))

    def run(self, order: list[int], prompts: list[list[int]], make: Callable[[int], Sequence],
            done: Callable[[int, Sequence], bool], fail: Callable[[int, Exception], bool]) -> None:
        """Generate the requests in ``order`` (``make(i)`` gives request i's Sequence), at most n_seq at a time; a
        finished one frees its stream for the next. ``done``/``fail`` report each; once one returns False no
        further request starts (those started still finish). Requests with equal prompts that start together
        evaluate it once and copy its KV."""
        queue, free = list(order), list(range(self.n_seq))
        active: dict[int, tuple[int, Sequence]] = {}
        admitting = True
        while (admitting and queue) or active:
            live = None                       # (prompt, slot, batch index) whose logits are still current
            while admitting and queue and free:
                i, slot = queue.pop(0), free.pop(0)
                seq = None
                try:
                    seq = make(i)
                    if live is not None and live[0] == prompts[i]:
                        if live[1] != slot:
                            self.copy(live[1], slot)
                        idx = live[2]
                    else:
                        idx = self.prompt(slot, prompts[i])
                        live = (prompts[i], slot, idx)
                    finished = seq.sample(self.ctx, idx)
                except (ValueError, RuntimeError) as exc:   # llama.cpp reports problems this way
                    if seq is not None:
                        seq.close()
                    free.append(slot)
                    live = None
                    admitting = bool(fail(i, exc)) and admitting
                    continue
                if finished:
                    free.append(slot)
                    admitting = bool(done(i, seq)) and admitting
                else:
                    active[slot] = (i, seq)
            if not active:
                continue
            try:
                index = self.step({slot: seq for slot, (_, seq) in active.items()})
            except RuntimeError as exc:
                for slot, (i, seq) in sorted(active.items()):
                    seq.close()
                    free.append(slot)
                    admitting = bool(fail(i, exc)) and admitting
                active.clear()
                continue
            for slot, (i, seq) in sorted(active.items()):
                if seq.sample(self.ctx, index[slot]):
                    del active[slot]
                    free.append(slot)
                    admitting = bool(done(i, seq)) and admitting

    def close(self) -> None:
        if self.ctx:
            self.low.llama_batch_free(self.batch)
            self.low.llama_free(self.ctx)
            self.ctx = None


@dataclass(frozen=True)
class Probe:
    invariant: bool        # a sequence's logits do not depend on its batch-mates (Streams' decode steps)
    as_alone: bool         # and equal those of llm's own one-sequence context (create_completion's)


def probe(llm) -> Probe:
    """Decode a short and a 260-token sequence in streams alone (with the companion), together and beside a third,
    and compare their logits with each other and with ``llm``'s own context (2-4 s for SmolLM2). Invariant for
    f16/q8_0/q4_0/Q4_1 on both development CPUs, and bf16 and flash attention on the AVX2 one (the AVX-512 one not
    checked since); as_alone only where one row multiplies like several: q8_0/q4_0/Q4_1, f16 on AVX-512, without
    flash attention."""
    low, n_vocab = import_llama_cpp(), llm.n_vocab()
    # 260 crosses the 256-cell attention window; Llama.eval holds at most the n_ctx asked for (llama.cpp's own
    # n_ctx may be padded above it)
    long = min(260, len(llm.input_ids) - 2)
    lengths = [min(8, long), long, min(8, long)]
    prompts = [[(7919 * i + 17 * seq + 1) % n_vocab for i in range(n)] for seq, n in enumerate(lengths)]

    def logits(ctx, idx: int) -> bytes:
        return ctypes.string_at(low.llama_get_logits_ith(ctx, idx), 4 * n_vocab)

    alone = []
    for ids in prompts[:2]:
        llm.reset()
        llm.eval(ids)
        llm.eval(ids[:1])
        alone.append(logits(llm.ctx, -1))
    llm.reset()
    streams = Streams(llm, len(prompts), cells=min(llm.n_ctx(), 512))
    try:
        seen: dict[int, set] = {0: set(), 1: set()}
        # sequence i decodes in stream i, from its prompt; a lone one and [0, 2] put the companion in a stream,
        # whose prompt is then evaluated again
        for run in ([1], [0, 1], [0, 1, 2], [1, 2], [0, 2], [0]):
            for seq in run:
                if low.llama_memory_seq_pos_max(streams.memory, seq) >= lengths[seq] - 1:
                    low.llama_memory_seq_rm(streams.memory, seq, lengths[seq], -1)
                else:
                    streams.prompt(seq, prompts[seq])
            index = streams.decode_step([(prompts[seq][0], lengths[seq], seq) for seq in run])
            for i, seq in zip(index, run):
                if seq in seen:
                    seen[seq].add(logits(streams.ctx, i))
    finally:
        streams.close()
    return Probe(invariant=all(len(v) == 1 for v in seen.values()),
                 as_alone=all(v == {alone[seq]} for seq, v in seen.items()))
