"""An open database, SQLite or Postgres, behind one small interface the queries are written against.

Queries are written once, with `:name` parameters and a mapping of values, in the SQL both databases
speak (`ON CONFLICT`, `RETURNING`, `lower()`, no `rowid`); rows come back as dicts. Writes go through
`write()`: one transaction at a time across every process using the database (SQLite's `BEGIN
IMMEDIATE`; on Postgres a transaction-level advisory lock), so a read-then-write inside it is safe.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal, Protocol

from cms import localdir
from cms.database.migrations import Schema, migrate
from cms.database.urls import Location, SqliteFile

Dialect = Literal["sqlite", "postgres"]
Row = dict[str, Any]
Params = Mapping[str, Any]


class Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, params: Params = ..., /) -> Cursor: ...


class Database(Protocol):
    location: Location
    dialect: Dialect

    def write(self) -> AbstractContextManager[Connection]:
        """One write transaction, serialized with every other writer of this database."""
        ...

    def rows(self, sql: str, params: Params | None = None) -> list[Row]: ...

    def close(self) -> None: ...


def open_database(location: Location, schema: Schema) -> Database:
    """Connect to `location` and bring `schema` up to date there (see `cms.database.migrations`).

    A database that cannot be reached, or is newer than this code, is a ConfigError naming the setting.
    """
    if isinstance(location, SqliteFile):
        database: Database = SqliteDatabase(location)
    else:
        from cms.database.postgres import PostgresDatabase  # psycopg costs 0.3 s to import: only when used

        database = PostgresDatabase(location, writes=schema.name)
    try:
        migrate(database, schema)
    except BaseException:
        database.close()
        raise
    return database


def _dict_row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, values, strict=True)}


class SqliteDatabase:
    """One connection in WAL mode, shared by threads behind a lock."""

    dialect: Dialect = "sqlite"

    def __init__(self, location: SqliteFile) -> None:
        localdir.prepare(location.path.parent)
        self.location = location
        self.conn = sqlite3.connect(location.path, timeout=30, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = _dict_row
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA foreign_keys = ON")
        self._lock = threading.Lock()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def rows(self, sql: str, params: Params | None = None) -> list[Row]:
        with self._lock:
            return self.conn.execute(sql, params or {}).fetchall()

    def close(self) -> None:
        self.conn.close()
