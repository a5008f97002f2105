"""The head every server's clone and index follow, kept in a Postgres state database beside the write lock.

    content_head   one row: the commit the remote's branch was left at by the last write or pull through
                   Coursebase (`head`), and whether a write is under way (`writing`)

The holder of the servers' write lock reads and writes it on the lock's own connection
(`cms.write.journal.exclusive`). A holder whose clone is at the recorded head, with no write marked
under way, need not fetch before writing. It marks its write under way before it changes anything
and records the new head when done, so a server that dies in between leaves the mark, and the next
writer fetches. Any server may read the head without the lock, to refuse a stale If-Match early
(`cms.write.journal.refuse_early`). A push from outside Coursebase is recorded only when its
webhook arrives; a write before that finds its push rejected and rebases once, as it always did.
Every head recorded is also announced with `NOTIFY content_head`, which the other servers'
followers wait for (`cms.delivery.follower`).

The table is a migration of its own component, `servers`, applied when a server's follower
starts (`prepare`); before that, there is no row, and writers fetch every time.

An index on Postgres, shared by the servers, records the commit it was built from too: a clone that
lags behind it (`lags`: it does not have that commit yet, and the remote has moved on) leaves the
index as it is (`cms.index.build.update`), so a server whose clone lags never takes every server's
index back to an older commit.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from cms.database import Migration, PostgresUrl, Schema, open_database
from cms.repo import remote
from cms.repo.repository import GitError, GitRepo

COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
CHANNEL = "content_head"
"""The NOTIFY channel: its payload is the commit a server has just brought its clone to."""
SCHEMA = Schema("servers", "the state database (the servers' shared head)", (
    Migration(1, "the head every server follows", sql=(
        "CREATE TABLE content_head (id INTEGER PRIMARY KEY CHECK (id = 1), head TEXT, writing BOOLEAN NOT NULL)",)),
))
Conn = Any
"""A psycopg connection in autocommit mode with dict rows (the write lock's own, or one of its own)."""


class Recorded(NamedTuple):
    head: str | None
    writing: bool


def prepare(location: PostgresUrl) -> None:
    """Bring the `servers` tables of the state database up to date (see `cms.database.migrations`)."""
    open_database(location, SCHEMA).close()


def recorded(conn: Conn) -> Recorded | None:
    """The head recorded and whether a write is under way; None before anything was recorded (or the table made)."""
    if not _has_table(conn):
        return None
    row = conn.execute("SELECT head, writing FROM content_head WHERE id = 1").fetchone()
    return None if row is None else Recorded(row["head"], row["writing"])


def begin(conn: Conn, head: str) -> None:
    """A write starts from `head`, the remote's head as the lock's holder knows it."""
    _store(conn, head, writing=True)


def record(conn: Conn, head: str | None) -> None:
    """The write is done and left the remote at `head` (None: not known)."""
    _store(conn, head, writing=False)


def announce(conn: Conn, head: str) -> None:
    """Tell every listening server that the remote is at `head` (delivered when the sender's transaction ends:
    at once, in autocommit)."""
    conn.execute("SELECT pg_notify(%s, %s)", [CHANNEL, head])


def _store(conn: Conn, head: str | None, writing: bool) -> None:
    if _has_table(conn):
        conn.execute("INSERT INTO content_head (id, head, writing) VALUES (1, %s, %s) "
                     "ON CONFLICT (id) DO UPDATE SET head = excluded.head, writing = excluded.writing",
                     [head, writing])


def _has_table(conn: Conn) -> bool:
    return conn.execute("SELECT to_regclass('content_head') IS NOT NULL AS present").fetchone()["present"]




def lags(repo: GitRepo, commit: str) -> bool:
    """Whether this clone lags behind a shared index built from `commit` by another server: it does not have that
    commit, and the remote's branch has moved on from HEAD (this clone's next catch-up brings it). A commit the
    clone does not have while the remote is at HEAD (a repository made anew, a history rewritten) is no reason
    to leave the index as it is. Asks the remote (`ls-remote`) only for a commit this clone does not have."""
    if not COMMIT_ID.fullmatch(commit) or _has(repo, commit):
        return False
    target = remote.upstream(repo)
    if target is None:
        return False
    name, branch = target
    try:
        listed = repo.run("ls-remote", "--heads", name, f"refs/heads/{branch}", env=remote.FETCH_BOUNDS)
    except GitError:
        return True  # the remote out of reach: leave the shared index to the servers that can see it
    return listed.split()[:1] != [repo.head()]


def _has(repo: GitRepo, commit: str) -> bool:
    try:
        repo.run("cat-file", "-e", f"{commit}^{{commit}}")
    except GitError:
        return False
    return True
