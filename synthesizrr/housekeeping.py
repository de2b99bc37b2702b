"""`synthesizrr-store size` reports what the run store holds; `synthesizrr-store clean` removes stage outputs,
partial work and teacher calls that no recorded run uses (run records under results/*/runs/), after listing them
and what it keeps. Without --yes, clean only says what it would remove. The store and results folders default to
SYNTHESIZRR_STORE and SYNTHESIZRR_RESULTS, as for the pipeline; clean refuses to run when no run record points at
the store (it could not tell what is in use), and keeps calls collected from provider batches (paid for: removing
them would make a rerun pay again). `synthesizrr-store collect` polls the provider batches that runs with
teacher.batch=true submitted and downloads the results of those that ended into the call cache; it exits 1 while
some are still in flight, so `until synthesizrr-store collect; do sleep 600; done` waits for them all."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
from pathlib import Path

from .core.errors import SynthesizrrError
from .pipeline import VERSIONS

CACHE = "teacher_cache.sqlite"


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def stage_dirs(store: Path) -> dict[str, list[Path]]:
    return {s: sorted(p for p in (store / s).iterdir() if p.is_dir() and not p.name.startswith("."))
            for s in VERSIONS if (store / s).is_dir()}


def size_report(store: Path) -> dict:
    out = {"stages": {s: {"entries": len(d), "bytes": sum(map(_size, d))} for s, d in stage_dirs(store).items()}}
    db = store / CACHE
    if db.exists():
        with sqlite3.connect(db) as con:
            out["teacher_cache"] = {"calls": con.execute("SELECT COUNT(*) FROM calls").fetchone()[0],
                                    "bytes": sum(_size(p) for p in store.glob(CACHE + "*"))}
            if _has_table(con, "batches"):
                out["teacher_batches"] = dict(zip(("open", "requests"), con.execute(
                    "SELECT COUNT(*), COALESCE(SUM(requests), 0) FROM batches WHERE state IN "
                    "('submitting', 'submitted')").fetchone()))
    out["total_bytes"] = _size(store)
    return out


def _has_table(con: sqlite3.Connection, name: str) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


class NoRunRecords(RuntimeError):
    """No run record points at the store: cleaning would remove everything."""


def referenced(store: Path, results: Path) -> tuple[set[tuple[str, str]], set[str], int]:
    """(stage, key) pairs and teacher call keys used by the run records that point at this store, and how many
    records do."""
    stages, calls, records = set(), set(), 0
    for rec_path in results.glob("*/runs/*.json"):
        rec = json.loads(rec_path.read_text())
        if Path(rec.get("store_dir", "store")).resolve() != store.resolve():
            continue
        records += 1
        for stage, key in rec.get("stage_keys", {}).items():
            stages.add((stage, key))
            keys_file = store / stage / key / "call_keys.txt"
            if keys_file.exists():
                calls.update(keys_file.read_text().split())
    return stages, calls, records


def plan_clean(store: Path, results: Path) -> tuple[list[Path], list[str], dict]:
    stages, calls, records = referenced(store, results)
    if not records:
        raise NoRunRecords(f"no run record under {results}/*/runs/ points at the store {store}: nothing is known to "
                           f"be in use, so nothing is removed (pass --results DIR, or set SYNTHESIZRR_RESULTS)")
    dirs = [p for s, ds in stage_dirs(store).items() for p in ds if (s, p.name) not in stages]
    partial = store / ".partial"
    if partial.is_dir():
        dirs += [p for s in partial.iterdir() for p in s.iterdir() if (s.name, p.name) not in stages]
    unused_calls: list[str] = []
    paid: set[str] = set()
    db = store / CACHE
    if db.exists():
        with sqlite3.connect(db) as con:
            paid = {k for (k,) in con.execute("SELECT key FROM batch_requests WHERE state = 'done'")} \
                if _has_table(con, "batch_requests") else set()
            unused_calls = [k for (k,) in con.execute("SELECT key FROM calls") if k not in calls and k not in paid]
    kept = {"records": records, "stage_outputs": sum(1 for s, ds in stage_dirs(store).items() for p in ds
                                                     if (s, p.name) in stages), "calls": len(calls),
            "batch_calls": len(paid - calls)}
    return dirs, unused_calls, kept


def clean(store: Path, results: Path, yes: bool, echo=print) -> dict:
    dirs, unused, kept = plan_clean(store, results)
    freed = sum(map(_size, dirs))
    echo(f"keep {kept['stage_outputs']} stage outputs and up to {kept['calls']} teacher calls used by "
         f"{kept['records']} run records under {results}")
    if kept["batch_calls"]:
        echo(f"keep {kept['batch_calls']} teacher calls collected from provider batches (paid for; a run that needs "
             f"them finds them cached)")
    for d in dirs:
        echo(f"{'remove' if yes else 'would remove'} {d} ({_human(_size(d))})")
    echo(f"{'remove' if yes else 'would remove'} {len(unused)} teacher calls no recorded run uses")
    if yes:
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
        if unused:
            with sqlite3.connect(store / CACHE) as con:
                con.executemany("DELETE FROM calls WHERE key = ?", [(k,) for k in unused])
            with sqlite3.connect(store / CACHE) as con:
                con.execute("VACUUM")
    else:
        echo("nothing removed: rerun with --yes to remove the above")
    return {"dirs": len(dirs), "bytes": freed, "calls": len(unused), "removed": yes}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="synthesizrr-store", description=__doc__)
    ap.add_argument("command", choices=("size", "clean", "collect"))
    ap.add_argument("--store", type=Path, default=Path(os.environ.get("SYNTHESIZRR_STORE", "store")),
                    help="the run store (default: $SYNTHESIZRR_STORE or store)")
    ap.add_argument("--results", type=Path, default=Path(os.environ.get("SYNTHESIZRR_RESULTS", "results")),
                    help="where run records live (default: $SYNTHESIZRR_RESULTS or results)")
    ap.add_argument("--yes", action="store_true", help="clean: really remove")
    args = ap.parse_args(argv)
    if not args.store.is_dir():
        print(f"synthesizrr-store: error: no run store at {args.store} (pass --store DIR)", file=sys.stderr)
        raise SystemExit(2)
    if args.command == "size":
        rep = size_report(args.store)
        for stage, s in rep["stages"].items():
            print(f"{stage:<11} {s['entries']:>4} entries  {_human(s['bytes']):>9}")
        if "teacher_cache" in rep:
            tc = rep["teacher_cache"]
            print(f"{'teacher':<11} {tc['calls']:>4} calls    {_human(tc['bytes']):>9}")
        if rep.get("teacher_batches", {}).get("open"):
            tb = rep["teacher_batches"]
            print(f"{'batches':<11} {tb['open']:>4} in flight ({tb['requests']} requests: `synthesizrr-store collect`)")
        print(f"{'total':<11} {'':>12} {_human(rep['total_bytes']):>9}")
    elif args.command == "collect":
        raise SystemExit(collect(args.store))
    else:
        try:
            clean(args.store, args.results, args.yes)
        except NoRunRecords as exc:
            print(f"synthesizrr-store: error: {exc}", file=sys.stderr)
            raise SystemExit(2)


def collect(store: Path, echo=print) -> int:
    """Download the results of ended provider batches into the call cache: 0 when none is left in flight, 1 while
    some are, 2 on an error (one line)."""
    from .teachers import backend_class
    from .teachers.batches import collect_all

    if not (store / CACHE).exists():
        print(f"synthesizrr-store: error: no teacher call cache at {store / CACHE}", file=sys.stderr)
        return 2
    try:
        report = collect_all(store / CACHE, lambda cfg: backend_class(cfg.backend)(cfg), echo)
    except SynthesizrrError as exc:
        print(f"synthesizrr-store: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 1 if report["in_flight"] else 0
