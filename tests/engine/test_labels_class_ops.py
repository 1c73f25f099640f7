"""Class rename/merge/delete keep labels as events."""
from __future__ import annotations

import pytest

from classkit.engine.errors import ClassKitError
from classkit.engine.labels import add_labels, current_labels, label_history
from classkit.engine.labels.class_ops import delete_class, merge_classes, rename_class
from classkit.engine.project import Project
from tests.engine.test_labels_events import add_images


def test_rename_keeps_labels(project: Project) -> None:
    a, b, c = add_images(project, 3)
    add_labels(project, [a, b], "cat")
    add_labels(project, [c], "dog")
    assert rename_class(project, "CAT", "feline") == 2
    assert current_labels(project) == {a: "feline", b: "feline", c: "dog"}
    assert [x.name for x in project.classes()] == ["feline", "dog"]
    last = label_history(project, a)[-1]
    assert last["source"] == "rename" and last["reason"] == "rename cat -> feline"
    with pytest.raises(ClassKitError, match="merge into it"):
        rename_class(project, "feline", "Dog")
    assert rename_class(project, "feline", "Feline") == 2  # case change is a rename too
    assert current_labels(project)[a] == "Feline"


def test_merge_and_delete(project: Project) -> None:
    a, b, c = add_images(project, 3)
    add_labels(project, [a], "cat")
    add_labels(project, [b, c], "dog")
    with pytest.raises(ClassKitError, match="2 image"):
        delete_class(project, "dog")
    assert merge_classes(project, "dog", "cat") == 2
    assert current_labels(project) == {a: "cat", b: "cat", c: "cat"}
    assert [x.name for x in project.classes()] == ["cat"]
    assert label_history(project, b)[-1]["source"] == "merge"
    project.ensure_classes(["bird"])
    assert delete_class(project, "bird") == 0
    assert delete_class(project, "cat", clear=True) == 3
    assert current_labels(project) == {} and project.classes() == []
    with pytest.raises(ClassKitError, match="no class"):
        merge_classes(project, "nope", "cat")


def test_class_operations_are_not_undone_image_by_image(project) -> None:  # noqa: ANN001
    """A plain undo skips rename events, and undoing one by id is refused (it would bring
    back a class name that no longer exists)."""
    import pytest

    from classkit.engine.errors import ClassKitError
    from classkit.engine.labels import class_ops
    from classkit.engine.labels.events import add_labels, current_labels, undo

    from ..conftest import make_image

    with project.transaction() as con:
        for i in range(2):
            make_image(project.root / f"i{i}.png", seed=i)
            con.execute("INSERT INTO images(path, content_hash, file_size, mtime_ns, width, height, "
                        "format, added_at) VALUES (?,?,1,1,64,48,'PNG',1)", (f"i{i}.png", f"h{i}"))
    add_labels(project, [1, 2], "cat")
    class_ops.rename_class(project, "cat", "kitten")
    assert set(current_labels(project).values()) == {"kitten"}
    rename_ev = project.db.execute("SELECT MAX(id) FROM label_events WHERE source='rename'").fetchone()[0]
    with pytest.raises(ClassKitError, match="class rename"):
        undo(project, rename_ev)
    # a plain undo never picks the rename; the manual label under it is not the latest: refused
    with pytest.raises(ClassKitError, match="not the latest label"):
        undo(project)
    assert set(current_labels(project).values()) == {"kitten"}
