#!/usr/bin/env python
"""Times of India headlines (Harvard Dataverse doi:10.7910/DVN/DPQMQH) -> the dataset toi_headlines.

label = first part of headline_category after removing a leading "home." ("city.mumbai" -> "city");
only the 10 labels below and headlines of at least --min-chars characters are kept.
As in the reference: the file is first sampled to a balanced label distribution (every label cut to the
size of the smallest one), then train (balanced) and test (balanced) are drawn from that sample and
validation is the rest of it (or --validation-size rows). Sampling is seeded and done in two passes with one
byte of state per row (see _common.SplitAssigner), so memory stays bounded. Rows keep their file order.
Output: <out>/{train,test,validation}.jsonl with fields id, text, label, category, publish_date.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (SplitAssigner, SplitWriters, atomic_dir, check_md5, fail, iter_csv,  # noqa: E402
                     normalize_ws, output_dir, per_label, raw_path, require_file, write_stats)

NAME = "toi_headlines"
LABELS = ("sports", "life-style", "education", "entertainment", "business", "city", "environment", "tech",
          "elections", "world")
COLUMNS = ("publish_date", "headline_category", "headline_text")
HOW_TO_GET = ("download india-news-headlines.csv from Harvard Dataverse doi:10.7910/DVN/DPQMQH "
              "(https://dataverse.harvard.edu/dataset.xhtml?persistentId=doi:10.7910/DVN/DPQMQH) "
              "and pass --input PATH/india-news-headlines.csv")


def label_of(category: str) -> str:
    return category.strip().lower().removeprefix("home.").split(".")[0]


def iter_rows(path: Path, min_chars: int):
    """Yield (row_number, label, headline, row) for the rows kept (label in LABELS, headline long enough)."""
    for row_no, row in enumerate(iter_csv(path, COLUMNS, desc=NAME)):
        label = label_of(row["headline_category"])
        text = normalize_ws(row["headline_text"])
        if label in LABELS and len(text) >= min_chars:
            yield row_no, label, text, row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=raw_path(NAME, "india-news-headlines.csv"),
                        help="india-news-headlines.csv; default $SYNTHESIZRR_RAW_ROOT/toi_headlines/")
    parser.add_argument("--out", help=f"output folder (default: $SYNTHESIZRR_DATA_ROOT/{NAME})")
    parser.add_argument("--md5", help="expected md5 of the CSV (checked when given)")
    parser.add_argument("--train-size", type=int, default=52_000, help="balanced train rows in total")
    parser.add_argument("--test-size", type=int, default=10_000, help="balanced test rows in total")
    parser.add_argument("--validation-size", type=int, default=None,
                        help="balanced validation rows in total (default: the rest of the balanced sample)")
    parser.add_argument("--min-chars", type=int, default=40, help="drop shorter headlines")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    path = require_file(args.input, HOW_TO_GET)
    check_md5(path, args.md5)
    out = output_dir(args.out, "data", NAME)

    counts = dict.fromkeys(LABELS, 0)
    for _, label, *_ in iter_rows(path, args.min_chars):
        counts[label] += 1
    balanced = min(counts.values())
    n_train = per_label(args.train_size, len(LABELS), "--train-size")
    n_test = per_label(args.test_size, len(LABELS), "--test-size")
    n_val = (balanced - n_train - n_test if args.validation_size is None
             else per_label(args.validation_size, len(LABELS), "--validation-size"))
    if n_val < 0 or n_train + n_test + n_val > balanced:
        empty = [lab for lab, n in counts.items() if n == balanced]
        fail(f"the balanced sample has {balanced} rows per label (smallest: {', '.join(empty)}), fewer than "
             f"train {n_train} + test {n_test} + validation {max(n_val, 0)} per label; lower the sizes")
    quota = {"train": n_train, "test": n_test, "validation": n_val}
    assign = SplitAssigner(counts, {label: quota for label in LABELS}, args.seed)

    with atomic_dir(out) as tmp, SplitWriters(tmp, quota) as writers:
        for row_no, label, text, row in iter_rows(path, args.min_chars):
            split = assign(label)
            if split:
                writers.write(split, {"id": f"toi-{row_no}", "text": text, "label": label,
                                      "category": row["headline_category"], "publish_date": row["publish_date"]})
        write_stats(tmp, {"kept_per_label": counts, "balanced_per_label": balanced, "splits": writers.counts,
                          "seed": args.seed, "min_chars": args.min_chars, "source": str(path)})
    print(json.dumps({"out": str(out), "splits": writers.counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
