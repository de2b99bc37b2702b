"""The report's plots: metrics per row (bars) and against the number of shots (lines), each value with its
interval as error bars (records without intervals: the std over seeds, or none)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

SWEEP_METRICS = [("accuracy", "Accuracy (%)", 100), ("self_bleu_5", "Self-BLEU-5 (%)", 100),
                 ("entity_entropy_log2", "Entity entropy (bits)", 1), ("mauve", "MAUVE (%)", 100)]


def error_bar(rec: dict, key: str, scale: float) -> tuple[float, float]:
    """(below, above) the value: its interval when the record has one, else its std (0 without either)."""
    value, iv = rec.get(key), (rec.get("intervals") or {}).get(key) or {}
    if value is None:
        return 0.0, 0.0
    if iv.get("ci_low") is not None and iv.get("ci_high") is not None:   # percentile ends may sit on one side
        return max(0.0, (value - iv["ci_low"]) * scale), max(0.0, (iv["ci_high"] - value) * scale)
    std = (rec.get(f"{key}_std") or 0) * scale
    return std, std


def _errors(recs: list[dict], key: str, scale: float) -> list[list[float]]:
    bars = [error_bar(r, key, scale) for r in recs]
    return [[b[0] for b in bars], [b[1] for b in bars]]


def _confidence(recs: list[dict]) -> str:
    conf = next((r.get("interval_confidence") for r in recs if r.get("intervals")), None)
    return f"bars: {conf:.0%} intervals" if conf else "bars: std over seeds"


def plot_metrics(recs: list[dict], path: Path, order: Callable) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = sorted(recs, key=order)
    names = [f"{r['method']}\n{r['dataset']}" if len({x['dataset'] for x in recs}) > 1 else r["method"] for r in recs]
    fig, axes = plt.subplots(1, len(SWEEP_METRICS), figsize=(4.2 * len(SWEEP_METRICS), 4.4))
    for ax, (key, title, scale) in zip(axes, SWEEP_METRICS):
        vals = [(r.get(key) or 0) * scale for r in recs]
        ax.bar(range(len(recs)), vals, yerr=_errors(recs, key, scale), color=[f"C{i}" for i in range(len(recs))],
               capsize=3)
        ax.set_xticks(range(len(recs)), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(title)
    fig.suptitle(_confidence(recs), fontsize=8, x=0.99, ha="right")
    fig.tight_layout()
    save_fig(fig, path)


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
    fig, axes = plt.subplots(1, len(SWEEP_METRICS), figsize=(4.2 * len(SWEEP_METRICS), 4.2))
    for ax, (key, title, scale) in zip(axes, SWEEP_METRICS):
        for i, (name, rs) in enumerate(sorted(lines.items())):
            xs = [r["num_shots"] for r in rs]
            ys = [(r.get(key) if r.get(key) is not None else float("nan")) * scale for r in rs]
            ax.errorbar(xs, ys, yerr=_errors(rs, key, scale), marker="o", label=name, color=f"C{i}", capsize=3)
        if max(r["num_shots"] for rs in lines.values() for r in rs) > 8:
            ax.set_xscale("symlog", linthresh=1)  # 0, 1, 3 and 32 shots stay readable
        ax.set_xlabel("in-context shots")
        ax.set_title(title)
    axes[0].legend(fontsize=7)
    fig.suptitle(_confidence([r for rs in lines.values() for r in rs]), fontsize=8, x=0.99, ha="right")
    fig.tight_layout()
    save_fig(fig, path)
    return True


def save_fig(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
