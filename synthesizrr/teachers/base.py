"""Shared types of the teacher package: requests, completions, errors and the backend interface."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from ..core.config import TeacherConfig
from ..core.errors import SynthesizrrError


class TeacherError(SynthesizrrError, RuntimeError):
    """A teacher cannot run as configured; the message is one line naming what is wrong and what is allowed."""


class IncompleteCalls(TeacherError):
    """Some teacher calls failed even after a second pass; the completed ones are cached, so a rerun sends only
    the failed ones. The stage that needed them is not stored."""


class FailureBudgetExceeded(TeacherError):
    """More calls failed (after retries) than teacher.failure_budget allows; completed calls are already cached."""


@dataclass(frozen=True)
class Request:
    prompt: str
    max_new_tokens: int
    seed: int
    sample_index: int = 0
    system: Optional[str] = None                 # system message (chat only)
    stop: Optional[tuple[str, ...]] = None       # overrides teacher.stop for this request

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise TeacherError(f"Request.max_new_tokens={self.max_new_tokens} is out of range: allowed >= 1")
        if self.stop is not None and not isinstance(self.stop, tuple):
            object.__setattr__(self, "stop", tuple(self.stop))


@dataclass(frozen=True)
class Completion:
    text: str
    tokens_in: int
    tokens_out: int
    cached: bool
    finish_reason: str                  # stop | length | error (backend-specific values are mapped)
    error: Optional[str] = None


Emit = Callable[[int, Completion], bool]   # (index into the requests, completion) -> keep going?

FINISH = {"stop": "stop", "eos": "stop", "end_turn": "stop", "stop_sequence": "stop", "length": "length",
          "max_tokens": "length", "model_length": "length"}


def finish_reason(raw: Optional[str]) -> str:
    return FINISH.get(str(raw), "stop" if raw is None else str(raw))


def failed(error: str) -> Completion:
    return Completion(text="", tokens_in=0, tokens_out=0, cached=False, finish_reason="error", error=error)


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Text before the earliest stop sequence, and whether one was found."""
    cuts = [text.find(s) for s in stop if s and s in text]
    return (text[:min(cuts)], True) if cuts else (text, False)


def prices(cfg: TeacherConfig) -> tuple[float, float]:
    """USD per 1M (input, output) tokens of this teacher's calls: the batch prices when teacher.batch is on
    (explicit ones, else the online prices x teacher.batch_discount)."""
    if not cfg.batch:
        return cfg.price_per_1m_input, cfg.price_per_1m_output
    pin, pout = cfg.price_per_1m_input_batch, cfg.price_per_1m_output_batch
    return (cfg.price_per_1m_input * cfg.batch_discount if pin is None else pin,
            cfg.price_per_1m_output * cfg.batch_discount if pout is None else pout)


class CostCapExceeded(TeacherError):
    """The estimated cost of the planned teacher calls is above teacher.max_cost_usd; nothing was sent."""


CHARS_PER_TOKEN = 4   # approximation for API models without a local tokenizer (English text, BPE vocabularies)


def approx_count(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def approx_truncate(text: str, n: int) -> str:
    """About the first ``n`` tokens: ``4 * n`` characters, cut back to a word boundary when one is near."""
    limit = max(0, n) * CHARS_PER_TOKEN
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = head.rfind(" ")
    return head[:space] if space > limit * 0.8 else head


class Backend:
    """One way of running a teacher model. Subclasses load their model lazily, on the first generation."""

    name = "base"

    def __init__(self, cfg: TeacherConfig):
        self.cfg = cfg
        self.retries = 0          # extra attempts made (HTTP backends)
        self.truncated = 0        # prompts shortened from the left to fit the context

    def identity(self) -> dict:
        """What identifies the model's outputs (cache key part); never a secret."""
        return {"model": self.cfg.model}

    def run(self, requests: list[Request], emit: Emit) -> None:
        """Generate each request and call ``emit(i, completion)`` as soon as it is done.
        When ``emit`` returns False, start no further requests (those in flight still emit)."""
        raise NotImplementedError

    def stop_for(self, request: Request) -> list[str]:
        return list(request.stop) if request.stop is not None else list(self.cfg.stop)

    @property
    def context_length(self) -> int:
        return self.cfg.context_length

    def count_tokens(self, text: str) -> int:
        return approx_count(text)

    def token_counting(self) -> str:
        """How count_tokens counts (said in the cost plan)."""
        return f"approximate: {CHARS_PER_TOKEN} characters per token"

    def truncate_tokens(self, text: str, n: int) -> str:
        return approx_truncate(text, n)

    def close(self) -> None:
        pass


class TokenizedBackend(Backend):
    """A backend with a local tokenizer: token counts and truncation are exact. Subclasses give ``_tokens``
    (ids without special tokens) and ``detokenize``."""

    def _tokens(self, text: str) -> list[int]:
        raise NotImplementedError

    def detokenize(self, ids: list[int]) -> str:
        raise NotImplementedError

    def _render(self, prompt: str, system: Optional[str]) -> list[int]:
        """Token ids of the full model input (chat template applied where configured)."""
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        return len(self._tokens(text))

    def token_counting(self) -> str:
        return "the model's tokenizer"

    def truncate_tokens(self, text: str, n: int) -> str:
        ids = self._tokens(text)
        return text if len(ids) <= n else self.detokenize(ids[:max(0, n)])

    def prompt_ids(self, request: Request) -> list[int]:
        """Token ids the model sees, shortened from the left when prompt + max_new_tokens exceed the context."""
        budget = self.cfg.context_length - request.max_new_tokens
        if budget < 1:
            raise TeacherError(f"max_new_tokens={request.max_new_tokens} leaves no room for a prompt in "
                               f"teacher.context_length={self.cfg.context_length}")
        ids, cut = fit_left(request.prompt, lambda p: self._render(p, request.system), self._tokens,
                            self.detokenize, budget)
        self.truncated += cut
        return ids


def fit_left(prompt: str, render: Callable[[str], list[int]], tokenize: Callable[[str], list[int]],
             detokenize: Callable[[list[int]], str], budget: int) -> tuple[list[int], bool]:
    """Token ids of ``render(prompt)``, shortened from the left of the prompt (as the reference's left truncation)
    so they fit in ``budget`` tokens. Returns (ids, truncated)."""
    ids = render(prompt)
    if len(ids) <= budget:
        return ids, False
    overflow = len(ids) - budget
    body = tokenize(prompt)
    ids = render(detokenize(body[overflow:]))
    return (ids if len(ids) <= budget else ids[-budget:]), True
