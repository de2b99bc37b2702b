"""Building teachers from the shipped configs, and the one-line errors of bad settings."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from synthesizrr.core.config import TeacherConfig
from synthesizrr.teachers import TeacherError, build_teacher

CONF = Path(__file__).resolve().parents[2] / "conf" / "teacher"


def load(name: str, **overrides) -> TeacherConfig:
    merged = OmegaConf.merge(OmegaConf.structured(TeacherConfig), OmegaConf.load(CONF / f"{name}.yaml"), overrides)
    return OmegaConf.to_object(merged)


@pytest.mark.parametrize("path", sorted(CONF.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_config_matches_the_schema_and_its_file_name(path):
    cfg = load(path.stem, model="/tmp/x.gguf") if path.stem == "llamacpp" else load(path.stem)
    assert cfg.name == path.stem
    assert (cfg.temperature, cfg.top_p) == (0.95, 0.9)


def test_api_configs_build_without_network_or_key(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for name in ("openai", "openai_compatible", "claude"):
        teacher = build_teacher(load(name), tmp_path / f"{name}.sqlite")
        ident = teacher.identity
        assert ident["backend"] in ("openai", "anthropic") and ident["model"] == load(name).model
        assert not any("key" in str(k).lower() for k in ident)
        teacher.close()


def test_vllm_without_vllm_installed_is_a_one_line_error():
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    with pytest.raises(TeacherError, match=r"backend=vllm needs the vllm package") as err:
        build_teacher(load("llama2_13b_chat_vllm"), None)
    assert "\n" not in str(err.value)


def test_secret_looking_extra_keys_are_refused():
    with pytest.raises(TeacherError, match=r"teacher.extra.api_key looks like a secret"):
        build_teacher(load("openai", extra={"api_key": "sk-x"}), None)


def test_bad_base_url_is_refused():
    with pytest.raises(TeacherError, match=r"base_urls has 'localhost:8000': allowed http:// or https://"):
        build_teacher(load("openai_compatible", base_urls=["localhost:8000"]), None)


def test_hf_missing_gguf_and_bad_dtype():
    with pytest.raises(TeacherError, match=r"GGUF file /nonexistent/m.gguf does not exist"):
        build_teacher(load("smollm2_hf_offline", model="/nonexistent/m.gguf"), None)
    with pytest.raises(TeacherError, match=r"teacher.dtype='int3' is not allowed"):
        build_teacher(load("smollm2_hf_offline", dtype="int3"), None)


def test_request_validation():
    from synthesizrr.teachers import Request
    with pytest.raises(TeacherError, match="max_new_tokens=0 is out of range"):
        Request("p", 0, seed=1)
    assert Request("p", 1, seed=1, stop=["a"]).stop == ("a",)


def test_missing_gguf_is_a_one_line_error(smollm2_cfg, tmp_path):
    missing = tmp_path / "nope.gguf"
    with pytest.raises(TeacherError, match=f"GGUF file {missing} does not exist") as err:
        build_teacher(smollm2_cfg(model=str(missing)), None)
    assert "\n" not in str(err.value)
