"""Read-only connections to the index: they can never change it, and a server's follows a replaced file.

Rows come back as dicts, with JSON columns decoded.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from cms.database import PostgresUrl
from cms.errors import ConfigError

JSON_COLUMNS = {"tags", "prerequisites", "objectives", "questions", "videos", "ai", "toc", "tech_stack", "links",
                "courses"}


def connect(path: Path) -> sqlite3.Connection:
    """A read-only connection: it can never change the index."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA query_only = ON")
    conn.row_factory = _dict_row
    return conn


@contextmanager
def reading(path: Path | PostgresUrl) -> Iterator[sqlite3.Connection]:
    """A read-only connection for one job (a command, a prompt), closed when the job is done.

    On Postgres, a `cms.read.postgres.PostgresReader`, which answers the same queries."""
    conn = _reader(path) if isinstance(path, PostgresUrl) else connect(path)
    try:
        yield conn
    finally:
        conn.close()


def _reader(location: PostgresUrl) -> Any:
    from cms.read.postgres import PostgresReader  # psycopg costs 0.3 s to import: only when used

    return PostgresReader(location)


def live_index(location: Path | PostgresUrl) -> LiveIndex:
    """What a server worker reads: `LiveIndex` on a SQLite file, `LivePostgresIndex` (its interface) on Postgres."""
    if isinstance(location, PostgresUrl):
        from cms.read.postgres import LivePostgresIndex

        return LivePostgresIndex(location)  # type: ignore[return-value]
    return LiveIndex(location)


@contextmanager
def as_dicts(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`conn` (the indexer's, say) giving rows as the read side does, for the length of the block."""
    before = conn.row_factory
    conn.row_factory = _dict_row
    try:
        yield conn
    finally:
        conn.row_factory = before


class LiveIndex:
    """The index a server worker reads: one read-only connection, reopened when the file is replaced.

    A full rebuild elsewhere, or `rm .cms/index.db` and a new `cms index`,
    leaves a new file under the same name; a connection to the old one would
    serve the old content for ever. Every `FOLLOW_SECONDS` the file's identity
    is checked and, when it changed, a new connection is opened (the old one
    closes once the requests holding it are done).
    """

    FOLLOW_SECONDS = 0.25

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise ConfigError(f"there is no index at {path}: run `cms index` first (`cms serve` does)")
        self.path = path
        self.generation = 0
        """How many times the file was replaced: part of `version()`, since a new file counts from the start."""
        self._conn = connect(path)
        self._identity = _file_identity(path)
        self._checked = time.monotonic()

    @property
    def conn(self) -> sqlite3.Connection:
        now = time.monotonic()
        if now - self._checked >= self.FOLLOW_SECONDS:
            self._checked = now
            self._follow()
        return self._conn

    def version(self) -> tuple[int, int]:
        """Changes whenever what the index holds may have changed."""
        conn = self.conn
        return self.generation, conn.execute("PRAGMA data_version").fetchone()["data_version"]

    def _follow(self) -> None:
        identity = _file_identity(self.path)
        if identity is not None and identity != self._identity:
            self._conn = connect(self.path)
            self._identity = identity
            self.generation += 1


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    """A row as a dict, with JSON columns decoded."""
    names, decode = _columns(cursor.description)
    out = dict(zip(names, row, strict=True))
    for name in decode:
        value = out[name]
        if isinstance(value, str):
            out[name] = msgspec.json.decode(value)
    return out


@functools.lru_cache(maxsize=256)
def _columns(description: tuple[tuple[Any, ...], ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Column names and which of them hold JSON, worked out once per query shape."""
    names = tuple(column[0] for column in description)
    return names, tuple(name for name in names if name in JSON_COLUMNS)
