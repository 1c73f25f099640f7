"""Classification metrics without scikit-learn: confusion matrix, per-class and averaged P/R/F1.

Zero division gives 0.0 (a class never predicted has precision 0.0, a class with no true rows has
recall 0.0), as scikit-learn's ``zero_division=0``. Macro averages run over the classes that occur
in ``y_true`` or ``y_pred`` (scikit-learn's default label set), so a class with no rows at all
does not drag the average down. Everything returned is plain ints/floats (JSON-able).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ClassKitError


def _div(a: float, b: float) -> float:
    return float(a) / float(b) if b else 0.0


def _f1(p: float, r: float) -> float:
    return _div(2.0 * p * r, p + r)


def check_labels(y: Any, n: int | None, n_classes: int | None, name: str = "y") -> np.ndarray:
    """``y`` as int64 class indices: 1-D, ``n`` long (any when None), values in [0, n_classes)."""
    y = np.asarray(y)
    if y.ndim != 1 or (n is not None and len(y) != n):
        raise ClassKitError(f"{name}: expected {n if n is not None else 'a 1-D array of'} class indices, "
                            f"got shape {y.shape}")
    if len(y) and not np.issubdtype(y.dtype, np.integer):
        raise ClassKitError(f"{name}: class indices must be integers, got {y.dtype}")
    y = y.astype(np.int64)
    if len(y) and (y.min() < 0 or (n_classes is not None and y.max() >= n_classes)):
        raise ClassKitError(f"{name}: class indices must be in [0, {n_classes}), got {y.min()}..{y.max()}")
    return y


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int) -> np.ndarray:
    """(C, C) int64 counts: rows are true classes, columns predicted classes."""
    t = check_labels(y_true, None, n_classes, "y_true")
    p = check_labels(y_pred, None, n_classes, "y_pred")
    if len(t) != len(p):
        raise ClassKitError(f"y_true has {len(t)} rows, y_pred has {len(p)}")
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> dict:
    """Accuracy, confusion matrix, per-class precision/recall/F1/support, macro and micro averages."""
    names = [str(c) for c in class_names]
    if len(set(names)) != len(names):
        raise ClassKitError("class_names must be unique")
    c = len(names)
    cm = confusion_matrix(y_true, y_pred, c)
    n = int(cm.sum())
    tp = np.diag(cm)
    pred_count, true_count = cm.sum(axis=0), cm.sum(axis=1)
    per_class = {}
    ps, rs, fs = [], [], []
    for i, name in enumerate(names):
        p, r = _div(tp[i], pred_count[i]), _div(tp[i], true_count[i])
        per_class[name] = {"precision": p, "recall": r, "f1": _f1(p, r), "support": int(true_count[i])}
        if pred_count[i] or true_count[i]:
            ps.append(p)
            rs.append(r)
            fs.append(_f1(p, r))
    micro_p = _div(tp.sum(), pred_count.sum())
    micro_r = _div(tp.sum(), true_count.sum())
    return {
        "n": n,
        "accuracy": _div(tp.sum(), n),
        "confusion": cm.astype(int).tolist(),
        "per_class": per_class,
        "macro": {"precision": float(np.mean(ps)) if ps else 0.0, "recall": float(np.mean(rs)) if rs else 0.0,
                  "f1": float(np.mean(fs)) if fs else 0.0},
        "micro": {"precision": micro_p, "recall": micro_r, "f1": _f1(micro_p, micro_r)},
    }
