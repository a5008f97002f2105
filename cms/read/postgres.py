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
Readers are a pool of read-only sessions whose `search_path` is the index's schema.
"""

from __future__ import annotations

import contextlib
import decimal
import functools
import re
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from cms.database import PostgresUrl
from cms.database.postgres import CONNECT_TIMEOUT, POOL_SIZE, connect
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
    """Read-only connections to the index on Postgres (a pool), answering the read queries as SQLite does.

    Each statement borrows a connection for its length, so threads of a worker read side by side; between
    `BEGIN` and `COMMIT` a thread keeps one, in a read-only repeatable-read transaction (one snapshot)."""

    def __init__(self, location: PostgresUrl) -> None:
        self.location = location
        connect(location).close()  # a bad URL, server or password: a ConfigError naming the setting, now
        self.pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            location.url, min_size=1, max_size=POOL_SIZE, open=True, name="coursebase-index",
            check=ConnectionPool.check_connection,
            kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": CONNECT_TIMEOUT,
                    "application_name": "coursebase", "options": READ_ONLY})
        self._transaction = threading.local()
        """The connection of this thread's open read transaction (`BEGIN` … `COMMIT`), if any."""

    def execute(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> Rows:
        if query in ("BEGIN", "COMMIT"):  # a read transaction: this thread's statements see one snapshot
            self._begin() if query == "BEGIN" else self._end()
            return Rows([])
        pinned = getattr(self._transaction, "conn", None)
        with contextlib.nullcontext(pinned) if pinned is not None else self.pool.connection() as conn:
            return _read(conn, query, params)

    def _begin(self) -> None:
        conn = self.pool.getconn()
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self._transaction.conn = conn

    def _end(self) -> None:
        conn, self._transaction.conn = self._transaction.conn, None
        try:
            conn.execute("COMMIT")
        finally:
            self.pool.putconn(conn)

    def close(self) -> None:
        self.pool.close()


class InRun:
    """The read queries on an index run's own connection, inside its transaction: what
    `cms.read.documents.materialise` reads the rows it shapes from (the run's writes so far included)."""

    def __init__(self, index: IndexConnection) -> None:
        self.index = index

    def execute(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> Rows:
        self.index.flush()
        return _read(self.index.raw, query, params)


def _read(conn: psycopg.Connection[Any], query: str, params: Sequence[Any] | dict[str, Any]) -> Rows:
    """A read query, as written for SQLite, on `conn`: its rows as the read side takes them."""
    if not isinstance(params, dict):
        query, params = _named(query), {name: value for name, value in zip(_names(query), params, strict=True)}
    if "MATCH :q" in query and params.get("q") is not None:
        params = {**params, "q": tsquery(params["q"])}
    rows = conn.cursor(row_factory=dict_row).execute(translate(query), params or None).fetchall()
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
