"""Seeded sampling of a fixed-size training set whose label distribution matches a target
(REFERENCE.md section 8: the final sample follows the gold train distribution within +-2%)."""
from __future__ import annotations

import warnings
from collections import Counter
from typing import Sequence

import numpy as np


def label_distribution(examples: Sequence[dict]) -> dict[str, float]:
    """Fraction of examples per label, labels sorted by name."""
    if not examples:
        raise ValueError("cannot compute a label distribution of zero examples")
    counts = Counter(ex["label"] for ex in examples)
    return {lab: counts[lab] / len(examples) for lab in sorted(counts)}


def uniform_distribution(labels: Sequence[str]) -> dict[str, float]:
    return {lab: 1 / len(labels) for lab in labels}


def wanted_counts(target: dict[str, float], total: int) -> dict[str, int]:
    """Per-label counts for `total` examples: floor every share, then hand the leftover units to the largest
    fractional parts (largest remainder)."""
    raw = {lab: frac * total for lab, frac in target.items()}
    counts = {lab: int(np.floor(v)) for lab, v in raw.items()}
    for lab in sorted(raw, key=lambda k: (counts[k] - raw[k], k))[:total - sum(counts.values())]:
        counts[lab] += 1
    return counts


def match_distribution(examples: list[dict], target: dict[str, float], total: int, seed: int,
                       tolerance: float | None = 0.02) -> list[dict]:
    """Sample `total` examples (without replacement, input order kept) with label fractions `target`.
    A label short of examples contributes all it has; if any label's final fraction then differs from its target
    by more than `tolerance`, raise ValueError naming it (tolerance=None only warns)."""
    if total < 1:
        raise ValueError(f"total={total} must be at least 1")
    if any(v < 0 for v in target.values()) or abs(sum(target.values()) - 1) > 1e-6:
        raise ValueError(f"target fractions must be >= 0 and sum to 1, got sum {sum(target.values()):.6f}")
    unknown = sorted({ex["label"] for ex in examples} - set(target))
    if unknown:
        raise ValueError(f"examples have label(s) {unknown} absent from the target distribution {sorted(target)}")
    rng = np.random.default_rng(seed)
    wanted = wanted_counts(target, total)
    chosen, short = [], {}
    for lab in sorted(target):
        rows = [i for i, ex in enumerate(examples) if ex["label"] == lab]
        take = min(wanted[lab], len(rows))
        if take < wanted[lab]:
            short[lab] = (wanted[lab], len(rows))
        chosen.extend(rng.choice(rows, size=take, replace=False).tolist() if take else [])
    sample = [examples[i] for i in sorted(chosen)]
    if short:
        got = label_distribution(sample) if sample else {}
        worst = max(target, key=lambda lab: abs(got.get(lab, 0.0) - target[lab]))
        gap = abs(got.get(worst, 0.0) - target[worst])
        detail = "; ".join(f"label '{lab}' wanted {w}, available {a}" for lab, (w, a) in short.items())
        msg = (f"cannot match the label distribution for {total} examples: {detail}; label '{worst}' ends at "
               f"{got.get(worst, 0.0):.3f} vs target {target[worst]:.3f}")
        if tolerance is not None and gap > tolerance:
            raise ValueError(f"{msg} (tolerance {tolerance})")
        warnings.warn(msg, stacklevel=2)
    return sample
