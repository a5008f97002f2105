"""The log of what changed publicly: a snapshot of the index compared with the last one recorded.

`record_changes` is the one writer of the log. Under the state database's
write lock it takes a snapshot of the index, compares it with
`published_entries`, and when anything differs appends one row to
`content_changes`, one delivery per active webhook target to the outbox,
and brings `published_entries` up to date, all in one transaction. A second
caller then finds nothing to record, so every worker of every server may
call it. An entry is

    created       public now, not before
    updated       public before and now, with another version (another blob)
    unpublished   public before, still in the index but no longer public (draft, archived, publish_at to come)
    deleted       public before, gone from the index (a rename is a deletion and a creation)

A new commit that changes nothing public is logged too, with no entries and
no deliveries, so that every commit the log saw can be a sync token. The
first row of an empty log is the baseline: every public entry as created,
sent to no one.

`Recorder` says when a worker should call it at all: when the index changed,
when a scheduled `publish_at` has passed, or once a minute.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cms.database import Connection, Database
from cms.delivery import outbox
from cms.delivery.events import EntryChange, encode_entries, order
from cms.delivery.snapshot import Entry, Key, Snapshot, take
from cms.read import LiveIndex
from cms.timestamps import utc_now

CHUNK = 500
"""Rows per statement when `published_entries` changes in bulk (4 parameters a row, well under either limit)."""


@dataclass(frozen=True)
class Recorded:
    """A row appended to the log, and how many deliveries it queued."""

    id: int
    old_commit: str | None
    new_commit: str | None
    entries: list[EntryChange]
    deliveries: int


def diff(published: dict[Key, Entry], snapshot: Snapshot) -> list[EntryChange]:
    """What changed from `published` (the public entries last recorded) to `snapshot`, in a stable order."""
    changes = [_appeared(published.get(key), entry) for key, entry in snapshot.public.items()]
    changes += [_left(entry, key in snapshot.stored) for key, entry in published.items()
                if key not in snapshot.public]
    return sorted((change for change in changes if change is not None), key=order)


def _appeared(before: Entry | None, now: Entry) -> EntryChange | None:
    if before is None:
        return EntryChange(now.kind, now.key, now.path, "created", now.version, None)
    if before.version != now.version:
        return EntryChange(now.kind, now.key, now.path, "updated", now.version, before.version)
    return None


def _left(before: Entry, still_stored: bool) -> EntryChange:
    return EntryChange(before.kind, before.key, before.path, "unpublished" if still_stored else "deleted", None,
                       before.version)


def record_changes(index: sqlite3.Connection, state: Database,
                   clock: Callable[[], float] = time.time) -> Recorded | None:
    """Record what changed publicly since the last call (by any worker); None when nothing did.

    `index` is a read-only connection to the index (`cms.read.connect`); `state` the delivery tables' database.
    """
    return record(index, state, clock)[0]


def record(index: sqlite3.Connection, state: Database,
           clock: Callable[[], float] = time.time) -> tuple[Recorded | None, Snapshot]:
    """`record_changes`, and the snapshot it compared. The snapshot is taken under the write lock: one taken
    before it could be older than what another worker recorded meanwhile, and would undo it."""
    with state.write() as conn:
        snapshot = take(index)
        last = conn.execute("SELECT id, new_commit FROM content_changes ORDER BY id DESC LIMIT 1").fetchone()
        changes = diff(published_entries(conn), snapshot)
        if last is not None and not changes and last["new_commit"] == snapshot.commit:
            return None, snapshot
        old_commit = last["new_commit"] if last is not None else None
        row = conn.execute("INSERT INTO content_changes (old_commit, new_commit, at, entries) "
                           "VALUES (:old, :new, :at, :entries) RETURNING id",
                           {"old": old_commit, "new": snapshot.commit, "at": utc_now(),
                            "entries": encode_entries(changes)}).fetchone()
        _publish(conn, changes, snapshot)
        queued = outbox.enqueue(conn, row["id"], clock()) if last is not None and changes else 0
    return Recorded(id=row["id"], old_commit=old_commit, new_commit=snapshot.commit, entries=changes,
                    deliveries=queued), snapshot


def published_entries(conn: Connection) -> dict[Key, Entry]:
    rows = conn.execute("SELECT kind, key, version, path FROM published_entries").fetchall()
    return {Key(row["kind"], row["key"]): Entry(row["kind"], row["key"], row["version"], row["path"])
            for row in rows}


def _publish(conn: Connection, changes: list[EntryChange], snapshot: Snapshot) -> None:
    """Bring `published_entries` to `snapshot`: upsert what appeared or changed, delete what left."""
    shown = [snapshot.public[change.entry_key] for change in changes if change.version is not None]
    gone = [change.entry_key for change in changes if change.version is None]
    for chunk in _chunks(shown):
        values, params = _values(chunk, ("kind", "key", "version", "path"))
        conn.execute(f"INSERT INTO published_entries (kind, key, version, path) VALUES {values} "
                     "ON CONFLICT (kind, key) DO UPDATE SET version = excluded.version, path = excluded.path",
                     params)
    for chunk in _chunks(gone):
        values, params = _values(chunk, ("kind", "key"))
        conn.execute(f"DELETE FROM published_entries WHERE (kind, key) IN (VALUES {values})", params)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    return (items[start:start + CHUNK] for start in range(0, len(items), CHUNK))


def _values(rows: Sequence[tuple[Any, ...]], columns: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """`(:kind0, :key0, …), (:kind1, …)` and its parameters: many rows in one statement, in both dialects."""
    groups = ", ".join("(" + ", ".join(f":{column}{n}" for column in columns) + ")" for n in range(len(rows)))
    params = {f"{column}{n}": value for n, row in enumerate(rows) for column, value in zip(columns, row, strict=True)}
    return groups, params


class Recorder:
    """Calls `record_changes` for one worker when it may find something, and never from two threads at once.

    Due when the index changed (`LiveIndex.version()`), when the earliest `publish_at` to come has passed,
    or when `every` seconds went by (a safety net). Otherwise checking costs a stat and a pragma.
    """

    def __init__(self, index: LiveIndex, state: Database, every: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.index = index
        self.state = state
        self.every = every
        self.clock = clock
        self._lock = threading.Lock()
        self._version: tuple[int, int] | None = None
        self._next_publication: str | None = None
        self._checked = float("-inf")

    def due(self) -> bool:
        passed = self._next_publication is not None and utc_now() >= self._next_publication
        return passed or self.index.version() != self._version or time.monotonic() - self._checked >= self.every

    def catch_up(self) -> Recorded | None:
        """Record what changed, if it is due; the row appended, if any."""
        with self._lock:
            if not self.due():
                return None
            version = self.index.version()
            recorded, snapshot = record(self.index.conn, self.state, self.clock)
            self._version, self._checked = version, time.monotonic()
            self._next_publication = snapshot.next_publication
            return recorded
