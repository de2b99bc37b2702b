#!/usr/bin/env python
"""Amazon Polarity (Zhang et al. 2015) -> the "mini" dataset amazon_polarity.

Balanced, seeded samples as in the reference: train --train-size rows from the source train split, validation
--validation-size rows from the source train rows not used for train, test --test-size rows from the source test
split. Sources, either
  local files  --train-input/--test-input: fastText format ("__label__1 <title>: <review>", __label__1 = negative,
               __label__2 = positive; e.g. Kaggle train.ft.txt.bz2 / test.ft.txt.bz2), or JSONL with text, label
               (negative/positive or 0/1) and optional title;
  a hub id     --hub amazon_polarity (HF datasets; label 0/1, title, content), or a local dataset folder.
text = the review body; the review title is kept in its own field. Two passes, one byte of state per row.
Output: <out>/{train,validation,test}.jsonl with fields id, text, label, title.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (SplitAssigner, SplitWriters, atomic_dir, fail, iter_lines, normalize_ws, output_dir,  # noqa: E402
                     per_label, raw_path, require_file, write_stats)

NAME = "amazon_polarity"
LABELS = ("negative", "positive")
LABEL_NAMES = {"__label__1": "negative", "__label__2": "positive", "0": "negative", "1": "positive",
               "negative": "negative", "positive": "positive"}
HOW_TO_GET = ("download train.ft.txt.bz2 and test.ft.txt.bz2 (Kaggle dataset bittlingmayer/amazonreviews, "
              "fastText format) and pass --train-input/--test-input, or pass --hub amazon_polarity to load the "
              "Hugging Face dataset (needs the hub)")


def _fasttext_row(line: str) -> tuple[str, str, str]:
    """(raw label, title, text) of '__label__2 Great CD: My lovely Pat ...' (title = up to the first ': ')."""
    tag, _, rest = line.strip().partition(" ")
    title, sep, body = rest.partition(": ")
    return (tag, title, body) if sep else (tag, "", rest)


def iter_file(path: Path):
    """Yield (label, title, text) from a fastText-format or JSONL file."""
    jsonl = any(suffix in (".json", ".jsonl") for suffix in path.suffixes)
    for line_no, line in enumerate(iter_lines(path)):
        if not line.strip():
            continue
        try:
            if jsonl:
                row = json.loads(line)
                raw, title, text = str(row["label"]), row.get("title") or "", row["text"]
            else:
                raw, title, text = _fasttext_row(line)
        except (ValueError, KeyError, TypeError):
            fail(f"{path} line {line_no + 1} is neither fastText '__label__N title: text' nor JSONL with text/label")
        if raw not in LABEL_NAMES:
            fail(f"{path} line {line_no + 1} has label {raw!r}; expected one of {', '.join(LABEL_NAMES)}")
        yield LABEL_NAMES[raw], normalize_ws(title), normalize_ws(text)


def iter_hub(hub: str, split: str, cache_dir=None):
    import datasets  # only needed for the hub source

    try:
        ds = datasets.load_dataset(hub, split=split, cache_dir=cache_dir)
    except Exception as exc:  # noqa: BLE001 - any loading problem is reported in one line
        fail(f"cannot load split '{split}' of {hub!r} with datasets ({type(exc).__name__}: {str(exc)[:200]})")
    missing = [c for c in ("label", "title", "content") if c not in ds.column_names]
    if missing:
        fail(f"{hub!r} split '{split}' lacks column(s) {', '.join(missing)}; found {', '.join(ds.column_names)}")
    for row in ds:
        yield LABEL_NAMES[str(row["label"])], normalize_ws(row["title"] or ""), normalize_ws(row["content"] or "")


def sample_split(rows, quotas: dict, seed: int, writers: SplitWriters, prefix: str) -> dict:
    """Two passes over rows() (a callable returning a fresh iterator): count per label, then write the sampled rows."""
    counts = dict.fromkeys(LABELS, 0)
    for label, _, text in rows():
        if text:
            counts[label] += 1
    assign = SplitAssigner(counts, {label: quotas for label in LABELS}, seed)
    index = 0
    for label, title, text in rows():
        if not text:
            continue
        split = assign(label)
        if split:
            writers.write(split, {"id": f"{prefix}-{index}", "text": text, "label": label, "title": title})
        index += 1
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-input", type=Path, default=raw_path(NAME, "train.ft.txt.bz2"),
                        help="source train split (fastText or JSONL); default $SYNTHESIZRR_RAW_ROOT/amazon_polarity/")
    parser.add_argument("--test-input", type=Path, default=raw_path(NAME, "test.ft.txt.bz2"),
                        help="source test split (fastText or JSONL)")
    parser.add_argument("--hub", help="read the splits with datasets.load_dataset(HUB) instead of local files")
    parser.add_argument("--hub-cache-dir", help="datasets cache folder for --hub (default: the datasets default)")
    parser.add_argument("--out", help=f"output folder (default: $SYNTHESIZRR_DATA_ROOT/{NAME})")
    parser.add_argument("--train-size", type=int, default=72_000, help="balanced train rows in total")
    parser.add_argument("--validation-size", type=int, default=3_600, help="balanced validation rows in total")
    parser.add_argument("--test-size", type=int, default=40_000, help="balanced test rows in total")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    if args.hub:
        sources = {split: (lambda split=split: iter_hub(args.hub, split, args.hub_cache_dir))
                   for split in ("train", "test")}
    else:
        train_path = require_file(args.train_input, HOW_TO_GET)
        test_path = require_file(args.test_input, HOW_TO_GET)
        sources = {"train": lambda: iter_file(train_path), "test": lambda: iter_file(test_path)}
    out = output_dir(args.out, "data", NAME)
    train_quota = {"train": per_label(args.train_size, 2, "--train-size"),
                   "validation": per_label(args.validation_size, 2, "--validation-size")}
    test_quota = {"test": per_label(args.test_size, 2, "--test-size")}

    with atomic_dir(out) as tmp, SplitWriters(tmp, ("train", "validation", "test")) as writers:
        source_counts = {"train": sample_split(sources["train"], train_quota, args.seed, writers, "train"),
                         "test": sample_split(sources["test"], test_quota, args.seed, writers, "test")}
        write_stats(tmp, {"source_rows_per_label": source_counts, "splits": writers.counts, "seed": args.seed,
                          "source": args.hub or [str(args.train_input), str(args.test_input)]})
    print(json.dumps({"out": str(out), "splits": writers.counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
