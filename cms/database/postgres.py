"""Postgres through psycopg 3: checked connections, a pool per process, advisory locks.

libpq reports every connection failure as `psycopg.OperationalError` whose text is all there is
(no SQLSTATE): one "connection to server at … failed: <reason>" line per address tried. The pool
only logs why it cannot connect, so `PostgresDatabase` connects once directly first and a bad URL,
server, password or database stops start-up with the reason and the setting's name.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from cms.database.connection import Connection, Cursor, Dialect, Params, Row
from cms.database.urls import PostgresUrl
from cms.errors import ConfigError

CONNECT_TIMEOUT = 5
POOL_SIZE = 4
"""Connections per process at most: workers × this must stay under the server's max_connections (100)."""
SESSION = "-c lock_timeout=30s"
"""A state write waits at most this long for another, as SQLite's busy timeout does."""
KEEPALIVES = "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"
"""The server notices a lock holder whose machine vanished (no FIN ever comes) within about 25 s."""
ADVICE = {
    "password authentication failed": "check the user name and password",
    "does not exist": "create the database (`createdb --owner <user> <database>`) or correct its name",
    "Connection refused": "is Postgres running there, on that port?",
    "timeout expired": "is the host right, and does a firewall let the port through?",
}

_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@functools.lru_cache(maxsize=512)
def to_psycopg(sql: str) -> str:
    """`:name` parameters as psycopg's `%(name)s`, and a literal `%` doubled; `::type` casts stay. (A `:word`
    inside a string literal would be read as a parameter too: pass such text as a parameter.)"""
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))


def lock_key(name: str) -> int:
    """The advisory-lock key of `name`: a stable signed 64-bit number, so code shares names, not numbers."""
    digest = hashlib.blake2b(f"coursebase:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def connect(location: PostgresUrl, options: str = SESSION) -> psycopg.Connection[Row]:
    """An autocommit connection with dict rows, or a ConfigError naming the setting and saying why."""
    try:
        return psycopg.connect(location.url, autocommit=True, row_factory=dict_row, **_parameters(options))
    except psycopg.Error as error:
        raise ConfigError(f"{location.setting}={location!s}: cannot connect: {_reason(error, location)}") from None


def _parameters(options: str) -> dict[str, Any]:
    return {"connect_timeout": CONNECT_TIMEOUT, "application_name": "coursebase", "options": options}


def _reason(error: psycopg.Error, location: PostgresUrl) -> str:
    """libpq's reason, one line, without the "connection to server at … failed:" preamble; with advice."""
    text = re.sub(r"connection (failed|is bad): ", "", str(error))
    lines = [re.sub(r"connection to server (at|on) .*? failed: (FATAL: +)?", "", line).strip()
             for line in text.splitlines() if line.strip() and not line.startswith("\t")]
    reason = "; ".join(dict.fromkeys(lines)).replace(location.url, str(location)) or type(error).__name__
    for secret in _passwords(location.url):
        reason = reason.replace(secret, "***")
    advice = next((advice for clue, advice in ADVICE.items() if clue in reason), None)
    return f"{reason} ({advice})" if advice else reason


def _passwords(url: str) -> set[str]:
    """The URL's passwords (`user:password@`, `?password=`) as written and decoded: libpq may quote either."""
    found = set(re.findall(r"[?&]password=([^&]*)", url))
    userinfo = url.partition("://")[2].partition("/")[0].rpartition("@")[0]
    if ":" in userinfo:
        found.add(userinfo.split(":", 1)[1])
    return {text for password in found for text in (password, unquote(password)) if text}


class _Translated:
    """A psycopg connection that takes the queries as written for both databases (`:name` parameters)."""

    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params | None = None, /) -> Cursor:
        return self._conn.execute(to_psycopg(sql), params or {})


class PostgresDatabase:
    """A pool of connections; every write transaction first takes the database's advisory write lock."""

    dialect: Dialect = "postgres"

    def __init__(self, location: PostgresUrl, writes: str) -> None:
        self.location = location
        self._writes = lock_key(f"{writes} writes")
        connect(location).close()  # say what is wrong before the pool, which would only time out
        self.pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            location.url, min_size=1, max_size=POOL_SIZE, open=True, name=f"coursebase-{writes}",
            check=ConnectionPool.check_connection,
            kwargs={"autocommit": True, "row_factory": dict_row, **_parameters(SESSION)})

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [self._writes])
            yield _Translated(conn)

    def rows(self, sql: str, params: Params | None = None) -> list[Row]:
        with self.pool.connection() as conn:
            return conn.execute(to_psycopg(sql), params or {}).fetchall()

    def close(self) -> None:
        self.pool.close()


@contextmanager
def advisory_lock(location: PostgresUrl, name: str) -> Iterator[psycopg.Connection[Row]]:
    """Hold the session-level advisory lock `name` for the block, on a connection of its own (the block may
    use it: what it does there is done by the lock's holder).

    The lock lives exactly as long as that connection: the block's end closes it, and so does the
    death of this process (the server sees the socket close and drops the lock at once).
    """
    with connect(location, options=KEEPALIVES) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [lock_key(name)])
        yield conn
