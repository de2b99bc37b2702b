"""`synthesizrr <overrides> preflight=true`: before any work, check what every sweep point of the composed config
will need, print one table and exit: 0 when nothing blocks, 1 with one line per blocker on stderr.

This module checks presence: models, tokenizers and hub datasets in the HF cache (reachable when online is
allowed; with HF_HUB_OFFLINE=1 an uncached one is missing), local data and corpus files, spaCy pipelines, the
extras a backend or launcher imports, API keys. synthesizrr/preflight_plan.py adds counts per stage, API cost,
a GPU memory plan per stage and the disk the corpus index needs.
"""
from __future__ import annotations

import glob
import importlib.util
import json
import os
import re
import sys
from functools import lru_cache
from pathlib import Path

from .compose import CONF_DIR, compose_config, load_config, with_search_path
from .core.assets import hub_offline, is_offline, resolve_model, spacy_installed
from .methods.base import load_method
from .preflight_plan import Point, Row, plan_rows
from .stages.evaluate import spacy_spec

WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
TOKENIZERS = ("tokenizer.json", "tokenizer.model", "spm.model", "vocab.txt", "vocab.json", "sentencepiece.bpe.model")


# ---- sweep points --------------------------------------------------------------------------------------------

def sweep_points(argv: list[str]) -> tuple[list[Point], object]:
    """Every point Hydra would run (command-line sweeps and hydra.sweeper.params), composed and validated, and
    the hydra config of the first."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args = [a for a in argv if "=" in a and not a.startswith("-")]
    hydra_args = [a for a in args if a.lstrip("+~").startswith(("hydra.", "hydra/"))]
    parser = OverridesParser.create()
    task = parser.parse_overrides([a for a in args if a not in hydra_args])
    first = [f"{o.get_key_element()}={next(iter(o.sweep_string_iterator()))}" if o.is_sweep_override()
             else o.input_line for o in task]
    hc = compose_config(with_search_path(first + hydra_args, argv), return_hydra_config=True).hydra
    multirun = "-m" in argv or "--multirun" in argv or str(hc.mode).endswith("MULTIRUN")
    params = [f"{k}={v}" for k, v in (hc.sweeper.get("params") or {}).items()] if multirun else []
    parsed = parser.parse_overrides(params + [o.input_line for o in task])
    swept = {o.get_key_element() for o in parsed if o.is_sweep_override()}
    combos = BasicSweeper.split_arguments(parsed, None)[0] if multirun else [first]
    points = []
    for combo in combos:
        cfg = load_config(with_search_path(combo + hydra_args, argv))
        label = " ".join(o for o in combo if o.split("=", 1)[0] in swept) or "single run"
        points.append(Point(label, cfg, load_method(cfg.method)))
    return points, hc


# ---- presence checks ---------------------------------------------------------------------------------------

def _cached(repo: str, name: str, repo_type: str = "model") -> str | None:
    from huggingface_hub import try_to_load_from_cache

    path = try_to_load_from_cache(repo, name, repo_type=repo_type)
    return path if isinstance(path, str) else None


def _weights_cached(repo: str) -> bool:
    for name in WEIGHTS:
        path = _cached(repo, name)
        if path and name.endswith(".index.json"):   # sharded: every shard must be there
            return all(_cached(repo, shard) for shard in set(json.loads(Path(path).read_text())["weight_map"].values()))
        if path:
            return True
    return False


def _reachable(repo: str, repo_type: str) -> bool:
    from huggingface_hub import HfApi

    try:
        HfApi().repo_info(repo, repo_type=repo_type, timeout=10)
        return True
    except Exception:  # noqa: BLE001 - unreachable, gated or unknown: the row says missing
        return False


def _uncached(repo: str, repo_type: str, missing: str, fix: str) -> tuple:
    if not hub_offline() and _reachable(repo, repo_type):
        return "reachable", f"not cached: downloads on first use ({missing})", "", False
    why = "HF_HUB_OFFLINE=1" if hub_offline() else "hub unreachable"
    return "missing", f"not in the HF cache ({missing}; {why})", fix, True


@lru_cache(maxsize=None)
def model_status(name: str, tokenizer_only: bool = False) -> tuple:
    """(status, detail, fix, blocks) of a model (config, weights and tokenizer) or of a tokenizer alone."""
    if name == "offline:deberta_tiny":
        return "built in", "random DeBERTa-v2 built at run time", "", False
    if is_offline(name):
        try:
            return "installed", resolve_model(name), "", False
        except Exception as exc:  # noqa: BLE001 - OfflineAssetMissing (with its pip command) or an unknown name
            return "missing", str(exc), str(exc).rpartition(": ")[2], True
    if Path(name).expanduser().exists():
        return "local", str(Path(name).expanduser()), "", False
    if name.endswith(".gguf"):
        return "missing", f"GGUF file {name} does not exist", "give an existing .gguf path", True
    parts = {"tokenizer": any(_cached(name, t) for t in TOKENIZERS)}
    if not tokenizer_only:
        parts.update({"config.json": bool(_cached(name, "config.json")), "weights": _weights_cached(name)})
    missing = [k for k, ok in parts.items() if not ok]
    if not missing:
        return "cached", "", "", False
    return _uncached(name, "model", ", ".join(missing), f"hf download {name}")


@lru_cache(maxsize=None)
def dataset_status(repo: str) -> tuple:
    import datasets.config

    namespace, _, name = repo.rpartition("/")
    prepared = Path(datasets.config.HF_DATASETS_CACHE) / (f"{namespace}___{name}" if namespace else name)
    if prepared.is_dir() or _cached(repo, "README.md", "dataset"):
        return "cached", "", "", False
    return _uncached(repo, "dataset", "no snapshot or prepared cache",
                     f"python -c \"import datasets; datasets.load_dataset('{repo}')\"")


def recipe(group: str, name: str) -> str:
    """The command a config's header comment names ("Created by `...`"), else where recipes are described."""
    path = CONF_DIR / group / f"{name}.yaml"
    found = re.search(r"Created by `([^`]+)`", path.read_text()) if path.is_file() else None
    return found.group(1) if found else "see scripts/README.md and docs/data.md"


def files_status(pattern: str, group: str, name: str) -> tuple:
    files = [f for f in (glob.glob(pattern) if glob.has_magic(pattern) else [pattern]) if Path(f).is_file()]
    if files:
        size = sum(Path(f).stat().st_size for f in files)
        return "present", f"{len(files)} file(s), {size / 1e6:.1f} MB", "", False
    return "missing", f"no file matches {pattern}", recipe(group, name), True


def _module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def extra_status(modules: tuple, fix: str) -> tuple:
    absent = [m for m in modules if not _module(m)]
    return ("missing", f"cannot import {', '.join(absent)}", fix, True) if absent else ("installed", "", "", False)


class Checks:
    """Rows keyed by (kind, item); each records which roles of which points need it."""

    def __init__(self):
        self.rows: dict[tuple, Row] = {}

    def add(self, kind: str, item: str, who: str, result: tuple) -> None:
        status, detail, fix, blocks = result
        row = self.rows.setdefault((kind, item), Row(kind, item, status, detail, fix, blocks))
        row.used_by.add(who)

    def model(self, name: str, who: str, tokenizer_only: bool = False) -> None:
        self.add("tokenizer" if tokenizer_only else "model", name, who, model_status(name, tokenizer_only))
        if "deberta-v3" in name.lower() or (not is_offline(name) and _cached(name, "spm.model")
                                            and not _cached(name, "tokenizer.json")):
            self.add("extra", "sentencepiece, protobuf", f"{who} (spm.model tokenizer)",
                     extra_status(("sentencepiece", "google.protobuf"), "pip install sentencepiece protobuf"))


def check_point(c: Checks, p: Point) -> None:
    cfg, m = p.cfg, p.method
    d = cfg.dataset
    if d.source == "hub":
        c.add("dataset", d.path, "dataset", dataset_status(d.path))
    elif d.source == "local":
        for split, name in d.data_files.items():
            path = name if Path(name).is_absolute() else str(Path(cfg.data_root) / d.path / name)
            c.add("files", path, f"dataset {split}", files_status(path, "dataset", d.name))
    if m.needs_index and p.reaches("index"):
        k = cfg.corpus
        if k.source == "hub":
            c.add("dataset", k.path, "corpus", dataset_status(k.path))
        elif k.source == "local":
            path = k.path if Path(k.path).is_absolute() else str(Path(cfg.corpus_root) / k.path)
            c.add("files", path, f"corpus {k.name}", files_status(path, "corpus", k.name))
        if cfg.retriever.kind == "dense":
            c.model(cfg.retriever.model, "retriever")
    if m.uses_teacher and p.reaches("synthesize"):
        check_teacher(c, cfg.teacher)
    if p.reaches("filter") and cfg.filter.name == "cartography" and not m.real_data:
        c.model(cfg.filter.model, "filter (cartography)")
    if p.reaches("distill"):
        c.model(cfg.student.model, "student")
    if p.reaches("evaluate"):
        mt = cfg.metrics
        if mt.mauve:
            c.model(mt.mauve_featurizer, "metrics (MAUVE)")
        if mt.embedding_similarity:
            c.model(mt.embedding_model, "metrics (embedding similarity)")
        if mt.entity_entropy or (mt.self_bleu and mt.self_bleu_tokenizer == "spacy"):
            spec = spacy_spec(mt)
            c.add("spacy", spec, "metrics", ("installed", "", "", False) if spacy_installed(spec) else (
                "missing", "not installed", f"python -m spacy download {mt.spacy_model}", True))


def check_teacher(c: Checks, t) -> None:
    if t.backend in ("hf", "vllm"):
        c.model(t.model, "teacher")
    if t.backend == "vllm":
        c.add("extra", "vllm", "teacher", extra_status(("vllm",), "pip install 'synthesizrr[vllm]'"))
    elif t.backend == "llamacpp":
        c.add("extra", "llama_cpp", "teacher",
              extra_status(("llama_cpp",), "pip install 'synthesizrr[llamacpp]'"))
        c.add("model", t.model, "teacher", model_status(t.model))
    elif t.backend in ("openai", "anthropic"):
        if t.extra.get("tokenizer"):
            c.model(str(t.extra["tokenizer"]), "teacher token counts", tokenizer_only=True)
        if t.api_key_env:
            ok = bool(os.environ.get(t.api_key_env))
            c.add("env", t.api_key_env, "teacher", ("set", "", "", False) if ok else (
                "missing", "the API key variable is not set", f"export {t.api_key_env}=...", True))


def check_launcher(c: Checks, hc) -> None:
    target = str(hc.launcher.get("_target_", ""))
    for word, module in (("joblib", "hydra_plugins.hydra_joblib_launcher"),
                         ("submitit", "hydra_plugins.hydra_submitit_launcher")):
        if word in target:
            c.add("extra", module.split(".")[-1], "hydra launcher",
                  extra_status((module,), "pip install 'synthesizrr[cluster]'"))


# ---- the table -----------------------------------------------------------------------------------------------

def render(rows: list[Row]) -> str:
    head = ["kind", "item", "used by", "status", "detail"]
    body = [[r.kind, r.item, ", ".join(sorted(r.used_by)), r.status + (" ✗" if r.blocks else ""),
             r.detail + (f" → {r.fix}" if r.blocks and r.fix else "")] for r in rows]
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, body)])


def main(argv: list[str]) -> int:
    points, hc = sweep_points(argv)
    checks = Checks()
    for p in points:
        check_point(checks, p)
    check_launcher(checks, hc)
    order = ("dataset", "files", "model", "tokenizer", "spacy", "extra", "env")
    rows = sorted(checks.rows.values(), key=lambda r: order.index(r.kind)) + plan_rows(points)
    print(f"preflight: {points[0].cfg.name}, {len(points)} sweep point(s): {' | '.join(p.label for p in points)}")
    print(render(rows))
    blockers = [r for r in rows if r.blocks]
    for r in blockers:
        print(f"synthesizrr: preflight: {r.kind} {r.item} ({', '.join(sorted(r.used_by))}): {r.status}: "
              f"{r.detail}" + (f"; fix: {r.fix}" if r.fix else ""), file=sys.stderr)
    print(f"preflight: {len(blockers)} blocker(s)" if blockers else "preflight: nothing blocks")
    return 1 if blockers else 0
