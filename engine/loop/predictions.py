"""Calibrated predictions over every embedded image, stored as a ``predictions`` version.

A version folder holds ``ids.npy`` (image ids), ``probs.npy`` (float32, rows = ids,
columns = classes as listed in ``manifest.json``) and the manifest (classes, temperature,
the train and embedding versions it came from). Predicting 1M rows streams the embedding
memmap in chunks.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ClassKitError
from ..fsutil import write_csv_atomic, write_json_atomic
from ..jobs import CancelToken, ProgressFn, no_progress
from ..project import Project

if TYPE_CHECKING:  # torch loads only when predicting, not when the app reads predictions
    from ..learn.heads import Head

STAGE = "predictions"
CHUNK = 65536


@dataclass
class Predictions:
    version: str
    path: Path
    ids: np.ndarray
    probs: np.ndarray
    classes: list[str]
    manifest: dict[str, Any]

    @property
    def predicted(self) -> np.ndarray:
        return self.probs.argmax(1)

    @property
    def confidence(self) -> np.ndarray:
        return self.probs.max(1)

    def aligned(self, ids: np.ndarray) -> np.ndarray | None:
        """Probabilities for ``ids`` (rows in that order), or None if any id is missing."""
        pos = np.searchsorted(self.ids, ids)
        pos = np.minimum(pos, max(len(self.ids) - 1, 0))
        if len(self.ids) == 0 or not np.array_equal(self.ids[pos], ids):
            return None
        return np.asarray(self.probs[pos], np.float32)


def write_predictions(project: Project, head: Head, temperature: float, X: np.ndarray,
                      ids: np.ndarray, classes: list[str], meta: dict[str, Any],
                      progress: ProgressFn = no_progress,
                      cancel: CancelToken | None = None,
                      smoothing: dict[str, Any] | None = None,
                      graph: tuple[np.ndarray, np.ndarray] | None = None,
                      y: np.ndarray | None = None) -> tuple[str, Path, dict[str, Any]]:
    """Predict every row of ``X`` and save a new predictions version (made current); returns
    its version, folder and manifest. ``X`` may be a ``learn.graphfeat.GraphFeatures`` view
    (the round's head reads graph features): then a linear head predicts through its logits.

    With ``smoothing`` (a ``learn.smooth.decide`` result whose ``used`` is true), ``graph``
    (each row's neighbours) and ``y`` (class per row, negative = none), the head's
    probabilities are smoothed by the neighbours' vote, known labels counting as one-hot.
    With ``y``, the manifest's ``expected_accuracy`` estimates the accuracy on the unlabeled
    rows (``y == -1``; :func:`expected_accuracy`)."""
    from ..learn.graphfeat import GraphFeatures
    from ..learn.graphfeat import predict_proba as graph_proba
    from ..learn.heads import predict_proba

    cancel = cancel or CancelToken()
    ids = np.asarray(ids, np.int64)
    if len(ids) > 1 and not (np.diff(ids) > 0).all():
        raise ClassKitError("prediction ids must be sorted and unique")
    version, folder = project.new_version_dir(STAGE)
    probs = np.lib.format.open_memmap(folder / "probs.tmp.npy", "w+", np.float32,
                                      (len(ids), len(classes)))
    if isinstance(X, GraphFeatures):  # the head reads graph features: through its logits if linear
        probs[:] = graph_proba(head, X, temperature)
        progress(len(ids), len(ids), "predicting")
    else:
        for lo in range(0, len(ids), CHUNK):
            cancel.raise_if_cancelled()
            probs[lo:lo + CHUNK] = predict_proba(head, X[lo:lo + CHUNK], temperature)  # float16 widened
            progress(min(lo + CHUNK, len(ids)), len(ids), "predicting")
    if smoothing is not None and smoothing.get("used"):
        if graph is None or y is None:
            raise ClassKitError("smoothed predictions need the kNN graph and the labels")
        _smooth_in_place(probs, smoothing, graph, np.asarray(y), cancel)
    expected = None if y is None else expected_accuracy(probs, np.flatnonzero(np.asarray(y) == -1))
    probs.flush()
    del probs
    (folder / "probs.tmp.npy").replace(folder / "probs.npy")
    np.save(folder / "ids.npy", ids)
    manifest = {**meta, "classes": classes, "temperature": temperature, "count": int(len(ids)),
                "smoothing": smoothing if smoothing is not None and smoothing.get("used") else None,
                "expected_accuracy": expected}
    write_json_atomic(folder / "manifest.json", manifest)
    project.register_artifact(STAGE, version, {k: v for k, v in manifest.items() if k != "classes"})
    return version, folder, manifest


def expected_accuracy(probs: np.ndarray, rows: np.ndarray) -> dict[str, Any] | None:
    """The accuracy to expect on ``rows`` (the unlabeled images): the mean calibrated
    confidence of their predicted class, since a calibrated 0.8 is right 8 times in 10.

    Why: val and test images were mostly picked for labeling because the model found them
    hard, so their accuracy reads low; this estimate covers the images not labeled yet.
    benchmarks/al_simulation.py (Fashion-MNIST, 10 seeds, 200-1,000 labels): off by 0.8-2.6
    points on average (single rounds up to 5) where val accuracy is 12-18 points low with the
    default recipe's labels; at 100 labels (val sets of ~20 images) 5-6 points, up to 15."""
    rows = np.asarray(rows, np.int64)
    if rows.size == 0:
        return None
    total = 0.0
    for lo in range(0, rows.size, CHUNK):
        total += float(np.asarray(probs[rows[lo:lo + CHUNK]], np.float64).max(axis=1).sum())
    return {"images": int(rows.size), "accuracy": round(total / rows.size, 6)}


def _smooth_in_place(probs: np.ndarray, smoothing: dict[str, Any],
                     graph: tuple[np.ndarray, np.ndarray], y: np.ndarray, cancel: CancelToken) -> None:
    """Replace the head's probabilities by the smoothed ones (the vote reads the head's)."""
    from ..learn.smooth import apply, neighbour_vote, reference_probs

    ref = reference_probs(probs, y, y >= 0)
    cancel.raise_if_cancelled()
    vote = neighbour_vote(ref, *graph, k=int(smoothing["k"]), power=float(smoothing["power"]))
    del ref
    for lo in range(0, len(probs), CHUNK):
        cancel.raise_if_cancelled()
        probs[lo:lo + CHUNK] = apply(probs[lo:lo + CHUNK], vote[lo:lo + CHUNK], smoothing)


def load_predictions(project: Project, version: str | None = None) -> Predictions:
    """The current predictions version (or a named one), memory-mapped."""
    if version is None:
        folder = project.current_artifact(STAGE)
        if folder is None:
            raise ClassKitError("this project has no predictions yet: run `classkit train`")
    else:
        folder = project.version_dir(STAGE, version)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise ClassKitError(f"predictions {folder} are incomplete (no manifest.json)")
    manifest = json.loads(manifest_path.read_text())
    return Predictions(folder.name, folder, np.load(folder / "ids.npy"),
                       np.load(folder / "probs.npy", mmap_mode="r"), manifest["classes"], manifest)


def current_predictions(project: Project) -> Predictions | None:
    return None if project.current_artifact(STAGE) is None else load_predictions(project)


def prediction_rows(project: Project, only_unlabeled: bool = True) -> list[dict[str, Any]]:
    """``id, path, predicted, confidence`` per image (unlabeled ones by default)."""
    pred = load_predictions(project)
    labeled = {int(r[0]) for r in project.db.execute("SELECT image_id FROM current_labels")}
    paths = dict(project.db.execute("SELECT id, path FROM images").fetchall())
    best, conf = pred.predicted, pred.confidence
    out = []
    for i, image_id in enumerate(pred.ids.tolist()):
        if only_unlabeled and image_id in labeled:
            continue
        out.append({"id": image_id, "path": str(project.paths.resolve(paths[image_id])),
                    "predicted": pred.classes[int(best[i])], "confidence": round(float(conf[i]), 6)})
    return out


def write_predictions_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """``id,path,predicted,confidence`` CSV, written atomically."""
    write_csv_atomic(path, rows, ["id", "path", "predicted", "confidence"])


def check_out_file(out: Path, what: str = "") -> None:
    """Fail early, in one line, when ``out`` cannot become a file; make missing parents.
    ``what`` names it in the message (e.g. "--out ")."""
    if out.is_dir():
        raise ClassKitError(f"{what}{out} is a folder; give a file name, e.g. {out / 'predictions.csv'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ClassKitError(f"cannot create the folder for {out}: {exc.strerror or exc}") from exc


def export_predictions_csv(project: Project, out: Path, only_unlabeled: bool = True) -> dict[str, Any]:
    """``classkit predict --out`` and the app's File > Export predictions: the current
    predictions as ``id,path,predicted,confidence`` (unlabeled images unless told otherwise),
    written atomically. Returns ``version``, ``count``, ``out`` and ``by_class``."""
    out = Path(out)
    check_out_file(out)
    rows = prediction_rows(project, only_unlabeled=only_unlabeled)
    version = load_predictions(project).version
    try:
        write_predictions_csv(rows, out)
    except OSError as exc:
        raise ClassKitError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return {"version": version, "count": len(rows), "out": str(out), "by_class": predicted_counts(rows)}


def predicted_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Rows per predicted class, most first (``prediction_rows`` rows)."""
    by_class: dict[str, int] = {}
    for r in rows:
        by_class[r["predicted"]] = by_class.get(r["predicted"], 0) + 1
    return dict(sorted(by_class.items(), key=lambda kv: -kv[1]))
