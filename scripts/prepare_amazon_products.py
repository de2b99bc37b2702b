#!/usr/bin/env python
"""Amazon Review Data (2018) product metadata -> the retrieval corpus amazon_products.

Streams All_Amazon_Meta.json (one JSON object per line), keeps the first record of each asin, and builds
  text = the title and each description item, one per line (each item HTML-stripped, "1.Item" -> "1. Item",
         whitespace collapsed, empty items dropped).
Duplicate asins are tracked in an on-disk SQLite table (the ~15M asins would need ~1 GB as a Python set).
Output: <out>/amazon_products-00000.jsonl ... with fields id (asin), text, title.
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (JsonlWriter, atomic_dir, check_md5, iter_lines, json_record, normalize_ws,  # noqa: E402
                     output_dir, raw_path, require_file, space_list_numbers, strip_html, write_stats)

NAME = "amazon_products"
HOW_TO_GET = ("fill the request form at https://nijianmo.github.io/amazon/index.html (Amazon Review Data 2018), "
              "download the complete metadata file All_Amazon_Meta.json (or .json.gz) and pass --input PATH")


class SeenAsins:
    """A set of strings kept in a temporary SQLite file: bounded memory whatever the number of products."""

    def __init__(self, path: Path):
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache
        self.db.execute("CREATE TABLE seen (asin TEXT PRIMARY KEY) WITHOUT ROWID")

    def add(self, asin: str) -> bool:
        """True if asin is new (and remember it)."""
        return self.db.execute("INSERT OR IGNORE INTO seen VALUES (?)", (asin,)).rowcount == 1

    def close(self):
        self.db.close()


def clean_item(item) -> str:
    return normalize_ws(space_list_numbers(strip_html(str(item))), keep_newlines=True)


def product_text(product: dict) -> tuple[str, str]:
    """(text, title): the cleaned title and description items, one per line."""
    description = product.get("description") or []
    if isinstance(description, str):
        description = [description]
    title = clean_item(product.get("title") or "")
    items = [title] + [clean_item(d) for d in description]
    return "\n".join(i for i in items if i), title


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=raw_path("amazon_products", "All_Amazon_Meta.json"),
                        help="All_Amazon_Meta.json (.gz also read); default $SYNTHESIZRR_RAW_ROOT/amazon_products/")
    parser.add_argument("--out", help=f"output folder (default: $SYNTHESIZRR_CORPUS_ROOT/{NAME})")
    parser.add_argument("--md5", help="expected md5 of the input file (checked when given)")
    parser.add_argument("--max-docs", type=int, default=None, help="stop after this many input lines")
    parser.add_argument("--shard-size", type=int, default=1_000_000, help="products per output JSONL file")
    args = parser.parse_args(argv)

    path = require_file(args.input, HOW_TO_GET)
    check_md5(path, args.md5)
    out = output_dir(args.out, "corpus", NAME)
    stats = {"lines": 0, "docs": 0, "duplicate_asin": 0, "no_asin": 0, "empty_text": 0, "malformed": 0}
    with atomic_dir(out) as tmp:
        seen = SeenAsins(tmp / "seen_asins.sqlite")
        with JsonlWriter(tmp, NAME, args.shard_size) as writer:
            for line_no, line in enumerate(iter_lines(path, desc=NAME)):
                if args.max_docs is not None and line_no >= args.max_docs:
                    break
                stats["lines"] += 1
                product = json_record(line, line_no, path, "asin", "Amazon 2018 metadata", stats)
                if product is None:
                    continue
                asin = str(product.get("asin") or "").strip()
                if not asin:
                    stats["no_asin"] += 1
                    continue
                if not seen.add(asin):
                    stats["duplicate_asin"] += 1
                    continue
                text, title = product_text(product)
                if not text:
                    stats["empty_text"] += 1
                    continue
                writer.write({"id": asin, "text": text, "title": title})
                stats["docs"] += 1
        seen.close()
        (tmp / "seen_asins.sqlite").unlink()
        write_stats(tmp, {**stats, "source": str(path)})
    print(json.dumps({"out": str(out), **stats}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
