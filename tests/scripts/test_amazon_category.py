"""prepare_amazon_category.py: Blitzer pseudo-XML parsing, category merge/filter, seeded splits."""
import tarfile
from collections import Counter

import pytest


@pytest.fixture
def archive(fixtures_dir, tmp_path):
    path = tmp_path / "unprocessed.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(fixtures_dir / "blitzer" / "sorted_data", arcname="sorted_data")
    return path


def _rows(read_jsonl, folder):
    return {s: read_jsonl(folder / f"{s}.jsonl") for s in ("train", "test", "validation")}


def test_reviews_are_parsed_merged_and_split(archive, run_recipe, fixtures_dir, tmp_path, read_jsonl):
    code, _, err = run_recipe("amazon_category", "--input", archive, "--out", tmp_path / "a",
                              "--train-size", "4", "--test-size", "2")
    assert code == 0, err
    splits = _rows(read_jsonl, tmp_path / "a")
    assert [len(splits[s]) for s in ("train", "test", "validation")] == [4, 2, 2]
    rows = [r for rs in splits.values() for r in rs]
    # dvd dropped; grocery + gourmet_food merged; the review without text skipped
    assert Counter(r["label"] for r in rows) == {"books": 3, "grocery_and_gourmet_food": 2, "electronics": 3}
    assert len({r["id"] for r in rows}) == 8
    by_id = {r["id"]: r for r in rows}
    book = by_id["0312950314:gripping_from_page_one:a._reader"]
    assert book["text"] == "I read this in one sitting. The characters are vivid & the plot never lets up."
    assert (book["title"], book["sentiment"], book["product_name"]) == (
        "Gripping from page one", "positive", "The Salt Road: Books: J. Doe")
    gift, radio = by_id["0312950316:a_gift_for_my_mother:c._buyer"], by_id["B0001ELEC1:loud_and_clear:g._listener"]
    assert gift["text"] == "Bought it as a gift; she <3 it & reads it daily."
    assert radio["text"] == "Good reception even indoors, and the battery lasts."
    assert by_id["B0001GOUR1:stale_chocolate:e._taster"]["sentiment"] == "negative"
    # the extracted folder gives the same splits; another seed another assignment
    code, _, err = run_recipe("amazon_category", "--input", fixtures_dir / "blitzer", "--out", tmp_path / "b",
                              "--train-size", "4", "--test-size", "2")
    assert code == 0, err
    assert _rows(read_jsonl, tmp_path / "b") == splits
    run_recipe("amazon_category", "--input", archive, "--out", tmp_path / "c", "--train-size", "4", "--test-size", "2",
               "--seed", "3")
    assert {r["id"] for r in _rows(read_jsonl, tmp_path / "c")["train"]} != {r["id"] for r in splits["train"]}


def test_files_option_and_errors(archive, run_recipe, tmp_path, read_jsonl):
    code, _, err = run_recipe("amazon_category", "--input", archive, "--out", tmp_path / "o", "--files", "unlabeled",
                              "--train-size", "1", "--test-size", "1")
    assert code == 0, err
    rows = [r for rs in _rows(read_jsonl, tmp_path / "o").values() for r in rs]
    assert {r["sentiment"] for r in rows} == {"unlabeled"} and len(rows) == 3
    code, _, err = run_recipe("amazon_category", "--input", archive, "--out", tmp_path / "p")
    assert code == 2 and "8 reviews" in err  # default sizes 30,000 + 2,400
    code, _, err = run_recipe("amazon_category", "--input", tmp_path / "unprocessed.tar.bz2", "--out", tmp_path / "p")
    assert code == 2 and "unprocessed.tar.gz" in err and "mdredze/datasets/sentiment" in err
    assert not (tmp_path / "p").exists()
