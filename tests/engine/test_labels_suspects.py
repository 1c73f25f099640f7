"""The label-error suspects queue: a wrong label the out-of-fold heads contradict is listed,
most suspect first, with what a head that never saw it predicts; once the label is given
again it leaves the queue."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from classkit.engine.demo import CLASSES, make_demo_data
from classkit.engine.embed.job import embed_project
from classkit.engine.embed.spec import resolve_model
from classkit.engine.errors import ClassKitError
from classkit.engine.ingest.pipeline import ingest
from classkit.engine.labels.events import add_labels
from classkit.engine.labels.queue import build_queue
from classkit.engine.loop.rounds import train_round
from classkit.engine.project import Project


@pytest.fixture(scope="module")
def flipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, dict[int, str]]]:
    """Demo shapes, 20 per class, all labeled by folder except two given a wrong class."""
    base = tmp_path_factory.mktemp("suspects")
    tree = make_demo_data(base / "data", per_class=20)["imagefolder"]
    project = Project.create(base / "p", classes=list(CLASSES))
    ingest(project, [tree])
    embed_project(project, resolve_model("squeezenet1.1"))
    truth = {int(i): Path(p).parent.name for i, p in project.db.execute("SELECT id, path FROM images")}
    for name in CLASSES:
        add_labels(project, [i for i, c in truth.items() if c == name], name)
    wrong = {}
    for name, other in zip(CLASSES[:2], CLASSES[1:3], strict=True):
        victim = min(i for i, c in truth.items() if c == name)
        add_labels(project, [victim], other)
        wrong[victim] = name
    yield project, wrong
    project.close()


def test_suspects_queue_lists_wrong_labels_first(flipped: tuple[Project, dict[int, str]]) -> None:
    project, wrong = flipped
    with pytest.raises(ClassKitError, match="no trained model yet"):
        build_queue(project, "suspects")
    train_round(project, seed=0, folds=0)
    with pytest.raises(ClassKitError, match="no label-error check"):
        build_queue(project, "suspects")
    train_round(project, seed=0, folds=5)
    items = build_queue(project, "suspects")
    by_id = {i.id: i for i in items}
    assert set(wrong) <= set(by_id) and len(items) <= 4  # both flipped labels, hardly anything else
    for image_id, true_class in wrong.items():
        it = by_id[image_id]
        assert it.reason == "suspect label" and it.label != true_class and not it.blind
        assert it.suggestion == true_class and it.confidence > 0.5  # the held-out head's class
        assert it.score > 0.95
    assert [i.score for i in items] == sorted((i.score for i in items), reverse=True)  # most suspect first
    first, second = sorted(wrong)
    add_labels(project, [first], wrong[first])  # corrected: it leaves the queue
    assert first not in {i.id for i in build_queue(project, "suspects")}
    add_labels(project, [second], by_id[second].label)  # re-checked and kept: it leaves too
    left = {i.id for i in build_queue(project, "suspects")}
    assert second not in left and left == set(by_id) - set(wrong)
