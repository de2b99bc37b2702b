#!/usr/bin/env python
"""Blitzer et al. Multi-Domain Sentiment Dataset (unprocessed) -> the dataset amazon_category (product category).

Reads unprocessed.tar.gz (streamed with tarfile) or the extracted folder; uses
sorted_data/<category>/<kind>.review for kind in --files (default positive, negative, unlabeled).
The .review files are pseudo-XML (<review> ... <review_text> ... </review_text> ... </review>, one tag per line,
unescaped text), parsed line by line. grocery and gourmet_food are merged into grocery_and_gourmet_food; only
the 23 categories in CATEGORIES are kept (dvd is dropped: the reference label set has video, not dvd).
Seeded random split over all kept reviews: train --train-size, test --test-size, validation = the rest.
Output: <out>/{train,test,validation}.jsonl with fields id, text, label, title, product_name, sentiment.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import tarfile
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (SplitAssigner, SplitWriters, atomic_dir, check_md5, fail, iter_lines, normalize_ws,  # noqa: E402
                     output_dir, raw_path, require_file, strip_html, write_stats)

NAME = "amazon_category"
CATEGORIES = (
    "apparel", "automotive", "baby", "beauty", "books", "camera_&_photo", "cell_phones_&_service",
    "computer_&_video_games", "electronics", "grocery_and_gourmet_food", "health_&_personal_care",
    "jewelry_&_watches", "kitchen_&_housewares", "magazines", "music", "musical_instruments", "office_products",
    "outdoor_living", "software", "sports_&_outdoors", "tools_&_hardware", "toys_&_games", "video",
)
MERGED = {"grocery": "grocery_and_gourmet_food", "gourmet_food": "grocery_and_gourmet_food"}
HOW_TO_GET = ("download unprocessed.tar.gz (Multi-Domain Sentiment Dataset, Blitzer, Dredze & Pereira 2007) from "
              "https://www.cs.jhu.edu/~mdredze/datasets/sentiment/ and pass --input PATH/unprocessed.tar.gz "
              "(or the extracted folder holding sorted_data/)")
_TAG = re.compile(r"<(/?)([A-Za-z_]+)>")
_INLINE = re.compile(r"<([A-Za-z_]+)>(.*)</\1>")


def iter_reviews(lines):
    """Yield one dict per <review>: tag -> text. The first occurrence of a repeated tag wins."""
    review, field, buf = None, None, []
    for line in lines:
        stripped = line.strip()
        if stripped == "<review>":
            review, field = {}, None
        elif stripped == "</review>":
            if review is not None:
                yield review
            review = None
        elif review is None:
            continue
        elif field is None:
            inline, tag = _INLINE.fullmatch(stripped), _TAG.fullmatch(stripped)
            if inline:
                review.setdefault(inline.group(1), inline.group(2).strip())
            elif tag and not tag.group(1):
                field, buf = tag.group(2), []
        elif stripped == f"</{field}>":
            review.setdefault(field, "\n".join(buf).strip())
            field = None
        else:
            buf.append(line.rstrip("\r\n"))


def label_and_kind(member: str, kinds: set[str]):
    """('books', 'positive') for '.../sorted_data/books/positive.review'; None for files not wanted."""
    parts = PurePosixPath(member).parts
    if len(parts) < 2 or not parts[-1].endswith(".review") or parts[-1][:-len(".review")] not in kinds:
        return None
    label = MERGED.get(parts[-2], parts[-2])
    return (label, parts[-1][:-len(".review")]) if label in CATEGORIES else None


@contextlib.contextmanager
def _review_files(source: Path, kinds: set[str]):
    """Yield an iterator of (label, kind, binary file, size), in a fixed order, from a tar archive or a folder."""
    if source.is_dir():
        def from_folder():
            for path in sorted(source.rglob("*.review")):
                found = label_and_kind(path.relative_to(source).as_posix(), kinds)
                if found:
                    with open(path, "rb") as f:
                        yield (*found, f, path.stat().st_size)
        yield from_folder()
        return
    try:
        tar = tarfile.open(source, "r|*")  # streaming mode: members are read in archive order, no seeking
    except tarfile.TarError as exc:
        fail(f"{source} is not a readable tar archive ({exc}); {HOW_TO_GET}")
    with tar:
        def from_tar():
            for member in tar:
                found = label_and_kind(member.name, kinds) if member.isfile() else None
                if found:
                    yield (*found, tar.extractfile(member), member.size)
        yield from_tar()


def iter_examples(source: Path, kinds: set[str]):
    """Yield (label, kind, review dict) for every kept review with a non-empty text."""
    with _review_files(source, kinds) as files:
        for label, kind, fileobj, size in files:
            for review in iter_reviews(iter_lines(fileobj, desc=f"{label}/{kind}", total=size)):
                text = normalize_ws(strip_html(review.get("review_text", "")))
                if text:
                    yield label, kind, text, review


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=raw_path(NAME, "unprocessed.tar.gz"),
                        help="unprocessed.tar.gz or the folder it was extracted to; "
                             "default $SYNTHESIZRR_RAW_ROOT/amazon_category/")
    parser.add_argument("--out", help=f"output folder (default: $SYNTHESIZRR_DATA_ROOT/{NAME})")
    parser.add_argument("--md5", help="expected md5 of the archive (checked when given)")
    parser.add_argument("--files", nargs="+", default=["positive", "negative", "unlabeled"],
                        help="which <kind>.review files of each category to read")
    parser.add_argument("--train-size", type=int, default=30_000)
    parser.add_argument("--test-size", type=int, default=2_400)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    source = Path(args.input)
    if not source.is_dir():
        require_file(source, HOW_TO_GET)
        check_md5(source, args.md5)
    out = output_dir(args.out, "data", NAME)
    kinds = set(args.files)

    per_label = dict.fromkeys(CATEGORIES, 0)
    for label, *_ in iter_examples(source, kinds):
        per_label[label] += 1
    total = sum(per_label.values())
    if total == 0:
        fail(f"no reviews found in {source} (expected sorted_data/<category>/{{{','.join(sorted(kinds))}}}.review)")
    rest = total - args.train_size - args.test_size
    if rest < 0:
        fail(f"{source} has {total} reviews, fewer than --train-size {args.train_size} + "
             f"--test-size {args.test_size}; lower the sizes")
    assign = SplitAssigner({"all": total}, {"all": {"train": args.train_size, "test": args.test_size,
                                                    "validation": rest}}, args.seed)

    with atomic_dir(out) as tmp, SplitWriters(tmp, ("train", "test", "validation")) as writers:
        for label, kind, text, review in iter_examples(source, kinds):
            split = assign("all")
            writers.write(split, {"id": review.get("unique_id", ""), "text": text, "label": label,
                                  "title": normalize_ws(review.get("title", "")),
                                  "product_name": normalize_ws(review.get("product_name", "")), "sentiment": kind})
        write_stats(tmp, {"reviews_per_label": per_label, "splits": writers.counts, "files": sorted(kinds),
                          "seed": args.seed, "source": str(source)})
    print(json.dumps({"out": str(out), "reviews": total, "splits": {s: sum(c.values())
                                                                     for s, c in writers.counts.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
