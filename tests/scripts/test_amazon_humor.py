"""prepare_amazon_humor.py: per-class train/validation sizes, test = rest, errors."""
import shutil
from collections import Counter


def test_per_class_splits(run_recipe, fixtures_dir, tmp_path, read_jsonl):
    code, _, err = run_recipe("amazon_humor", "--input", fixtures_dir / "amazon_humor", "--out", tmp_path / "o",
                              "--train-per-class", "3", "--validation-per-class", "1")
    assert code == 0, err
    splits = {s: read_jsonl(tmp_path / "o" / f"{s}.jsonl") for s in ("train", "validation", "test")}
    assert Counter(r["label"] for r in splits["train"]) == {"humorous": 3, "non_humorous": 3}
    assert Counter(r["label"] for r in splits["validation"]) == {"humorous": 1, "non_humorous": 1}
    # 5 humorous questions (one row has an empty question), 6 non-humorous: the rest is test
    assert Counter(r["label"] for r in splits["test"]) == {"humorous": 1, "non_humorous": 2}
    rows = [r for rs in splits.values() for r in rs]
    assert len({r["id"] for r in rows}) == len(rows) == 11
    horse = next(r for r in rows if r["text"].startswith("Does it come with a certificate"))
    assert horse["label"] == "humorous" and horse["product_description"] == "Horse Head Mask, latex"
    assert all(r["text"] for r in rows)


def test_missing_file_and_too_few_rows(run_recipe, fixtures_dir, tmp_path):
    folder = tmp_path / "humor"
    folder.mkdir()
    shutil.copy(fixtures_dir / "amazon_humor" / "Humorous.csv", folder)
    code, _, err = run_recipe("amazon_humor", "--input", folder, "--out", tmp_path / "o")
    assert code == 2 and "Non-humorous-biased.csv" in err and "humor-detection-pds" in err
    code, _, err = run_recipe("amazon_humor", "--input", fixtures_dir / "amazon_humor", "--out", tmp_path / "o")
    assert code == 2 and "'humorous' has 5 usable rows" in err  # default 7,500 per class
    assert not (tmp_path / "o").exists()
