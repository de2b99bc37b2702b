"""`synthesizrr-export RUN.json --out DIR [--push-to-hub OWNER/NAME]`: write a run's final synthetic dataset
with a generated dataset card (config, teacher, method, metrics with their intervals, counts) to a folder, or
push it to the HF Hub: the card first, then the dataset (``label`` as a ClassLabel), whose push adds its
``dataset_info`` to that card's metadata instead of replacing the card."""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from .data import read_jsonl, write_jsonl
from .report import notes
from .core.store import atomic_write_json, atomic_write_text

CARD_METRICS = ("self_bleu_5", "entity_entropy_log2", "entity_entropy_per_type_mean_log2", "mauve", "distinct_2",
                "accuracy", "macro_f1")
SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]


class ExportError(ValueError):
    pass


def final_rows(record: dict) -> list[dict]:
    key = record.get("stage_keys", {}).get("filter")
    path = Path(record.get("store_dir", "store")) / "filter" / str(key) / "final.jsonl"
    if not key or not path.exists():
        raise ExportError(f"the run's final dataset {path} is not in the store (was the store cleaned or moved? "
                          f"pass --store DIR)")
    return read_jsonl(path)


def size_category(num_rows: int) -> str:
    """The Hub's size category of a dataset with `num_rows` rows."""
    return next((name for limit, name in SIZE_CATEGORIES if num_rows < limit), "n>1B")


def label_names(record: dict, rows: list[dict]) -> list[str]:
    """The ClassLabel names: the dataset's labels in config order (records keep them in ``labels``; their config
    has sorted keys), then any other label found in the rows."""
    names = list(record.get("labels") or ((record.get("config") or {}).get("dataset") or {}).get("labels") or [])
    return names + sorted({r["label"] for r in rows} - set(names))


def card_data(record: dict, rows: list[dict]):
    from huggingface_hub import DatasetCardData

    return DatasetCardData(language=["en"], task_categories=["text-classification"],
                           size_categories=[size_category(len(rows))], pretty_name=f"{record['dataset']} — "
                           f"{record['method']} (synthetic)", tags=["synthetic", "synthesizrr"])


def _metric_rows(record: dict) -> str:
    intervals = record.get("intervals") or {}
    out = []
    for key in CARD_METRICS:
        if not isinstance(record.get(key), (int, float)):
            continue
        iv = intervals.get(key) or {}
        ci = f"[{iv['ci_low']:.4f}, {iv['ci_high']:.4f}]" if iv.get("ci_low") is not None else "–"
        out.append(f"| {key} | {record[key]:.4f} | {ci} |")
    return "\n".join(out) or "| – | – | – |"


def dataset_card(record: dict, rows: list[dict]):
    """The card (a huggingface_hub DatasetCard): metadata from :func:`card_data`, then what the run was, its
    caveats (the report's notes), counts, metrics with intervals and the config."""
    from huggingface_hub import DatasetCard

    counts = Counter(r["label"] for r in rows)
    cfg = record.get("config", {})
    labels = "\n".join(f"| {lab} | {n} |" for lab, n in sorted(counts.items()))
    teacher = cfg.get("teacher", {})
    caveats = "".join(f"\n- {n}" for n in notes(record))
    caveats = f"\nCaveats of this run:{caveats}\n" if caveats else ""
    conf = record.get("interval_confidence") or 0.95
    body = f"""# {record['dataset']} — {record['method']} (synthetic)

Synthetic text-classification data made with the SynthesizRR framework: method **{record['method']}**,
teacher **{record['teacher']}** (`{teacher.get('backend', '-')}`: `{teacher.get('model', '-')}`), retriever
**{record['retriever']}** over corpus **{record['corpus']}**, filter **{record['filter']}**, seed {record['seed']},
fidelity **{record.get('fidelity', '-')}** (docs/fidelity.md).
{caveats}
Each row has `text`, `label` (a ClassLabel) and provenance (`method`, `shots`, `doc_id` of the retrieved document,
`prompt_id`).

## Counts ({len(rows)} examples)

| label | examples |
|---|---|
{labels}

## Metrics

| metric | value | {conf:.0%} interval |
|---|---|---|
{_metric_rows(record)}

Student accuracy is on the real test split of {record['dataset']} ({record.get('num_student_seeds', 1)} seed(s); the
interval is a t-interval over seeds). Intervals of the other metrics resample the texts (docs/metrics.md).

## Config

```json
{json.dumps(cfg, indent=2, sort_keys=True, default=str)}
```
"""
    return DatasetCard(f"---\n{card_data(record, rows).to_yaml()}\n---\n{body}")


def export(record_path: Path, out: Path, store: Path | None = None) -> Path:
    record = json.loads(Path(record_path).read_text())
    if store is not None:
        record["store_dir"] = str(store)
    rows = final_rows(record)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "train.jsonl", rows)
    atomic_write_text(out / "README.md", str(dataset_card(record, rows)))
    atomic_write_json(out / "synthesizrr_run.json", record)
    return out


def push(out: Path, repo_id: str, private: bool) -> None:
    """Upload the card, then push the dataset with ``label`` as a ClassLabel: ``push_to_hub`` reads the card
    on the Hub and adds ``dataset_info`` and ``configs`` to its metadata, so neither overwrites the other."""
    import datasets
    from huggingface_hub import DatasetCard, HfApi

    record = json.loads((out / "synthesizrr_run.json").read_text())
    rows = read_jsonl(out / "train.jsonl")
    HfApi().create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    DatasetCard.load(out / "README.md").push_to_hub(repo_id, repo_type="dataset",
                                                    commit_message="Dataset card (synthesizrr-export)")
    ds = datasets.Dataset.from_list(rows).cast_column("label", datasets.ClassLabel(names=label_names(record, rows)))
    ds.push_to_hub(repo_id, private=private, commit_message="Dataset (synthesizrr-export)")


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
