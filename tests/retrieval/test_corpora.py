"""load_corpus on real files: local jsonl/csv/parquet, globs, id/text mapping, the embedded BBC pool, errors."""
from __future__ import annotations

import pandas as pd
import pytest

from synthesizrr.core.config import CorpusConfig
from synthesizrr.corpora import CorpusError, load_corpus
from synthesizrr.core.assets import bbc_split

ROWS = [{"key": f"k{i}", "body": f"document number {i} about topic {i % 3}", "other": i} for i in range(7)]


def cfg(**kw) -> CorpusConfig:
    return CorpusConfig(**{"name": "tmp", "source": "local", **kw})


def test_local_jsonl_maps_columns_and_is_memory_mapped(jsonl, tmp_path):
    jsonl(tmp_path / "c.jsonl", ROWS)
    ds = load_corpus(cfg(path="c.jsonl", text_column="body", id_column="key"), str(tmp_path))
    assert ds.column_names == ["doc_id", "text"]
    assert ds["doc_id"] == [r["key"] for r in ROWS]
    assert ds["text"] == [r["body"] for r in ROWS]
    assert ds.cache_files, "a local corpus must be backed by an arrow file, not held in memory"


def test_ids_default_to_row_numbers_and_max_docs_keeps_a_prefix(jsonl, tmp_path):
    jsonl(tmp_path / "c.jsonl", ROWS)
    ds = load_corpus(cfg(path=str(tmp_path / "c.jsonl"), text_column="body", max_docs=4), "/nonexistent")
    assert ds["doc_id"] == ["0", "1", "2", "3"]
    assert ds["text"] == [r["body"] for r in ROWS[:4]]


def test_glob_over_several_files_keeps_file_order(jsonl, tmp_path):
    jsonl(tmp_path / "part" / "c-00001.jsonl", ROWS[3:])
    jsonl(tmp_path / "part" / "c-00000.jsonl", ROWS[:3])
    ds = load_corpus(cfg(path="part/c-*.jsonl", text_column="body", id_column="key"), str(tmp_path))
    assert ds["doc_id"] == [r["key"] for r in ROWS]


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_csv_and_parquet(tmp_path, ext):
    frame = pd.DataFrame(ROWS)
    path = tmp_path / f"c.{ext}"
    frame.to_csv(path, index=False) if ext == "csv" else frame.to_parquet(path)
    ds = load_corpus(cfg(path=path.name, text_column="body", id_column="other"), str(tmp_path))
    assert ds["doc_id"] == [str(r["other"]) for r in ROWS]
    assert ds["text"][5] == ROWS[5]["body"]


def test_null_text_becomes_empty_string(jsonl, tmp_path):
    jsonl(tmp_path / "c.jsonl", [{"text": "a b c"}, {"text": None}])
    assert load_corpus(cfg(path="c.jsonl"), str(tmp_path))["text"] == ["a b c", ""]


def test_bbc_embedded_is_the_pool_and_never_a_test_article(bbc_pool):
    split = bbc_split()
    test_ids = {r["id"] for r in split["test"]}
    ids = bbc_pool["doc_id"]
    assert len(ids) == len(split["pool"]) == len(set(ids))
    assert not test_ids & set(ids)
    first = split["pool"][0]
    assert bbc_pool[0]["text"].startswith(first["title"]) and first["body"][:50] in bbc_pool[0]["text"]


def test_empty_corpus_is_a_one_line_error_naming_the_file(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"empty\.jsonl has no documents") as err:
        load_corpus(cfg(path="empty.jsonl"), str(tmp_path))
    assert "\n" not in str(err.value)


def test_missing_text_column_names_file_column_and_choices(jsonl, tmp_path):
    jsonl(tmp_path / "c.jsonl", ROWS)
    with pytest.raises(CorpusError, match=r"c\.jsonl has no text column 'text'.*key, body, other") as err:
        load_corpus(cfg(path="c.jsonl"), str(tmp_path))
    assert "\n" not in str(err.value)


def test_missing_id_column_missing_file_and_bad_type(jsonl, tmp_path):
    jsonl(tmp_path / "c.jsonl", ROWS)
    with pytest.raises(CorpusError, match="no id column 'id'"):
        load_corpus(cfg(path="c.jsonl", text_column="body", id_column="id"), str(tmp_path))
    with pytest.raises(CorpusError, match=r"no file matches .*nope-\*\.jsonl"):
        load_corpus(cfg(path="nope-*.jsonl"), str(tmp_path))
    (tmp_path / "c.txt").write_text("x", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"file type \['\.txt'\].*not allowed"):
        load_corpus(cfg(path="c.txt"), str(tmp_path))


def test_hub_source_reads_a_dataset_folder_and_split(jsonl, tmp_path):
    """source=hub calls datasets.load_dataset(path, split=...); a local dataset folder stands in for a hub id."""
    jsonl(tmp_path / "ds" / "train.jsonl", ROWS[:2])
    jsonl(tmp_path / "ds" / "test.jsonl", ROWS[2:])
    ds = load_corpus(cfg(source="hub", path=str(tmp_path / "ds"), split="test", text_column="body"), "")
    assert ds["text"] == [r["body"] for r in ROWS[2:]] and ds["doc_id"] == ["0", "1", "2", "3", "4"]
