"""`GET /sync`: what changed publicly since a sync token, from the change log.

A token is `<commit>.<position>`: the commit the index was at and the log
row after which the caller is up to date. A bare commit is taken at the
first row that reached it, so nothing after it is missed. A token that
names no row of this log (unknown, from another server's state database,
its commit not that row's) is `Gone` (410): the caller must sync from
scratch, without `since`, which answers every public entry as created.

The rows after the token are collapsed per entry, from what it was at the
token to what it is now: created then deleted is nothing, updated twice is
one update, unpublished and published again with the same version is
nothing, and so on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cms.database import Database
from cms.delivery.events import EntryChange, decode_entries, order, sync_token
from cms.delivery.snapshot import Key
from cms.errors import Gone

TOKEN = re.compile(r"(?P<commit>[0-9a-f]{40}|[0-9a-f]{64})(?:\.(?P<position>[0-9]{1,18}))?")
EVERYTHING = """SELECT c.id, c.new_commit, p.kind, p.key, p.version, p.path
    FROM (SELECT MAX(id) AS last FROM content_changes) m JOIN content_changes c ON c.id = m.last
    LEFT JOIN published_entries p ON TRUE ORDER BY p.kind, p.key"""
"""The public entries and the last log row, in one statement, so they agree."""


@dataclass(frozen=True)
class SyncAnswer:
    since: str | None
    next: str
    """The token to send next time."""
    commit: str | None
    """The commit the answer brings the caller to."""
    entries: list[dict[str, Any]]


def everything(db: Database) -> SyncAnswer:
    """Every public entry, as created, and the token of the log's last row."""
    rows = db.rows(EVERYTHING)
    if not rows:
        raise Gone("nothing has been recorded yet: try again in a moment", reason="sync-not-ready")
    changes = [EntryChange(row["kind"], row["key"], row["path"], "created", row["version"], None)
               for row in rows if row["kind"] is not None]
    last = rows[0]
    return SyncAnswer(since=None, next=sync_token(last["new_commit"], last["id"]), commit=last["new_commit"],
                      entries=[change.sent() for change in sorted(changes, key=order)])


def since(db: Database, token: str) -> SyncAnswer:
    """What changed publicly after `token`, collapsed per entry, and the next token (410 if `token` is unknown)."""
    position, commit = _position(db, token)
    rows = db.rows("SELECT id, new_commit, entries FROM content_changes WHERE id > :id ORDER BY id",
                   {"id": position})
    if rows:
        position, commit = rows[-1]["id"], rows[-1]["new_commit"]
    changes = collapse([change for row in rows for change in decode_entries(row["entries"])])
    return SyncAnswer(since=token, next=sync_token(commit, position), commit=commit,
                      entries=[change.sent() for change in changes])


def _position(db: Database, token: str) -> tuple[int, str]:
    """The log row `token` names, and its commit."""
    match = TOKEN.fullmatch(token)
    if match is None:
        raise _unknown(token)
    commit, position = match["commit"], match["position"]
    if position is None:
        rows = db.rows("SELECT MIN(id) AS id FROM content_changes WHERE new_commit = :commit", {"commit": commit})
    else:
        rows = db.rows("SELECT id FROM content_changes WHERE id = :id AND new_commit = :commit",
                       {"id": int(position), "commit": commit})
    if not rows or rows[0]["id"] is None:
        raise _unknown(token)
    return rows[0]["id"], commit


def _unknown(token: str) -> Gone:
    return Gone(f"the sync token {token[:100]!r} names no point in this server's change log (unknown, from "
                "another server, or its history was reset): sync from scratch, without `since`, and keep the "
                "`next` token of that answer", reason="sync-from-scratch")


def collapse(changes: list[EntryChange]) -> list[EntryChange]:
    """`changes` (in log order) as one change per entry, from what it was before the first to what it is now."""
    first: dict[Key, EntryChange] = {}
    last: dict[Key, EntryChange] = {}
    for change in changes:
        first.setdefault(change.entry_key, change)
        last[change.entry_key] = change
    net = [_net(first[key], last[key]) for key in first]
    return sorted((change for change in net if change is not None), key=order)


def _net(first: EntryChange, last: EntryChange) -> EntryChange | None:
    was_public, is_public = first.change != "created", last.version is not None
    if was_public and is_public:
        if first.previous == last.version:
            return None
        return EntryChange(last.kind, last.key, last.path, "updated", last.version, first.previous)
    if is_public:
        return EntryChange(last.kind, last.key, last.path, "created", last.version, None)
    if was_public:
        return EntryChange(last.kind, last.key, last.path, last.change, None, first.previous)
    return None
