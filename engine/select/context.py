"""The inputs of one batch selection, as plain arrays aligned by row.

Label codes in ``y``: ``>= 0`` class index, ``-1`` unlabeled (a candidate), ``-2`` a human
marked the row unsure/junk/skip. Decision for ``-2``: such rows are *seen* - never offered
again and used as k-center seeds (their region has been looked at) - but they are not
*labeled*: they count for no class, and not toward "at least two classes labeled".
Cluster coverage counts seen rows (a region someone looked at is covered).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNLABELED, MARKED = -1, -2


def _opt(name: str, arr: np.ndarray | None, n: int, ndim: int = 1) -> np.ndarray | None:
    if arr is None:
        return None
    arr = np.asarray(arr)
    if arr.ndim != ndim or arr.shape[0] != n:
        raise ValueError(f"{name} must have {n} rows and {ndim} dimension(s), got shape {arr.shape}")
    return arr


@dataclass
class SelectionContext:
    """Embeddings, labels and optional model/similarity outputs for one selection round."""

    X: np.ndarray
    y: np.ndarray
    probs: np.ndarray | None = None
    clusters: np.ndarray | None = None
    typicality: np.ndarray | None = None
    dup_group: np.ndarray | None = None
    region: np.ndarray | None = None  # look-alike regions (dedup.look_alike_regions): if
    # given, they, not dup_group, decide what a seen row covers and what one batch may share
    suspects: np.ndarray | None = None
    suspect_mask: np.ndarray | None = None
    cluster_disagreement: np.ndarray | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if getattr(self.X, "ndim", 0) != 2:
            raise ValueError("X must be a 2-D (N, D) array (np.memmap is fine)")
        if self.X.dtype not in (np.float32, np.float16):
            raise ValueError(f"X must be float32 or float16, got {self.X.dtype}")
        n = self.X.shape[0]
        self.y = np.asarray(_opt("y", self.y, n), dtype=np.int64)
        if self.y.size and self.y.min() < MARKED:
            raise ValueError("y codes below -2 are invalid")
        self.probs = _opt("probs", self.probs, n, 2)
        self.clusters = _opt("clusters", self.clusters, n)
        self.typicality = _opt("typicality", self.typicality, n)
        self.dup_group = _opt("dup_group", self.dup_group, n)
        self.region = _opt("region", self.region, n)
        self.suspects = _opt("suspects", self.suspects, n)
        self.suspect_mask = _opt("suspect_mask", self.suspect_mask, n)
        if self.cluster_disagreement is not None:
            self.cluster_disagreement = np.asarray(self.cluster_disagreement, dtype=np.float64)

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def labeled_mask(self) -> np.ndarray:
        """Rows with a class label (``y >= 0``)."""
        return self.y >= 0

    @property
    def seen_mask(self) -> np.ndarray:
        """Rows a human has looked at: labeled or marked (``y != -1``)."""
        return self.y != UNLABELED

    def unlabeled(self) -> np.ndarray:
        """Row indices with ``y == -1``: the default candidates."""
        return np.flatnonzero(self.y == UNLABELED)

    @property
    def n_classes(self) -> int:
        """Classes known to the model (probs columns), else the largest label + 1."""
        if self.probs is not None:
            return int(self.probs.shape[1])
        return int(self.y.max()) + 1 if self.labeled_mask.any() else 0

    @property
    def n_labeled_classes(self) -> int:
        """Distinct classes that have at least one label."""
        return int(np.unique(self.y[self.labeled_mask]).size)

    @property
    def cold_start(self) -> bool:
        """No model yet, or fewer than two classes labeled: model-based scores are not used."""
        return self.probs is None or self.n_labeled_classes < 2

    def predicted(self, rows: np.ndarray) -> np.ndarray | None:
        """Predicted class of ``rows`` (argmax of probs), or None without a model."""
        if self.probs is None:
            return None
        return np.argmax(np.asarray(self.probs[rows]), axis=1).astype(np.int64)

    @property
    def covered_by(self) -> np.ndarray | None:
        """What selection treats as one look-alike unit per row (-1 none): ``region`` if
        given, else ``dup_group``. Nothing is picked from a unit holding a seen row, and a
        batch takes at most one row of each."""
        return self.region if self.region is not None else self.dup_group

    def rng(self, salt: int) -> np.random.Generator:
        """A generator determined by ``seed`` and ``salt`` (one stream per use)."""
        return np.random.default_rng([int(self.seed), int(salt)])
