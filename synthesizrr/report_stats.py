"""The statistics of a report (docs/metrics.md, "Report"): each row's intervals (student metrics over seeds,
intrinsic metrics over texts), the warnings that say when a number means little at the row's size, and every row
against a baseline row of the same dataset and teacher (``vs_baseline``). The computing is metrics.uncertainty's.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from metrics.uncertainty import (HALF_METHOD, PERCENTILE_METHOD, T_METHOD, PAIRED_METHOD, DIFFERENCE_METHOD,
                                 difference_interval, paired_seed_test, seed_summary, size_warnings, values_by_seed,
                                 wide_interval_warnings)

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
STUDENT = ("accuracy", "macro_f1")
REPLICATES = "replicates"   # results/<name>/replicates/<row>.npz: the row's replicates over texts, float32
DAGGER = "†"


SCHEMES = {PERCENTILE_METHOD: "percentile bootstrap", HALF_METHOD: "half-sampling"}


def _name(header: str) -> str:
    return header.rstrip(" ↑↓")


def _short(header: str) -> str:
    return _name(header).split(" (")[0]


def interval_methods(methods: dict) -> str:
    """One line: which metrics were resampled how, e.g. 'self_bleu: percentile bootstrap x1000; ...'."""
    parts = [f"{k}: {SCHEMES.get(v['method'], v['method'])} x{v['n_resamples']}" for k, v in sorted(methods.items())
             if v.get("n_resamples")]
    return "; ".join(parts) or "none"


OUTSIDE_NOTE = ("the estimate lies outside its resampled interval: resampling repeats texts, which biases this "
                "metric (MAUVE, entropies), so the interval shows the spread, not where the value lies")


def estimates_outside(intervals: dict) -> list[str]:
    """Short names of the table's columns whose estimate is outside its own interval."""
    out = []
    for key, header, _, _ in COLUMNS:
        iv = intervals.get(key) or {}
        e, lo, hi = iv.get("estimate"), iv.get("ci_low"), iv.get("ci_high")
        if None not in (e, lo, hi) and not lo - 1e-9 <= e <= hi + 1e-9:
            out.append(_short(header))
    return out


# --- per row, when its record is written ---------------------------------------------------------------------

def per_seed(store_dir, distill_key) -> list[dict]:
    """The distill stage's per-seed records (``results.json``), or [] when the row was not distilled."""
    path = Path(store_dir) / "distill" / str(distill_key) / "results.json"
    return json.loads(path.read_text())["per_seed"] if distill_key and path.exists() else []


def row_stats(cfg, rec: dict, ev: dict, seeds: list[dict], num_test) -> dict:
    """The statistics a run record keeps: ``{key}_by_seed`` of the student metrics, ``intervals`` ({key:
    estimate, ci_low, ci_high, ...}: t over seeds for the student, the evaluate stage's for the rest),
    ``interval_methods``, ``interval_confidence``, ``interval_seed``, ``size_warnings``, ``interval_warnings``
    (full text) and ``wide_intervals`` (the columns those name)."""
    m, conf = cfg.metrics, cfg.metrics.confidence
    over_texts = ev.get("intervals") or {}
    intervals, methods = dict(over_texts.get("metrics") or {}), dict(over_texts.get("methods") or {})
    out: dict = {}
    for key in STUDENT:
        by_seed = values_by_seed(seeds, key) if seeds else {}
        out[f"{key}_by_seed"] = by_seed
        if by_seed:
            s = seed_summary(by_seed, conf)
            intervals[key] = {"estimate": s["mean"], "ci_low": s["ci_low"], "ci_high": s["ci_high"], "std": s["std"],
                              "n": s["n"], "resampled": "student_seeds"}
    if seeds:
        methods["student_seeds"] = {"method": T_METHOD, "n_seeds": len(seeds)}
    num_texts = rec.get("num_final") or ev.get("num_texts") or 0
    warn = size_warnings(num_texts, len(seeds) or len(cfg.student.seeds),
                         m.mauve_num_buckets if "mauve" in ev else None, m.self_bleu_sample, num_test)
    if "self_bleu_5" not in ev and "self_bleu_1" not in ev:   # Self-BLEU off or skipped: its warning is moot
        warn = [w for w in warn if not w.startswith("Self-BLEU over")]
    shown = {_short(h): _scaled(intervals[k], s) for k, h, s, _ in COLUMNS if k in intervals}
    wide = [n for n, iv in shown.items() if wide_interval_warnings({n: {**iv, "confidence": conf}})]
    out.update(intervals=intervals, interval_methods=methods, interval_confidence=conf,
               interval_seed=over_texts.get("seed"), num_test=num_test, size_warnings=warn,
               interval_warnings=wide_interval_warnings({n: {**shown[n], "confidence": conf} for n in wide}),
               wide_intervals=wide)
    return out


def _scaled(iv: dict, scale: float) -> dict:
    return {k: (iv[k] * scale if iv.get(k) is not None else None) for k in ("estimate", "ci_low", "ci_high")}


def save_replicates(src: Path, dest: Path) -> bool:
    """Copy the evaluate stage's ``replicates/*.npy`` into one compressed float32 ``.npz`` beside the records."""
    files = sorted(Path(src).glob("*.npy")) if Path(src).is_dir() else []
    if not files:
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.stem}.tmp.npz")
    np.savez_compressed(tmp, **{f.stem: np.load(f).astype(np.float32) for f in files})
    tmp.replace(dest)
    return True


def load_replicates(rec: dict) -> dict[str, np.ndarray]:
    """A row's replicates: the copy beside its record (``_replicates``, set when records are loaded), else the
    evaluate stage's folder in the run store; {} when neither exists."""
    path = Path(rec["_replicates"]) if rec.get("_replicates") else None
    if path is not None and path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    key = (rec.get("stage_keys") or {}).get("evaluate")
    folder = Path(rec.get("store_dir") or "store") / "evaluate" / str(key) / REPLICATES
    return {f.stem: np.load(f) for f in sorted(folder.glob("*.npy"))} if key and folder.is_dir() else {}


# --- cells ---------------------------------------------------------------------------------------------------

def interval_suffix(rec: dict, key: str, scale: float, decimals: int) -> str:
    """`` [low, high]`` of a row's interval for `key`, or "" when it has none."""
    iv = (rec.get("intervals") or {}).get(key) or {}
    if iv.get("ci_low") is None or iv.get("ci_high") is None:
        return ""
    return f" [{iv['ci_low'] * scale:.{decimals}f}, {iv['ci_high'] * scale:.{decimals}f}]"


def _diff_cell(d: dict | None, scale: float, decimals: int) -> str:
    if d is None:
        return "–"
    s = f"{d['estimate'] * scale:+.{decimals}f}"
    if d.get("ci_low") is None:
        return f"{s} (no interval)"
    s += f" [{d['ci_low'] * scale:+.{decimals}f}, {d['ci_high'] * scale:+.{decimals}f}]"
    return s + (DAGGER if d["includes_zero"] else "")


def _p(p) -> str:
    return "–" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}")


# --- rows against the baseline -------------------------------------------------------------------------------

def _same_group(rec: dict, base: dict) -> bool:
    same = all(rec.get(k) == base.get(k) for k in ("dataset", "student", "filter", "fidelity"))
    return same and (rec.get("real_data") or base.get("real_data") or rec.get("teacher") == base.get("teacher"))


def compare(rec: dict, base: dict, columns: list, confidence: float, replicates) -> tuple[dict, list[str]]:
    """{key: difference} of one row against its baseline (intrinsic: :func:`difference_interval` of the two rows'
    replicates; student: :func:`paired_seed_test` over matched seeds) and the comparison's notes."""
    diffs, notes = {}, []
    reps_a, reps_b = replicates(rec), replicates(base)
    for key, *_ in columns:
        if key in STUDENT or rec.get(key) is None or base.get(key) is None:
            continue
        point = rec[key] - base[key]
        a, b = reps_a.get(key), reps_b.get(key)
        diffs[key] = (difference_interval(a, b, confidence, point) if a is not None and b is not None
                      and len(a) == len(b) else {"estimate": point, "ci_low": None})
    if any(d.get("ci_low") is None for d in diffs.values()):
        notes.append("no replicates for some metrics (metrics.intervals=false, or an older run)")
    if rec.get("num_test") != base.get("num_test"):
        notes.append(f"test sets differ ({rec.get('num_test')} vs {base.get('num_test')}): no paired student test")
        return diffs, notes
    for key in STUDENT:
        a, b = rec.get(f"{key}_by_seed") or {}, base.get(f"{key}_by_seed") or {}
        if not (set(a) & set(b)):
            if a and b:
                notes.append("no student seed in common: no paired test")
            continue
        diffs[key] = paired_seed_test(a, b, confidence)
        diffs[key]["estimate"] = diffs[key]["mean_difference"]
    test = diffs.get("accuracy")
    if test and test["n_pairs"] < 2:
        notes.append("1 matched student seed: no interval, no test")
    if test and (test["unmatched_seeds"]["method"] or test["unmatched_seeds"]["baseline"]):
        u = test["unmatched_seeds"]
        notes.append(f"unmatched seeds left out: row {u['method']}, baseline {u['baseline']}")
    return diffs, notes


def vs_baseline(recs: list[dict], baseline: str, order, replicates=load_replicates) -> dict:
    """Every row against the `baseline` row (a method label) of its dataset, teacher, student, filter and
    fidelity (a real-data row, e.g. Gold, against that of each teacher). Returns ``header``, ``rows`` (cells),
    ``comparisons`` (the numbers, for summary.json), ``notes`` (lines below the table) and ``missing`` (a line
    when some rows have no baseline row; when none has, ``rows`` is empty)."""
    recs = sorted(recs, key=order)
    cols = [c for c in COLUMNS if c[0] not in ("num_final", "label_preservation") and any(r.get(c[0]) is not None
                                                                                          for r in recs)]
    header = ["Dataset", "Teacher", "Method", "Baseline", "Fidelity",
              *[f"Δ {h}".replace("(%)", "(pts)") for _, h, _, _ in cols],
              *[f"p ({_short(h)})" for k, h, _, _ in cols if k in STUDENT], "Notes"]
    bases = [r for r in recs if r["method"] == baseline]
    rows, comparisons, lonely = [], [], []
    for rec in recs:
        if rec["method"] == baseline:
            continue
        mine = {b["teacher"]: b for b in reversed(bases) if _same_group(rec, b)}   # first per teacher
        if not mine:
            lonely.append(f"{rec['method']} ({rec['dataset']}, {rec['teacher']})")
        conf = rec.get("interval_confidence") or 0.95
        for teacher, base in sorted(mine.items()):
            diffs, notes = compare(rec, base, cols, conf, replicates)
            cells = [_diff_cell(diffs.get(k), s, d) for k, _, s, d in cols]
            ps = [_p((diffs.get(k) or {}).get("p_value")) for k, *_ in cols if k in STUDENT]
            rows.append([rec["dataset"], rec["teacher"], rec["method"], f"{baseline} ({teacher})",
                         rec.get("fidelity", "-"), *cells, *ps, "; ".join(notes) or "–"])
            comparisons.append({"dataset": rec["dataset"], "teacher": rec["teacher"], "method": rec["method"],
                                "baseline": baseline, "baseline_teacher": teacher, "differences": diffs,
                                "notes": notes})
    missing = (f"No baseline row '{baseline}' (metrics.baseline, or synthesizrr-report --baseline) for: "
               f"{', '.join(lonely)}") if lonely else None
    if not rows:
        missing = (f"No baseline row '{baseline}' of the same dataset/teacher for any row (metrics.baseline, or "
                   f"synthesizrr-report --baseline); rows: {', '.join(sorted({r['method'] for r in recs}))}")
    conf = next((r.get("interval_confidence") for r in recs if r.get("interval_confidence")), 0.95)
    notes = [f"Each row minus the baseline row {baseline} of the same dataset, teacher, student, filter and "
             f"fidelity (metrics.baseline). {conf:.0%} intervals.",
             f"Metrics over texts: {DIFFERENCE_METHOD}. Accuracy and macro-F1: {PAIRED_METHOD}, two-sided p.",
             f"{DAGGER} the interval includes 0: no evidence of a difference."]
    return {"header": header, "rows": rows, "comparisons": comparisons, "notes": notes, "missing": missing}
