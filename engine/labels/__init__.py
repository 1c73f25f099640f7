"""Labels: append-only label events (the current label is derived), CSV label import, and
stable stratified train/val/test splits."""
from __future__ import annotations

from .csv_import import import_label_csv, summary_lines
from .events import (MARKED, SOURCES, UNLABELED, add_labels, current_labels, current_round,
                     label_arrays, label_diff, label_history, label_snapshot, labels_of, undo,
                     undo_events)
from .splits import (DEFAULT_FRACTIONS, SPLITS, assign_splits, load_splits, stratified_assign)

__all__ = [
    "DEFAULT_FRACTIONS", "MARKED", "SOURCES", "SPLITS", "UNLABELED", "add_labels", "assign_splits",
    "current_labels", "current_round", "import_label_csv", "label_arrays", "label_diff",
    "label_history", "label_snapshot", "labels_of", "load_splits", "stratified_assign",
    "summary_lines", "undo", "undo_events",
]
