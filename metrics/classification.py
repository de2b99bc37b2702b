"""Accuracy, macro-F1, per-class F1 and the confusion matrix of a classifier's predictions."""
from __future__ import annotations

from typing import Sequence

from sklearn.metrics import accuracy_score, confusion_matrix, f1_score


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict:
    """Accuracy = share of exact matches; macro-F1 = unweighted mean over `labels` of per-class F1
    (a class never predicted nor present scores 0). The confusion matrix has rows = true, columns = predicted,
    both in the order of `labels`."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} items but y_pred has {len(y_pred)}")
    if not len(y_true):
        raise ValueError("no predictions to score")
    labels = list(labels)
    per_class = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "per_class_f1": {lab: float(v) for lab, v in zip(labels, per_class)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "labels": labels,
        "num_examples": len(y_true),
    }
