"""Public entries as JSON documents: stored at index time, served by key, shaped from rows when missing.

`materialise` is the step the indexer runs inside its transaction
(`update(..., materialise=materialise)`): it stores, under the keys of
`cms.index.documents`, the JSON bodies of public course details, course
summaries and lesson details that are missing, with their ETags. The
index's triggers delete every document a row change makes stale, so a
stored document is always what shaping the rows gives now, byte for byte.
On Postgres the step reads through the run's own transaction (`cms.read.postgres.InRun`) and stores
the same bytes; readers find them by key as on SQLite.

A document is stored only for an entry the public sees now, and only if
time cannot change it: a course naming a prerequisite whose `publish_at`
is still ahead is left to be shaped per request (its prerequisites grow
when that one goes live). A stored document therefore needs no visibility
check beyond being there. Staff readers (`hidden=True`) see drafts, so
their answers are always shaped from rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple

import msgspec

from cms.index import documents
from cms.index.documents import course_key, lesson_key
from cms.read import queries, views
from cms.read.connection import as_dicts
from cms.read.visibility import COURSE_VISIBLE, NOW

Row = dict[str, Any]


class Document(NamedTuple):
    """A JSON body as the API answers it, and its strong ETag."""

    body: bytes
    etag: str


def strong_etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def encoded(shape: Any) -> Document:
    body = msgspec.json.encode(shape)
    return Document(body, strong_etag(body))


def stored(conn: sqlite3.Connection, key: str) -> Document | None:
    """The document stored under `key`, if there is one (it is public: see above).

    On Postgres (`cms.read.postgres.PostgresReader`) one prepared statement, read in binary."""
    if not isinstance(conn, sqlite3.Connection):
        found = conn.document(key)  # type: ignore[attr-defined]
        return None if found is None else Document(*found)
    row = conn.execute("SELECT body, etag FROM documents WHERE key = ?", [key]).fetchone()
    return None if row is None else Document(row["body"], row["etag"])


def lesson(conn: sqlite3.Connection, course: str, slug: str, hidden: bool = False) -> Document:
    """A lesson's detail (`views.lesson_detail`), stored or shaped; NotFound when not visible."""
    found = None if hidden else stored(conn, lesson_key(course, slug))
    return found or encoded(views.lesson_detail(conn, course, slug, hidden))


def course(conn: sqlite3.Connection, slug: str, hidden: bool = False) -> Document:
    """A course's detail (`views.course_detail`), stored or shaped; NotFound when not visible."""
    found = None if hidden else stored(conn, course_key(slug))
    return found or encoded(views.course_detail(conn, slug, hidden))


def course_page(conn: sqlite3.Connection, filters: queries.CourseFilters, sort: str, page: int, page_size: int,
                hidden: bool = False) -> tuple[bytes, int]:
    """One page of the course list as its JSON body, and how many courses match in all."""
    if hidden:
        rows, total = queries.list_courses(conn, filters, sort, page, page_size, hidden)
        items: list[Any] = views.course_summaries(conn, rows, hidden)
    else:
        found, total = queries.list_course_documents(conn, filters, sort, page, page_size)
        items = _summaries(conn, [row["slug"] for row in found], {row["slug"]: row["body"] for row in found})
    return msgspec.json.encode({"items": items, "total": total, "page": page, "page_size": page_size}), total


def seconds_until_published(conn: sqlite3.Connection) -> float:
    """Seconds until the next scheduled course goes live (the course list changes then, with the index as it is)."""
    row = conn.execute(f"SELECT MIN(publish_at) AS at FROM courses c WHERE c.status = 'published' "
                       f"AND c.publish_at > {NOW}").fetchone()
    if row["at"] is None:
        return math.inf
    return max(0.0, (datetime.fromisoformat(row["at"]) - datetime.now(UTC)).total_seconds())


def _summaries(conn: sqlite3.Connection, slugs: list[str], stored: dict[str, bytes | None]) -> list[Any]:
    """Course summaries in the order of `slugs`: stored ones as they are, missing ones shaped from rows."""
    missing = [slug for slug in slugs if stored[slug] is None]
    rows = queries.courses_by_slugs(conn, missing) if missing else []
    shaped = {row["slug"]: row for row in views.course_summaries(conn, rows)}
    return [msgspec.Raw(body) if (body := stored[slug]) is not None else shaped[slug] for slug in slugs]


_MISSING = {
    "summary": f"SELECT c.slug FROM courses c WHERE {COURSE_VISIBLE} AND NOT EXISTS "
               "(SELECT 1 FROM documents WHERE key = 'course/' || c.slug || '/summary') ORDER BY c.slug",
    "detail": f"SELECT c.slug FROM courses c WHERE {COURSE_VISIBLE} AND NOT EXISTS "
              "(SELECT 1 FROM documents WHERE key = 'course/' || c.slug || '/detail') AND NOT EXISTS "
              "(SELECT 1 FROM json_each(c.prerequisites) p JOIN courses q ON q.slug = p.value "
              f"WHERE q.publish_at > {NOW}) ORDER BY c.slug",
    "lesson": f"SELECT l.course, l.slug FROM lessons l JOIN sections s ON s.course = l.course AND s.slug = l.section "
              f"JOIN courses c ON c.slug = l.course WHERE {queries.LESSON_PUBLIC} AND NOT EXISTS "
              "(SELECT 1 FROM documents WHERE key = 'course/' || l.course || '/lesson/' || l.slug) "
              "ORDER BY l.course, l.slug",
}
"""What is missing: public entries without their document (and courses whose detail time cannot change)."""


def materialise(conn: sqlite3.Connection) -> None:
    """Store the documents of public entries that are missing (the indexer's step, on its connection: SQLite's,
    or a run's on Postgres, `cms.index.postgres.IndexConnection`)."""
    with _reading(conn) as reads:
        summaries = [row["slug"] for row in reads.execute(_MISSING["summary"])]
        if summaries:
            rows = views.course_summaries(reads, queries.courses_by_slugs(reads, summaries))
            _store(conn, ((course_key(row["slug"], "summary"), row) for row in rows))
        details = [row["slug"] for row in reads.execute(_MISSING["detail"])]
        _store(conn, ((course_key(slug), views.course_detail(reads, slug)) for slug in details))
        by_course: dict[str, list[str]] = {}
        for row in reads.execute(_MISSING["lesson"]).fetchall():
            by_course.setdefault(row["course"], []).append(row["slug"])
        for name, slugs in by_course.items():
            rows = views.lesson_details(reads, queries.lessons_by_slugs(reads, name, slugs))
            _store(conn, ((lesson_key(name, row["slug"]), row) for row in rows))


def _reading(conn: Any) -> contextlib.AbstractContextManager[Any]:
    """The run's connection giving rows as the read side takes them: SQLite's as dicts, a Postgres run's in
    Postgres's spelling (`cms.read.postgres.InRun`)."""
    if isinstance(conn, sqlite3.Connection):
        return as_dicts(conn)
    from cms.read.postgres import InRun  # psycopg costs 0.3 s to import: only when used

    return contextlib.nullcontext(InRun(conn))


def _store(conn: sqlite3.Connection, shaped: Iterable[tuple[str, Row]]) -> None:
    documents.store(conn, [(key, *encoded(row)) for key, row in shaped])
