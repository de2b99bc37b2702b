"""Paper-style reports. Each finished run writes a record to ``results/<name>/runs/``; the report is rebuilt
from all records: a comparison table (markdown, CSV, LaTeX; every value with its interval), every row against a
baseline row (``vs_baseline``), an accuracy table (rows methods, columns datasets), a metrics plot, and a
shot-sweep plot when runs differ in shots. The statistics are in report_stats.py, the plots in plots.py.

``synthesizrr-report results/<name> [more dirs] [--out results/<other>] [--baseline LABEL]`` rebuilds it from
any set of runs.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import re
import sys
from collections import Counter
from pathlib import Path

from filelock import FileLock

from .core.store import atomic_write_json, atomic_write_text, fingerprint
from .core.assets import spacy_model_candidates
from .fidelity import departures
from .machine import machine
from .plots import plot_metrics, plot_shot_sweep
from .report_stats import (COLUMNS, OUTSIDE_NOTE, REPLICATES, estimates_outside, interval_methods, interval_suffix,
                           per_seed, row_stats, save_replicates, vs_baseline)
from .tracking import scrub

log = logging.getLogger(__name__)
DEFAULT_BASELINE = "FewGen 32-shot"   # metrics.baseline's default
# config fields that say how a run was driven or where its files are, not what it computes
OPERATIONAL = ("name", "store_dir", "results_dir", "corpus_root", "data_root", "force", "stage", "verbose",
               "preflight", "tracking")
SUPERSEDED = "superseded"


def _slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "__".join(parts)).strip("_")


def run_record(cfg, method, summary: dict) -> dict:
    ev, dist, filt, syn = (summary.get(k, {}) for k in ("evaluate", "distill", "filter", "synthesize"))
    rec = {
        "name": cfg.name, "dataset": cfg.dataset.name,
        "teacher": cfg.teacher.name if method.uses_teacher else "-",
        "method": method.label, "method_name": cfg.method.name, "method_family": method.family,
        "method_order": method.order, "real_data": method.real_data, "num_shots": cfg.method.num_shots,
        "retriever": cfg.retriever.name, "corpus": cfg.corpus.name,
        "student": cfg.student.name, "filter": cfg.filter.name, "seed": cfg.seed,
        "num_final": filt.get("num_final"), "num_prompts": syn.get("num_prompts"), "drops": syn.get("drops"),
        "teacher_stats": syn.get("teacher"),
        "accuracy": dist.get("accuracy_mean"), "accuracy_std": dist.get("accuracy_std"),
        "macro_f1": dist.get("macro_f1_mean"), "macro_f1_std": dist.get("macro_f1_std"),
        "num_student_seeds": len(cfg.student.seeds), "labels": list(cfg.dataset.labels),   # config order
        "stage_keys": {k: v["key"] for k, v in summary.get("stages", {}).items()},
        "store_dir": str(cfg.store_dir),
        "fidelity": cfg.fidelity, "fidelity_departures": departures(cfg),
        "shortfall": filt.get("shortfall"), "missing_labels": filt.get("missing_labels") or [],
        "shots_used": syn.get("shots"),
        "duplicates": syn.get("duplicates"),
        "entity_entropy_per_type_log2": ev.get("entity_entropy_per_type_log2"),
        "spacy_model_configured": cfg.metrics.spacy_model, "metrics_skipped": ev.get("metrics_skipped") or [],
        "config": scrub(dataclasses.asdict(cfg)), "machine": machine(),
    }
    rec.update({k: v for k, v in ev.items() if isinstance(v, (int, float, str)) or v is None})
    rec.update(row_stats(cfg, rec, ev, per_seed(cfg.store_dir, rec["stage_keys"].get("distill")), dist.get("num_test")))
    return rec


def notes(rec: dict, footnotes: dict | None = None) -> list[str]:
    """What a reader must know about a row: departures from its fidelity option, a short final sample, a spaCy
    pipeline other than the configured one, settings that mean little at the row's size and intervals wider
    than +-10%. With `footnotes` ({warning: number}, filled here), size warnings become references ``[n]``."""
    out = []
    if rec.get("fidelity_departures"):
        out.append(f"{rec['fidelity']}* ({', '.join(rec['fidelity_departures'])})")
    shots = rec.get("shots_used")
    if shots and shots["mean"] < shots["configured"]:
        out.append(f"shots used: mean {shots['mean']:.1f}, min {shots['min']} of {shots['configured']}")
    out += rec.get("metrics_skipped") or []
    if rec.get("missing_labels"):
        out.append(f"no examples of {', '.join(rec['missing_labels'])}")
    short = rec.get("shortfall")
    if short:
        out.append(f"final sample {short['final']}/{short['wanted']}")
    used, wanted = rec.get("spacy_model"), rec.get("spacy_model_configured")
    if used and wanted and used not in spacy_model_candidates(wanted):
        out.append(f"NER with {used} (configured {wanted})")
    ref = lambda text: f"[{footnotes.setdefault(text, len(footnotes) + 1)}]"   # noqa: E731  (a footnote number)
    warnings = rec.get("size_warnings") or []
    if footnotes is None:
        out += warnings
    elif warnings:
        out.append("⚠ " + " ".join(ref(w) for w in warnings))
    if rec.get("wide_intervals"):
        out.append(f"intervals wider than ±10%: {' / '.join(rec['wide_intervals'])}")
    outside = estimates_outside(rec.get("intervals") or {})
    if outside:
        mark = ref(OUTSIDE_NOTE) if footnotes is not None else f"({OUTSIDE_NOTE})"
        out.append(f"estimate outside its interval: {' / '.join(outside)} {mark}")
    return out


def record_run(cfg, method, summary: dict, filtered: Path) -> Path:
    out = Path(cfg.results_dir) / cfg.name
    rec = run_record(cfg, method, summary)
    # readable parts, then the stage keys: rows of a sweep over any setting (student.lr=...) stay apart
    slug = _slug(rec["dataset"], rec["teacher"], rec["method"], rec["retriever"], rec["corpus"], rec["student"],
                 rec["filter"], rec["fidelity"], fingerprint(rec["stage_keys"], length=8))
    out.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out / ".report.lock")):  # sweep points may finish at the same time
        supersede(out, rec, slug)
        ev_dir = Path(cfg.store_dir) / "evaluate" / str(rec["stage_keys"].get("evaluate")) / REPLICATES
        rec["replicates_file"] = (f"{REPLICATES}/{slug}.npz" if save_replicates(ev_dir, out / REPLICATES / f"{slug}.npz")
                                  else None)
        atomic_write_json(out / "runs" / f"{slug}.json", rec)
        _write_samples(out / "samples" / f"{slug}.jsonl", filtered / "final.jsonl", cfg.metrics.sample_table_rows)
        build_report([out], out)
    return out


def _setting(rec: dict) -> dict:
    return {k: v for k, v in (rec.get("config") or {}).items() if k not in OPERATIONAL}


def supersede(out: Path, rec: dict, slug: str) -> list[str]:
    """Move the rows of earlier runs of ``rec``'s config whose stage keys differ (made on another CPU or llama.cpp
    build, or before a stage changed) to ``superseded/`` (record, samples, replicates), so that the table shows
    the config once, as last run. Returns the slugs moved."""
    moved = []
    for path in sorted((out / "runs").glob("*.json")):
        if path.stem == slug:
            continue
        old = json.loads(path.read_text())
        if _setting(old) != _setting(rec):
            continue
        for sub, ext in (("runs", "json"), ("samples", "jsonl"), (REPLICATES, "npz")):
            src = out / sub / f"{path.stem}.{ext}"
            if src.exists():
                (out / SUPERSEDED / sub).mkdir(parents=True, exist_ok=True)
                src.replace(out / SUPERSEDED / sub / src.name)
        made_on = old.get("machine") or {}
        log.warning("results/%s: row %s replaces %s, an earlier run of the same config (other stage keys; made on "
                    "%s); the old row is under %s/", out.name, slug, path.stem,
                    made_on.get("cpu", "an unrecorded machine"), SUPERSEDED)
        moved.append(path.stem)
    return moved


def _write_samples(dest: Path, final: Path, n: int) -> None:
    lines = final.read_text(encoding="utf-8").splitlines()
    by_label: dict[str, list[str]] = {}
    for line in lines:
        by_label.setdefault(json.loads(line)["label"], []).append(line)
    per = max(1, n // max(1, len(by_label)))
    picked = [ln for rows in by_label.values() for ln in rows[:per]]
    atomic_write_text(dest, "\n".join(picked) + "\n")


def load_records(dirs: list[Path]) -> list[dict]:
    recs = []
    for d in dirs:
        d = Path(d)
        base = d if (d / "runs").is_dir() else d.parent
        files = sorted((d / "runs").glob("*.json")) if (d / "runs").is_dir() else sorted(d.glob("*.json"))
        for f in files:
            rec = json.loads(f.read_text())
            if rec.get("replicates_file"):   # transient: where this row's replicates are (not written back)
                rec["_replicates"] = str(base / rec["replicates_file"])
            recs.append(rec)
    if not recs:
        raise SystemExit(f"synthesizrr-report: no run records under {', '.join(map(str, dirs))} (expected runs/*.json)")
    return recs


def _order(rec: dict) -> tuple:
    return (rec["dataset"], rec["method_order"], rec["method_family"], rec["num_shots"], rec["method"],
            rec["teacher"])


def _fmt(value, scale: float, decimals: int, std=None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    s = f"{value * scale:.{decimals}f}"
    return f"{s} ± {std * scale:.{decimals}f}" if std is not None and std > 0 else s


def cell(rec: dict, key: str, scale: float, decimals: int) -> str:
    """``value [low, high]``, students ``mean ± std [low, high]``; without an interval the value (± std)."""
    text = _fmt(rec.get(key), scale, decimals, rec.get(f"{key}_std"))
    return text + interval_suffix(rec, key, scale, decimals) if text != "–" else text


def _flat(d, prefix: str = "") -> dict:
    out = {}
    for k, v in (d or {}).items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _differing(flats: list[dict], skip_none: bool = False) -> list[str]:
    """The keys whose values differ between the flattened records (with skip_none, among those that have one)."""
    def values(k):
        return {repr(f.get(k)) for f in flats if not (skip_none and f.get(k) is None)}
    return sorted(k for k in set().union(*flats) if len(values(k)) > 1)


def distinguishing(recs: list[dict]) -> dict[int, str]:
    """For rows that share dataset, teacher, method and fidelity (a sweep over another setting), the settings
    that tell them apart, e.g. 'student.lr=0.0001'; where the configs are the same (rows merged from several
    folders), the machines ('machine.cpu=AMD EPYC'), else the stage keys. By id() of the record."""
    groups: dict[tuple, list[dict]] = {}
    for r in recs:
        groups.setdefault((r["dataset"], r["teacher"], r["method"], r.get("fidelity")), []).append(r)
    out = {}
    for rows in (g for g in groups.values() if len(g) > 1):
        flats = [_flat(_setting(r)) for r in rows]
        keys = _differing(flats)
        if not keys:          # the same config: the machines, without the fields a record from before lacks
            flats = [_flat({"machine": r.get("machine") or {"cpu": "unrecorded"}}) for r in rows]
            keys = _differing(flats, skip_none=True) or _differing(flats)
        if not keys:          # the same machine too: the stage keys
            flats = [{"run": fingerprint(r.get("stage_keys") or {}, length=8)} for r in rows]
            keys = ["run"]
        for r, f in zip(rows, flats):
            out[id(r)] = ", ".join(f"{k}={f.get(k)}" for k in keys)
    return out


def comparison_rows(recs: list[dict], footnotes: dict | None = None) -> tuple[list[str], list[list[str]]]:
    cols = [c for c in COLUMNS if any(r.get(c[0]) is not None for r in recs)]  # drop columns no run has
    header = ["Dataset", "Teacher", "Method", "Fidelity", *[h for _, h, _, _ in cols], "Notes"]
    rows, apart = [], distinguishing(recs)
    for r in sorted(recs, key=_order):
        cells = [cell(r, k, s, d) for k, _, s, d in cols]
        fidelity = f"{r.get('fidelity', '-')}{'*' if r.get('fidelity_departures') else ''}"
        row_notes = ([apart[id(r)]] if apart.get(id(r)) else []) + notes(r, footnotes)
        rows.append([r["dataset"], r["teacher"], r["method"], fidelity, *cells, "; ".join(row_notes) or "–"])
    return header, rows


def table_notes(recs: list[dict], footnotes: dict) -> list[str]:
    """The lines under the comparison table: what the cells and intervals are, then the size warnings."""
    conf = next((r.get("interval_confidence") for r in recs if r.get("intervals")), None)
    out = []
    if conf:
        methods = {k: v for r in recs for k, v in (r.get("interval_methods") or {}).items()}
        out.append(f"Cells: value [{conf:.0%} interval]; student metrics: mean ± std over seeds [t-interval over "
                   f"seeds]. Intervals over texts: {interval_methods(methods)} (docs/metrics.md).")
    out += [f"[{n}] {w}" for w, n in sorted(footnotes.items(), key=lambda x: x[1])]
    return out


def entity_rows(recs: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Per-NER-label entity entropy (bits) of every run: fmcore's quantity, one column per label."""
    labels = sorted({lab for r in recs for lab in (r.get("entity_entropy_per_type_log2") or {})})
    rows = [[r["dataset"], r["teacher"], r["method"], r.get("fidelity", "-"),
             *[_fmt((r.get("entity_entropy_per_type_log2") or {}).get(lab), 1, 2) for lab in labels]]
            for r in sorted(recs, key=_order)]
    return ["Dataset", "Teacher", "Method", "Fidelity", *labels], rows


def accuracy_rows(recs: list[dict]) -> tuple[list[str], list[list[str]]]:
    datasets = sorted({r["dataset"] for r in recs})
    methods: dict[str, dict] = {}
    several = len({r.get("fidelity") for r in recs}) > 1
    for r in sorted(recs, key=_order):
        key = r["method"] if r["real_data"] else f"{r['method']} ({r['teacher']})"
        key += f" [{r.get('fidelity')}]" if several else ""
        methods.setdefault(key, {})[r["dataset"]] = cell(r, "accuracy", 100, 1)
    return ["Method", *datasets], [[m, *[cells.get(d, "–") for d in datasets]] for m, cells in methods.items()]


def markdown(header: list[str], rows: list[list[str]], notes_: list[str] = ()) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    tail = ["", *[f"{n}  " for n in notes_]] if notes_ else []
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows] + tail) + "\n"


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    return buf.getvalue()


def _tex(s: str) -> str:
    return (s.replace("\\", r"\textbackslash{}").replace("&", r"\&").replace("%", r"\%").replace("_", r"\_")
            .replace("#", r"\#").replace("±", r"$\pm$").replace("↑", r"$\uparrow$").replace("↓", r"$\downarrow$")
            .replace("–", "--").replace("Δ", r"$\Delta$").replace("†", r"$^\dagger$").replace("⚠", "!")
            .replace("<", r"$<$").replace(">", r"$>$"))


def latex(header: list[str], rows: list[list[str]], notes_: list[str] = ()) -> str:
    body = [" & ".join(_tex(c) for c in r) + r" \\" for r in rows]
    numeric = lambda j: rows and all(re.match(r"^(–|[-+]?\d)", r[j]) for r in rows)
    spec = "".join("r" if numeric(j) else "l" for j in range(len(header)))
    foot = [rf"\multicolumn{{{len(header)}}}{{l}}{{\footnotesize {_tex(n)}}} \\" for n in notes_]
    return "\n".join([r"\begin{tabular}{" + spec + "}", r"\toprule",
                      " & ".join(_tex(h) for h in header) + r" \\", r"\midrule", *body, r"\bottomrule", *foot,
                      r"\end{tabular}"]) + "\n"


def _write_table(out: Path, stem: str, header: list[str], rows: list[list[str]], notes_: list[str] = ()) -> None:
    atomic_write_text(out / f"{stem}.md", markdown(header, rows, notes_))
    atomic_write_text(out / f"{stem}.csv", csv_text(header, rows))
    atomic_write_text(out / f"{stem}.tex", latex(header, rows, notes_))


def baseline_label(recs: list[dict]) -> str:
    """metrics.baseline as the records give it (the most common, if they differ), else the default."""
    labels = Counter(((r.get("config") or {}).get("metrics") or {}).get("baseline") for r in recs)
    labels.pop(None, None)
    return labels.most_common(1)[0][0] if labels else DEFAULT_BASELINE


def write_vs_baseline(recs: list[dict], out: Path, baseline: str) -> dict:
    vs = vs_baseline(recs, baseline, _order)
    if not vs["rows"]:   # one line saying so, in every format
        for ext in ("md", "csv", "tex"):
            atomic_write_text(out / f"vs_baseline.{ext}", (vs["missing"] if ext != "tex" else _tex(vs["missing"])) + "\n")
    else:
        _write_table(out, "vs_baseline", vs["header"], vs["rows"], vs["notes"] + ([vs["missing"]] if vs["missing"] else []))
    return vs


def build_report(dirs: list[Path], out: Path, baseline: str | None = None) -> list[Path]:
    recs = load_records(dirs)
    out.mkdir(parents=True, exist_ok=True)
    footnotes: dict = {}
    header, rows = comparison_rows(recs, footnotes)
    atomic_write_text(out / "table.md", markdown(header, rows, table_notes(recs, footnotes)))
    atomic_write_text(out / "table.tex", latex(header, rows, table_notes(recs, footnotes)))
    atomic_write_text(out / "table.csv", csv_text(*comparison_rows(recs)))   # full warnings in Notes
    _write_table(out, "accuracy_by_dataset", *accuracy_rows(recs))
    vs = write_vs_baseline(recs, out, baseline or baseline_label(recs))
    header, rows = entity_rows(recs)
    if len(header) > 4:
        atomic_write_text(out / "entity_entropy_by_label.csv", csv_text(header, rows))
    plot_metrics(recs, out / "metrics.png", _order)
    written = [out / "table.md", out / "vs_baseline.md", out / "metrics.png"]
    if plot_shot_sweep(recs, out / "shots_sweep.png"):
        written.append(out / "shots_sweep.png")
    runs = [{k: v for k, v in r.items() if not k.startswith("_")} for r in sorted(recs, key=_order)]
    atomic_write_json(out / "summary.json", {"runs": runs, "vs_baseline": vs["comparisons"]})
    return written


def summary_lines(report_dir) -> list[str]:
    """For the end of a run: where the report is, the comparison table with its intervals and the rows against
    the baseline (the markdown files, notes included)."""
    out = Path(report_dir)
    lines = [f"Results: {out} (tables in md, csv and tex; plots; runs/*.json)"]
    for name in ("table.md", "vs_baseline.md"):
        if (out / name).exists():
            lines += ["", *(out / name).read_text(encoding="utf-8").splitlines()]
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="synthesizrr-report", description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="+", type=Path, help="results/<name> folders (or folders of run records)")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: the first dir)")
    ap.add_argument("--baseline", default=None, metavar="LABEL",
                    help="method label of the vs_baseline rows' baseline (default: the records' metrics.baseline)")
    args = ap.parse_args(argv)
    missing = [str(d) for d in args.dirs if not d.is_dir()]
    if missing:
        print(f"synthesizrr-report: not a folder: {', '.join(missing)}", file=sys.stderr)
        raise SystemExit(2)
    for path in build_report(args.dirs, args.out or args.dirs[0], args.baseline):
        print(path)
