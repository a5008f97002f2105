"""The head every server's clone and index follow, kept in a Postgres state database beside the write lock.

    content_head   one row: the commit the remote's branch was left at by the last write or pull
                   through Coursebase, or NULL while one is under way (or after its server died)

Only the holder of the servers' write lock reads or writes it, on the lock's own connection
(`cms.write.journal.exclusive`). A holder whose clone is at the recorded head need not fetch
before writing. It clears the row before it changes anything and records the new head when done,
so a server that dies in between leaves NULL, and the next writer fetches. A push from outside
Coursebase is recorded only when its webhook arrives; a write before that finds its push
rejected and rebases once, as it always did. Every head recorded is also announced with
`NOTIFY content_head`, which the other servers' followers wait for (`cms.delivery.follower`).

The table is a migration of its own component, `servers`, applied when a server's follower
starts (`prepare`); before that, there is no row, and writers fetch every time.
"""

from __future__ import annotations

from typing import Any

from cms.database import Migration, PostgresUrl, Schema, open_database

CHANNEL = "content_head"
"""The NOTIFY channel: its payload is the commit a server has just brought its clone to."""
SCHEMA = Schema("servers", "the state database (the servers' shared head)", (
    Migration(1, "the head every server follows", sql=(
        "CREATE TABLE content_head (id INTEGER PRIMARY KEY CHECK (id = 1), head TEXT)",)),
))
Conn = Any
"""A psycopg connection in autocommit mode (the write lock's own)."""


def prepare(location: PostgresUrl) -> None:
    """Bring the `servers` tables of the state database up to date (see `cms.database.migrations`)."""
    open_database(location, SCHEMA).close()


def recorded(conn: Conn) -> str | None:
    """The head recorded, or None: unknown (a write under way or cut off, no table yet)."""
    if not _has_table(conn):
        return None
    row = conn.execute("SELECT head FROM content_head WHERE id = 1").fetchone()
    return None if row is None else row["head"]


def record(conn: Conn, head: str | None) -> None:
    """Record `head` (None: unknown from now on)."""
    if _has_table(conn):
        conn.execute("INSERT INTO content_head (id, head) VALUES (1, %s) "
                     "ON CONFLICT (id) DO UPDATE SET head = excluded.head", [head])


def announce(conn: Conn, head: str) -> None:
    """Tell every listening server that the remote is at `head` (delivered when the sender's transaction ends:
    at once, in autocommit)."""
    conn.execute("SELECT pg_notify(%s, %s)", [CHANNEL, head])


def _has_table(conn: Conn) -> bool:
    return conn.execute("SELECT to_regclass('content_head') IS NOT NULL AS present").fetchone()["present"]
