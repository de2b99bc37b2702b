"""`synthesizrr-export RUN.json --out DIR [--push-to-hub OWNER/NAME]`: write a run's final synthetic dataset
with a generated dataset card (config, teacher, method, metrics, counts) to a folder, or push it to the HF Hub."""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from .data import read_jsonl, write_jsonl
from .report import notes
from .core.store import atomic_write_json, atomic_write_text

CARD_METRICS = ("self_bleu_5", "entity_entropy_log2", "mauve", "distinct_2", "accuracy", "macro_f1")


class ExportError(ValueError):
    pass


def final_rows(record: dict) -> list[dict]:
    key = record.get("stage_keys", {}).get("filter")
    path = Path(record.get("store_dir", "store")) / "filter" / str(key) / "final.jsonl"
    if not key or not path.exists():
        raise ExportError(f"the run's final dataset {path} is not in the store (was the store cleaned or moved? "
                          f"pass --store DIR)")
    return read_jsonl(path)


def dataset_card(record: dict, rows: list[dict]) -> str:
    counts = Counter(r["label"] for r in rows)
    cfg = record.get("config", {})
    metrics = "\n".join(f"| {k} | {record[k]:.4f} |" for k in CARD_METRICS if isinstance(record.get(k), (int, float)))
    labels = "\n".join(f"| {lab} | {n} |" for lab, n in sorted(counts.items()))
    teacher = cfg.get("teacher", {})
    caveats = "".join(f"\n- {n}" for n in notes(record))
    caveats = f"\nCaveats of this run:{caveats}\n" if caveats else ""
    return f"""---
task_categories:
- text-classification
language:
- en
size_categories:
- n<1K
tags:
- synthetic
- synthesizrr
---
# {record['dataset']} — {record['method']} (synthetic)

Synthetic text-classification data made with the SynthesizRR framework: method **{record['method']}**,
teacher **{record['teacher']}** (`{teacher.get('backend', '-')}`: `{teacher.get('model', '-')}`), retriever
**{record['retriever']}** over corpus **{record['corpus']}**, filter **{record['filter']}**, seed {record['seed']},
fidelity **{record.get('fidelity', '-')}** (docs/fidelity.md).
{caveats}
Each row has `text`, `label` and provenance (`method`, `shots`, `doc_id` of the retrieved document,
`prompt_id`).

## Counts ({len(rows)} examples)

| label | examples |
|---|---|
{labels}

## Metrics

| metric | value |
|---|---|
{metrics or '| – | – |'}

Student accuracy is on the real test split of {record['dataset']} ({record.get('num_student_seeds', 1)} seed(s)).

## Config

```json
{json.dumps(cfg, indent=2, sort_keys=True, default=str)}
```
"""


def export(record_path: Path, out: Path, store: Path | None = None) -> Path:
    record = json.loads(Path(record_path).read_text())
    if store is not None:
        record["store_dir"] = str(store)
    rows = final_rows(record)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "train.jsonl", rows)
    atomic_write_text(out / "README.md", dataset_card(record, rows))
    atomic_write_json(out / "synthesizrr_run.json", record)
    return out


def push(out: Path, repo_id: str, private: bool) -> None:
    import datasets
    from huggingface_hub import HfApi

    datasets.Dataset.from_list(read_jsonl(out / "train.jsonl")).push_to_hub(repo_id, private=private)
    HfApi().upload_file(path_or_fileobj=str(out / "README.md"), path_in_repo="README.md", repo_id=repo_id,
                        repo_type="dataset")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="synthesizrr-export", description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="a run record: results/<name>/runs/<row>.json")
    ap.add_argument("--out", type=Path, required=True, help="folder to write train.jsonl and README.md into")
    ap.add_argument("--store", type=Path, default=None, help="run store, if not the one recorded in the run")
    ap.add_argument("--push-to-hub", metavar="OWNER/NAME", default=None, help="also push to the HF Hub")
    ap.add_argument("--private", action="store_true")
    args = ap.parse_args(argv)
    try:
        if not args.run.is_file():
            raise ExportError(f"run record {args.run} does not exist (look in results/<name>/runs/)")
        out = export(args.run, args.out, args.store)
        if args.push_to_hub:
            push(out, args.push_to_hub, args.private)
    except ExportError as exc:
        print(f"synthesizrr-export: error: {exc}", file=sys.stderr)
        raise SystemExit(2)
    print(out)
