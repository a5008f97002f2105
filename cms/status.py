"""How current the index is, compared with the repository."""

from __future__ import annotations

import sqlite3
from typing import Any

from cms import queries
from cms.gitrepo import GitRepo


def index_health(conn: sqlite3.Connection, repo: GitRepo) -> dict[str, Any]:
    info = queries.meta(conn)
    indexed = info.get("commit") or None
    head = repo.head()
    behind = repo.commits_between(indexed, head) if indexed and head else None
    return {"status": "ok" if behind == 0 else "degraded", "index_commit": indexed, "repository_head": head,
            "commits_behind": behind, "built_at": info.get("built_at")}
