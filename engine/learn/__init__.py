"""Training each round, at the array level: classifier heads on frozen embeddings, temperature
scaling and calibration reports, classification metrics, safe checkpoints, and out-of-fold
probabilities with label-error suspects. numpy in, numpy out; the project layer decides where
things are stored. torch runs on all cores while a head trains or predicts, then is restored.

The names below load on first use (PEP 562): importing a torch-free module of this package,
such as ``smooth`` for the Metrics view's text, must not import torch (about 1.2 s).
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {"calibrate": "calibration", "calibration_report": "calibration",
          "fit_temperature": "calibration", "softmax": "calibration",
          "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
          "Head": "heads", "HeadConfig": "heads", "predict_proba": "heads",
          "classification_metrics": "metrics", "confusion_matrix": "metrics",
          "label_error_scores": "oof", "out_of_fold_proba": "oof", "stratified_folds": "oof"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
