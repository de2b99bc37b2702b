"""transformers backend on the offline SmolLM2 GGUF (gguf_file=, dequantized on CPU): ~20 s to load, once."""
from __future__ import annotations

import importlib.util

import pytest
from omegaconf import OmegaConf

from synthesizrr.core.config import TeacherConfig
from synthesizrr.teachers import Request, build_teacher
from synthesizrr.teachers.cached import CachedTeacher


@pytest.mark.slow
def test_hf_backend_through_gguf_file(smollm2_cfg, repo_root):
    if importlib.util.find_spec("gguf") is None:
        pytest.skip("needs the gguf package")
    raw = OmegaConf.load(repo_root / "conf/teacher/smollm2_hf_offline.yaml")
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(TeacherConfig), raw))
    teacher = build_teacher(cfg, None)
    assert teacher.backend.source[1] == {"gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"}
    requests = [Request("Write one sentence about football.", 8, seed=1),
                Request("Write one sentence about a bank.", 8, seed=2)]
    out = teacher.generate(requests, progress=False)
    assert all(c.text.strip() and 0 < c.tokens_out <= 8 and c.error is None for c in out)
    assert out[0].tokens_in > teacher.count_tokens(requests[0].prompt) + 5     # the chat template wraps the prompt
    again = CachedTeacher(cfg, teacher.backend, None).generate(requests, progress=False)   # same batch, same seeds
    assert [c.text for c in again] == [c.text for c in out]
    assert teacher.count_tokens("Hello world") == 2
    teacher.close()
