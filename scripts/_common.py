"""Helpers shared by the data and corpus recipes (scripts/prepare_*.py).

Everything here streams: inputs are read line by line, outputs are written record by record, and
the only per-row state kept is one byte per row for split assignment (see SplitAssigner).
"""
from __future__ import annotations

import bz2
import contextlib
import csv
import gzip
import hashlib
import json
import lzma
import os
import re
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Optional

import numpy as np
from tqdm import tqdm

EXIT_BAD_INPUT = 2
ROOT_VARS = {"data": "SYNTHESIZRR_DATA_ROOT", "corpus": "SYNTHESIZRR_CORPUS_ROOT"}


# ---------------------------------------------------------------- errors, paths, input checks

def fail(message: str) -> None:
    """Stop the recipe with a one-line error and exit code 2."""
    prog = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "recipe"
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)


def json_record(line: str, line_no: int, path, field: str, kind: str, counts: dict) -> dict | None:
    """One JSONL record as a dict. A first line that is not a JSON object, or a first record without `field`,
    stops the recipe naming the file as not `kind`; a later malformed line counts as counts['malformed'] and
    gives None."""
    try:
        record = json.loads(line)
        if not isinstance(record, dict):
            raise ValueError("not an object")
    except ValueError:
        if line_no == 0:
            fail(f"{path} is not {kind}: its first line is not a JSON object")
        counts["malformed"] += 1
        return None
    if line_no == 0 and field not in record:
        fail(f"{path} is not {kind}: its first record lacks the field '{field}'")
    return record


def raw_path(*parts: str) -> Path:
    """Default location of a manually downloaded source: $SYNTHESIZRR_RAW_ROOT (default ./raw)/<parts>."""
    return Path(os.environ.get("SYNTHESIZRR_RAW_ROOT", "raw")).joinpath(*parts)


def output_dir(out: Optional[str], kind: str, name: str) -> Path:
    """--out if given, else $SYNTHESIZRR_DATA_ROOT/<name> (datasets) or $SYNTHESIZRR_CORPUS_ROOT/<name> (corpora)."""
    if out:
        return Path(out)
    var = ROOT_VARS[kind]
    root = os.environ.get(var)
    if not root:
        fail(f"no output folder: pass --out DIR or set {var}")
    return Path(root) / name


def require_file(path: Path, how_to_get: str) -> Path:
    """Exit 2 naming the file and how to get it when `path` is not a readable file."""
    path = Path(path)
    if not path.is_file():
        fail(f"missing input {path}: {how_to_get} (or put it at {path})")
    return path


def check_md5(path: Path, expected: Optional[str]) -> None:
    if not expected:
        return
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected.lower():
        fail(f"md5 of {path} is {digest.hexdigest()}, expected {expected}: re-download the file")


def check_columns(path: Path, header: Iterable[str], required: Iterable[str]) -> None:
    missing = [c for c in required if c not in set(header)]
    if missing:
        fail(f"{path} lacks column(s) {', '.join(missing)}; found {', '.join(header) or 'nothing'}")


# ---------------------------------------------------------------- streaming input

def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:  # old corpora (e.g. Blitzer reviews) mix in latin-1 lines
        return raw.decode("latin-1")


def _decompressor(path: Path, fh: BinaryIO) -> BinaryIO:
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=fh)
    if name.endswith(".bz2"):
        return bz2.BZ2File(fh)
    if name.endswith(".xz"):
        return lzma.LZMAFile(fh)
    return fh


def progress(total: Optional[int] = None, desc: Optional[str] = None, unit: str = "B") -> tqdm:
    """A progress bar on stderr; hidden when stderr is not a terminal (tests, logs)."""
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=None, file=sys.stderr)


def iter_lines(source, desc: Optional[str] = None, total: Optional[int] = None) -> Iterator[str]:
    """Yield decoded lines (line endings kept) from a path (.gz/.bz2/.xz read transparently) or a binary file.

    The bar counts bytes of the file on disk, so it also works for compressed inputs.
    """
    with contextlib.ExitStack() as stack:
        if isinstance(source, (str, Path)):
            path = Path(source)
            fh = stack.enter_context(open(path, "rb"))
            stream = _decompressor(path, fh)
            if stream is not fh:
                stack.enter_context(stream)
            total = path.stat().st_size
            desc = desc or path.name
        else:
            fh = stream = source
        bar = stack.enter_context(progress(total, desc))
        for i, raw in enumerate(stream):
            if i % 4096 == 0:
                bar.update(_position(fh, bar.n) - bar.n)
            yield _decode(raw)
        bar.update(max(0, (total or bar.n) - bar.n))


def iter_csv(path: Path, required: Iterable[str], desc: Optional[str] = None) -> Iterator[dict]:
    """Yield CSV rows as dicts (header names without BOM/spaces); rows with a wrong number of fields are skipped."""
    reader = csv.reader(iter_lines(path, desc=desc))
    header = [h.lstrip("\ufeff").strip() for h in next(reader, [])]
    check_columns(path, header, required)
    for row in reader:
        if len(row) == len(header):
            yield dict(zip(header, row))


def _position(fh, fallback: int) -> int:
    try:
        return fh.tell()
    except (OSError, AttributeError, ValueError):
        return fallback


# ---------------------------------------------------------------- atomic JSONL output

@contextlib.contextmanager
def atomic_dir(out: Path):
    """Yield a staging folder that replaces `out` only when the block finishes without error."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


class JsonlWriter:
    """Write records as JSON lines to <folder>/<name>.jsonl, or to <name>-00000.jsonl, ... of shard_size lines."""

    def __init__(self, folder: Path, name: str, shard_size: Optional[int] = None):
        self.folder, self.name, self.shard_size = Path(folder), name, shard_size
        self.count, self._file, self._shard = 0, None, -1

    def _next_file(self):
        if self._file:
            self._file.close()
        self._shard += 1
        stem = self.name if self.shard_size is None else f"{self.name}-{self._shard:05d}"
        self._file = open(self.folder / f"{stem}.jsonl", "w", encoding="utf-8")

    def write(self, record: dict) -> None:
        if self._file is None or (self.shard_size and self.count % self.shard_size == 0):
            self._next_file()
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._file is None:  # no record: still leave an (empty) file so the output is complete
            self._next_file()
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_stats(folder: Path, stats: dict) -> None:
    (Path(folder) / "stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- text cleaning

_BLOCK_TAGS = {"p", "div", "br", "li", "ul", "ol", "tr", "td", "th", "table", "h1", "h2", "h3", "h4", "h5", "h6",
               "section", "article", "header", "footer", "blockquote", "pre", "hr", "dd", "dt", "dl", "tbody"}
_SKIP_TAGS = {"script", "style"}


class _TextExtractor(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP_TAGS:
            self.skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag, attrs):
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in _SKIP_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def strip_html(text: str) -> str:
    """Drop tags, script/style content and comments, unescape entities; block tags become newlines."""
    if "<" not in text and "&" not in text:
        return text
    parser = _TextExtractor()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


def normalize_ws(text: str, keep_newlines: bool = False) -> str:
    """Collapse runs of whitespace to one space; with keep_newlines, keep one newline between non-empty lines."""
    if not keep_newlines:
        return " ".join(text.split())
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


_LIST_NUMBER = re.compile(r"(?<![\w.])(\d{1,2})\.(?=[^\s\d.,)])")


def space_list_numbers(text: str) -> str:
    """'1.Easy to use' -> '1. Easy to use' (numbered lists glued to their item); decimals are left alone."""
    return _LIST_NUMBER.sub(r"\1. ", text)


# ---------------------------------------------------------------- seeded split assignment in bounded memory

class SplitAssigner:
    """Decide up front, per group (label), which of its rows go to which split; then assign rows as they stream by.

    `counts[group]` is the number of rows the group has (from a first pass); `quotas[group]` maps split -> rows.
    For each group a uniformly random subset of its row positions (numpy Generator seeded once, groups in sorted
    order) is drawn and cut into the quotas; rows outside every quota are dropped. Memory: one byte per row.
    The second pass must see each group's rows in the same order as the first pass.
    """

    def __init__(self, counts: dict, quotas: dict, seed: int):
        rng = np.random.default_rng(seed)
        self.splits: list[str] = []
        for group_quota in quotas.values():
            self.splits += [s for s in group_quota if s not in self.splits]
        self.codes, self.seen = {}, {}
        for group in sorted(quotas):
            n, quota = counts.get(group, 0), quotas[group]
            need = sum(quota.values())
            if need > n:
                fail(f"label '{group}' has {n} usable rows but the requested split sizes need {need}; "
                     f"lower the sizes")
            codes = np.zeros(n, dtype=np.uint8)
            picked = rng.choice(n, size=need, replace=False) if need else np.empty(0, dtype=np.int64)
            start = 0
            for split, k in quota.items():
                codes[picked[start:start + k]] = self.splits.index(split) + 1
                start += k
            self.codes[group], self.seen[group] = codes, 0

    def __call__(self, group) -> Optional[str]:
        """Split of the group's next row, or None when the row is not sampled (or the group is not wanted)."""
        codes = self.codes.get(group)
        if codes is None:
            return None
        i = self.seen[group]
        self.seen[group] = i + 1
        if i >= len(codes):
            fail(f"the input changed between the two passes (more '{group}' rows than counted)")
        code = int(codes[i])
        return self.splits[code - 1] if code else None


def per_label(total: int, n_labels: int, what: str) -> int:
    """Split a balanced total evenly over labels; a total that does not divide is an error."""
    if total % n_labels:
        fail(f"{what} {total} is not a multiple of the {n_labels} labels (balanced splits need equal counts)")
    return total // n_labels


class SplitWriters:
    """One JsonlWriter per split (<folder>/<split>.jsonl) that also counts rows per split and label."""

    def __init__(self, folder: Path, splits: Iterable[str]):
        self.writers = {s: JsonlWriter(folder, s) for s in splits}
        self.counts = {s: {} for s in self.writers}

    def write(self, split: str, record: dict) -> None:
        self.writers[split].write(record)
        label_counts = self.counts[split]
        label_counts[record["label"]] = label_counts.get(record["label"], 0) + 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for writer in self.writers.values():
            writer.close()
