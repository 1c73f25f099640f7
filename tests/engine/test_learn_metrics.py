"""Classification metrics against a hand-computed confusion matrix and P/R/F1."""
from __future__ import annotations

import json

import numpy as np
import pytest

from classkit.engine.errors import ClassKitError
from classkit.engine.learn import classification_metrics, confusion_matrix


def test_hand_computed_example() -> None:
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 1])
    m = classification_metrics(y_true, y_pred, ["a", "b", "c"])
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(3 / 6)
    assert m["confusion"] == [[1, 1, 0], [1, 2, 0], [0, 1, 0]]
    a, b, c = m["per_class"]["a"], m["per_class"]["b"], m["per_class"]["c"]
    assert (a["precision"], a["recall"], a["f1"], a["support"]) == (0.5, 0.5, 0.5, 2)
    assert b["precision"] == pytest.approx(2 / 4) and b["recall"] == pytest.approx(2 / 3)
    assert b["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3)) and b["support"] == 3
    # c is never predicted: precision is 0/0 -> 0.0, recall 0/1 = 0.0, F1 0.0.
    assert (c["precision"], c["recall"], c["f1"], c["support"]) == (0.0, 0.0, 0.0, 1)
    assert m["macro"]["precision"] == pytest.approx((0.5 + 0.5 + 0.0) / 3)
    assert m["macro"]["recall"] == pytest.approx((0.5 + 2 / 3 + 0.0) / 3)
    assert m["macro"]["f1"] == pytest.approx((0.5 + b["f1"] + 0.0) / 3)
    assert m["micro"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    json.dumps(m)


def test_a_class_with_no_rows_is_zero_and_left_out_of_macro() -> None:
    m = classification_metrics(np.array([0, 1, 1]), np.array([0, 1, 0]), ["a", "b", "ghost"])
    assert m["per_class"]["ghost"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["macro"]["recall"] == pytest.approx((1.0 + 0.5) / 2)
    assert m["confusion"][2] == [0, 0, 0]


def test_perfect_and_empty() -> None:
    m = classification_metrics(np.array([2, 0, 1]), np.array([2, 0, 1]), ["x", "y", "z"])
    assert m["accuracy"] == 1.0 and m["macro"]["f1"] == 1.0
    e = classification_metrics(np.zeros(0, int), np.zeros(0, int), ["x"])
    assert e["n"] == 0 and e["accuracy"] == 0.0 and e["macro"]["f1"] == 0.0 and e["confusion"] == [[0]]


def test_bad_input() -> None:
    with pytest.raises(ClassKitError, match="y_pred"):
        classification_metrics(np.array([0, 1]), np.array([0, 2]), ["a", "b"])
    with pytest.raises(ClassKitError, match="rows"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 2)
    with pytest.raises(ClassKitError, match="unique"):
        classification_metrics(np.array([0]), np.array([0]), ["a", "a"])
    with pytest.raises(ClassKitError, match="integers"):
        classification_metrics(np.array([0.5]), np.array([0]), ["a"])
