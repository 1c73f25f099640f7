"""Changes made by other processes (the CLI while the app is open) are told apart from own ones."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from classkit.engine.labels import add_labels, undo_events
from classkit.engine.project import Project
from classkit.engine.project.changes import OWN, Watch, describe

from .test_labels_events import add_images


def elsewhere(root: Path, code: str) -> None:
    """Run ``code`` in another process with ``p``, the project at ``root``, open."""
    script = textwrap.dedent(f"""
        from classkit.engine.project import Project
        from classkit.engine.labels import add_labels
        p = Project.open({str(root)!r})
    """) + textwrap.dedent(code) + "\np.close()\n"
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def test_own_writes_are_not_reported(project: Project) -> None:
    ids = add_images(project, 4)
    watch = Watch(project)
    try:
        assert watch.poll(project) is None
        events = add_labels(project, ids[:2], "cat")
        undo_events(project, events[:1])
        project.ensure_classes(["bird"])
        project.update_settings(autosave_ms=300)
        assert watch.poll(project) is None
        assert watch.own_labels == 3  # two labels and an undo, all this process's
        assert watch.poll(project) is None and watch.own_labels == 0
    finally:
        watch.close()
    assert not OWN.watching(project.root)  # nothing is recorded for unwatched projects


def test_labels_from_another_process_are_counted_exactly(project: Project) -> None:
    ids = add_images(project, 6)
    watch = Watch(project)
    try:
        add_labels(project, ids[:2], "cat")  # own, before and after the other process's
        elsewhere(project.root, f"add_labels(p, {ids[2:5]}, 'dog', source='import')")
        add_labels(project, ids[5:], "dog")
        change = watch.poll(project)
        assert change is not None and change["labels"] == 3  # the other process's events only
        assert not any(change[k] for k in ("classes", "rounds", "batches", "images", "artifacts"))
        assert describe(change) == "Loaded changes made outside the app: 3 label changes"
        assert watch.poll(project) is None  # reported once
    finally:
        watch.close()


def test_other_parts_changed_elsewhere(project: Project) -> None:
    add_images(project, 2)
    watch = Watch(project)
    try:
        elsewhere(project.root, """
            p.ensure_classes(["fish"])
            with p.transaction() as con:
                con.execute("INSERT INTO rounds(created_at) VALUES (1.0)")
                con.execute("INSERT INTO batches(created_at) VALUES (1.0)")
            p.update_settings(autosave_ms=400)
        """)
        add_labels(project, [1], "cat")  # own labels alone do not hide the others' changes
        change = watch.poll(project)
        assert change is not None and change["labels"] == 0
        assert change["classes"] and change["rounds"] and change["batches"] and change["settings"]
        assert not change["images"] and not change["artifacts"]
        text = describe(change)
        assert "classes" in text and "a new training round" in text and "a new batch" in text
    finally:
        watch.close()


def test_a_change_while_own_jobs_commit_is_left_to_their_refresh(project: Project) -> None:
    """Documented limit: a non-label change elsewhere that lands while this process commits
    more than labels is not reported (the app refreshes after its own jobs anyway)."""
    add_images(project, 2)
    watch = Watch(project)
    try:
        elsewhere(project.root, 'p.ensure_classes(["fish"])')
        project.ensure_classes(["bird"])
        assert watch.poll(project) is None
    finally:
        watch.close()
