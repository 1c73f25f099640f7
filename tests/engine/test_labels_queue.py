"""Labeling queues: batch order, labeled-since skipping, audit blind, basket, filter."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from classkit.engine.errors import ClassKitError
from classkit.engine.labels import add_labels
from classkit.engine.labels.queue import build_queue, latest_batch
from classkit.engine.project import Project
from tests.engine.test_labels_events import add_images


def _batch(project: Project, items: list[tuple[int, str]]) -> int:
    with project.transaction() as con:
        bid = int(con.execute("INSERT INTO batches(round, created_at) VALUES (0, ?)",
                              (time.time(),)).lastrowid)
        for rank, (i, reason) in enumerate(items):
            con.execute("INSERT INTO batch_items VALUES (?,?,?,?,?)", (bid, rank, i, reason, 0.5))
    return bid


def _predictions(project: Project, ids: list[int], probs: np.ndarray) -> None:
    version, folder = project.new_version_dir("predictions")
    np.save(folder / "ids.npy", np.asarray(ids, np.int64))
    np.save(folder / "probs.npy", probs.astype(np.float32))
    (folder / "manifest.json").write_text(json.dumps({"classes": ["cat", "dog"]}))
    project.register_artifact("predictions", version)


def test_batch_queue(project: Project) -> None:
    with pytest.raises(ClassKitError, match="no active-learning batch"):
        build_queue(project, "batch")
    a, b, c, d = add_images(project, 4)
    add_labels(project, [d], "cat")  # labeled before the batch: an audit re-check
    bid = _batch(project, [(c, "uncertainty"), (a, "diversity"), (d, "audit:suspect"), (b, "audit")])
    assert latest_batch(project) == bid
    q = build_queue(project, "batch")
    assert [i.id for i in q] == [c, a, d, b]
    assert [i.blind for i in q] == [False, False, True, True]
    assert q[2].label == "cat" and q[0].suggestion is None
    add_labels(project, [a, b], "dog")  # labeled since: dropped, except audit items
    assert [i.id for i in build_queue(project, "batch", bid)] == [c, d, b]
    _predictions(project, [a, b, c, d], np.array([[.9, .1], [.2, .8], [.4, .6], [.7, .3]]))
    q = build_queue(project, "batch")
    assert (q[0].suggestion, q[0].confidence) == ("dog", pytest.approx(0.6))


def test_ids_and_filter(project: Project) -> None:
    a, b, c = add_images(project, 3)
    assert [i.reason for i in build_queue(project, "ids", [c, a, c])] == ["basket", "basket"]
    add_labels(project, [a], "cat")
    assert [i.id for i in build_queue(project, "filter", {"status": "unlabeled"})] == [b, c]
    _predictions(project, [a, b, c], np.array([[.9, .1], [.2, .8], [.55, .45]]))
    q = build_queue(project, "filter", {"status": "any", "predicted": "cat", "max_confidence": 0.8})
    assert [i.id for i in q] == [c]
    with pytest.raises(ClassKitError, match="unknown queue kind"):
        build_queue(project, "nope")
