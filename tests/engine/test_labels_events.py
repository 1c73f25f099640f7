"""Label events: append-only, derived current label, undo as a new event, label arrays."""
from __future__ import annotations

import time

import numpy as np
import pytest

from classkit.engine.errors import ClassKitError
from classkit.engine.labels import (add_labels, current_labels, current_round, label_arrays, labels_of,
                                    label_diff, label_history, label_snapshot, undo, undo_events)
from classkit.engine.project import Project


def add_images(project: Project, n: int, start: int = 0) -> list[int]:
    """Insert ``n`` image rows directly (labels do not need real files)."""
    with project.transaction() as con:
        return [int(con.execute(
            "INSERT INTO images(path, content_hash, file_size, mtime_ns, width, height, format, "
            "added_at) VALUES (?,?,?,?,?,?,?,?)",
            (f"img/{i}.jpg", f"h{i:08d}", 1, 1, 8, 8, "JPEG", time.time())).lastrowid)
            for i in range(start, start + n)]


def n_events(project: Project) -> int:
    return project.db.execute("SELECT COUNT(*) FROM label_events").fetchone()[0]


def test_append_only_and_derived(project: Project) -> None:
    a, b = add_images(project, 2)
    e1 = add_labels(project, [a], "cat")
    e2 = add_labels(project, [a], "DOG", lead_time_ms=120.0)
    add_labels(project, [b], "Cat", source="bulk", reason="lasso")
    assert current_labels(project) == {a: "dog", b: "cat"}  # canonical case
    assert n_events(project) == 3
    hist = label_history(project, a)
    assert [h["id"] for h in hist] == e1 + e2
    assert [h["label"] for h in hist] == ["cat", "dog"]
    assert hist[1]["lead_time_ms"] == 120.0 and hist[1]["source"] == "manual"
    add_labels(project, [a], None)  # clearing is an event too
    assert current_labels(project) == {b: "cat"}
    assert n_events(project) == 4


def test_round_defaults_to_latest_round(project: Project) -> None:
    (a,) = add_images(project, 1)
    add_labels(project, [a], "cat")
    assert label_history(project, a)[-1]["round"] == 0
    with project.transaction() as con:
        con.execute("INSERT INTO rounds(created_at) VALUES (?)", (time.time(),))
        con.execute("INSERT INTO rounds(created_at) VALUES (?)", (time.time(),))
    assert current_round(project.db) == 2
    add_labels(project, [a], "dog")
    add_labels(project, [a], "cat", round=7)
    assert [h["round"] for h in label_history(project, a)] == [0, 2, 7]


def test_reserved_marks(project: Project) -> None:
    ids = add_images(project, 4)
    add_labels(project, ids[:1], "Unsure")
    add_labels(project, ids[1:2], "junk")
    add_labels(project, ids[2:3], "skip")
    add_labels(project, ids[3:], "dog")
    assert current_labels(project) == {ids[0]: "unsure", ids[1]: "junk", ids[2]: "skip", ids[3]: "dog"}
    snap = label_snapshot(project)
    assert snap["classes"] == {"cat": 0, "dog": 1}
    assert snap["marks"] == {"unsure": 1, "junk": 1, "skip": 1}
    assert (snap["labeled"], snap["marked"], snap["total"]) == (1, 3, 4)


def test_unknown_class_and_image(project: Project) -> None:
    (a,) = add_images(project, 1)
    with pytest.raises(ClassKitError, match=r"unknown class 'bird'.*cat, dog"):
        add_labels(project, [a], "bird")
    with pytest.raises(ClassKitError, match="unknown image id.*999"):
        add_labels(project, [a, 999], "cat")
    with pytest.raises(ClassKitError, match="unknown label source"):
        add_labels(project, [a], "cat", source="undo")
    assert n_events(project) == 0  # nothing half-written


def test_undo_restores_previous_and_walks_back(project: Project) -> None:
    a, b = add_images(project, 2)
    add_labels(project, [a], "cat")
    add_labels(project, [a], "dog")
    add_labels(project, [b], "junk")
    u1 = undo(project)  # undoes b's junk
    assert current_labels(project) == {a: "dog"}
    u2 = undo(project)  # then a's dog: back to cat
    assert current_labels(project) == {a: "cat"}
    u3 = undo(project)  # then a's cat: unlabeled
    assert current_labels(project) == {}
    assert undo(project) is None  # nothing left
    hist = label_history(project, a)
    assert [h["source"] for h in hist] == ["manual", "manual", "undo", "undo"]
    assert all(h["undone"] for h in hist[:2])
    assert hist[2]["id"] == u2 and hist[2]["undo_of"] == hist[1]["id"]
    assert hist[3]["id"] == u3 and hist[3]["label"] is None
    assert u1 is not None and n_events(project) == 6  # append-only: nothing deleted


def test_undo_after_new_work_and_explicit_ids(project: Project) -> None:
    (a,) = add_images(project, 1)
    (e1,) = add_labels(project, [a], "cat")
    (e2,) = add_labels(project, [a], "dog")
    with pytest.raises(ClassKitError, match=f"event {e1} is not the latest.*event {e2}"):
        undo(project, e1)
    undo(project, e2)
    with pytest.raises(ClassKitError, match="already undone"):
        undo(project, e2)
    (e3,) = add_labels(project, [a], "junk")
    assert current_labels(project) == {a: "junk"}
    undo(project, e3)  # back to what stood before e3: cat (e2 was undone)
    assert current_labels(project) == {a: "cat"}
    with pytest.raises(ClassKitError, match="no label event"):
        undo(project, 12345)


def test_undo_skips_imports_by_default_and_bulk_undo(project: Project) -> None:
    a, b, c = add_images(project, 3)
    add_labels(project, [a], "cat", source="import")
    ev = add_labels(project, [b, c], "dog", source="bulk")
    undo_events(project, ev)
    assert current_labels(project) == {a: "cat"}
    assert undo(project) is None  # the import is not a person's action
    with pytest.raises(ClassKitError, match="itself an undo"):
        undo(project, int(project.db.execute("SELECT MAX(id) FROM label_events").fetchone()[0]))


def test_label_arrays(project: Project) -> None:
    ids = add_images(project, 5)
    add_labels(project, ids[0:1], "cat")
    add_labels(project, ids[1:2], "dog")
    add_labels(project, ids[2:3], "unsure")
    add_labels(project, ids[3:4], "dog")
    add_labels(project, ids[3:4], None)
    query = np.array([ids[4], ids[2], 999, ids[1], ids[0], ids[3]])
    out = label_arrays(project, query, ["cat", "dog"])
    assert out.dtype == np.int64
    assert out.tolist() == [-1, -2, -1, 1, 0, -1]
    assert label_arrays(project, query, ["DOG"]).tolist() == [-1, -2, -1, 0, -1, -1]
    assert label_arrays(project, np.array([], dtype=np.int64), ["cat"]).shape == (0,)


def test_label_arrays_fast_at_scale(project: Project) -> None:
    n = 200_000
    with project.transaction() as con:
        con.executemany("INSERT INTO images(id, path, content_hash, file_size, mtime_ns, width, "
                        "height, format, added_at) VALUES (?,?,?,1,1,8,8,'JPEG',0)",
                        ((i, f"x/{i}", f"h{i}") for i in range(1, n + 1)))
        con.executemany("INSERT INTO label_events(image_id, label, source, created_at) "
                        "VALUES (?,?,'import',0)",
                        ((i, ("cat", "dog", "skip")[i % 3]) for i in range(1, n + 1, 2)))
    ids = np.random.default_rng(0).permutation(np.arange(1, n + 1))
    t = time.perf_counter()
    out = label_arrays(project, ids, ["cat", "dog"])
    took = time.perf_counter() - t
    expect = np.where(ids % 2 == 1, np.array([0, 1, -2])[ids % 3], -1)
    assert np.array_equal(out, expect)
    assert took < 3.0, took


def test_label_diff() -> None:
    before = {"classes": {"cat": 2, "dog": 1}, "marks": {"junk": 1}, "labeled": 3, "marked": 1,
              "total": 4}
    after = {"classes": {"cat": 5, "dog": 1, "bird": 2}, "marks": {"junk": 0}, "labeled": 8,
             "marked": 0, "total": 8}
    d = label_diff(before, after)
    assert d["classes"] == {"cat": 3, "dog": 0, "bird": 2}
    assert d["marks"] == {"junk": -1}
    assert (d["labeled"], d["marked"], d["total"]) == (5, -1, 4)


def test_history_unknown_image(project: Project) -> None:
    with pytest.raises(ClassKitError, match="unknown image id 42"):
        label_history(project, 42)


def test_labels_of_matches_current_labels(project: Project) -> None:
    """The per-image lookup the app uses to refresh a queue agrees with the full derivation:
    latest event wins, undos and cleared labels count, marks are labels, >900 ids chunk."""
    ids = add_images(project, 1000)
    add_labels(project, ids[:950], "cat")
    add_labels(project, ids[10:20], "dog")
    add_labels(project, ids[20:25], None)  # cleared
    add_labels(project, ids[30:32], "unsure")
    undo_events(project, add_labels(project, ids[40:45], "dog"))
    want = current_labels(project)
    got = labels_of(project, [*ids, ids[0]])  # a repeated id is fine
    assert got == want
    assert got[ids[10]] == "dog" and ids[20] not in got and got[ids[30]] == "unsure"
    assert got[ids[40]] == "cat" and ids[999] not in got
    assert labels_of(project, []) == {}
