"""Data layer: load a labelled dataset (hub id, local files or the embedded BBC set), map columns and labels,
and draw the balanced, seeded seed set."""
from __future__ import annotations

import json
import logging
import random
from collections import Counter
from pathlib import Path
from typing import Iterable

from .core.config import DatasetConfig
from .core.assets import bbc_split
from .core.errors import DataError

log = logging.getLogger(__name__)


_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


def local_file(cfg: DatasetConfig, data_root: str, split: str) -> Path:
    name = cfg.data_files.get(split)
    if name is None:
        raise DataError(f"dataset {cfg.name}: no data_files entry for split '{split}' "
                        f"(have: {', '.join(cfg.data_files) or 'none'})")
    path = Path(name) if Path(name).is_absolute() else Path(data_root) / cfg.path / name
    if not path.exists():
        raise DataError(f"dataset {cfg.name}: file {path} does not exist "
                        f"(data_root={data_root}; set SYNTHESIZRR_DATA_ROOT or data_root=...)")
    if path.suffix not in _BUILDERS:
        raise DataError(f"dataset {cfg.name}: {path} has an unsupported type: allowed {', '.join(_BUILDERS)}")
    return path


def check_file(path: Path) -> None:
    """One-line errors, naming the file and line, for what the dataset builders report as tracebacks: an empty
    file, bytes that are not UTF-8, a JSONL line that is not JSON."""
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty: it needs one example per line (jsonl) or row (csv, parquet)")
    if path.suffix == ".parquet":
        return
    lines = 0
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            lines += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}, line {number}: not UTF-8 text (byte {raw[exc.start]:#04x} at column "
                                f"{exc.start + 1}); re-encode the file as UTF-8") from None
            if path.suffix == ".jsonl":
                try:
                    json.loads(text)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}, line {number}: not a JSON object ({exc.msg})") from None
    if lines == 0:
        raise DataError(f"{path} has only blank lines: it needs one example per line (jsonl) or row (csv)")


def source_signature(cfg: DatasetConfig, data_root: str) -> dict:
    """What identifies the input data beyond the config: local files' sizes and mtimes."""
    if cfg.source != "local":
        return {}
    sig = {}
    for split in cfg.data_files:
        path = local_file(cfg, data_root, split)
        st = path.stat()
        sig[split] = [str(path.resolve()), st.st_size, int(st.st_mtime)]
    return sig


def _load_rows(cfg: DatasetConfig, data_root: str, split: str) -> tuple[list[dict], str]:
    """Raw rows of one split and a description of where they came from (for error messages)."""
    import datasets

    if cfg.source == "local":
        path = local_file(cfg, data_root, split)
        check_file(path)
        try:
            ds = datasets.load_dataset(_BUILDERS[path.suffix], data_files={"x": str(path)}, split="x")
        except Exception as exc:  # the builders raise many types; keep the first line
            raise DataError(f"{path}: cannot read it as {path.suffix[1:]}: {str(exc).strip().splitlines()[0]}") from exc
        where = str(path)
    else:
        ds = datasets.load_dataset(cfg.path, cfg.subset, split=cfg.splits[split])
        where = f"{cfg.path}[{cfg.splits[split]}]"
    for col in (cfg.text_column, cfg.label_column):
        if col not in ds.column_names:
            raise DataError(f"{where}: column '{col}' is missing (columns: {', '.join(ds.column_names)}); "
                            f"set dataset.text_column / dataset.label_column")
    return [{"text": t, "label": y} for t, y in zip(ds[cfg.text_column], ds[cfg.label_column])], where


def normalize_rows(rows: Iterable[dict], cfg: DatasetConfig, where: str) -> list[dict]:
    """Map raw labels through label_map, check them against the label set, drop empty texts (with a count)."""
    labels = set(cfg.labels)
    out, empty, unknown = [], 0, Counter()
    for i, row in enumerate(rows):
        text = "" if row["text"] is None else str(row["text"]).strip()
        raw = row["label"]
        label = cfg.label_map.get(str(raw), str(raw))
        if label not in labels:
            unknown[label] += 1
            continue
        if len(text) < max(1, cfg.min_text_chars):
            empty += 1
            continue
        out.append({"id": str(row.get("id", f"{cfg.name}-{i}")), "text": text, "label": label})
    if unknown:
        top = ", ".join(f"'{k}' ({v} rows)" for k, v in unknown.most_common(5))
        raise DataError(f"{where}: labels not in dataset.labels: {top}; allowed {', '.join(cfg.labels)} "
                        f"(map raw values with dataset.label_map)")
    if empty:
        log.warning("%s: dropped %d rows with empty text (column %s)", where, empty, cfg.text_column)
    if not out:
        raise DataError(f"{where}: no usable rows (column '{cfg.text_column}' empty everywhere?)")
    return out


def load_splits(cfg: DatasetConfig, data_root: str) -> dict[str, list[dict]]:
    """``{"train": [...], "test": [...], "validation": [...]?}`` of ``{"id", "text", "label"}`` rows."""
    if cfg.source == "bbc_embedded":
        parts = bbc_split()
        to_rows = lambda recs: [{"id": r["id"], "text": r["lede"], "label": r["label"]} for r in recs if r["lede"]]
        return {"train": normalize_rows(to_rows(parts["pool"]), cfg, "bbc_embedded:pool"),
                "test": normalize_rows(to_rows(parts["test"]), cfg, "bbc_embedded:test")}
    wanted = [s for s in cfg.splits if cfg.source != "local" or s in cfg.data_files]
    out = {}
    for split in wanted:
        rows, where = _load_rows(cfg, data_root, split)
        out[split] = normalize_rows(rows, cfg, where)
    return out


def subsample(rows: list[dict], n: int | None, seed: int) -> list[dict]:
    """A seeded random subset of n rows in their original order (all rows when n is None or larger)."""
    if n is None or n >= len(rows):
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), n))
    return [rows[i] for i in keep]


def draw_seed_set(train: list[dict], labels: Iterable[str], per_label: int, seed: int,
                  with_replacement: bool = False) -> list[dict]:
    """A balanced seed set: `per_label` rows of each label from `train`, seeded. Without replacement by
    default; `with_replacement=True` reproduces the reference (duplicates possible)."""
    by_label: dict[str, list[dict]] = {}
    for row in train:
        by_label.setdefault(row["label"], []).append(row)
    seeds = []
    for label in labels:
        pool = by_label.get(label, [])
        rng = random.Random(f"{seed}:{label}")
        if not pool:
            raise DataError(f"seed set: label '{label}' has no training examples")
        if with_replacement:
            picked = [pool[rng.randrange(len(pool))] for _ in range(per_label)]
        else:
            if len(pool) < per_label:
                raise DataError(f"seed set: label '{label}' has {len(pool)} training examples but "
                                f"dataset.seed_size_per_label={per_label}; lower it or use seed_sampling=with_replacement")
            picked = rng.sample(pool, per_label)
        base = len(seeds)
        seeds.extend([{**row, "seed_idx": base + i} for i, row in enumerate(picked)])
    return seeds


def label_distribution(rows: Iterable[dict]) -> dict[str, float]:
    counts = Counter(r["label"] for r in rows)
    total = sum(counts.values())
    return {k: v / total for k, v in sorted(counts.items())}


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
