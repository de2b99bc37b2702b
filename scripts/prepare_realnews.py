#!/usr/bin/env python
"""RealNews (Grover) -> the retrieval corpora realnews_india, realnews_regional and realnews_dominant.

One streaming pass over realnews.jsonl; each article goes to every partition it belongs to:
  realnews_india     its domain is in the "india" list
  realnews_regional  its domain is in the "regional" list (a superset of "india")
  realnews_dominant  its domain is NOT in the "regional" list
Output: <out>/<partition>/<partition>-00000.jsonl ... with fields id, text, title, url, domain, publish_date.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (JsonlWriter, atomic_dir, fail, iter_lines, json_record, normalize_ws,  # noqa: E402
                     output_dir, raw_path, require_file, write_stats)

PARTITIONS = ("india", "regional", "dominant")
DEFAULT_DOMAINS = Path(__file__).resolve().parent / "data" / "realnews_domains.json"
HOW_TO_GET = ("RealNews needs a request form "
              "(https://docs.google.com/forms/d/1LMAUeUtHNPXO9koyAIlDpvyKsLSYlrBj3rYhC30a7Ak, linked from "
              "https://github.com/rowanz/grover); from the Google Cloud bucket you are given, download "
              "the RealNews archive, extract realnews.jsonl and pass --input PATH/realnews.jsonl")


def load_domains(path: Path) -> dict[str, frozenset]:
    """{'india': ..., 'regional': ...} from a JSON file with those two lists; regional always contains india."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        india = {d.lower().removeprefix("www.") for d in doc["india"]}
        regional = {d.lower().removeprefix("www.") for d in doc["regional"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        fail(f"bad --domains-file {path}: needs a JSON object with lists 'india' and 'regional' ({exc})")
    return {"india": frozenset(india), "regional": frozenset(regional | india)}


def article_hosts(article: dict) -> list[str]:
    """The article's domain field and its URL host, without 'www.', each with all its parent domains."""
    hosts = {str(article.get("domain") or "").lower(), (urlsplit(str(article.get("url") or "")).hostname or "")}
    names = set()
    for host in hosts:
        parts = host.removeprefix("www.").split(".")
        names.update(".".join(parts[i:]) for i in range(len(parts) - 1))
    names.discard("")
    return sorted(names)


def partitions_of(article: dict, domains: dict[str, frozenset]) -> list[str]:
    hosts = article_hosts(article)
    in_india = any(h in domains["india"] for h in hosts)
    in_regional = in_india or any(h in domains["regional"] for h in hosts)
    return (["india"] if in_india else []) + (["regional"] if in_regional else ["dominant"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=raw_path("realnews", "realnews.jsonl"),
                        help="Grover realnews.jsonl (.gz/.bz2/.xz also read); default $SYNTHESIZRR_RAW_ROOT/realnews/")
    parser.add_argument("--out", help="corpus root; partitions go to <out>/realnews_<partition>/ "
                                      "(default: $SYNTHESIZRR_CORPUS_ROOT)")
    parser.add_argument("--partitions", nargs="+", choices=PARTITIONS, default=list(PARTITIONS))
    parser.add_argument("--domains-file", type=Path, default=DEFAULT_DOMAINS,
                        help="JSON with lists 'india' and 'regional' (default: scripts/data/realnews_domains.json)")
    parser.add_argument("--max-docs", type=int, default=None, help="stop after this many input articles")
    parser.add_argument("--shard-size", type=int, default=1_000_000, help="articles per output JSONL file")
    parser.add_argument("--min-chars", type=int, default=1, help="skip articles whose text is shorter")
    args = parser.parse_args(argv)

    path = require_file(args.input, HOW_TO_GET)
    domains = load_domains(args.domains_file)
    root = Path(args.out) if args.out else output_dir(None, "corpus", "")
    counts = dict.fromkeys(args.partitions, 0)
    skipped = {"malformed": 0, "short": 0}
    with contextlib.ExitStack() as stack:
        folders = {p: stack.enter_context(atomic_dir(root / f"realnews_{p}")) for p in args.partitions}
        writers = {p: stack.enter_context(JsonlWriter(folders[p], f"realnews_{p}", args.shard_size))
                   for p in args.partitions}
        for line_no, line in enumerate(iter_lines(path, desc="realnews")):
            if args.max_docs is not None and line_no >= args.max_docs:
                break
            article = json_record(line, line_no, path, "text", "RealNews JSONL", skipped)
            if article is None:
                continue
            text = normalize_ws(str(article.get("text") or ""), keep_newlines=True)
            if len(text) < args.min_chars:
                skipped["short"] += 1
                continue
            record = {"id": f"realnews-{line_no}", "text": text, "title": article.get("title"),
                      "url": article.get("url"), "domain": article.get("domain"),
                      "publish_date": article.get("publish_date")}
            for partition in partitions_of(article, domains):
                if partition in writers:
                    writers[partition].write(record)
                    counts[partition] += 1
        for p in args.partitions:
            write_stats(folders[p], {"docs": counts[p], "skipped": skipped, "source": str(path),
                                     "domains_file": str(args.domains_file), "max_docs": args.max_docs})
    print(json.dumps({"out": str(root), "docs": counts, "skipped": skipped}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
