"""The index in a SQLite file: where it lives, the writer's connection, and one run as one transaction.

A run on an index that exists is one write transaction (WAL mode): readers keep seeing the last committed
index until the new one is complete, and a killed run leaves nothing behind. The very first index is built
in a file of its own and renamed into place, which is as atomic and writes every page only once.
(`cms.index.postgres` is the same for a Postgres database.)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from cms import localdir
from cms.content.corpus import ContentTree
from cms.index import tables


class Report(Protocol):
    """What a run answers (`cms.index.build.IndexReport`)."""

    seconds: float


class Run(Protocol):
    """One indexing run inside an open transaction (`cms.index.build`)."""

    def execute(self) -> Any: ...


def update(db_path: Path, run: Callable[..., Run], full: bool) -> Any:
    """One index run on the SQLite file `db_path`: the first build in a file of its own, later ones in place."""
    localdir.prepare(db_path.parent)
    report = None if db_path.exists() else _first_build(db_path, run)
    return report if report is not None else _update_in_place(db_path, run, full)


def database_path(tree: ContentTree, url: str | None) -> Path:
    """Where the index lives: `CMS_DATABASE_URL` or `.cms/index.db` in the repository."""
    return localdir.sqlite_file(tree.repo_root, url, "CMS_DATABASE_URL", "index.db")


def connect(path: Path) -> sqlite3.Connection:
    """The writer's connection: WAL so readers are never blocked or shown a partial state."""
    localdir.prepare(path.parent)
    conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _update_in_place(db_path: Path, run: Callable[..., Run], full: bool) -> Report:
    """One write transaction on the index that readers may have open: they see it all or nothing of it."""
    conn = connect(db_path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        full = _prepare(conn) or full
        report = run(conn, full).execute()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    return report


def _first_build(db_path: Path, run: Callable[..., Run]) -> Report | None:
    """The first index, built in a file of its own and renamed into place once complete.

    Nothing can be reading an index that does not exist yet, so this build
    needs no journal: each page is written once, not once to the WAL and
    again when the WAL is checkpointed. The rename keeps it atomic: a killed
    build leaves only its `.building` file, which the next one starts over.
    None when another process made the index first (then update it in place).
    """
    building = db_path.with_name(f"{db_path.name}.building")
    with _exclusive(db_path.with_name(f"{db_path.name}.lock")):
        if db_path.exists():
            return None
        building.unlink(missing_ok=True)
        conn = sqlite3.connect(building, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("BEGIN")
            tables.create(conn)
            report = run(conn, True).execute()
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()
        _durable(building)
        for leftover in ("-wal", "-shm"):  # of an index deleted without them: they must not meet the new one
            db_path.with_name(db_path.name + leftover).unlink(missing_ok=True)
        os.replace(building, db_path)
        _durable(db_path.parent)
    return report


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file `lock` (created if missing) for the length of the block."""
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _durable(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _prepare(conn: sqlite3.Connection) -> bool:
    """Create the tables, rebuilding from scratch when the schema version differs; True if rebuilt."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone():
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None and row[0] == str(tables.SCHEMA_VERSION):
            return False
    tables.drop_all(conn)
    tables.create(conn)
    return True
