"""classification_metrics on a case computed by hand."""
import pytest

from metrics.classification import classification_metrics


def test_by_hand():
    out = classification_metrics(["a", "a", "b", "c"], ["a", "b", "b", "b"], labels=["a", "b", "c"])
    # a: P 1, R 1/2 -> F1 2/3; b: P 1/3, R 1 -> F1 1/2; c: never predicted -> 0
    assert out["accuracy"] == 0.5
    assert out["per_class_f1"] == pytest.approx({"a": 2 / 3, "b": 0.5, "c": 0.0})
    assert out["macro_f1"] == pytest.approx((2 / 3 + 0.5) / 3)
    assert out["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_errors():
    with pytest.raises(ValueError, match="y_pred has 1"):
        classification_metrics(["a", "b"], ["a"], labels=["a", "b"])
    with pytest.raises(ValueError, match="no predictions"):
        classification_metrics([], [], labels=["a"])
