"""``synthesizrr-metrics``: intrinsic metrics of a file of texts (JSONL, CSV or parquet).

Example::

    synthesizrr-metrics --input gens.jsonl --reference test.jsonl --metrics self_bleu,mauve --json

Bad input (missing file or column, unknown metric or tokenizer, MAUVE without --reference, too few texts) prints
one line ``synthesizrr-metrics: error: ...`` on stderr and exits with code 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

METRICS = {  # CLI name -> switch in metrics.suite
    "self_bleu": "self_bleu", "entity_entropy": "entity_entropy", "mauve": "mauve", "distinct_n": "distinct_n",
    "length": "length_stats", "embedding_similarity": "embedding_similarity",
}
DEFAULT_METRICS = ("self_bleu", "entity_entropy", "distinct_n", "length")  # plus mauve when --reference is given
READERS = {".jsonl": "json lines", ".json": "json lines", ".csv": "csv", ".parquet": "parquet"}
PROG = "synthesizrr-metrics"


class UsageError(Exception):
    """Bad command-line input; reported as one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage block
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    from metrics.word_tokens import TOKENIZERS

    p = _Parser(prog=PROG, description="Intrinsic metrics (Self-BLEU, entity entropy, MAUVE, distinct-n, lengths).")
    p.add_argument("--input", required=True, help="texts to score: .jsonl, .csv or .parquet")
    p.add_argument("--text-column", default="text")
    p.add_argument("--label-column", default=None, help="default 'label' when the file has it")
    p.add_argument("--metrics", default=None,
                   help=f"comma-separated, from {','.join(METRICS)} "
                        f"(default {','.join(DEFAULT_METRICS)}, plus mauve with --reference)")
    p.add_argument("--reference", default=None, help="real texts for MAUVE (same columns as --input)")
    p.add_argument("--tokenizer", default="regex", choices=TOKENIZERS, help="for Self-BLEU and distinct-n")
    p.add_argument("--max-n", type=int, default=5, help="largest Self-BLEU n")
    p.add_argument("--sample", type=int, default=None, help="Self-BLEU on a seeded sample of this many texts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--featurizer", default="offline:minilm", help="MAUVE / embedding features")
    p.add_argument("--max-length", type=int, default=512, help="MAUVE featurizer truncation, in tokens")
    p.add_argument("--spacy-model", default="en_core_web_lg,en_core_web_sm",
                   help="a pipeline or a comma-separated preference list (the one used is reported)")
    p.add_argument("--cache-dir", default=None, help="feature cache directory")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def read_table(path: str):
    """The rows of a JSONL, CSV or parquet file as a pandas DataFrame."""
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"input file not found: {path}")
    kind = READERS.get(file.suffix.lower())
    if kind is None:
        raise UsageError(f"unsupported file type '{file.suffix}' for {path}: allowed {sorted(READERS)}")
    readers = {"json lines": lambda: pd.read_json(file, lines=True, dtype=False), "csv": lambda: pd.read_csv(file),
               "parquet": lambda: pd.read_parquet(file)}
    try:
        return readers[kind]()
    except ValueError as e:
        raise UsageError(f"cannot read {path} as {kind}: {str(e).splitlines()[0]}") from None


def column(df, name: str, path: str) -> list[str]:
    """Column `name` of `df` as strings (missing values -> "")."""
    import pandas as pd

    if name not in df.columns:
        raise UsageError(f"column '{name}' not in {path}: available columns {list(map(str, df.columns))}")
    return ["" if pd.isna(v) else str(v) for v in df[name]]


def _selected(spec: str | None, has_reference: bool) -> list[str]:
    if spec is None:
        return list(DEFAULT_METRICS) + (["mauve"] if has_reference else [])
    names = [m.strip() for m in spec.split(",") if m.strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise UsageError(f"unknown metric(s) {unknown or [spec]}: allowed {list(METRICS)}")
    if "mauve" in names and not has_reference:
        raise UsageError("metric 'mauve' needs --reference FILE with real texts")
    return names


def run(args: argparse.Namespace) -> dict:
    from metrics.suite import compute_all

    chosen = _selected(args.metrics, args.reference is not None)
    df = read_table(args.input)
    label_column = args.label_column or ("label" if "label" in df.columns else None)
    texts = column(df, args.text_column, args.input)
    labels = column(df, label_column, args.input) if label_column else None
    refs_by_label, label_matched = None, False
    if "mauve" in chosen:
        ref_df = read_table(args.reference)
        ref_texts = column(ref_df, args.text_column, args.reference)
        label_matched = labels is not None and label_column in ref_df.columns
        ref_labels = column(ref_df, label_column, args.reference) if label_matched else ["all"] * len(ref_texts)
        refs_by_label = {}
        for text, label in zip(ref_texts, ref_labels):
            refs_by_label.setdefault(label, []).append(text)
    cfg = {switch: name in chosen for name, switch in METRICS.items()}
    cfg.update(self_bleu_tokenizer=args.tokenizer, distinct_tokenizer=args.tokenizer, self_bleu_max_n=args.max_n,
               self_bleu_sample=args.sample, seed=args.seed, spacy_model=args.spacy_model,
               mauve_featurizer=args.featurizer, mauve_max_length=args.max_length, mauve_label_matched=label_matched,
               embedding_model=args.featurizer, cache_dir=args.cache_dir, device=args.device)
    return compute_all(texts, labels, refs_by_label, cfg)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0, or 2 for bad input)."""
    try:
        args = _parser().parse_args(argv)
        result = run(args)
    except (UsageError, ValueError, OSError) as e:  # OSError: a model or file that cannot be loaded
        print(f"{PROG}: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key in sorted(result):
            value = result[key]
            print(f"{key}: {json.dumps(value) if isinstance(value, (dict, list)) else value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
