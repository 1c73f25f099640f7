"""Ingestion: folders, videos, labelled datasets and PoseKit projects into a project."""

from .detect import detect_kind
from .pipeline import ingest, resolve_sources
from .probe import REASONS

__all__ = ["REASONS", "detect_kind", "ingest", "resolve_sources"]
