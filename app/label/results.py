"""Applying background results (writer commits, queues, neighbours, review candidates,
suggestions) to a LabelModel on the GUI thread."""
from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from . import image_provider

if TYPE_CHECKING:
    from .label_model import LabelModel

log = logging.getLogger(__name__)


def _value(model: LabelModel, fut: Future, what: str) -> Any:
    try:
        return fut.result()
    except Exception as exc:  # noqa: BLE001 - shown to the user
        log.info("%s failed: %s", what, exc)
        model._set_message(f"{what}: {exc}", error=True)
        return None


def handle_result(model: LabelModel, kind: str, gen: int, payload: Any) -> None:
    """Dispatch one result; stale ones (an older generation) are dropped."""
    if kind == "written":
        _written(model, payload)
        return
    if gen not in (-1, model._gen):
        return
    if kind == "queue":
        items = _value(model, payload, "loading the queue")
        if items is None:
            return
        model._items, model._kind = items, model._pending_kind
        image_provider.remember((i["id"], i["path"]) for i in items)
        done = model._kind == "batch" and bool(items) and all(i["label"] is not None for i in items)
        model._set_message("this queue is empty" if not items else
                           "this batch is done (its audits are kept for a second look: Left)" if done else "")
        model.queueChanged.emit()
        focus = model._pending_focus
        start = len(items) if done else 0  # a finished batch opens on Next batch / Train now
        model._show(next((k for k, it in enumerate(items) if it["id"] == focus), start))
    elif kind == "classes":
        classes = _value(model, payload, "reading the classes")
        if classes is not None:
            model._classes = classes
            model.classesChanged.emit()
    elif kind == "neighbours":
        found = _value(model, payload, "neighbours") if payload.exception() is None else []
        model._neighbours = found or []
        model.neighboursChanged.emit()
    elif kind == "review":
        found = _value(model, payload, "finding similar images")
        model._review = found or []
        if found is not None and not found:
            model._set_message("no unlabeled images close to this one")
        model.reviewChanged.emit()
    elif kind == "labels":
        read = _value(model, payload, "reading labels")
        if read is None:
            return
        mark, ids, labels = read
        if model._writer is not None and model._writer.requested != mark:
            model._refresh_labels()  # a label was given while reading: read again after it
            return
        asked = set(ids)
        for it in model._items:
            if it["id"] in asked:
                it["label"] = labels.get(it["id"])
        model.currentChanged.emit()
    elif kind == "suggestions":
        sugg = _value(model, payload, "refreshing suggestions") or {}
        for it in model._items:
            s = sugg.get(it["id"])
            it["suggestion"], it["confidence"] = (s[0], s[1]) if s else (None, None)
        model.queueChanged.emit()
        model.currentChanged.emit()


def _written(model: LabelModel, out: dict[str, Any]) -> None:
    if not out.get("ok"):
        model._set_message(f"not saved: {out.get('error')}", error=True)
        _revert_unsaved(model, out)
    elif out["kind"] == "undo" and out.get("undone"):
        tag = out.get("tag") or {}
        before = tag.get("before", {})
        for it in model._items:
            if it["id"] in before:
                it["label"] = before[it["id"]]
        if "pos" in tag:
            model._show(int(tag["pos"]))
        else:
            model.currentChanged.emit()
    elif out["kind"] == "undo":
        model._set_message("nothing to undo in this session")
    elif out["kind"] == "label" and out.get("source") == "bulk":
        ids = set(out["ids"])
        for it in model._items:
            if it["id"] in ids:
                it["label"] = out["label"]
        model.currentChanged.emit()
    if out.get("ok"):
        model._saved_at = time.time()
        if out.get("since_key_ms", 0) > model.autosave_ms:
            model._set_message(f"saving is slow: {out['since_key_ms']:.0f} ms after the key "
                               f"(autosave setting {model.autosave_ms} ms)", error=True)
    model.saveStateChanged.emit()
    model.committed.emit(out)


def _revert_unsaved(model: LabelModel, out: dict[str, Any]) -> None:
    """A label that failed to commit must not look saved."""
    tag = out.get("tag") or {}
    for it in model._items:
        if it["id"] in tag.get("before", {}):
            it["label"] = tag["before"][it["id"]]
    model.currentChanged.emit()
