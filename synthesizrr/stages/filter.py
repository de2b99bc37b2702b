"""filter: optional dataset-cartography filtering, then a final sample matched to the real train split's label
distribution (REFERENCE.md section 8)."""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from ..core.errors import DataError
from ..data import label_distribution, read_jsonl, write_jsonl

log = logging.getLogger("synthesizrr")

NAME, VERSION = "filter", 1
INPUTS = ("prepare", "synthesize")
OUTPUTS = ("final.jsonl",)


def key_extra(run) -> dict:
    return {"real_data": run.method.real_data, "default_size": run.method.default_final_size(run.cfg)}


def target_size(run) -> int | None:
    """Final size: keep_fraction x N under cartography (real-data rows get the same size), else N."""
    cfg = run.cfg
    n = cfg.filter.num_samples or run.method.default_final_size(cfg)
    if n is None:
        return None
    return int(cfg.filter.keep_fraction * n) if cfg.filter.name == "cartography" else n


def feasible_total(rows: list[dict], target: dict[str, float], wanted: int) -> int:
    """The largest total <= wanted whose per-label counts (as match_distribution rounds them) the rows supply."""
    from distill.sampling import wanted_counts

    have = Counter(r["label"] for r in rows)
    for total in range(wanted, 0, -1):
        if all(n <= have.get(lab, 0) for lab, n in wanted_counts(target, total).items()):
            return total
    return 0


def shortfall(rows: list[dict], target: dict[str, float], wanted: int, total: int) -> dict:
    """How far the final sample falls short: sizes and each label's supply and demand."""
    from distill.sampling import wanted_counts

    have = Counter(r["label"] for r in rows)
    need = wanted_counts(target, wanted)
    return {"wanted": wanted, "final": total, "fraction": 1 - total / wanted,
            "per_label": {lab: {"have": have.get(lab, 0), "want": n} for lab, n in need.items()}}


def without_missing_labels(rows: list[dict], target: dict[str, float], fcfg) -> tuple[dict[str, float], list[str]]:
    """A label with no example at all would collapse the distribution-matched sample (its share can only be met
    by shrinking the total towards nothing): an error, or with filter.allow_shortfall the sample is matched over
    the labels that have examples and the missing ones are recorded."""
    have = Counter(r["label"] for r in rows)
    missing = sorted(lab for lab, share in target.items() if share > 0 and not have.get(lab))
    if not missing:
        return target, []
    supply = ", ".join(f"{lab} {have.get(lab, 0)}" for lab in sorted(target))
    if not fcfg.allow_shortfall:
        raise DataError(f"label(s) {', '.join(missing)} have no example to train on (examples per label: {supply}); "
                        f"synthesize more (method.num_samples_per_label, wider retriever bands) or set "
                        f"filter.allow_shortfall=true to train without them")
    log.warning("labels without any example: %s (allowed by filter.allow_shortfall; the table flags this row)",
                ", ".join(missing))
    rest = {lab: share for lab, share in target.items() if lab not in missing}
    total = sum(rest.values())
    return {lab: share / total for lab, share in rest.items()}, missing


def check_shortfall(short: dict, fcfg) -> None:
    """The reference raises when the final sample misses its size by more than 2%: so do we, unless allowed."""
    if short["fraction"] <= fcfg.tolerance:
        return
    detail = ", ".join(f"{lab} {v['have']}/{v['want']}" for lab, v in short["per_label"].items()
                       if v["have"] < v["want"])
    msg = (f"final sample: {short['final']} of {short['wanted']} examples ({short['fraction']:.0%} short, more than "
           f"filter.tolerance={fcfg.tolerance}); labels short (have/want): {detail}")
    if not fcfg.allow_shortfall:
        raise DataError(f"{msg}; synthesize more (method.num_samples_per_label) or set filter.allow_shortfall=true")
    log.warning("%s (allowed by filter.allow_shortfall; the table flags this row)", msg)


def compute(run, out: Path, work: Path) -> dict:
    from distill.sampling import match_distribution

    cfg = run.cfg
    rows = read_jsonl(run.paths["synthesize"] / "synthetic.jsonl")
    labels = list(cfg.dataset.labels)
    unknown = Counter(r["label"] for r in rows if r["label"] not in cfg.dataset.labels)
    if unknown:
        raise DataError(f"synthetic labels outside dataset.labels: {dict(unknown)}; allowed {', '.join(labels)}")
    figures: dict = {"num_input": len(rows)}
    kept = rows
    if cfg.filter.name == "cartography" and not run.method.real_data:
        from distill.cartography import cartography_filter

        res = cartography_filter(rows, labels, cfg.filter, cfg.seed, out, progress=True)
        kept = res["kept"]
        write_jsonl(out / "dropped.jsonl", res["dropped"])
        figures["cartography"] = res["stats"]
    mode = cfg.filter.match_distribution
    if mode != "none":
        train = read_jsonl(run.paths["prepare"] / "train.jsonl")
        target = label_distribution(train) if mode == "train" else {lab: 1 / len(labels) for lab in labels}
        target, figures["missing_labels"] = without_missing_labels(kept, target, cfg.filter)
        wanted = target_size(run) or len(kept)
        total = feasible_total(kept, target, wanted)
        if total < wanted:
            figures["shortfall"] = shortfall(kept, target, wanted, total)
            check_shortfall(figures["shortfall"], cfg.filter)
        if total == 0:
            raise DataError(f"no examples left for the final sample: per label {dict(Counter(r['label'] for r in kept))}")
        kept = match_distribution(kept, target, total, cfg.seed, tolerance=cfg.filter.tolerance)
    empty = [lab for lab in labels if not any(r["label"] == lab for r in kept)]
    if empty:
        log.warning("labels with no examples after filtering: %s", ", ".join(empty))
    write_jsonl(out / "final.jsonl", kept)
    figures.update(num_final=len(kept), per_label=dict(Counter(r["label"] for r in kept)), empty_labels=empty)
    return figures
