"""The state database (`CMS_STATE_URL`, default `.cms/state.db` next to the index).

It holds what cannot be rebuilt from the content: users, refresh tokens,
password attempts, the ids of access tokens issued to each login and of
those revoked, daily usage counts. It is never in the content repository
(its folder carries a `*` .gitignore) and never in the index, which is a
cache anyone may delete.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cms import localdir
from cms.content.corpus import ContentTree

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    full_name TEXT,
    role TEXT NOT NULL CHECK (role IN ('ADMIN', 'MODERATOR', 'USER')),
    is_active INTEGER NOT NULL DEFAULT 1,
    password_hash TEXT NOT NULL,
    token_version INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX IF NOT EXISTS refresh_tokens_user ON refresh_tokens (user_id);
CREATE TABLE IF NOT EXISTS login_attempts (
    address TEXT NOT NULL, -- the client address of a login, or `user:<id>` for a password change
    attempted_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_attempts_address ON login_attempts (address, attempted_at);
CREATE TABLE IF NOT EXISTS revoked_access_tokens (
    jti TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS issued_access_tokens (
    jti TEXT PRIMARY KEY,
    family TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS issued_access_tokens_family ON issued_access_tokens (family);
"""


def state_path(tree: ContentTree, url: str | None) -> Path:
    """Where the state lives: `CMS_STATE_URL` or `.cms/state.db` in the repository."""
    return localdir.sqlite_file(tree.repo_root, url, "CMS_STATE_URL", "state.db")


class StateDB:
    """One connection to the state database, shared by threads behind a lock.

    Writes take SQLite's write lock up front (`BEGIN IMMEDIATE`), so several
    server processes sharing the file never interleave a read-then-write.
    """

    def __init__(self, path: Path) -> None:
        localdir.prepare(path.parent)
        self.path = path
        self.conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.executescript(SCHEMA)
        self._lock = threading.Lock()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> StateDB:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
