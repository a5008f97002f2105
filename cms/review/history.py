"""An entry's history as readers ask for it: the commits that touched its file, if they may see the entry.

    entry_history(conn, repo, entry, hidden, ref) → [Change], newest first, across renames

An entry is named by its kind and keys (`Entry("lesson", ("intro-to-testing", "first-test"))`). Its file is
the one the index (the served one, or a preview's) has for it; an entry the caller may not see answers
exactly like a missing one (404), as its detail route does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, Literal

import msgspec

from cms.errors import NotFound
from cms.read import queries
from cms.repo.history import Change, file_history
from cms.repo.repository import GitRepo

EntryKind = Literal["course", "lesson", "project", "author", "path"]
_FILES = {"course": "SELECT path FROM courses WHERE slug = ?",
          "lesson": "SELECT path FROM lessons WHERE course = ? AND slug = ?",
          "project": "SELECT path FROM projects WHERE slug = ?",
          "author": "SELECT path FROM authors WHERE slug = ?",
          "path": "SELECT path FROM paths WHERE slug = ?"}
_VISIBLE: dict[str, Callable[..., Any]] = {
    "course": queries.course_visible, "lesson": queries.lesson, "project": queries.project,
    "author": lambda conn, slug, hidden: queries.author(conn, slug), "path": queries.learning_path}


class Entry(msgspec.Struct, frozen=True):
    """An entry by kind and keys: a lesson's are its course and its slug, every other's its slug."""

    kind: EntryKind
    keys: tuple[str, ...]


def entry_history(conn: sqlite3.Connection, repo: GitRepo, entry: Entry, hidden: bool,
                  ref: str | None = None) -> list[Change]:
    """The commits on `ref` (HEAD by default) that touched the entry's file; `NotFound` if the caller can't see it."""
    return file_history(repo, entry_file(conn, entry, hidden), ref or "HEAD")


def entry_file(conn: sqlite3.Connection, entry: Entry, hidden: bool) -> str:
    """The entry's file, relative to the repository root; `NotFound` if the caller may not see the entry."""
    visible = _VISIBLE[entry.kind](conn, *entry.keys, hidden)
    row = conn.execute(_FILES[entry.kind], entry.keys).fetchone() if visible else None
    if row is None:
        raise NotFound(f"no {entry.kind} {'/'.join(entry.keys)!r}")
    prefix = queries.meta(conn).get("content_prefix", "")
    return f"{prefix}{row['path']}"
