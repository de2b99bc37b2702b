"""NER throughput for entity entropy: only the components NER needs vs the full spaCy pipeline.

Run: python benchmarks/bench_ner.py [--num-texts 1000] [--spacy-model en_core_web_lg]
Both pipelines come from the same package (the first installed one of the fallback chain). ner reads neither
the tagger's nor the lemmatizer's output, but it does not let an entity cross a sentence start that the parser
set, so a few texts can differ; the script counts them.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_self_bleu import load_average, news_texts  # noqa: E402 - shared text loader

from metrics.spacy_models import load_pipeline  # noqa: E402


def run(nlp, texts, batch_size):
    t0 = time.perf_counter()
    ents = [[(e.text, e.label_) for e in doc.ents] for doc in nlp.pipe(texts, batch_size=batch_size)]
    return time.perf_counter() - t0, ents


def main() -> None:
    import spacy

    ap = argparse.ArgumentParser()
    ap.add_argument("--num-texts", type=int, default=1000)
    ap.add_argument("--spacy-model", default="en_core_web_lg,en_core_web_sm")
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    texts, source = news_texts(args.num_texts)
    ner_only, used = load_pipeline(args.spacy_model, "ner")
    full = spacy.load(used)
    print(f"texts: {len(texts)} from {source}; spaCy pipeline {used}; {load_average()}")
    print(f"full pipeline components: {full.pipe_names}; NER-only enabled: {ner_only.pipe_names}")
    run(ner_only, texts[:50], args.batch_size)  # warm-up
    run(full, texts[:50], args.batch_size)
    t_full, ents_full = run(full, texts, args.batch_size)
    t_ner, ents_ner = run(ner_only, texts, args.batch_size)
    print(f"full pipeline: {t_full:.2f} s ({len(texts) / t_full:.0f} texts/s)")
    print(f"NER only:      {t_ner:.2f} s ({len(texts) / t_ner:.0f} texts/s)")
    differing = sum(a != b for a, b in zip(ents_full, ents_ner))
    print(f"speed-up: {t_full / t_ner:.2f}x; texts whose entities differ: {differing} of {len(texts)} "
          f"({sum(map(len, ents_ner))} entities with NER only, {sum(map(len, ents_full))} with the full pipeline)")


if __name__ == "__main__":
    main()
