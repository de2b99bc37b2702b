#!/usr/bin/env python
"""Amazon product-question humor detection (AWS Open Data "humor-detection") -> the dataset amazon_humor.

Humorous.csv -> label humorous, Non-humorous-biased.csv -> label non_humorous; text = the question.
Per class, seeded: train --train-per-class rows, validation --validation-per-class rows, test = the rest.
Two passes over the CSVs (count, then assign) with one byte of state per row.
Output: <out>/{train,validation,test}.jsonl with fields id, text, label, product_description, image_url.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (SplitAssigner, SplitWriters, atomic_dir, iter_csv, normalize_ws, output_dir,  # noqa: E402
                     raw_path, require_file, write_stats)

NAME = "amazon_humor"
FILES = {"humorous": "Humorous.csv", "non_humorous": "Non-humorous-biased.csv"}
HOW_TO_GET = ("download Humorous.csv and Non-humorous-biased.csv from the AWS Open Data bucket "
              "s3://humor-detection-pds/ (https://registry.opendata.aws/humor-detection/; e.g. "
              "aws s3 cp --no-sign-request s3://humor-detection-pds/Humorous.csv .) into one folder and pass "
              "--input FOLDER")


def iter_rows(folder: Path):
    """Yield (label, row_number_in_file, question, row) for every row with a non-empty question."""
    for label, file_name in FILES.items():
        for row_no, row in enumerate(iter_csv(folder / file_name, ["question"], desc=file_name)):
            text = normalize_ws(row["question"])
            if text:
                yield label, row_no, text, row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=raw_path(NAME),
                        help="folder with Humorous.csv and Non-humorous-biased.csv; "
                             "default $SYNTHESIZRR_RAW_ROOT/amazon_humor/")
    parser.add_argument("--out", help=f"output folder (default: $SYNTHESIZRR_DATA_ROOT/{NAME})")
    parser.add_argument("--train-per-class", type=int, default=7_500)
    parser.add_argument("--validation-per-class", type=int, default=571)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    for file_name in FILES.values():
        require_file(args.input / file_name, HOW_TO_GET)
    out = output_dir(args.out, "data", NAME)

    counts = dict.fromkeys(FILES, 0)
    for label, *_ in iter_rows(args.input):
        counts[label] += 1
    quotas = {label: {"train": args.train_per_class, "validation": args.validation_per_class,
                      "test": n - args.train_per_class - args.validation_per_class}
              for label, n in counts.items()}
    for label, quota in quotas.items():
        quota["test"] = max(quota["test"], 0)  # too few rows: SplitAssigner reports it
    assign = SplitAssigner(counts, quotas, args.seed)

    with atomic_dir(out) as tmp, SplitWriters(tmp, ("train", "validation", "test")) as writers:
        for label, row_no, text, row in iter_rows(args.input):
            split = assign(label)
            if split:
                writers.write(split, {"id": f"{label}-{row_no}", "text": text, "label": label,
                                      "product_description": normalize_ws(row.get("product_description", "")),
                                      "image_url": row.get("image_url", "")})
        write_stats(tmp, {"rows_per_label": counts, "splits": writers.counts, "seed": args.seed,
                          "source": str(args.input)})
    print(json.dumps({"out": str(out), "splits": writers.counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
