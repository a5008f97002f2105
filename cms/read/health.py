"""How current the index is, compared with the repository, and what it holds (`cms stats`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from cms.content.corpus import ContentTree
from cms.database import PostgresUrl
from cms.index.build import update
from cms.read import queries
from cms.read.connection import reading
from cms.read.documents import materialise
from cms.repo.repository import GitRepo


def index_health(conn: sqlite3.Connection, repo: GitRepo) -> dict[str, Any]:
    info = queries.meta(conn)
    indexed = info.get("commit") or None
    head = repo.head()
    behind = repo.commits_between(indexed, head) if indexed and head else None
    problems = conn.execute("SELECT COUNT(*) AS n FROM problems WHERE severity = 'error'").fetchone()["n"]
    return {"status": "ok" if behind == 0 else "degraded", "problems": problems, "index_commit": indexed,
            "repository_head": head, "commits_behind": behind, "built_at": info.get("built_at")}


STORED = ("courses", "sections", "lessons", "video_snippets", "projects", "authors", "paths", "media", "categories")


def index_stats(conn: sqlite3.Connection) -> dict[str, Any]:
    """What `cms stats` reports: the indexed commit, what the public sees, what is stored, and totals."""
    info = queries.meta(conn)
    stored = {table: conn.execute(f"SELECT COUNT(*) AS n FROM {table}").fetchone()["n"] for table in STORED}
    totals = conn.execute("SELECT COALESCE(SUM(video_seconds), 0) AS video_seconds, "
                          "COALESCE(SUM(word_count), 0) AS words FROM lessons").fetchone()
    return {"commit": info.get("commit") or None, "built_at": info.get("built_at"),
            "public": queries.counts(conn), "stored": stored, "totals": totals}


def current_stats(tree: ContentTree, db_path: Path | PostgresUrl) -> dict[str, Any]:
    """Bring the index up to date, then `index_stats` (the connection is opened and closed here)."""
    update(tree, db_path, materialise=materialise)
    with reading(db_path) as conn:
        return index_stats(conn)
