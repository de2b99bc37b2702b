"""Rehearsals of the paper experiments against the stand-in hub: real `synthesizrr` multiruns in a subprocess
with HF_HUB_OFFLINE=1 and the stand-in's HF_HOME/PYTHONPATH, every size overridden small, a tiny local corpus."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHARED_REALNEWS = REPO.parent / "shared" / "corpora" / "realnews" / "realnews_tiny.jsonl"
CORPUS_DOCS = 40

# Every stage runs with the paper's models and rows; only sizes shrink (5 student seeds are kept).
SMALL = ["dataset.seed_size_per_label=4", "dataset.max_test_examples=16", "method.num_samples_per_label=6",
         "filter.num_samples=8", "filter.epochs=2", "filter.max_length=64", "filter.batch_size=8",
         "student.epochs=1", "student.batch_size=4", "student.grad_accum=1", "student.eval_batch_size=16",
         "retriever.max_length=64", "retriever.batch_size=16", "retriever.top_k=5",
         "retriever.icl_band=[-1,1]", "retriever.gen_band=[-1,1]",   # random encoders score anything
         "corpus.max_tokens=80", "teacher.max_new_tokens=24", "teacher.batch_size=8",
         "metrics.mauve_max_length=64", "metrics.mauve_num_buckets=4", "tracking=none"]


@pytest.fixture(scope="session")
def standin_hub():
    from synthesizrr.testing.standin_hub import standin_hub as cached_build

    return cached_build()


def corpus_rows(n: int = CORPUS_DOCS) -> list[dict]:
    """RealNews articles (Grover's sample in ../shared, when present) then BBC articles, in the columns
    scripts/prepare_realnews.py writes (id, text, title, url, domain, publish_date)."""
    from synthesizrr.core.assets import bbc_articles

    rows = []
    if SHARED_REALNEWS.is_file():
        for i, line in enumerate(SHARED_REALNEWS.read_text().splitlines()):
            a = json.loads(line)
            rows.append({"id": f"realnews-{i}", "text": a["text"], "title": a["title"], "url": a["url"],
                         "domain": a["domain"], "publish_date": a["publish_date"]})
    for a in bbc_articles()[::37]:
        rows.append({"id": a["id"], "text": a["body"], "title": a["title"], "url": "", "domain": "bbc.co.uk",
                     "publish_date": None})
    return rows[:n]


@pytest.fixture(scope="session")
def corpus_root(tmp_path_factory) -> Path:
    """A corpus_root holding the paper corpus realnews_dominant as one small shard, where its config looks."""
    root = tmp_path_factory.mktemp("corpora")
    shard = root / "realnews_dominant" / "realnews_dominant-00000.jsonl"
    shard.parent.mkdir()
    shard.write_text("".join(json.dumps(r) + "\n" for r in corpus_rows()))
    return root


def hub_env(hub, **extra) -> dict:
    env = {**os.environ, **hub.env(), "WANDB_MODE": "disabled", "TOKENIZERS_PARALLELISM": "false", **extra}
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def synthesizrr(args: list, env: dict, cwd: Path, script: str | None = None,
                timeout: int = 900) -> subprocess.CompletedProcess:
    cmd = [sys.executable, script] if script else [sys.executable, "-m", "synthesizrr.cli"]
    return subprocess.run([*cmd, *map(str, args)], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def records(results: Path) -> dict[str, dict]:
    """Run records by row name."""
    return {r["method"]: r for r in (json.loads(p.read_text()) for p in (results / "runs").glob("*.json"))}
