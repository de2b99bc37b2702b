"""Load a retrieval corpus as an arrow-backed ``datasets.Dataset`` with exactly two columns: ``doc_id`` and ``text``.

Sources (``CorpusConfig.source``):

- ``local``: a file or glob (relative to ``corpus_root`` or absolute) of jsonl/json, csv/tsv or parquet files, read by
  ``datasets.load_dataset``. The result is memory-mapped from the datasets cache, so it is never held in RAM whole.
- ``hub``: ``datasets.load_dataset(cfg.path, split=cfg.split)``.
- ``bbc_embedded``: the label-free offline corpus: title and body of the BBC articles in ``offline.bbc_split()["pool"]``
  (never a test article). It is small (about 1,700 documents), so it is built in memory.

``doc_id`` comes from ``cfg.id_column`` (as a string) or, without one, is the row number as a string.
``cfg.max_docs`` keeps the first N rows (in file order, not a random sample), so a prefix is reproducible.
The token range ``min_tokens..max_tokens`` is not applied here: ``build_index`` records each document's token count
so the retrieval stage can filter and shorten without re-tokenizing.
"""
from __future__ import annotations

import glob
from pathlib import Path
from typing import Optional

import datasets

from synthesizrr.core.config import CorpusConfig
from synthesizrr.core.errors import DataError
from synthesizrr.core.store import fingerprint

_BUILDERS = {".jsonl": "json", ".json": "json", ".jsonl.gz": "json", ".json.gz": "json",
             ".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}


class CorpusError(DataError):
    """The corpus cannot be loaded; the message is one line naming the file or column and what is allowed."""


def _suffix(path: str) -> str:
    name = Path(path).name.lower()
    for ext in sorted(_BUILDERS, key=len, reverse=True):
        if name.endswith(ext):
            return ext
    return Path(path).suffix.lower()


def _local_files(cfg: CorpusConfig, corpus_root: str) -> list[str]:
    if not cfg.path:
        raise CorpusError(f"corpus '{cfg.name}': corpus.path is empty: give a file or glob relative to corpus_root")
    pattern = cfg.path if Path(cfg.path).is_absolute() else str(Path(corpus_root) / cfg.path)
    files = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
    files = [f for f in files if Path(f).is_file()]
    if not files:
        raise CorpusError(f"corpus '{cfg.name}': no file matches {pattern} (corpus_root={corpus_root})")
    exts = {_suffix(f) for f in files}
    if len(exts) > 1 or not exts <= set(_BUILDERS):
        raise CorpusError(f"corpus '{cfg.name}': file type {sorted(exts)} of {pattern} is not allowed: "
                          f"use one of {', '.join(sorted(_BUILDERS))} (one type per corpus)")
    return files


def _load_local(cfg: CorpusConfig, corpus_root: str, cache_dir: Optional[str]) -> tuple[datasets.Dataset, str]:
    files = _local_files(cfg, corpus_root)
    ext = _suffix(files[0])
    kwargs = {"delimiter": "\t"} if ext == ".tsv" else {}
    where = files[0] if len(files) == 1 else f"{cfg.path} ({len(files)} files)"
    if _is_empty(files):
        raise CorpusError(f"corpus '{cfg.name}': {where} has no documents")
    try:
        ds = datasets.load_dataset(_BUILDERS[ext], data_files=files, split="train", cache_dir=cache_dir, **kwargs)
    except Exception as exc:  # the builders raise many types; keep the first line and the cause
        raise CorpusError(f"corpus '{cfg.name}': cannot read {where}: {str(exc).splitlines()[0]}") from exc
    return ds, where


def _is_empty(files: list[str]) -> bool:
    """True when every file is empty or whitespace only (parquet files with zero rows are caught after loading)."""
    def blank(path: str) -> bool:
        with open(path, "rb") as fh:
            return not fh.read(4096).strip() and not fh.read(1)
    return all(blank(f) for f in files)


def _bbc_embedded() -> datasets.Dataset:
    from synthesizrr.core.assets import bbc_split

    pool = bbc_split()["pool"]
    return datasets.Dataset.from_dict({
        "doc_id": [r["id"] for r in pool],
        "text": [f"{r['title']}\n{r['body']}".strip() for r in pool],
    })


def _normalise(ds: datasets.Dataset, cfg: CorpusConfig, where: str) -> datasets.Dataset:
    """Keep only doc_id (str) and text (str, None -> '')."""
    if cfg.text_column not in ds.column_names:
        raise CorpusError(f"corpus '{cfg.name}': {where} has no text column '{cfg.text_column}': "
                          f"set corpus.text_column to one of {', '.join(ds.column_names)}")
    if cfg.id_column and cfg.id_column not in ds.column_names:
        raise CorpusError(f"corpus '{cfg.name}': {where} has no id column '{cfg.id_column}': "
                          f"set corpus.id_column to one of {', '.join(ds.column_names)} or null (row numbers)")
    text_col, id_col = cfg.text_column, cfg.id_column

    def to_pair(batch: dict, indices: list[int]) -> dict:
        ids = batch[id_col] if id_col else indices
        return {"doc_id": [str(i) for i in ids], "text": ["" if t is None else str(t) for t in batch[text_col]]}

    return ds.map(to_pair, batched=True, batch_size=10_000, with_indices=True, remove_columns=ds.column_names,
                  features=datasets.Features({"doc_id": datasets.Value("string"), "text": datasets.Value("string")}),
                  new_fingerprint=fingerprint("corpus-normalise", ds._fingerprint, text_col, id_col),
                  desc=f"corpus {cfg.name}")


def load_corpus(cfg: CorpusConfig, corpus_root: str, cache_dir: Optional[str] = None) -> datasets.Dataset:
    """The corpus as an arrow-backed Dataset with columns ``doc_id`` (str) and ``text`` (str)."""
    if cfg.source == "bbc_embedded":
        ds, where = _bbc_embedded(), "bbc_embedded"
    elif cfg.source == "local":
        ds, where = _load_local(cfg, corpus_root, cache_dir)
    else:
        if not cfg.path:
            raise CorpusError(f"corpus '{cfg.name}': corpus.path is empty: give a hub dataset id")
        ds, where = datasets.load_dataset(cfg.path, split=cfg.split, cache_dir=cache_dir), f"{cfg.path}[{cfg.split}]"
    if len(ds) == 0:
        raise CorpusError(f"corpus '{cfg.name}': {where} has no documents")
    if cfg.max_docs is not None:
        if cfg.max_docs < 1:
            raise CorpusError(f"corpus '{cfg.name}': corpus.max_docs={cfg.max_docs} is not allowed: use >= 1 or null")
        ds = ds.select(range(min(cfg.max_docs, len(ds))))
    if cfg.source != "bbc_embedded":
        ds = _normalise(ds, cfg, where)
    return ds
