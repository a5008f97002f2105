"""Where a renamed entry's old public path leads: the index's `redirects` table (`cms.index.redirects`).

Paths are public paths as the read API serves them under its base path and
as preview pages do under theirs: `/courses/<course>/lessons/<lesson>`. A
renamed course takes its subroutes along: `/courses/old/sections` leads to
`/courses/new/sections` when `/courses/old` leads to `/courses/new` and the
longer path has no redirect of its own. Callers ask only once the path has
answered 404, so a live entry always wins over a redirect.
"""

from __future__ import annotations

import sqlite3
from typing import Any

PREFIXES = ("/courses/", "/projects/", "/authors/", "/paths/", "/media/")
"""The public paths an entry can have: only these are looked up."""
MAX_PATH = 400
"""A longer path names no entry (slugs are at most 80 characters)."""


def target(conn: sqlite3.Connection, path: str) -> str | None:
    """The public path `path` moved to, or None when it never named a renamed entry."""
    if not path.startswith(PREFIXES) or len(path) > MAX_PATH:
        return None
    found = _listed(conn, path)
    if found is not None:
        return found
    parts = path.split("/")
    if parts[1] == "courses" and len(parts) > 3:
        course = _listed(conn, f"/courses/{parts[2]}")
        if course is not None:
            return "/".join([course, *parts[3:]])
    return None


def _listed(conn: sqlite3.Connection, path: str) -> str | None:
    row = conn.execute("SELECT new_path FROM redirects WHERE old_path = ? AND listed = 1", [path]).fetchone()
    return None if row is None else str(row["new_path"])


def redirects_page(conn: sqlite3.Connection, page: int, page_size: int) -> tuple[list[dict[str, Any]], int]:
    """One page of the redirects served, by old path, and how many there are."""
    total = conn.execute("SELECT COUNT(*) AS n FROM redirects WHERE listed = 1").fetchone()["n"]
    rows = conn.execute('SELECT kind, old_path, new_path, renamed_in AS "commit", renamed_at FROM redirects '
                        "WHERE listed = 1 ORDER BY old_path LIMIT ? OFFSET ?",
                        [page_size, (page - 1) * page_size]).fetchall()
    return rows, total
