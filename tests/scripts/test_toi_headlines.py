"""prepare_toi_headlines.py: label rule, length filter, balanced seeded splits, errors, a 200k-row input."""
import csv
import json
import time
from collections import Counter

LABELS = {"sports", "life-style", "education", "entertainment", "business", "city", "environment", "tech",
          "elections", "world"}


def _splits(read_jsonl, folder):
    return {s: read_jsonl(folder / f"{s}.jsonl") for s in ("train", "test", "validation")}


def test_labels_filter_and_balanced_splits(run_recipe, fixtures_dir, tmp_path, read_jsonl):
    args = ["--input", fixtures_dir / "india-news-headlines.csv", "--train-size", "10", "--test-size", "10"]
    code, _, err = run_recipe("toi_headlines", *args, "--out", tmp_path / "a")
    assert code == 0, err
    splits = _splits(read_jsonl, tmp_path / "a")
    for name, rows in splits.items():  # the smallest label has 3 headlines: 1 train, 1 test, 1 validation each
        assert Counter(r["label"] for r in rows) == {label: 1 for label in LABELS}, name
    all_rows = [r for rows in splits.values() for r in rows]
    assert len({r["id"] for r in all_rows}) == 30
    assert all(len(r["text"]) >= 40 for r in all_rows)
    assert {r["category"] for r in all_rows if r["label"] == "education"} == {
        "home.education.news", "education.news", "home.education.competitive-exams"}
    assert not {"Dhoni retires", "Phone launch today"} & {r["text"] for r in all_rows}
    assert sum(r["label"] == "sports" for r in all_rows) == 3  # 4 long sports headlines, cut to the balanced 3
    # business has exactly 3 headlines, so all are kept; the quoted comma survived CSV parsing
    assert "Income tax: five deductions salaried employees often forget to claim, explained" in {
        r["text"] for r in all_rows if r["label"] == "business"}
    # same seed -> same output, another seed -> another assignment
    run_recipe("toi_headlines", *args, "--out", tmp_path / "b")
    assert _splits(read_jsonl, tmp_path / "b") == splits
    run_recipe("toi_headlines", *args, "--out", tmp_path / "c", "--seed", "1")
    assert _splits(read_jsonl, tmp_path / "c") != splits


def test_size_errors_and_missing_input(run_recipe, fixtures_dir, tmp_path):
    csv_path = fixtures_dir / "india-news-headlines.csv"
    code, _, err = run_recipe("toi_headlines", "--input", csv_path, "--out", tmp_path / "o", "--train-size", "15")
    assert code == 2 and "multiple of the 10 labels" in err
    code, _, err = run_recipe("toi_headlines", "--input", csv_path, "--out", tmp_path / "o", "--train-size", "20",
                              "--test-size", "20")
    assert code == 2 and "3 rows per label" in err
    missing = tmp_path / "india-news-headlines.csv"
    code, _, err = run_recipe("toi_headlines", "--input", missing, "--out", tmp_path / "o")
    assert code == 2 and "india-news-headlines.csv" in err and "10.7910/DVN/DPQMQH" in err
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("date,category,headline\n20010101,sports.cricket,India win the toss and choose to bat first\n")
    code, _, err = run_recipe("toi_headlines", "--input", wrong, "--out", tmp_path / "o")
    assert code == 2 and "publish_date" in err and "headline_text" in err
    assert not (tmp_path / "o").exists()


def test_large_skewed_input_is_balanced(run_recipe, tmp_path, read_jsonl):
    """200k rows with skewed labels: every split is exactly balanced and disjoint; runs in seconds."""
    weights = {"sports": 40, "city": 30, "business": 20, "entertainment": 20, "life-style": 10, "tech": 10,
               "education": 6, "environment": 5, "elections": 5, "world": 4}
    cycle = [label for label, w in weights.items() for _ in range(w)] + ["india", "unknown"]
    big = tmp_path / "india-news-headlines.csv"
    written = Counter()
    with open(big, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["publish_date", "headline_category", "headline_text"])
        for i in range(200_000):
            label = cycle[i % len(cycle)]
            written[label] += 1
            headline = f"Headline number {i} about {label}, long enough"
            writer.writerow([20010101 + i % 28, f"{label}.sub{i % 3}", headline])
    start = time.time()
    code, _, err = run_recipe("toi_headlines", "--input", big, "--out", tmp_path / "o", "--train-size", "20000",
                              "--test-size", "5000")
    assert code == 0, err
    assert time.time() - start < 30
    splits = _splits(read_jsonl, tmp_path / "o")
    smallest = written["world"]
    assert Counter(r["label"] for r in splits["train"]) == {label: 2000 for label in LABELS}
    assert Counter(r["label"] for r in splits["test"]) == {label: 500 for label in LABELS}
    assert Counter(r["label"] for r in splits["validation"]) == {label: smallest - 2500 for label in LABELS}
    ids = [r["id"] for rows in splits.values() for r in rows]
    assert len(ids) == len(set(ids))
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert stats["balanced_per_label"] == smallest
    # the sample is spread over the file, not its head
    assert max(int(r["id"].split("-")[1]) for r in splits["train"]) > 150_000
