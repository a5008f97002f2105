"""The index on Postgres (`CMS_DATABASE_URL=postgresql://…`): the same tables, the same runs, bulk COPY.

The tables of `cms.index.tables` live in the schema `cms_index`, with the same columns (text, bigint,
double precision; JSON as text, byte for byte what SQLite holds) and keys. The search table is a
plain table with a `rowid` column, a stored `tsvector` made from title (weight A) and body (B) and a
GIN index, under the text search configuration `cms_index.cms` (snowball English without stop
words, like FTS5's porter tokenizer: every word can be searched for). The stored public documents
(`documents`) are kept from going stale by plpgsql triggers (`cms.index.documents.postgres_triggers`).

A run is `cms.index.build`'s: one transaction (readers keep the last committed index; a killed run
leaves nothing), serialized with other indexers by a transaction-level advisory lock. Its SQL is
written for SQLite; `IndexConnection` hands it to psycopg with the few spellings that differ
rewritten (`?` and `:name` parameters, `json_each` of a JSON list, the null-safe `IS NOT`). Rows go
in with `COPY … FROM STDIN (FORMAT BINARY)`, on a thread of their own while the run parses on.

A cold build (the first run into an empty index, or `--full`) is such a run too, by measurement (10,000
lessons). Most of the server's work is the tsvectors: Postgres's parser and Snowball stemmer spend about
18 s of CPU on the 62 MB of searchable text (FTS5 does its part in about 3 s), on the server's core while
the workers parse on theirs. What was not intrinsic is gone: long values are compressed with LZ4 where
the server has it (pglz cost about 9 s), and stored documents replace old ones with one DELETE per batch,
not one per key. Building the GIN and B-tree indexes after the load, disabling the documents' triggers
or building in a fresh schema renamed into place at the end each saved under a second in the same
measurements (the GIN index takes rows through its pending list; triggers with no documents yet to
delete cost little), while dropping an index locks readers out for the whole run and a renamed schema
shows a reader's repeatable-read transaction empty tables: none of them is done.

The schema is versioned by `cms.database.migrations` (component `index`): the index is a cache, so
each `tables.SCHEMA_VERSION` is one migration that drops and re-creates the schema empty, and the
next run fills it. An index made by a newer Coursebase is refused with what to do.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import psycopg
from psycopg import sql

from cms.database import Migration, PostgresUrl, Schema, open_database
from cms.database.postgres import PostgresDatabase, connect, lock_key, to_psycopg
from cms.index import documents, tables
from cms.index.rows import Rows

SCHEMA = "cms_index"
TEXT_SEARCH = f"{SCHEMA}.cms"
"""The text search configuration of the index: named in every query (the server's default varies with its locale)."""
WRITES = "index writes"
"""The advisory lock an index run (and a migration of the index) holds: one writer at a time."""
_TYPES = {str: 'text COLLATE "C"', int: "bigint", float: "double precision", bytes: "bytea"}
"""Text in byte order, as SQLite's BINARY collation sorts and compares it, whatever the server's locale."""
_COPY_TYPES = {str: "text", int: "int8", float: "float8", bytes: "bytea"}
SEARCH_COLUMNS = {"rowid": int, "title": str, "body": str}


class Run(Protocol):
    def execute(self) -> Any: ...


def _ddl() -> tuple[str, ...]:
    """The whole index schema, empty: the statements of the current version's migration."""
    statements = [f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE", f"CREATE SCHEMA {SCHEMA}",
                  f"CREATE TEXT SEARCH DICTIONARY {SCHEMA}.english_all (TEMPLATE = snowball, LANGUAGE = english)",
                  f"CREATE TEXT SEARCH CONFIGURATION {TEXT_SEARCH} (COPY = english)",
                  f"ALTER TEXT SEARCH CONFIGURATION {TEXT_SEARCH} ALTER MAPPING FOR asciiword, word, hword, "
                  f"hword_part, asciihword, hword_asciipart WITH {SCHEMA}.english_all"]
    for name, columns in tables.TABLES.items():
        key = tables.KEYS.get(name)
        keys = (key,) if isinstance(key, str) else key or ()
        definitions = [f'"{column}" {_TYPES[kind]}{" NOT NULL" if column in keys else ""}'
                       for column, kind in columns.items()]
        if keys:
            definitions.append(f"PRIMARY KEY ({', '.join(keys)})")
        statements.append(f"CREATE TABLE {SCHEMA}.{name} ({', '.join(definitions)})")
    for table, columns in tables.INDEXES:
        statements.append(f"CREATE INDEX idx_{table}_{'_'.join(columns)} ON {SCHEMA}.{table} ({', '.join(columns)})")
    statements += [
        f"CREATE TABLE {SCHEMA}.search (rowid bigint PRIMARY KEY, title text NOT NULL DEFAULT '', "
        f"body text NOT NULL DEFAULT '', tsv tsvector GENERATED ALWAYS AS "
        f"(setweight(to_tsvector('{TEXT_SEARCH}', title), 'A') || setweight(to_tsvector('{TEXT_SEARCH}', body), 'B')) "
        "STORED)",
        f"CREATE INDEX idx_search_tsv ON {SCHEMA}.search USING gin (tsv)",
        *documents.postgres_triggers(SCHEMA),
    ]
    return tuple(statements)


def index_schema() -> Schema:
    """The index's migrations: versions before this one are empty (their schemas are gone by now)."""
    return Schema(name="index", what="the index", migrations=tuple(
        Migration(version, f"index schema {version}", sql=(),
                  postgres=_ddl() if version == tables.SCHEMA_VERSION else ())
        for version in range(1, tables.SCHEMA_VERSION + 1)))


def update(location: PostgresUrl, run: Callable[..., Run], full: bool) -> Any:
    """One index run on Postgres, in one transaction under the write lock."""
    with _database(location).pool.connection() as conn, conn.transaction(), IndexConnection(conn) as index:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(WRITES)])
        conn.execute(f"SET LOCAL search_path = {SCHEMA}")
        conn.execute(_LZ4)
        empty = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM meta) AS empty").fetchone()["empty"]
        report = run(index, full or empty).execute()
        index.flush()
        return report


_LZ4 = ("SELECT set_config('default_toast_compression', 'lz4', true) FROM pg_settings "
        "WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")
"""Compress long values with LZ4 in this run, where the server has it: several times faster than its default
(pglz) on the 300 MB of HTML, Markdown and documents of a cold build of 10,000 lessons."""


@functools.cache
def _database(location: PostgresUrl) -> PostgresDatabase:
    """The index database, opened and brought to this version once per process: its runs (a watcher's, a
    server's writes) share one pool. A failure is not kept: the next run tries again."""
    database = open_database(location, index_schema())
    assert isinstance(database, PostgresDatabase)
    atexit.register(database.close)
    return database


@contextlib.contextmanager
def reading(location: PostgresUrl) -> Iterator[IndexConnection]:
    """The index, read-only, as an index run reads it (tuple rows, SQLite's spelling): for the write path."""
    with connect(location, options=f"-c default_transaction_read_only=on -c search_path={SCHEMA}") as conn, \
            IndexConnection(conn) as index:
        yield index


# -- SQLite's spelling → Postgres's -----------------------------------------------------------------

_REWRITES = [
    (re.compile(r"\bjson_each\("), "jsonb_array_elements_text("),  # a JSON list's items, as `value`
    (re.compile(r"\bIS NOT\b(?!\s+NULL)"), "IS DISTINCT FROM"),  # null-safe comparison
]


@functools.lru_cache(maxsize=256)
def translate(query: str) -> str:
    """The indexer's SQLite SQL as psycopg takes it: the few spellings that differ, then the parameters."""
    for pattern, replacement in _REWRITES:
        query = pattern.sub(replacement, query)
    return to_psycopg(query).replace("?", "%s")


class IndexConnection:
    """What an index run uses of a `sqlite3.Connection`, on a psycopg connection inside a transaction.

    Rows go in on a thread of their own (`later`), in order, while the run goes on parsing: the server
    makes the tsvectors while the workers render the next files. Every other statement first waits for
    the rows before it (`flush`), so the run sees its own writes as it would on SQLite.
    """

    AHEAD = 2
    """Batches of rows waiting for the server at most: the parsing waits rather than piling them up."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-copy")
        self._pending: list[Future[None]] = []

    def __enter__(self) -> IndexConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self._writer.shutdown(wait=True, cancel_futures=True)

    def later(self, work: Callable[[], None]) -> None:
        """`work` on the writer thread, after the work already given to it."""
        while len(self._pending) >= self.AHEAD:
            self._pending.pop(0).result()
        self._pending.append(self._writer.submit(work))

    def flush(self) -> None:
        """Wait for the writer thread to finish its work; its first error, if any, is raised here."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def execute(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> psycopg.Cursor[Any]:
        self.flush()
        cursor = self.raw.cursor(row_factory=psycopg.rows.tuple_row)
        return cursor.execute(translate(query), params or None)

    def executemany(self, query: str, params: Iterable[Sequence[Any] | dict[str, Any]]) -> psycopg.Cursor[Any]:
        self.flush()
        cursor = self.raw.cursor(row_factory=psycopg.rows.tuple_row)
        cursor.executemany(translate(query), list(params))
        return cursor


# -- the Store of a run (see cms.index.build.Store) -------------------------------------------------

def insert(conn: IndexConnection, rows: Rows) -> None:
    """A batch of rows, one COPY per table (on the writer thread); search rows go to `search_docs` and `search`."""
    conn.later(functools.partial(_insert, conn, rows))


def write(conn: IndexConnection, table: str, records: list[dict[str, Any]], *, replace: bool = False) -> None:
    """`records` into `table` with one COPY (on the writer thread); with `replace`, rows with the same keys are
    deleted first."""
    if records:
        conn.later(functools.partial(_write, conn, table, records, replace))


def _insert(conn: IndexConnection, rows: Rows) -> None:
    searchable = rows.pop("search", [])
    if searchable:
        first = conn.raw.execute("SELECT COALESCE(MAX(id), 0) + 1 AS id FROM search_docs").fetchone()["id"]
        rows["search_docs"] = [{"id": first + i, "kind": r["kind"], "course": r["course"], "slug": r["slug"],
                                "path": r["path"], "listed": r["listed"]} for i, r in enumerate(searchable)]
        _copy(conn, "search", SEARCH_COLUMNS, [(first + i, r["title"], r["body"]) for i, r in enumerate(searchable)])
    for table, records in rows.items():
        if records:
            _write(conn, table, records, False)


def _write(conn: IndexConnection, table: str, records: list[dict[str, Any]], replace: bool) -> None:
    if replace:
        key = tables.KEYS[table]
        assert isinstance(key, str), f"replace needs a one-column key, {table} has {key}"
        delete = sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(sql.Identifier(table), sql.Identifier(key))
        conn.raw.execute(delete, [[record[key] for record in records]])
    columns = sorted(set().union(*records))
    types = {column: tables.TABLES[table][column] for column in columns}
    _copy(conn, table, types, ([record.get(column) for column in columns] for record in records))


def _copy(conn: IndexConnection, table: str, types: dict[str, type], rows: Iterable[Sequence[Any]]) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, types)))
    with conn.raw.cursor().copy(statement) as copy:
        copy.set_types([_COPY_TYPES[kind] for kind in types.values()])
        for row in rows:
            copy.write_row(row)


def hold_search_merges(conn: IndexConnection) -> None:
    """Nothing to hold: the GIN index takes new rows in its pending list."""


def merge_search(conn: IndexConnection) -> None:
    """After a full build: planner statistics for the tables it rewrote (autovacuum would be later)."""
    conn.flush()
    conn.raw.execute(f"ANALYZE {', '.join([*tables.TABLES, 'search'])}")
