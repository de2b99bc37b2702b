"""Paper-style reports. Each finished run writes a record to ``results/<name>/runs/``; the report is rebuilt
from all records: a comparison table (markdown, CSV, LaTeX), an accuracy table (rows methods, columns
datasets, cells mean ± std), a metrics plot, and a shot-sweep plot when runs differ in shots.

``synthesizrr-report results/<name> [more dirs] [--out results/<other>]`` rebuilds it from any set of runs.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
from pathlib import Path

from filelock import FileLock

from .core.store import atomic_write_json, atomic_write_text
from .core.assets import spacy_model_candidates
from .fidelity import departures
from .tracking import scrub

COLUMNS = [  # (record key, header, scale, decimals)
    ("num_final", "#Examples", 1, 0),
    ("self_bleu_5", "Self-BLEU-5 (%) ↓", 100, 1),
    ("entity_entropy_log2", "Entity entropy, pooled (bits) ↑", 1, 2),
    ("entity_entropy_per_type_mean_log2", "Entity entropy, mean per NER label (bits) ↑", 1, 2),
    ("mauve", "MAUVE (%) ↑", 100, 1),
    ("mauve_scaling_5", "MAUVE c=5 (%) ↑", 100, 1),
    ("distinct_2", "Distinct-2 (%) ↑", 100, 1),
    ("accuracy", "Accuracy (%) ↑", 100, 1),
    ("macro_f1", "Macro-F1 (%) ↑", 100, 1),
    ("label_preservation", "Label preservation (%) ↑", 100, 1),
]
SWEEP_METRICS = [("accuracy", "Accuracy (%)", 100), ("self_bleu_5", "Self-BLEU-5 (%)", 100),
                 ("entity_entropy_log2", "Entity entropy (bits)", 1), ("mauve", "MAUVE (%)", 100)]


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
        "num_student_seeds": len(cfg.student.seeds),
        "stage_keys": {k: v["key"] for k, v in summary.get("stages", {}).items()},
        "store_dir": str(cfg.store_dir),
        "fidelity": cfg.fidelity, "fidelity_departures": departures(cfg),
        "shortfall": filt.get("shortfall"), "missing_labels": filt.get("missing_labels") or [],
        "shots_used": syn.get("shots"),
        "duplicates": syn.get("duplicates"),
        "entity_entropy_per_type_log2": ev.get("entity_entropy_per_type_log2"),
        "spacy_model_configured": cfg.metrics.spacy_model, "metrics_skipped": ev.get("metrics_skipped") or [],
        "config": scrub(dataclasses.asdict(cfg)),
    }
    rec.update({k: v for k, v in ev.items() if isinstance(v, (int, float, str)) or v is None})
    return rec


def notes(rec: dict) -> list[str]:
    """What a reader must know about a row: departures from its fidelity option, a short final sample, a spaCy
    pipeline other than the configured one."""
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
    return out


def record_run(cfg, method, summary: dict, filtered: Path) -> Path:
    out = Path(cfg.results_dir) / cfg.name
    rec = run_record(cfg, method, summary)
    slug = _slug(rec["dataset"], rec["teacher"], rec["method"], rec["retriever"], rec["corpus"], rec["student"],
                 rec["filter"], rec["fidelity"])
    out.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out / ".report.lock")):  # sweep points may finish at the same time
        atomic_write_json(out / "runs" / f"{slug}.json", rec)
        _write_samples(out / "samples" / f"{slug}.jsonl", filtered / "final.jsonl", cfg.metrics.sample_table_rows)
        build_report([out], out)
    return out


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
        files = sorted((d / "runs").glob("*.json")) if (d / "runs").is_dir() else sorted(d.glob("*.json"))
        recs.extend(json.loads(f.read_text()) for f in files)
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


def comparison_rows(recs: list[dict]) -> tuple[list[str], list[list[str]]]:
    cols = [c for c in COLUMNS if any(r.get(c[0]) is not None for r in recs)]  # drop columns no run has
    header = ["Dataset", "Teacher", "Method", "Fidelity", *[h for _, h, _, _ in cols], "Notes"]
    rows = []
    for r in sorted(recs, key=_order):
        cells = [_fmt(r.get(k), s, d, r.get(f"{k}_std")) for k, _, s, d in cols]
        fidelity = f"{r.get('fidelity', '-')}{'*' if r.get('fidelity_departures') else ''}"
        rows.append([r["dataset"], r["teacher"], r["method"], fidelity, *cells, "; ".join(notes(r)) or "–"])
    return header, rows


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
        methods.setdefault(key, {})[r["dataset"]] = _fmt(r.get("accuracy"), 100, 1, r.get("accuracy_std"))
    return ["Method", *datasets], [[m, *[cells.get(d, "–") for d in datasets]] for m, cells in methods.items()]


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    return buf.getvalue()


def latex(header: list[str], rows: list[list[str]]) -> str:
    esc = lambda s: (s.replace("\\", r"\textbackslash{}").replace("&", r"\&").replace("%", r"\%")
                     .replace("_", r"\_").replace("#", r"\#").replace("±", r"$\pm$").replace("↑", r"$\uparrow$")
                     .replace("↓", r"$\downarrow$").replace("–", "--"))
    body = [" & ".join(esc(c) for c in r) + r" \\" for r in rows]
    numeric = lambda j: rows and all(re.match(r"^(–|-?\d)", r[j]) for r in rows)
    spec = "".join("r" if numeric(j) else "l" for j in range(len(header)))
    return "\n".join([r"\begin{tabular}{" + spec + "}", r"\toprule",
                      " & ".join(esc(h) for h in header) + r" \\", r"\midrule", *body, r"\bottomrule",
                      r"\end{tabular}"]) + "\n"


def _write_table(out: Path, stem: str, header: list[str], rows: list[list[str]]) -> None:
    atomic_write_text(out / f"{stem}.md", markdown(header, rows))
    atomic_write_text(out / f"{stem}.csv", csv_text(header, rows))
    atomic_write_text(out / f"{stem}.tex", latex(header, rows))


def plot_metrics(recs: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = sorted(recs, key=_order)
    names = [f"{r['method']}\n{r['dataset']}" if len({x['dataset'] for x in recs}) > 1 else r["method"] for r in recs]
    fig, axes = plt.subplots(1, len(SWEEP_METRICS), figsize=(4.2 * len(SWEEP_METRICS), 4.2))
    for ax, (key, title, scale) in zip(axes, SWEEP_METRICS):
        vals = [(r.get(key) or 0) * scale for r in recs]
        errs = [(r.get(f"{key}_std") or 0) * scale for r in recs]
        ax.bar(range(len(recs)), vals, yerr=errs, color=[f"C{i}" for i in range(len(recs))], capsize=3)
        ax.set_xticks(range(len(recs)), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(title)
    fig.tight_layout()
    _save_fig(fig, path)


def plot_shot_sweep(recs: list[dict], path: Path) -> bool:
    """Metrics against the number of shots, one line per method family (and dataset/teacher)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines: dict[str, list[dict]] = {}
    for r in recs:
        if r["real_data"]:
            continue
        lines.setdefault(f"{r['method_family']} · {r['dataset']} · {r['teacher']}", []).append(r)
    lines = {k: sorted(v, key=lambda r: r["num_shots"]) for k, v in lines.items()
             if len({r["num_shots"] for r in v}) > 1}
    if not lines:
        return False
    fig, axes = plt.subplots(1, len(SWEEP_METRICS), figsize=(4.2 * len(SWEEP_METRICS), 4))
    for ax, (key, title, scale) in zip(axes, SWEEP_METRICS):
        for i, (name, rs) in enumerate(sorted(lines.items())):
            xs = [r["num_shots"] for r in rs]
            ys = [(r.get(key) if r.get(key) is not None else float("nan")) * scale for r in rs]
            ax.plot(xs, ys, marker="o", label=name, color=f"C{i}")
        if max(r["num_shots"] for rs in lines.values() for r in rs) > 8:
            ax.set_xscale("symlog", linthresh=1)  # 0, 1, 3 and 32 shots stay readable
        ax.set_xlabel("in-context shots")
        ax.set_title(title)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    _save_fig(fig, path)
    return True


def _save_fig(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


def build_report(dirs: list[Path], out: Path) -> list[Path]:
    recs = load_records(dirs)
    out.mkdir(parents=True, exist_ok=True)
    _write_table(out, "table", *comparison_rows(recs))
    _write_table(out, "accuracy_by_dataset", *accuracy_rows(recs))
    header, rows = entity_rows(recs)
    if len(header) > 4:
        atomic_write_text(out / "entity_entropy_by_label.csv", csv_text(header, rows))
    plot_metrics(recs, out / "metrics.png")
    written = [out / "table.md", out / "metrics.png"]
    if plot_shot_sweep(recs, out / "shots_sweep.png"):
        written.append(out / "shots_sweep.png")
    atomic_write_json(out / "summary.json", {"runs": sorted(recs, key=_order)})
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="synthesizrr-report", description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="+", type=Path, help="results/<name> folders (or folders of run records)")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: the first dir)")
    args = ap.parse_args(argv)
    missing = [str(d) for d in args.dirs if not d.is_dir()]
    if missing:
        print(f"synthesizrr-report: not a folder: {', '.join(missing)}", file=sys.stderr)
        raise SystemExit(2)
    for path in build_report(args.dirs, args.out or args.dirs[0]):
        print(path)
