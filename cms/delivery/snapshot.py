"""What the public sees at a moment: every entry of the index, and whether the read API serves it now.

A snapshot is read in one read transaction of the index, with the read
side's own visibility conditions (`cms.read.visibility`), `publish_at`
included: a course whose time has not come is stored but not public. Each
entry is named by its kind and key (a slug; `course/slug` for sections and
lessons) and carries its version (the git blob id of its file, as the read
API shows it) and its path in the read API.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

from cms.read.visibility import COURSE_VISIBLE, LESSON_VISIBLE, NOW, PUBLISHED, SECTION_VISIBLE

API_BASE = "/api/v1"
"""The read API's base path (`api.deps.API_PREFIX`, which `cms` does not import)."""
PATHS = {
    "course": "/courses/{slug}",
    "section": "/courses/{course}/sections/{slug}",
    "lesson": "/courses/{course}/lessons/{slug}",
    "project": "/projects/{slug}",
    "path": "/paths/{slug}",
    "author": "/authors/{slug}",
    "media": "/media/{slug}",
    "category": "/categories",
}
"""Where the read API serves each kind of entry (categories only as one list)."""
KIND_ORDER = {kind: position for position, kind in enumerate(PATHS)}


def _public(condition: str) -> str:
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


ENTRIES = f"""
SELECT 'course' AS kind, c.slug AS key, c.version, {_public(COURSE_VISIBLE)} AS public FROM courses c
UNION ALL
SELECT 'section', s.course || '/' || s.slug, s.version, {_public(f"{SECTION_VISIBLE} AND {COURSE_VISIBLE}")}
    FROM sections s LEFT JOIN courses c ON c.slug = s.course
UNION ALL
SELECT 'lesson', l.course || '/' || l.slug, l.version,
       {_public(f"{LESSON_VISIBLE} AND {SECTION_VISIBLE} AND {COURSE_VISIBLE}")}
    FROM lessons l LEFT JOIN sections s ON s.course = l.course AND s.slug = l.section
    LEFT JOIN courses c ON c.slug = l.course
UNION ALL
SELECT 'project', p.slug, p.version, {_public(PUBLISHED)} FROM projects p
UNION ALL
SELECT 'path', p.slug, p.version, {_public(PUBLISHED)} FROM paths p
UNION ALL
SELECT 'author', a.slug, a.version, 1 FROM authors a
UNION ALL
SELECT 'media', m.id, m.version, {_public("m.deleted = 0")} FROM media m
UNION ALL
SELECT 'category', g.slug, g.version, 1 FROM categories g
"""
"""Every stored entry with `public` = 1 when the read API serves it now (authors and categories always;
media unless soft-deleted, as `cms.read.queries` serves them)."""
NEXT_PUBLICATION = f"""SELECT MIN(c.publish_at) AS at FROM courses c
    WHERE c.status = 'published' AND c.publish_at > {NOW}"""


class Key(NamedTuple):
    kind: str
    key: str


class Entry(NamedTuple):
    """A public entry: what a change log and a webhook name."""

    kind: str
    key: str
    version: str | None
    path: str


@dataclass(frozen=True)
class Snapshot:
    commit: str | None
    """The commit the index was built from."""
    public: dict[Key, Entry]
    stored: frozenset[Key]
    """Every entry the index holds, public or not: one that left `public` but is here was unpublished."""
    next_publication: str | None
    """The earliest `publish_at` still to come (RFC 3339, UTC), when a scheduled course becomes public."""


def api_path(kind: str, key: str) -> str:
    """The read API's path of an entry (`/api/v1/courses/<course>/lessons/<lesson>`)."""
    course, _, slug = key.rpartition("/")
    return API_BASE + PATHS[kind].format(course=course, slug=slug)


def take(conn: sqlite3.Connection) -> Snapshot:
    """The index's public entries now, read in one transaction so they agree with its commit."""
    with _read_transaction(conn):
        rows = conn.execute(ENTRIES).fetchall()
        commit = conn.execute("SELECT value FROM meta WHERE key = 'commit'").fetchone()
        upcoming = conn.execute(NEXT_PUBLICATION).fetchone()
    public = {Key(row["kind"], row["key"]): Entry(row["kind"], row["key"], row["version"],
                                                  api_path(row["kind"], row["key"]))
              for row in rows if row["public"]}
    return Snapshot(commit=(commit or {}).get("value") or None, public=public,
                    stored=frozenset(Key(row["kind"], row["key"]) for row in rows),
                    next_publication=upcoming["at"] if upcoming else None)


@contextmanager
def _read_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction on an autocommit connection: every statement sees the same index."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")
