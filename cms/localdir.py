"""Folders Coursebase keeps for itself next to the content (`.cms/`): never content, never committed."""

from __future__ import annotations

from pathlib import Path

from cms.database.urls import SqliteFile, locate
from cms.errors import ConfigError


def prepare(folder: Path) -> None:
    """Create `folder`; only a folder of our own (`.cms`, or one made here) gets a `*` .gitignore.

    Any other folder is left alone: `CMS_DATABASE_URL=sqlite:///index.db`
    in the repository root must not make git ignore the whole repository.
    """
    ours = folder.name == ".cms" or not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if ours and not ignore.exists():
        ignore.write_text("# local state and caches, never content\n*\n")


def sqlite_file(repo_root: Path, url: str | None, setting: str, default: str) -> Path:
    """The SQLite file a `sqlite:///path` setting names, or `.cms/<default>` under the repository root."""
    location = locate(setting, url, repo_root, default)
    if not isinstance(location, SqliteFile):
        raise ConfigError(f"{setting}={location}: a SQLite file is needed here: use sqlite:///path/to/{default}")
    return location.path
