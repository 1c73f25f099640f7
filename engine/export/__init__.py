"""Versioned, reproducible, safe dataset exports: ImageFolder, CSV, Parquet, Ultralytics classify.

``export_project(project, fmt, out, ExportOptions(...))`` writes a new version folder
inside the export root ``out`` (temporary folder + atomic rename) with a manifest of the
label snapshot, artifact versions, counts and the SHA-256 of every file. See ``job.py``.
"""
from __future__ import annotations

from .job import ExportResult, export_project, list_exports
from .names import class_folders, export_file_name, safe_component
from .plan import FORMATS
from .rows import COLUMNS, STATUSES, ExportOptions, gather_rows, snapshot_position
from .writers import LINK_MODES

__all__ = ["COLUMNS", "FORMATS", "LINK_MODES", "STATUSES", "ExportOptions", "ExportResult",
           "class_folders", "export_file_name", "export_project", "gather_rows", "list_exports",
           "safe_component", "snapshot_position"]
