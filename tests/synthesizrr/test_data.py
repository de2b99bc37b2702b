import json
from collections import Counter

import pytest
from omegaconf import OmegaConf

from synthesizrr.core.config import DatasetConfig
from synthesizrr.data import DataError, draw_seed_set, load_splits
from synthesizrr.core.assets import bbc_split


def _cfg(**kw) -> DatasetConfig:
    base = dict(name="toy", source="local", path="toy", data_files={"train": "train.jsonl", "test": "test.jsonl"},
                labels={"pos": "good", "neg": "bad"}, prompts={"synthesizrr_instruction": "x", "fewgen_instruction": "y",
                                                             "answer_prefix": "A:"})
    base.update(kw)
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(DatasetConfig), base))


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_local_jsonl_with_column_and_label_mapping(tmp_path):
    _write(tmp_path / "toy/train.jsonl", [{"body": f"text {i}", "y": i % 2} for i in range(10)] + [{"body": " ", "y": 0}])
    _write(tmp_path / "toy/test.jsonl", [{"body": "t", "y": 1}])
    cfg = _cfg(text_column="body", label_column="y", label_map={"0": "neg", "1": "pos"})
    splits = load_splits(cfg, str(tmp_path))
    assert len(splits["train"]) == 10  # the empty text is dropped
    assert Counter(r["label"] for r in splits["train"]) == {"neg": 5, "pos": 5}
    assert splits["test"][0]["label"] == "pos"


def test_missing_column_and_unknown_label_name_the_problem(tmp_path):
    _write(tmp_path / "toy/train.jsonl", [{"text": "a", "label": "maybe"}])
    _write(tmp_path / "toy/test.jsonl", [{"text": "a", "label": "pos"}])
    with pytest.raises(DataError, match="column 'body' is missing"):
        load_splits(_cfg(text_column="body"), str(tmp_path))
    with pytest.raises(DataError, match="'maybe'.*allowed pos, neg"):
        load_splits(_cfg(), str(tmp_path))
    with pytest.raises(DataError, match="does not exist"):
        load_splits(_cfg(), str(tmp_path / "nowhere"))


def test_seed_set_balanced_seeded_and_without_replacement():
    train = [{"id": str(i), "text": f"t{i}", "label": "ab"[i % 2]} for i in range(40)]
    a = draw_seed_set(train, ["a", "b"], 10, seed=1)
    assert a == draw_seed_set(train, ["a", "b"], 10, seed=1)
    assert a != draw_seed_set(train, ["a", "b"], 10, seed=2)
    assert Counter(s["label"] for s in a) == {"a": 10, "b": 10}
    assert len({s["id"] for s in a}) == 20
    assert [s["seed_idx"] for s in a] == list(range(20))
    with pytest.raises(DataError, match="label 'a' has 20 training examples"):
        draw_seed_set(train, ["a", "b"], 25, seed=1)
    rep = draw_seed_set(train, ["a", "b"], 25, seed=1, with_replacement=True)
    assert len(rep) == 50 and len({s["id"] for s in rep}) < 50


def test_bbc_embedded_split_is_disjoint_and_uses_ledes():
    parts = bbc_split()
    assert not {r["id"] for r in parts["test"]} & {r["id"] for r in parts["pool"]}
    assert len(parts["test"]) + len(parts["pool"]) == 2225
    cfg = _cfg(source="bbc_embedded", labels={k: k for k in ("business", "entertainment", "politics", "sport", "tech")})
    splits = load_splits(cfg, "unused")
    assert len(splits["test"]) >= 550
    assert max(len(r["text"].split()) for r in splits["train"]) < 80  # first sentences, not whole articles
