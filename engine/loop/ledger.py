"""The round ledger: one row per training round in the ``rounds`` table, and restoring one.

A round records the embedding version, the label snapshot (counts and the diff since the
previous round), the settings and seed, the train version (checkpoint, temperature,
metrics) and the predictions version, and the stop signals computed at that point.
Restoring a round makes its train and predictions versions current again; nothing is
deleted, and later rounds stay in the ledger.
"""
from __future__ import annotations

import json
import time
from typing import Any

from ..errors import ClassKitError
from ..project import Project

_JSON = ("labels", "settings", "metrics", "signals")


def current_round(project: Project) -> int:
    """The number of the latest round (0 before the first training)."""
    return int(project.db.execute("SELECT COALESCE(MAX(id), 0) FROM rounds").fetchone()[0])


def record_round(project: Project, *, embedding_version: str, train_version: str,
                 prediction_version: str, labels: dict[str, Any], settings: dict[str, Any],
                 metrics: dict[str, Any], signals: dict[str, Any]) -> int:
    """Append a round to the ledger; returns its number."""
    with project.transaction() as con:
        cur = con.execute(
            "INSERT INTO rounds(created_at, embedding_version, train_version, prediction_version, "
            "labels, settings, metrics, signals) VALUES (?,?,?,?,?,?,?,?)",
            (time.time(), embedding_version, train_version, prediction_version,
             json.dumps(labels, sort_keys=True), json.dumps(settings, sort_keys=True),
             json.dumps(metrics, sort_keys=True), json.dumps(signals, sort_keys=True)))
        return int(cur.lastrowid or 0)


def _row(r: Any) -> dict[str, Any]:
    out = dict(r)
    for key in _JSON:
        out[key] = json.loads(out[key])
    out["round"] = out.pop("id")
    return out


def _batches(project: Project) -> dict[int, list[dict[str, Any]]]:
    """Batches picked after each round (selection settings, seed, composition by reason)."""
    out: dict[int, list[dict[str, Any]]] = {}
    for b in project.db.execute("SELECT id, round, created_at, settings, composition FROM batches "
                                "ORDER BY id"):
        comp = json.loads(b["composition"])
        out.setdefault(int(b["round"]), []).append(
            {"batch": int(b["id"]), "created_at": b["created_at"], "settings": json.loads(b["settings"]),
             "by_reason": comp.get("by_reason", {}), "novelty": comp.get("novelty")})
    return out


def list_rounds(project: Project) -> list[dict[str, Any]]:
    """Every round, oldest first, with its JSON fields decoded and the batches picked from
    its predictions (``batches``)."""
    batches = _batches(project)
    rows = [_row(r) for r in project.db.execute("SELECT * FROM rounds ORDER BY id")]
    for r in rows:
        r["batches"] = batches.get(r["round"], [])
    return rows


def get_round(project: Project, number: int) -> dict[str, Any]:
    row = project.db.execute("SELECT * FROM rounds WHERE id=?", (number,)).fetchone()
    if row is None:
        known = current_round(project)
        raise ClassKitError(f"no round {number} (rounds: 1..{known})" if known else
                            "no rounds yet: run `classkit train`")
    out = _row(row)
    out["batches"] = _batches(project).get(number, [])
    return out


def restore_round(project: Project, number: int) -> dict[str, Any]:
    """Make round ``number``'s model and predictions the current ones again."""
    rnd = get_round(project, number)
    with project.transaction() as con:
        for stage, version in (("train", rnd["train_version"]),
                               ("predictions", rnd["prediction_version"])):
            hit = con.execute("SELECT 1 FROM artifacts WHERE stage=? AND version=?",
                              (stage, version)).fetchone()
            if hit is None:
                raise ClassKitError(f"round {number}: its {stage} version {version} is not recorded")
            folder = project.version_dir(stage, version)
            if not folder.is_dir():
                raise ClassKitError(f"round {number}: {folder} is missing on disk")
            con.execute("UPDATE artifacts SET is_current=0 WHERE stage=?", (stage,))
            con.execute("UPDATE artifacts SET is_current=1 WHERE stage=? AND version=?",
                        (stage, version))
    return rnd
