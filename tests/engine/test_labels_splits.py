"""Splits: stable, stratified, deterministic, duplicate groups kept together, tiny classes."""
from __future__ import annotations

import time

import numpy as np
import pytest

from classkit.engine.errors import ConfigError
from classkit.engine.labels import add_labels, assign_splits, load_splits, stratified_assign
from classkit.engine.labels.splits import check_fractions, duplicate_components, order_keys
from classkit.engine.project import Project

FRAC = check_fractions(None)


def add_images(project: Project, hashes: list[str], dup_of: dict[int, int] | None = None) -> list[int]:
    """Insert image rows with these content hashes; ``dup_of`` maps index -> index of original."""
    ids: list[int] = []
    with project.transaction() as con:
        for k, h in enumerate(hashes):
            orig = ids[dup_of[k]] if dup_of and k in dup_of else None
            ids.append(int(con.execute(
                "INSERT INTO images(path, content_hash, file_size, mtime_ns, width, height, format, "
                "added_at, duplicate_of) VALUES (?,?,1,1,8,8,'JPEG',?,?)",
                (f"img/{h}-{k}.jpg", h, time.time(), orig)).lastrowid))
    return ids


def splits_of(project: Project) -> dict[int, str]:
    return dict(project.db.execute("SELECT image_id, split FROM splits"))


def test_pure_stratified_shares() -> None:
    labels = np.repeat([0, 1], [60, 40])
    keys = order_keys([f"h{i}" for i in range(100)], 0)
    codes = stratified_assign(labels, np.full(100, -1), keys, FRAC)
    assert (codes >= 0).all()
    for c, n in ((0, 60), (1, 40)):
        share = np.bincount(codes[labels == c], minlength=3) / n
        assert np.allclose(share, [0.7, 0.2, 0.1], atol=0.05), share
    unlabeled = stratified_assign(np.array([-1, -2, 0]), np.full(3, -1), keys[:3], FRAC)
    assert unlabeled.tolist() == [-1, -1, 0]


def test_pure_tiny_classes_train_first() -> None:
    keys = order_keys(["a", "b", "c", "d"], 0)
    assert stratified_assign(np.zeros(2), np.full(2, -1), keys[:2], FRAC).tolist() == [0, 0]
    three = stratified_assign(np.zeros(3), np.full(3, -1), keys[:3], FRAC)
    assert sorted(three.tolist()) == [0, 0, 1]  # val gets one at the third label
    # even a split wanting everything in val keeps the first two for train
    skew = check_fractions({"train": 0.1, "val": 0.9})
    assert stratified_assign(np.zeros(2), np.full(2, -1), keys[:2], skew).tolist() == [0, 0]


def test_pure_groups_and_existing() -> None:
    n = 40
    labels = np.arange(n) % 2
    groups = np.where(np.arange(n) < 10, 0, -1)  # items 0..9: one near-duplicate group
    current = np.full(n, -1)
    current[5] = 2  # one member already in test
    keys = order_keys([str(i) for i in range(n)], 3)
    codes = stratified_assign(labels, current, keys, FRAC, groups)
    assert (codes[:10] == 2).all()
    assert codes[5] == 2


def test_components_join_exact_and_near_duplicates() -> None:
    ids = np.array([10, 11, 12, 13, 14, 15])
    dup = np.array([10, 10, 12, 13, 14, 15])  # 11 is a copy of 10
    near = (np.array([15, 12, 11]), np.array([4, 4, 4]))  # 11, 12, 15 near-duplicates
    comp = duplicate_components(ids, dup, near)
    assert comp[0] == comp[1] == comp[2] == comp[5] >= 0
    assert comp[3] == comp[4] == -1
    assert (duplicate_components(ids, ids, None) == -1).all()


def test_stability_after_more_labels(project: Project) -> None:
    ids = add_images(project, [f"h{i}" for i in range(60)])
    add_labels(project, ids[:30], "cat")
    first = assign_splits(project)
    assert first["assigned"] == 30
    before = splits_of(project)
    add_labels(project, ids[30:], "dog")
    add_labels(project, ids[:5], "dog")  # relabeling keeps the split too
    again = assign_splits(project, fractions={"train": 0.5, "val": 0.5}, seed=9)
    assert again["assigned"] == 30
    after = splits_of(project)
    assert {k: after[k] for k in before} == before
    assert assign_splits(project)["assigned"] == 0
    codes = load_splits(project, np.array([ids[3], 99999, ids[40]]))
    assert codes.dtype == np.int8
    assert codes[0] == ("train", "val", "test").index(before[ids[3]]) and codes[1] == -1


def test_stratified_in_project(project: Project) -> None:
    ids = add_images(project, [f"s{i}" for i in range(100)])
    add_labels(project, ids[:50], "cat")
    add_labels(project, ids[50:], "dog")
    add_labels(project, add_images(project, ["m1", "m2"]), "junk")  # marks get no split
    out = assign_splits(project)
    assert out["assigned"] == 100
    assert out["splits"] == {"train": 70, "val": 20, "test": 10}
    for name in ("cat", "dog"):
        got = out["classes"][name]
        assert abs(got["train"] - 35) <= 2 and abs(got["val"] - 10) <= 2 and abs(got["test"] - 5) <= 2


def test_deterministic_regardless_of_insertion_order(tmp_path) -> None:
    hashes = [f"c{i:03d}" for i in range(80)]
    results = []
    for name, order in (("a", hashes), ("b", hashes[::-1])):
        p = Project.create(tmp_path / name, name=name, classes=["cat", "dog"])
        ids = add_images(p, order)
        by_hash = dict(zip(order, ids, strict=True))
        add_labels(p, [by_hash[h] for h in hashes if int(h[1:]) % 3], "cat")
        add_labels(p, [by_hash[h] for h in hashes if not int(h[1:]) % 3], "dog")
        assign_splits(p, seed=5)
        rows = p.db.execute("SELECT i.content_hash, s.split FROM splits s JOIN images i "
                            "ON i.id = s.image_id").fetchall()
        results.append(dict((r[0], r[1]) for r in rows))
        p.close()
    assert results[0] == results[1]
    assert len(results[0]) == 80


def test_duplicates_share_a_split(project: Project) -> None:
    hashes = [f"d{i}" for i in range(30)] + ["d0", "d1"]
    ids = add_images(project, hashes, dup_of={30: 0, 31: 1})  # exact copies of 0 and 1
    add_labels(project, ids[:30], "cat")
    near = (np.array(ids[10:20]), np.zeros(10, dtype=np.int64))  # one near-duplicate group
    assign_splits(project, groups=near)
    s = splits_of(project)
    assert len({s[i] for i in ids[10:20]}) == 1
    add_labels(project, ids[30:], "cat")  # the copies get labeled later
    assign_splits(project, groups=near)
    s = splits_of(project)
    assert s[ids[30]] == s[ids[0]] and s[ids[31]] == s[ids[1]]


def test_tiny_class_goes_to_train(project: Project) -> None:
    ids = add_images(project, ["t1", "t2", "t3"])
    add_labels(project, ids[:1], "dog")
    assign_splits(project)
    add_labels(project, ids[1:2], "dog")
    out = assign_splits(project)
    assert out["classes"]["dog"] == {"train": 2, "val": 0, "test": 0}
    add_labels(project, ids[2:], "dog")
    assert assign_splits(project)["classes"]["dog"] == {"train": 2, "val": 1, "test": 0}


def test_bad_fractions(project: Project) -> None:
    with pytest.raises(ConfigError, match="unknown split 'holdout'"):
        assign_splits(project, fractions={"holdout": 1.0})
    with pytest.raises(ConfigError, match="train > 0"):
        assign_splits(project, fractions={"train": 0, "val": 1})
