"""The project store: manifest, SQLite database, versioned artifact folders."""

from .project import Project, find_project_root

__all__ = ["Project", "find_project_root"]
