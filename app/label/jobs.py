"""Worker-side jobs of the label workbench (engine job contract; no Qt): each opens its own
``Project`` (SQLite connections are per thread)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from classkit.engine.jobs import CancelToken, ProgressFn
from classkit.engine.project import Project


def train_job(path: str, *, progress: ProgressFn, cancel: CancelToken) -> dict[str, Any]:
    """Train the next round (and predict every image) on the labels so far."""
    from classkit.engine.loop.rounds import train_round

    with Project.open(Path(path)) as project:
        out = train_round(project, progress=progress, cancel=cancel)
        return {"round": out.get("round")}


def select_job(path: str, budget: int, *, progress: ProgressFn, cancel: CancelToken) -> dict[str, Any]:
    """Select and store the next active-learning batch."""
    from classkit.engine.loop.selection import select_for_project

    with Project.open(Path(path)) as project:
        out = select_for_project(project, budget, progress=progress, cancel=cancel)
        return {"batch": out["batch"], "count": len(out["items"])}
