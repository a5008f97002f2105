"""The index's tables: plain, well-named, and readable in any SQLite tool.

Content tables hold one row per entry with its front-matter fields as
columns, JSON lists as TEXT, the rendered HTML, and derived figures.
Every content row records the `path` of its file and its `version` (the
file's git blob id). `files` is the indexer's own memory of each file;
`search` is the FTS5 table (title, body) and `search_docs` says what each
of its rows is (kind, course, slug, path) and whether it may be listed
(published all the way up; `publish_at` is checked at read time), kept
apart so that filtering hits never reads their text; `meta` records what
the index was built from; `documents` holds public entries' JSON bodies by
key (`cms.index.documents`). `insert` and `delete_rows` move a batch of rows
in and out, one statement per table.
"""

from __future__ import annotations

import operator
import sqlite3
from typing import Any

from cms.index import documents
from cms.index.rows import Rows, to_json

SCHEMA_VERSION = 9

TABLES: dict[str, dict[str, type]] = {
    "courses": {
        "slug": str, "path": str, "version": str, "title": str, "description": str, "status": str,
        "difficulty_level": str, "instructor": str, "category": str, "tags": str, "price": float,
        "currency": str, "image": str, "publish_at": str, "prerequisites": str, "section_count": int,
        "lesson_count": int, "video_count": int, "video_seconds": int, "duration_minutes": int, "created_at": str,
        "updated_at": str, "toc": str, "markdown": str, "html": str,
    },
    "sections": {
        "course": str, "slug": str, "path": str, "version": str, "section_order": int, "title": str,
        "description": str, "status": str, "lesson_count": int, "video_count": int, "video_seconds": int,
        "duration_minutes": int, "created_at": str, "updated_at": str, "markdown": str, "html": str,
    },
    "lessons": {
        "course": str, "slug": str, "section": str, "path": str, "version": str, "section_order": int,
        "lesson_order": int, "position": int, "title": str, "type": str, "status": str, "description": str,
        "duration_minutes": int, "reading_time_minutes": int, "word_count": int, "video_count": int,
        "video_seconds": int, "pdf_url": str, "prev_slug": str, "prev_title": str, "next_slug": str,
        "next_title": str, "created_at": str, "updated_at": str, "objectives": str, "questions": str,
        "videos": str, "ai": str, "toc": str, "markdown": str, "html": str,
    },
    "video_snippets": {
        "course": str, "lesson": str, "path": str, "position": int, "url": str, "description": str,
        "start_time_seconds": int, "end_time_seconds": int, "duration_seconds": int, "media": str,
    },
    "projects": {
        "slug": str, "path": str, "version": str, "title": str, "description": str, "status": str,
        "client_name": str, "project_type": str, "featured": int, "tech_stack": str, "thumbnail": str,
        "live_demo_url": str, "github_url": str, "created_at": str, "updated_at": str, "toc": str,
        "markdown": str, "html": str,
    },
    "authors": {
        "slug": str, "path": str, "version": str, "name": str, "avatar": str, "links": str, "created_at": str,
        "updated_at": str, "markdown": str, "html": str,
    },
    "paths": {
        "slug": str, "path": str, "version": str, "title": str, "description": str, "status": str,
        "courses": str, "created_at": str, "updated_at": str, "toc": str, "markdown": str, "html": str,
    },
    "path_courses": {"learning_path": str, "path": str, "position": int, "course": str},
    "media": {
        "id": str, "path": str, "version": str, "public_id": str, "resource_type": str, "secure_url": str,
        "format": str, "width": int, "height": int, "bytes": int, "duration_ms": int, "alt": str, "deleted": int,
        "uploaded_at": str, "uploaded_by": str, "created_at": str, "updated_at": str,
    },
    "categories": {"slug": str, "path": str, "version": str, "position": int, "name": str, "description": str},
    "files": {
        "path": str, "kind": str, "source": str, "blob": str, "entry": str, "marks": str, "links": str, "refs": str,
        "body_line": int, "problems": str, "ok": int, "created_at": str, "updated_at": str,
    },
    "problems": {
        "file": str, "line": int, "column": int, "field": str, "rule": str, "message": str, "expected": str,
        "found": str, "severity": str,
    },
    "search_docs": {"id": int, "kind": str, "course": str, "slug": str, "path": str, "listed": int,
                    "publish_at": str},
    "meta": {"key": str, "value": str},
    "documents": {"key": str, "body": bytes, "etag": str},
    "redirects": {"kind": str, "old_path": str, "new_path": str, "old_file": str, "new_file": str,
                  "renamed_in": str, "renamed_at": str, "listed": int},
}

KEYS: dict[str, str | tuple[str, ...]] = {
    "courses": "slug", "sections": ("course", "slug"), "lessons": ("course", "slug"),
    "projects": "slug", "authors": "slug", "paths": "slug", "media": "id", "categories": "slug",
    "files": "path", "search_docs": "id", "meta": "key",
    "documents": "key", "redirects": "old_file",
}
INDEXES: list[tuple[str, list[str]]] = [
    ("courses", ["status", "updated_at"]), ("courses", ["path"]), ("sections", ["path"]),
    ("sections", ["course", "section_order"]), ("lessons", ["path"]), ("lessons", ["course", "position"]),
    ("lessons", ["course", "section"]), ("video_snippets", ["course", "lesson"]), ("video_snippets", ["path"]),
    ("projects", ["path"]), ("authors", ["path"]), ("paths", ["path"]), ("path_courses", ["learning_path"]),
    ("path_courses", ["path"]), ("media", ["path"]), ("categories", ["path"]), ("search_docs", ["path"]),
    ("lessons", ["course", "slug", "status", "section"]), ("sections", ["course", "slug", "status"]),
    ("courses", ["slug", "status", "publish_at"]), ("redirects", ["old_path", "listed"]),
    ("files", ["path", "blob", "ok", "created_at", "updated_at"]),  # what runs read of every file: not the 18 MB
]
CONTENT_TABLES = ("courses", "sections", "lessons", "video_snippets", "projects", "authors", "paths",
                  "path_courses", "media", "categories", "search_docs")
"""Tables whose rows come from one content file each, found by `path`."""


_TYPES = {str: "TEXT", int: "INTEGER", float: "FLOAT", bytes: "BLOB"}


def create(conn: sqlite3.Connection) -> None:
    """Create every table, index and the search table, on an empty database."""
    for name, columns in TABLES.items():
        conn.execute(_create_table(name, columns, KEYS.get(name)))
    for table, columns in INDEXES:
        conn.execute(f"CREATE INDEX IF NOT EXISTS [idx_{table}_{'_'.join(columns)}] ON [{table}] "
                     f"({', '.join(f'[{c}]' for c in columns)})")
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5("
                 "title, body, tokenize = 'porter unicode61 remove_diacritics 2')")
    documents.create_triggers(conn)


def _create_table(name: str, columns: dict[str, type], key: str | tuple[str, ...] | None) -> str:
    keys = (key,) if isinstance(key, str) else key or ()
    definitions = [f"[{column}] {_TYPES[kind]}{' NOT NULL' if column in keys else ''}"
                   for column, kind in columns.items()]
    if keys:
        definitions.append(f"PRIMARY KEY ({', '.join(f'[{column}]' for column in keys)})")
    return f"CREATE TABLE IF NOT EXISTS [{name}] ({', '.join(definitions)})"


FTS_AUTOMERGE = 4
"""FTS5's own default: merge search segments as they pile up, a little with every insert."""


def hold_search_merges(conn: sqlite3.Connection) -> None:
    """For a full build: no merging while every row goes in; `merge_search` does it once at the end."""
    conn.execute("INSERT INTO search (search, rank) VALUES ('automerge', 0)")


def merge_search(conn: sqlite3.Connection) -> None:
    """Merge the search index into one segment (the fastest to query), then merge as usual again."""
    conn.execute("INSERT INTO search (search) VALUES ('optimize')")
    conn.execute("INSERT INTO search (search, rank) VALUES ('automerge', ?)", [FTS_AUTOMERGE])


def drop_all(conn: sqlite3.Connection) -> None:
    for name in [*TABLES, "search"]:
        conn.execute(f"DROP TABLE IF EXISTS [{name}]")


def delete_rows(conn: sqlite3.Connection, paths: set[str]) -> None:
    if paths:
        conn.execute("DELETE FROM search WHERE rowid IN (SELECT id FROM search_docs WHERE path IN "
                   "(SELECT value FROM json_each(?)))", [to_json(sorted(paths))])
    for table in CONTENT_TABLES:
        delete_paths(conn, table, paths)


def delete_paths(conn: sqlite3.Connection, table: str, paths: set[str]) -> None:
    if paths:
        conn.execute(f"DELETE FROM {table} WHERE path IN (SELECT value FROM json_each(?))", [to_json(sorted(paths))])


def insert(conn: sqlite3.Connection, rows: Rows) -> None:
    """Insert a batch of rows, one statement per table; search rows go to `search_docs` and `search`."""
    searchable = rows.pop("search", [])
    if searchable:
        first = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM search_docs").fetchone()[0]
        rows["search_docs"] = [{"id": first + i, "kind": r["kind"], "course": r["course"], "slug": r["slug"],
                                "path": r["path"], "listed": r["listed"]} for i, r in enumerate(searchable)]
        conn.executemany("INSERT INTO search (rowid, title, body) VALUES (?, ?, ?)",
                         [(first + i, r["title"], r["body"]) for i, r in enumerate(searchable)])
    for table, records in rows.items():
        if records:
            write(conn, table, records)


def write(conn: sqlite3.Connection, table: str, records: list[dict[str, Any]], *, replace: bool = False) -> None:
    """Insert `records` into `table` (replacing rows with the same key if `replace`), in one statement."""
    columns = sorted(records[0])
    if any(len(record) != len(columns) for record in records):  # rows of different kinds: some leave columns out
        columns = sorted(set().union(*records))
        values: Any = [[record.get(column) for column in columns] for record in records]
    else:
        values = map(operator.itemgetter(*columns), records) if len(columns) > 1 else ([r[columns[0]]] for r in records)
    verb = "INSERT OR REPLACE" if replace else "INSERT"
    sql = f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    conn.executemany(sql, values)
