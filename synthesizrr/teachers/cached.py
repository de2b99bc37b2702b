"""CachedTeacher: the object the pipeline uses. It answers from the call cache, sends only the misses to the
backend (or, with teacher.batch, through provider batches: batches.py), saves each completed call at once, and stops
when more calls fail than teacher.failure_budget allows. ``plan``/``guard`` estimate the cost of the calls a
request list would make before any is sent, and refuse above teacher.max_cost_usd."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from tqdm.auto import tqdm

from ..core.config import TeacherConfig
from .base import Backend, Completion, CostCapExceeded, FailureBudgetExceeded, Request, TeacherError, prices
from .batches import BatchStore, run_batched
from .cache import CallCache, call_key

log = logging.getLogger(__name__)

DECODING = ("chat", "temperature", "top_p", "top_k")


class CachedTeacher:
    def __init__(self, cfg: TeacherConfig, backend: Backend, cache_path: Optional[Path]):
        self.cfg = cfg
        self.backend = backend
        if cfg.batch and not getattr(backend, "batch_max_requests", 0):
            raise TeacherError(f"teacher.batch=true is not allowed for backend {backend.name}: only openai and "
                               f"anthropic have batch APIs; set teacher.batch=false")
        self.cache = CallCache(cache_path)
        self._stats = {"calls": 0, "cache_hits": 0, "tokens_in": 0, "tokens_out": 0, "failures": 0,
                       "resubmitted": 0}   # batch results that failed and were submitted again
        self._last_error: Optional[str] = None

    @property
    def identity(self) -> dict:
        """Backend, model and decoding settings. Holds no secret."""
        return {**self._key_identity(), "stop": list(self.cfg.stop)}

    def _key_identity(self) -> dict:
        # teacher.stop is left out: each request's effective stop list is part of its key instead
        return {"backend": self.backend.name, **self.backend.identity(),
                **{k: getattr(self.cfg, k) for k in DECODING}}

    @property
    def stats(self) -> dict:
        s = dict(self._stats)
        s["retries"] = self.backend.retries
        s["truncated"] = self.backend.truncated
        s["cost_usd"] = self._cost(s["tokens_in"], s["tokens_out"])
        return s

    def _cost(self, tokens_in: int, tokens_out: int) -> float:
        price_in, price_out = prices(self.cfg)
        return (tokens_in * price_in + tokens_out * price_out) / 1e6

    def plan(self, requests: list[Request]) -> dict:
        """What ``generate(requests)`` would send, before sending anything: the calls to make (cache misses,
        identical requests once, requests waiting in provider batches left out), their prompt tokens (the
        backend's count_tokens), their max new tokens and the cost of both at this teacher's prices."""
        keys = self.call_keys(requests)
        hits = self.cache.get_many(keys)
        misses = {k: r for k, r in zip(keys, requests) if k not in hits}
        flight = BatchStore(self.cache).in_flight() if self.cfg.batch else {}
        in_flight = sum(k in flight for k in misses)
        todo = [r for k, r in misses.items() if k not in flight]
        prompt = sum(self.count_tokens(r.prompt) + (self.count_tokens(r.system) if r.system else 0) for r in todo)
        new = sum(r.max_new_tokens for r in todo)
        return {"requests": len(requests), "cached": sum(k in hits for k in keys), "in_flight": in_flight,
                "calls": len(todo), "prompt_tokens": prompt, "max_new_tokens": new, "cost_usd": self._cost(prompt, new)}

    def guard(self, requests: list[Request], desc: str = "teacher") -> dict:
        """Log the plan of ``requests``; raise CostCapExceeded (nothing sent) when its estimated cost plus what this
        teacher has spent so far exceeds teacher.max_cost_usd."""
        plan = self.plan(requests)
        price_in, price_out = prices(self.cfg)
        kind = "batch prices" if self.cfg.batch else "prices"
        log.info(f"{desc}: {plan['calls']:,} calls to make ({plan['cached']:,} of {plan['requests']:,} requests "
                 f"cached, {plan['in_flight']:,} in batches in flight): {plan['prompt_tokens']:,} prompt tokens "
                 f"({self.backend.token_counting()}) + at most {plan['max_new_tokens']:,} new tokens, estimated cost "
                 f"${plan['cost_usd']:.4f} (every new token used; {kind} ${price_in:g} / ${price_out:g} per 1M "
                 f"tokens in / out)")
        cap, spent = self.cfg.max_cost_usd, self.stats["cost_usd"]
        if cap is not None and plan["calls"] and spent + plan["cost_usd"] > cap:
            before = f" on top of ${spent:.4f} spent by this run" if spent else ""
            raise CostCapExceeded(
                f"estimated cost ${plan['cost_usd']:.4f} of {plan['calls']:,} teacher calls ({plan['prompt_tokens']:,} "
                f"prompt + up to {plan['max_new_tokens']:,} new tokens){before} exceeds teacher.max_cost_usd={cap:g}; "
                f"nothing was sent: raise the cap, plan fewer calls (method.num_samples_per_label, "
                f"teacher.max_new_tokens) or set teacher.batch=true for the batch price")
        return plan

    @property
    def context_length(self) -> int:
        return self.backend.context_length

    def count_tokens(self, text: str) -> int:
        return self.backend.count_tokens(text)

    def truncate_tokens(self, text: str, n: int) -> str:
        return self.backend.truncate_tokens(text, n)

    def call_keys(self, requests: list[Request]) -> list[str]:
        """The cache key of each request (what `synthesizrr-store clean` keeps for a recorded run)."""
        ident = self._key_identity()
        return [call_key(ident, r, self.backend.stop_for(r)) for r in requests]

    def generate(self, requests: list[Request], progress: bool = True, desc: str = "teacher") -> list[Completion]:
        """Completions in the order of ``requests``; cached calls are not sent again."""
        keys = self.call_keys(requests)
        hits = self.cache.get_many(keys)
        out: list[Optional[Completion]] = [hits.get(k) for k in keys]
        self._stats["cache_hits"] += sum(c is not None for c in out)
        waiting: dict[str, list[int]] = {}       # identical requests are sent once
        for i, key in enumerate(keys):
            if out[i] is None:
                waiting.setdefault(key, []).append(i)
        miss_keys = list(waiting)
        bar = tqdm(total=len(requests), initial=len(requests) - sum(map(len, waiting.values())),
                   disable=not progress, desc=desc, unit="call")
        budget = self.cfg.failure_budget
        spent = dict(self._stats)

        def emit(j: int, completion: Completion, save: bool = True) -> bool:
            key = miss_keys[j]
            self._stats["calls"] += 1
            if completion.error is None:
                if save:
                    self.cache.put(key, completion, self.backend.name, str(self.cfg.model))
                self._stats["tokens_in"] += completion.tokens_in
                self._stats["tokens_out"] += completion.tokens_out
            else:
                self._stats["failures"] += 1
                self._last_error = completion.error
            for i in waiting[key]:
                out[i] = completion
            t_in, t_out = (self._stats[k] - spent[k] for k in ("tokens_in", "tokens_out"))
            bar.set_postfix_str(f"{t_in + t_out:,} tokens ${self._cost(t_in, t_out):.4f}", refresh=False)
            bar.update(len(waiting[key]))
            return self._failed() <= budget

        def resubmit(error: str) -> bool:
            """A batch result that failed and will be submitted again: it counts against the budget."""
            self._stats["resubmitted"] += 1
            self._last_error = error
            return self._failed() <= budget

        try:
            if miss_keys:
                todo = [requests[waiting[k][0]] for k in miss_keys]
                if self.cfg.batch:     # results are saved by the batch collector, with their batch's state
                    run_batched(self.cache, self.backend, miss_keys, todo, lambda j, c: emit(j, c, save=False),
                                resubmit)
                else:
                    self.backend.run(todo, emit)
        finally:
            bar.close()
        if self._failed() > budget:
            done = sum(c is not None and c.error is None for c in out)
            raise FailureBudgetExceeded(
                f"{self._failed()} teacher calls failed, more than teacher.failure_budget={budget}; "
                f"{done} of {len(requests)} completions are saved in the cache, rerun to continue "
                f"(last error: {self._last_error})")
        log.debug("%s: %d requests, %d cache hits, %d backend calls, %d failures", desc, len(requests),
                 len(requests) - sum(map(len, waiting.values())), len(miss_keys), self._stats["failures"])
        missing = [i for i, c in enumerate(out) if c is None]
        if missing:
            raise RuntimeError(f"backend {self.backend.name} returned no completion for {len(missing)} requests")
        return out  # type: ignore[return-value]

    def _failed(self) -> int:
        """What teacher.failure_budget counts: calls failed for good, and batch results submitted again."""
        return self._stats["failures"] + self._stats["resubmitted"]

    def close(self) -> None:
        self.backend.close()
        self.cache.close()

    def __enter__(self) -> "CachedTeacher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
