"""prepare_amazon_polarity.py: balanced samples from fastText/JSONL files or a datasets source, errors."""
import bz2
from collections import Counter

import pytest


def _rows(read_jsonl, folder):
    return {s: read_jsonl(folder / f"{s}.jsonl") for s in ("train", "validation", "test")}


def test_balanced_samples_from_fasttext_files(run_recipe, fixtures_dir, tmp_path, read_jsonl):
    train_bz2 = tmp_path / "train.ft.txt.bz2"
    train_bz2.write_bytes(bz2.compress((fixtures_dir / "amazon_polarity" / "train.ft.txt").read_bytes()))
    code, _, err = run_recipe("amazon_polarity", "--train-input", train_bz2,
                              "--test-input", fixtures_dir / "amazon_polarity" / "test.ft.txt", "--out", tmp_path / "o",
                              "--train-size", "10", "--validation-size", "6", "--test-size", "4")
    assert code == 0, err
    splits = _rows(read_jsonl, tmp_path / "o")
    assert Counter(r["label"] for r in splits["train"]) == {"positive": 5, "negative": 5}
    assert Counter(r["label"] for r in splits["validation"]) == {"positive": 3, "negative": 3}
    assert Counter(r["label"] for r in splits["test"]) == {"positive": 2, "negative": 2}
    train_texts = {r["text"] for r in splits["train"]}
    assert not train_texts & {r["text"] for r in splits["validation"]}  # validation = unused train rows
    source_test = (fixtures_dir / "amazon_polarity" / "test.ft.txt").read_text()
    assert all(r["text"] in source_test for r in splits["test"])
    broke = [r for rs in splits.values() for r in rs if r["title"] == "Broke in a week"]
    assert all(r["label"] == "negative" and r["text"].startswith("The handle snapped") for r in broke)
    # all rows: the fastText title ends at the first ": "
    code, _, err = run_recipe("amazon_polarity", "--train-input", train_bz2, "--out", tmp_path / "all",
                              "--test-input", fixtures_dir / "amazon_polarity" / "test.ft.txt", "--train-size", "18",
                              "--validation-size", "0", "--test-size", "6")
    assert code == 0, err
    rows = {r["title"]: r for r in read_jsonl(tmp_path / "all" / "train.jsonl")}
    assert len(rows) == 18 and rows["Title with"]["text"].startswith("a colon: The first")
    assert rows["Works great"] == {
        "id": "train-0", "title": "Works great", "label": "positive",
        "text": "Set it up in five minutes and it has run every day since without a problem."}


def test_real_test_split_sample(run_recipe, shared_dir, fixtures_dir, tmp_path, read_jsonl):
    """The shared file holds the first 6,459 official test reviews as JSONL (text, title, label)."""
    source = shared_dir / "data" / "amazon_polarity" / "test_head6459.jsonl"
    code, _, err = run_recipe("amazon_polarity", "--train-input", fixtures_dir / "amazon_polarity" / "train.ft.txt",
                              "--test-input", source, "--out", tmp_path / "o", "--train-size", "4",
                              "--validation-size", "2", "--test-size", "6000")
    assert code == 0, err
    test = read_jsonl(tmp_path / "o" / "test.jsonl")
    assert Counter(r["label"] for r in test) == {"positive": 3000, "negative": 3000}
    originals = {r["text"]: r["label"] for r in read_jsonl(source)}
    assert all(originals[r["text"]] == r["label"] for r in test)
    assert len({r["text"] for r in test}) >= 5990  # a few duplicate reviews exist upstream
    code, _, err = run_recipe("amazon_polarity", "--train-input", fixtures_dir / "amazon_polarity" / "train.ft.txt",
                              "--test-input", source, "--out", tmp_path / "p", "--train-size", "4",
                              "--validation-size", "2", "--test-size", "6400")
    assert code == 2 and "'negative' has 3137 usable rows" in err


def test_datasets_source(run_recipe, tmp_path, read_jsonl):
    """--hub goes through datasets.load_dataset; a local folder in the HF amazon_polarity schema stands in."""
    pd = pytest.importorskip("pandas")
    folder = tmp_path / "hub"
    folder.mkdir()
    for split, n in (("train", 40), ("test", 20)):
        frame = pd.DataFrame({"label": [i % 2 for i in range(n)], "title": [f"{split} title {i}" for i in range(n)],
                              "content": [f"{split} review number {i}" for i in range(n)]})
        frame.to_parquet(folder / f"{split}.parquet")
    code, _, err = run_recipe("amazon_polarity", "--hub", folder, "--hub-cache-dir", tmp_path / "cache",
                              "--out", tmp_path / "o", "--train-size", "20", "--validation-size", "10",
                              "--test-size", "8")
    assert code == 0, err
    splits = _rows(read_jsonl, tmp_path / "o")
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [20, 10, 8]
    assert all(r["text"].startswith("test review") for r in splits["test"])
    assert all(r["label"] == ("positive" if int(r["text"].split()[-1]) % 2 else "negative")
               for rs in splits.values() for r in rs)


def test_missing_and_malformed_input(run_recipe, fixtures_dir, tmp_path):
    code, _, err = run_recipe("amazon_polarity", "--train-input", tmp_path / "train.ft.txt.bz2",
                              "--test-input", tmp_path / "test.ft.txt.bz2", "--out", tmp_path / "o")
    assert code == 2 and "train.ft.txt.bz2" in err and "--hub amazon_polarity" in err
    bad = tmp_path / "bad.ft.txt"
    bad.write_text("__label__3 Odd: a label that does not exist\n")
    code, _, err = run_recipe("amazon_polarity", "--train-input", bad,
                              "--test-input", fixtures_dir / "amazon_polarity" / "test.ft.txt", "--out", tmp_path / "o")
    assert code == 2 and "__label__3" in err
    code, _, err = run_recipe("amazon_polarity", "--train-input", fixtures_dir / "amazon_polarity" / "train.ft.txt",
                              "--test-input", fixtures_dir / "amazon_polarity" / "test.ft.txt", "--out", tmp_path / "o",
                              "--train-size", "7")
    assert code == 2 and "multiple of the 2 labels" in err
    assert not (tmp_path / "o").exists()
