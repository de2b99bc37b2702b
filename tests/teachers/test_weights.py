"""teacher.weights: the packaged SmolLM2 GGUF converted for real with llama.cpp (made once, cached, made again
when damaged), its place in the call keys, and several samples of one prompt evaluated once."""
from __future__ import annotations

import os

import pytest
from omegaconf import OmegaConf

from synthesizrr.core.config import TeacherConfig
from synthesizrr.core.errors import ConfigError
from synthesizrr.teachers import Request, TeacherError, build_teacher, gguf_weights
from synthesizrr.teachers.gguf_weights import converted, is_valid, sidecar


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHESIZRR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "gguf"


@pytest.fixture
def source(smollm2_cfg):
    return build_teacher(smollm2_cfg(), None).backend.path     # the packaged Q4_1 file; nothing is loaded


def test_converts_once_then_hits_the_cache(source, cache, monkeypatch):
    out = converted(source, "q4_0")
    assert out.parent == cache and out.read_bytes()[:4] == b"GGUF" and is_valid(out)
    assert out.name.endswith(".q4_0.gguf") and gguf_weights.content_hash(source)[:16] in out.name
    before = os.stat(out)

    def no_conversion(*args):
        raise AssertionError("converted again")
    monkeypatch.setattr(gguf_weights, "convert", no_conversion)
    assert converted(source, "q4_0") == out
    after = os.stat(out)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)   # not rewritten
    assert converted(source, "native") == source
    assert not list(cache.glob(".*.tmp"))                                              # no temp file left


@pytest.mark.parametrize("damage", ["delete", "truncate", "magic", "sidecar"])
def test_missing_or_damaged_conversion_is_made_again(source, cache, damage):
    out = converted(source, "q4_0")
    size = out.stat().st_size
    if damage == "delete":
        out.unlink()
    elif damage == "truncate":
        with open(out, "r+b") as fh:
            fh.truncate(size // 2)
    elif damage == "magic":
        with open(out, "r+b") as fh:
            fh.write(b"\0\0\0\0")
    else:
        sidecar(out).unlink()
    assert not is_valid(out)
    assert converted(source, "q4_0") == out and is_valid(out) and out.stat().st_size == size


def test_an_unwritable_cache_fails_with_one_line(source, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("SYNTHESIZRR_CACHE", str(blocker))        # a file where the cache folder should be
    with pytest.raises(TeacherError, match="cannot write the converted GGUF") as err:
        converted(source, "f16")
    assert "\n" not in str(err.value) and "SYNTHESIZRR_CACHE" in str(err.value)


def test_a_conversion_llama_cpp_cannot_load_is_made_again_once(smollm2_cfg, cache):
    teacher = build_teacher(smollm2_cfg(weights="bf16"), None)
    out = converted(teacher.backend.path, "bf16")
    with open(out, "r+b") as fh:           # magic and size stay right, the header behind them does not
        fh.seek(4)
        fh.write(b"\xff" * 60)
    assert is_valid(out)
    teacher.backend._load()
    with open(out, "rb") as fh:
        assert teacher.backend._llm is not None and fh.read(8)[4:] != b"\xff" * 4
    teacher.close()


def test_weights_are_part_of_the_identity_and_the_call_keys(smollm2_cfg):
    native, bf16, f16 = (build_teacher(smollm2_cfg(weights=w), None) for w in ("native", "bf16", "f16"))
    assert "weights" not in native.identity                  # keys made before the option existed still hit
    assert bf16.identity["weights"] == "bf16" and f16.identity["weights"] == "f16"
    request = [Request("Write one sentence about football.", 8, seed=1)]
    keys = {t.call_keys(request)[0] for t in (native, bf16, f16)}
    assert len(keys) == 3
    assert native.backend._llm is None and bf16.backend._llm is None       # keys need no model (nor conversion)


def test_bad_weights_value_fails_with_one_line():
    with pytest.raises(ConfigError) as err:
        TeacherConfig(name="t", backend="llamacpp", model="offline:smollm2", weights="fp8")
    assert str(err.value) == ("teacher.weights='fp8' is not allowed: choose one of native, bf16, f16, q8_0, q4_0")
    merged = OmegaConf.merge(OmegaConf.structured(TeacherConfig),
                             {"name": "t", "backend": "llamacpp", "model": "m", "weights": "int3"})
    with pytest.raises(ConfigError, match=r"^teacher.weights='int3' is not allowed") as err:
        OmegaConf.to_object(merged)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("weights, amx, extra, expected", [
    ("native", True, {}, False),                       # quantized on an AMX CPU: no extra buffers (they crash)
    ("q4_0", True, {}, False),
    ("native", False, {}, True),                       # no AMX: llama.cpp's default (repacked buffers)
    ("f16", True, {}, True),                           # f16/bf16 never use the AMX kernels
    ("native", True, {"use_extra_bufts": True}, True),  # the user decides
    ("f16", False, {"use_extra_bufts": False}, False),
])
def test_extra_buffers_are_off_for_quantized_weights_on_amx_cpus(smollm2_cfg, monkeypatch, weights, amx, extra,
                                                                  expected):
    from synthesizrr.teachers import llamacpp

    monkeypatch.setattr(llamacpp, "cpu_has_amx", lambda: amx)
    teacher = build_teacher(smollm2_cfg(weights=weights, extra=extra), None)
    assert teacher.backend._extra_bufts() is expected


def test_llama_kwargs_are_part_of_the_identity_batch_size_is_not(smollm2_cfg):
    """Flash attention or KV types change the numbers, so the texts; batched decoding does not (test_llamacpp_streams)."""
    request = [Request("Write one sentence about football.", 8, seed=1)]
    plain, fa, batch1 = (build_teacher(smollm2_cfg(weights="f16", **kw), None) for kw in (
        {}, {"extra": {"llama_kwargs": {"flash_attn": True}}}, {"batch_size": 1}))
    assert "llama_kwargs" not in plain.identity and fa.identity["llama_kwargs"] == {"flash_attn": True}
    assert fa.call_keys(request) != plain.call_keys(request) == batch1.call_keys(request)
