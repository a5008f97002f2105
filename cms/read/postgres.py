"""Reading the index on Postgres: the read queries as written, with the few spellings that differ rewritten here.

This is the read side's one dialect seam. Every query of `cms.read` is written once, for SQLite;
`PostgresReader.execute` rewrites what Postgres spells differently before psycopg sees it:

    SQLite                                   Postgres
    ?, :name                                 %s, %(name)s
    strftime('%Y-%m-%dT%H:%M:%SZ', 'now')    to_char(now() AT TIME ZONE 'UTC', …)  (the same ISO text)
    x COLLATE NOCASE                         lower(x)  (ASCII folding: text columns are COLLATE "C")
    [name]                                   "name"
    LIKE (ASCII case-insensitive)            ILIKE
    a IS NOT b                               a IS DISTINCT FROM b
    json_each(x) [alias]                     jsonb_array_elements_text(x::jsonb) WITH ORDINALITY alias(value, key)
    json_each(x, '$.k') alias                jsonb_array_elements(x::jsonb -> 'k') WITH ORDINALITY alias(value, key)
    json_extract(x, '$.k')                   (x::jsonb ->> 'k')
    search MATCH :q                          search.tsv @@ to_tsquery('cms_index.cms', :q)
    bm25(search, 10.0, 1.0)                  -ts_rank('{0, 0, 0.1, 1.0}', search.tsv, <query>)  (title 10 × body)
    snippet(search, 1, open, close, …, n)    ts_headline(…, 'StartSel=open, StopSel=close, MaxWords=n, …')

and the FTS5 query text in `:q` (`"word" "prefix"*`) becomes a tsquery (`'word' & 'prefix':*`); a query with
`?` placeholders has them named first (the one after MATCH as `:q`, which rank and snippet use again). Rows come
back as dicts with JSON columns decoded, as `cms.read.connection` gives them; sums (numeric) as numbers.
Readers keep a read-only session per thread whose `search_path` is the index's schema (`PostgresReader`);
rows are read in binary (a stored document's `bytea` body as it is, not hex text).
"""

from __future__ import annotations

import decimal
import functools
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import msgspec
import psycopg
from psycopg import pq
from psycopg.rows import dict_row

from cms.database import PostgresUrl
from cms.database.postgres import connect
from cms.errors import ConfigError, Unavailable
from cms.index.postgres import SCHEMA, TEXT_SEARCH, IndexConnection
from cms.index.postgres import translate as translate_writes
from cms.read.connection import JSON_COLUMNS

READ_ONLY = f"-c default_transaction_read_only=on -c search_path={SCHEMA}"
_TSQUERY = f"to_tsquery('{TEXT_SEARCH}', :q)"
_ARGUMENT = r"((?:[^()']|'[^']*')+?)"
_NOT_ALIAS = r"(?!(?:WHERE|ON|JOIN|ORDER|GROUP|LIMIT|AND|OR)\b)"
_REWRITES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(re.escape("strftime('%Y-%m-%dT%H:%M:%SZ', 'now')")),
     "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"),
    (re.compile(r"([\w.]+) COLLATE NOCASE"), r"lower(\1)"),
    (re.compile(r"\[(\w+)\]"), r'"\1"'),
    (re.compile(r"\bLIKE\b"), "ILIKE"),
    (re.compile(r"json_extract\(([\w.]+), '\$\.(\w+)'\)"), r"((\1)::jsonb ->> '\2')"),
    (re.compile(rf"json_each\(([\w.]+), '\$\.(\w+)'\)\s+{_NOT_ALIAS}(\w+)"),
     r"jsonb_array_elements((\1)::jsonb -> '\2') WITH ORDINALITY AS \3(value, key)"),
    (re.compile(rf"json_each\({_ARGUMENT}\)\s+{_NOT_ALIAS}(\w+)"),
     r"jsonb_array_elements_text((\1)::jsonb) WITH ORDINALITY AS \2(value, key)"),
    (re.compile(rf"json_each\({_ARGUMENT}\)"),
     r"jsonb_array_elements_text((\1)::jsonb) WITH ORDINALITY AS _each(value, key)"),
    (re.compile(r"search\.rowid IN \(SELECT value FROM"), "search.rowid IN (SELECT value::bigint FROM"),
    (re.compile(r"search MATCH :q"), f"search.tsv @@ {_TSQUERY}"),
    (re.compile(r"bm25\(search, 10\.0, 1\.0\)"), f"-ts_rank('{{0, 0, 0.1, 1.0}}', search.tsv, {_TSQUERY})"),
    (re.compile(r"snippet\(search, 1, '(.)', '(.)', '(…)', (\d+)\)"),
     f"ts_headline('{TEXT_SEARCH}', search.body, {_TSQUERY}, "
     r"'StartSel=\1, StopSel=\2, MaxWords=\4, MinWords=6, MaxFragments=1, FragmentDelimiter=\3')"),
]
_DOCUMENT = b"coursebase_document"
"""The stored-document read (`PostgresReader.document`), prepared under this name once per session."""
_DOCUMENT_QUERY = b"SELECT body, etag FROM documents WHERE key = $1"
T = TypeVar("T")
_FTS_WORD = re.compile(r'"((?:[^"]|"")*)"(\*?)')


@functools.lru_cache(maxsize=512)
def translate(query: str) -> str:
    """A read query, as written for SQLite, in Postgres's spelling (and psycopg's parameters)."""
    for pattern, replacement in _REWRITES:
        query = pattern.sub(replacement, query)
    return translate_writes(query)


def tsquery(fts: str) -> str:
    """An FTS5 query of quoted words (`"one" "two"*`, as `cms.read.search` makes them) as a tsquery: every
    word required, `*` a prefix; `""` (nothing to search for) is the empty tsquery, which matches nothing."""
    terms = ["'" + word.replace('""', '"').replace("\\", "\\\\").replace("'", "''") + "'" + (":*" if star else "")
             for word, star in _FTS_WORD.findall(fts) if word]
    return " & ".join(terms)


@functools.lru_cache(maxsize=512)
def _names(query: str) -> tuple[str, ...]:
    """The names `_named` gives the `?` placeholders of `query`, in order: `q` after MATCH, else `p0`, `p1`, …"""
    parts = query.split("?")[:-1]
    return tuple("q" if part.endswith("MATCH ") else f"p{number}" for number, part in enumerate(parts))


@functools.lru_cache(maxsize=512)
def _named(query: str) -> str:
    """`query` with its `?` placeholders named (`_names`), so the search query can be used more than once."""
    parts = query.split("?")
    return parts[0] + "".join(f":{name}{part}" for name, part in zip(_names(query), parts[1:], strict=True))


def _value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):  # SUM() of bigints is numeric on Postgres
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class Rows:
    """A finished query's rows, as the read side takes them from sqlite3: fetchone, fetchall, iteration."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self._rows = rows

    def fetchone(self) -> dict[str, Any] | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[dict[str, Any]]:
        return self._rows

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._rows)


class PostgresReader:
    """Read-only sessions on the index on Postgres, answering the read queries as SQLite does.

    Each thread that reads keeps a session of its own (a server worker's event loop is one such thread), so a
    read is one statement and one round trip: no pool checkout, no liveness check before it. A session found
    broken (the server restarted, the connection dropped) is opened again and the read tried once more.
    Between `BEGIN` and `COMMIT` a thread's statements run in one read-only repeatable-read transaction
    (one snapshot). Sessions of threads that have ended are closed when another thread opens one.
    """

    def __init__(self, location: PostgresUrl) -> None:
        self.location = location
        self._sessions: dict[threading.Thread, psycopg.Connection[Any]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._local.conn = connect(location, READ_ONLY)  # a bad URL, server or password: a ConfigError, now
        self._sessions[threading.current_thread()] = self._local.conn
        self._local.in_transaction = False

    def execute(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> Rows:
        if query in ("BEGIN", "COMMIT"):  # a read transaction: this thread's statements see one snapshot
            self._begin() if query == "BEGIN" else self._end()
            return Rows([])
        return self._retried(lambda conn: _read(conn, query, params))

    def document(self, key: str) -> tuple[bytes, str] | None:
        """The body and ETag of the document stored under `key` (`cms.read.documents.stored`), if there is one."""
        def read(conn: psycopg.Connection[Any]) -> tuple[bytes, str] | None:
            if getattr(self._local, "prepared", None) is not conn:  # a new session: prepare it first
                _check(conn, conn.pgconn.prepare(_DOCUMENT, _DOCUMENT_QUERY), pq.ExecStatus.COMMAND_OK)
                self._local.prepared = conn
            return _document(conn, _sendable(key))

        return self._retried(read)

    def _retried(self, read: Callable[[psycopg.Connection[Any]], T]) -> T:
        """`read` on this thread's session; once more on a new session if that one was found broken (outside a
        transaction: inside one, the snapshot is gone with the session)."""
        conn = self._session()
        try:
            return read(conn)
        except psycopg.OperationalError:
            if not conn.broken or getattr(self._local, "in_transaction", False):
                raise
            return read(self._reopen())

    def _session(self) -> psycopg.Connection[Any]:
        """This thread's session, opened on first use or when it was found closed."""
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        return self._reopen() if conn is None or conn.closed else conn

    def _reopen(self) -> psycopg.Connection[Any]:
        try:
            conn = connect(self.location, READ_ONLY)
        except ConfigError as error:  # it was there at start-up: the read waits for it to be back (503)
            raise Unavailable(f"the index cannot be read just now: {error.message}") from None
        with self._lock:
            for thread in [thread for thread in self._sessions if not thread.is_alive()]:
                self._sessions.pop(thread).close()
            replaced = self._sessions.pop(threading.current_thread(), None)
            self._sessions[threading.current_thread()] = conn
        if replaced is not None:
            replaced.close()
        self._local.conn, self._local.in_transaction = conn, False
        return conn

    def _begin(self) -> None:
        self._session().execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self._local.in_transaction = True

    def _end(self) -> None:
        self._local.in_transaction = False
        self._session().execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for conn in sessions:
            conn.close()


class InRun:
    """The read queries on an index run's own connection, inside its transaction: what
    `cms.read.documents.materialise` reads the rows it shapes from (the run's writes so far included)."""

    def __init__(self, index: IndexConnection) -> None:
        self.index = index

    def execute(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> Rows:
        self.index.flush()
        return _read(self.index.raw, query, params)


def _document(conn: psycopg.Connection[Any], key: str) -> tuple[bytes, str] | None:
    """The stored document under `key` on `conn` (which has prepared `_DOCUMENT`), its result in binary, straight
    through libpq. Every anonymous lesson read is this one statement; a psycopg cursor around it costs the
    worker about three times the CPU (measured: 45 µs a read against 125–160 µs)."""
    result = conn.pgconn.exec_prepared(_DOCUMENT, [key.encode()], result_format=pq.Format.BINARY)
    _check(conn, result, pq.ExecStatus.TUPLES_OK)
    body, etag = (result.get_value(0, 0), result.get_value(0, 1)) if result.ntuples else (None, None)
    return None if body is None or etag is None else (bytes(body), bytes(etag).decode())


def _check(conn: psycopg.Connection[Any], result: pq.abc.PGresult, expected: pq.ExecStatus) -> None:
    """Raise what psycopg would for a failed statement: OperationalError when the session is lost."""
    if result.status == expected:
        return
    if conn.pgconn.status == pq.ConnStatus.BAD:
        raise psycopg.OperationalError(result.get_error_message())
    raise psycopg.errors.error_from_result(result)


def _sendable(value: Any) -> Any:
    """`value`, or a text with a NUL in it with U+FFFD in the NUL's place: Postgres text cannot hold a NUL, and
    nothing in the index holds one (a name like `a%00b` in a path finds nothing, as on SQLite, not a 500)."""
    return value.replace("\x00", "\ufffd") if isinstance(value, str) and "\x00" in value else value


def _read(conn: psycopg.Connection[Any], query: str, params: Sequence[Any] | dict[str, Any]) -> Rows:
    """A read query, as written for SQLite, on `conn`: its rows as the read side takes them."""
    if not isinstance(params, dict):
        query, params = _named(query), {name: value for name, value in zip(_names(query), params, strict=True)}
    if "MATCH :q" in query and params.get("q") is not None:
        params = {**params, "q": tsquery(params["q"])}
    params = {name: _sendable(value) for name, value in params.items()}
    rows = conn.cursor(row_factory=dict_row, binary=True).execute(translate(query), params or None).fetchall()
    return Rows([_decoded(row) for row in rows])


class LivePostgresIndex:
    """What `cms.read.LiveIndex` is for a SQLite file, for the shared index on Postgres: `conn` to read, and
    `version()`, which changes when an index run anywhere commits a change.

    The version is the transaction that last wrote the index's `meta` (its `xmin`): every run that
    changes something rewrites it, a run with nothing to do does not. It is read at most every
    `FOLLOW_SECONDS`, so a worker's held answers end within that long of another server's run.
    """

    FOLLOW_SECONDS = 0.25

    def __init__(self, location: PostgresUrl) -> None:
        self.conn = PostgresReader(location)
        self._version = (0, 0)
        self._checked = -self.FOLLOW_SECONDS

    def version(self) -> tuple[int, int]:
        """(0, the transaction id that last changed the index), the shape of `LiveIndex.version()`."""
        now = time.monotonic()
        if now - self._checked >= self.FOLLOW_SECONDS:
            row = self.conn.execute("SELECT xmin::text AS version FROM meta WHERE key = 'built_at'").fetchone()
            self._version, self._checked = (0, 0 if row is None else int(row["version"])), now
        return self._version

    def close(self) -> None:
        self.conn.close()


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    for name, value in row.items():
        if name in JSON_COLUMNS and isinstance(value, str):
            row[name] = msgspec.json.decode(value)
        else:
            row[name] = _value(value)
    return row
