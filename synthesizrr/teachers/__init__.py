"""Teacher LLM backends behind one persistent call cache.

    teacher = build_teacher(cfg.teacher, store / "teacher_cache.sqlite")
    completions = teacher.generate([Request(prompt, max_new_tokens=64, seed=7)])

Backends: llamacpp, hf, vllm (GPU, optional), openai (any OpenAI-compatible server), anthropic. See docs/teachers.md.
"""
from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Optional

from ..core.config import TeacherConfig
from ..plugins import is_spec, load_class
from .base import Backend, Completion, FailureBudgetExceeded, IncompleteCalls, Request, TeacherError
from .cached import CachedTeacher

__all__ = ["build_teacher", "CachedTeacher", "Request", "Completion", "TeacherError", "FailureBudgetExceeded",
           "IncompleteCalls",
           "BACKENDS"]

BACKENDS = {   # name -> (module, class); imported only when chosen
    "llamacpp": (".llamacpp", "LlamaCppBackend"),
    "hf": (".hf", "HFBackend"),
    "vllm": (".vllm_engine", "VLLMBackend"),
    "openai": (".openai_api", "OpenAIBackend"),
    "anthropic": (".anthropic_api", "AnthropicBackend"),
}
_SECRET_NAME = re.compile(r"(^|_)(api_?key|key|secret|password|authorization|auth|token|access_token|headers)$", re.I)


def _check_extra(cfg: TeacherConfig) -> None:
    for name in cfg.extra:
        if _SECRET_NAME.search(str(name)):
            raise TeacherError(f"teacher.extra.{name} looks like a secret: put it in an environment variable and "
                               f"name that variable in teacher.api_key_env")


def backend_class(name: str) -> type:
    """A built-in backend by name, or a Backend subclass named 'module:Class' / 'file.py:Class'."""
    if is_spec(name):
        return load_class(name, Backend, "teacher.backend")
    if name not in BACKENDS:
        raise TeacherError(f"teacher.backend={name!r} is not allowed: choose one of {', '.join(BACKENDS)} "
                           f"or name a Backend subclass as 'module:Class'")
    module, cls = BACKENDS[name]
    return getattr(importlib.import_module(module, __name__), cls)


def build_teacher(cfg: TeacherConfig, cache_path: Optional[Path]) -> CachedTeacher:
    """A CachedTeacher over the configured backend. The model loads on the first cache miss.
    ``cache_path=None`` keeps the cache in memory (nothing persists)."""
    _check_extra(cfg)
    backend: Backend = backend_class(cfg.backend)(cfg)
    return CachedTeacher(cfg, backend, Path(cache_path) if cache_path is not None else None)
