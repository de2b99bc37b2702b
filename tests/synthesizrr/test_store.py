import json
import os

import pytest

from synthesizrr.core.store import Store, atomic_write_json, fingerprint


def test_fingerprint_is_order_independent_and_sensitive():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
    assert fingerprint("x", {"a": 1}) != fingerprint("y", {"a": 1})


def test_stage_dir_appears_only_when_complete(tmp_path):
    store = Store(tmp_path)
    with pytest.raises(RuntimeError):
        with store.writing("synthesize", "k1", {}) as tmp:
            (tmp / "part.jsonl").write_text("x")
            raise RuntimeError("killed mid-stage")
    assert not store.done("synthesize", "k1")
    assert not store.path("synthesize", "k1").exists()
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "synthesize").iterdir())
    with store.writing("synthesize", "k1", {"inputs": {"a": 1}}) as tmp:
        (tmp / "out.jsonl").write_text("y")
    assert store.done("synthesize", "k1")
    assert (store.path("synthesize", "k1") / "out.jsonl").read_text() == "y"
    assert store.meta("synthesize", "k1")["inputs"] == {"a": 1}


def test_partial_work_dir_survives_failure_and_is_removed_on_success(tmp_path):
    store = Store(tmp_path)
    work = store.work_dir("index", "k")
    (work / "batch_0.npy").write_text("done")
    with pytest.raises(ValueError):
        with store.writing("index", "k", {}):
            raise ValueError
    assert (store.work_dir("index", "k") / "batch_0.npy").exists()
    with store.writing("index", "k", {}):
        pass
    assert not (tmp_path / ".partial" / "index" / "k").exists()


def test_atomic_write_json_leaves_no_temp_files(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"x": 1})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1}
    assert os.listdir(tmp_path) == ["a.json"]
