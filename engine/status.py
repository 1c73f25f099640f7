"""The project summary shown by ``classkit status`` and the app's project page."""
from __future__ import annotations

import json
from typing import Any

from .labels.events import label_counts
from .project import Project
from .thumbs import cache_stats


def project_status(project: Project, max_issues: int = 10) -> dict[str, Any]:
    """Counts, classes with label counts, open ingest issues, sources, the last ingest run."""
    q = project.db.execute
    per_class = label_counts(project)
    counts = project.counts(labeled=sum(per_class.values()))
    classes = [{**c.to_dict(), "count": per_class.get(c.name, 0)} for c in project.classes()]
    by_reason = dict(q("SELECT reason, COUNT(*) FROM ingest_issues WHERE resolved_at IS NULL "
                       "GROUP BY reason ORDER BY reason").fetchall())
    issues = [dict(r) for r in q(
        "SELECT path, reason, detail FROM ingest_issues WHERE resolved_at IS NULL "
        "ORDER BY id LIMIT ?", (max_issues,))]
    sources = [dict(r) for r in q("SELECT id, kind, path, last_ingested_at FROM sources ORDER BY id")]
    kinds = dict(q("SELECT kind, COUNT(*) FROM images GROUP BY kind").fetchall())
    run = q("SELECT id, status, started_at, finished_at, summary FROM ingest_runs "
            "ORDER BY id DESC LIMIT 1").fetchone()
    last = None
    if run is not None:
        last = dict(run)
        summary = json.loads(run["summary"] or "{}")
        last["summary"] = {k: v for k, v in summary.items()
                           if k not in ("issue_examples", "sources")}
    return {
        "project": project.manifest.name, "root": str(project.root),
        "schema_version": project.manifest.schema_version,
        **counts,
        "images_by_kind": kinds,
        "classes": classes,
        "status_labels": {k: v for k, v in per_class.items()
                          if k in ("unsure", "junk", "skip")},
        "ingest_issues_by_reason": by_reason,
        "issues": issues,
        "sources": sources,
        "last_ingest": last,
        "thumbnails": cache_stats(project),
    }
