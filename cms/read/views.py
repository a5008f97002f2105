"""Entries as the read API serves them: rows from `cms.read.queries` shaped into the wire dicts.

Every function answers one resource, raising `NotFound` for anything
missing or not visible, so hidden and absent entries look the same. The
shapes are declared once, as data: `FIELDS` names the keys of each shape
in order, and `REFERENCES` says which keys name another entry. A reference
is always the same object wherever it appears (an author is an
`AuthorBrief`, a category a `CategoryBrief`, a media record a `MediaOut`,
a course a `CourseRef`, a lesson's section a `SectionRef`), resolved for a
whole list of rows at once. Shaping is deterministic: the same index gives
the same dicts, so they can be stored as well as built per request.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from cms.errors import NotFound
from cms.read import queries

Row = dict[str, Any]
Lookup = Callable[[sqlite3.Connection, list[str], bool], dict[str, Row]]

COURSE_SUMMARY = ("slug", "version", "title", "description", "status", "difficulty_level", "instructor", "category",
                  "tags", "price", "currency", "image", "publish_at", "section_count", "lesson_count", "video_count",
                  "video_seconds", "duration_minutes", "created_at", "updated_at")
SECTION_SUMMARY = ("slug", "version", "title", "description", "status", "order", "lesson_count", "video_count",
                   "video_seconds", "duration_minutes")
LESSON_SUMMARY = ("slug", "version", "title", "description", "status", "type", "section", "order",
                  "duration_minutes", "reading_time_minutes", "video_count", "video_seconds")
PROJECT_SUMMARY = ("slug", "version", "title", "description", "status", "client_name", "project_type", "featured",
                   "tech_stack", "thumbnail", "live_demo_url", "github_url", "created_at", "updated_at")
AUTHOR_SUMMARY = ("slug", "version", "name", "avatar", "links")
PATH_SUMMARY = ("slug", "version", "title", "description", "status", "courses")
VIDEO = ("position", "url", "description", "start_time_seconds", "end_time_seconds", "duration_seconds", "media")
QUESTION = ("prompt", "choices")
"""A quiz question as served: its `answer` and `explanation` never are."""
MEDIA = ("id", "version", "public_id", "resource_type", "secure_url", "format", "width", "height", "bytes",
         "duration_ms", "alt")
DETAIL = ("body", "html")
"""What every detail adds to its summary: the markdown `body` (as a write sends it) and its HTML."""


def _author_refs(conn: sqlite3.Connection, slugs: list[str], hidden: bool) -> dict[str, Row]:
    authors = queries.author_briefs(conn, slugs)
    _resolve(conn, authors.values(), {"avatar": queries.media_records}, hidden)
    return authors


def _category_refs(conn: sqlite3.Connection, slugs: list[str], hidden: bool) -> dict[str, Row]:
    return queries.category_briefs(conn, slugs)


REFERENCES: dict[str, dict[str, Lookup]] = {
    "course": {"instructor": _author_refs, "category": _category_refs, "image": queries.media_records},
    "project": {"thumbnail": queries.media_records},
    "author": {"avatar": queries.media_records},
    "video": {"media": queries.media_records},
}
"""Per shape, the keys that name another entry, and how to look those entries up (many at once)."""


def _resolve(conn: sqlite3.Connection, rows: Iterable[Row], references: dict[str, Lookup], hidden: bool) -> None:
    """Replace each reference key's slug by the entry it names (None when that is missing or not visible)."""
    rows = list(rows)
    for key, lookup in references.items():
        names = [row[key] for row in rows if row.get(key)]
        found = lookup(conn, names, hidden) if names else {}
        for row in rows:
            row[key] = found.get(row[key]) if row.get(key) else None


def _shaped(row: Row, fields: tuple[str, ...]) -> Row:
    return {field: row[field] for field in fields}


def _found(row: Row | None, what: str, slug: str) -> Row:
    if row is None:
        raise NotFound(f"no {what} {slug!r}")
    return row


def course_summaries(conn: sqlite3.Connection, rows: list[Row], hidden: bool = False) -> list[Row]:
    shaped = [_shaped(row, COURSE_SUMMARY) for row in rows]
    _resolve(conn, shaped, REFERENCES["course"], hidden)
    return shaped


def course_detail(conn: sqlite3.Connection, slug: str, hidden: bool = False) -> Row:
    row = _found(queries.course(conn, slug, hidden), "course", slug)
    refs = queries.course_refs(conn, row["prerequisites"], hidden) if row["prerequisites"] else {}
    return {**course_summaries(conn, [row], hidden)[0], "body": row["markdown"], "html": row["html"],
            "toc": row["toc"], "prerequisites": [refs[s] for s in row["prerequisites"] if s in refs],
            "sections": _outline(conn, slug, hidden)}


def _outline(conn: sqlite3.Connection, course: str, hidden: bool) -> list[Row]:
    """Sections in order, each with its lessons in order."""
    lessons = lesson_summaries(queries.lessons_of(conn, course, None, hidden))
    by_section: dict[str, list[Row]] = {}
    for lesson in lessons:
        by_section.setdefault(lesson["section"]["slug"], []).append(lesson)
    return [{**section, "lessons": by_section.get(section["slug"], [])}
            for section in section_summaries(queries.sections_of(conn, course, hidden))]


def section_summaries(rows: list[Row]) -> list[Row]:
    return [_shaped({**row, "order": row["section_order"]}, SECTION_SUMMARY) for row in rows]


def lesson_summaries(rows: list[Row]) -> list[Row]:
    return [_shaped(_lesson_fields(row), LESSON_SUMMARY) for row in rows]


def _lesson_fields(row: Row) -> Row:
    section = {"slug": row["section"], "title": row["section_title"], "order": row["section_order"]}
    return {**row, "section": section, "order": row["lesson_order"]}


def sections(conn: sqlite3.Connection, course: str, hidden: bool = False) -> list[Row]:
    _require_course(conn, course, hidden)
    return section_summaries(queries.sections_of(conn, course, hidden))


def section_detail(conn: sqlite3.Connection, course: str, slug: str, hidden: bool = False) -> Row:
    _require_course(conn, course, hidden)
    row = _found(queries.section(conn, course, slug, hidden), "section", slug)
    return {**section_summaries([row])[0], "lessons": lesson_summaries(queries.lessons_of(conn, course, slug, hidden)),
            "body": row["markdown"], "html": row["html"]}


def lessons(conn: sqlite3.Connection, course: str, section: str | None, hidden: bool = False) -> list[Row]:
    _require_course(conn, course, hidden)
    if section is not None:
        _found(queries.section(conn, course, section, hidden), "section", section)
    return lesson_summaries(queries.lessons_of(conn, course, section, hidden))


def lesson_detail(conn: sqlite3.Connection, course: str, slug: str, hidden: bool = False) -> Row:
    return lesson_details(conn, [_found(queries.lesson(conn, course, slug, hidden), "lesson", slug)], hidden)[0]


def lesson_details(conn: sqlite3.Connection, rows: list[Row], hidden: bool = False) -> list[Row]:
    """Lessons as their detail pages, from rows of `queries.lesson` (video media looked up once for all)."""
    videos = [[_shaped(video, VIDEO) for video in row["videos"]] for row in rows]
    _resolve(conn, [video for shown in videos for video in shown], REFERENCES["video"], hidden)
    return [{**summary, "course": {"slug": row["course"], "title": row["course_title"]}, "pdf_url": row["pdf_url"],
             "objectives": row["objectives"], "questions": [_shaped(q, QUESTION) for q in row["questions"]],
             "videos": shown, "ai": row["ai"], "body": row["markdown"], "html": row["html"], "toc": row["toc"],
             "prev": _neighbour(row, "prev"), "next": _neighbour(row, "next"), "created_at": row["created_at"],
             "updated_at": row["updated_at"]}
            for row, summary, shown in zip(rows, lesson_summaries(rows), videos, strict=True)]


def _neighbour(row: Row, which: str) -> Row | None:
    slug = row[f"{which}_slug"]
    return None if slug is None else {"slug": slug, "title": row[f"{which}_title"]}


def _require_course(conn: sqlite3.Connection, course: str, hidden: bool) -> None:
    if not queries.course_visible(conn, course, hidden):
        raise NotFound(f"no course {course!r}")


def project_summaries(conn: sqlite3.Connection, rows: list[Row], hidden: bool = False) -> list[Row]:
    shaped = [_shaped({**row, "featured": bool(row["featured"])}, PROJECT_SUMMARY) for row in rows]
    _resolve(conn, shaped, REFERENCES["project"], hidden)
    return shaped


def project_detail(conn: sqlite3.Connection, slug: str, hidden: bool = False) -> Row:
    row = _found(queries.project(conn, slug, hidden), "project", slug)
    return {**project_summaries(conn, [row], hidden)[0], "body": row["markdown"], "html": row["html"],
            "toc": row["toc"]}


def author_summaries(conn: sqlite3.Connection, rows: list[Row], hidden: bool = False) -> list[Row]:
    shaped = [_shaped(row, AUTHOR_SUMMARY) for row in rows]
    _resolve(conn, shaped, REFERENCES["author"], hidden)
    return shaped


def authors(conn: sqlite3.Connection, hidden: bool = False) -> list[Row]:
    return author_summaries(conn, queries.list_authors(conn), hidden)


def author_detail(conn: sqlite3.Connection, slug: str, hidden: bool = False) -> Row:
    row = _found(queries.author(conn, slug), "author", slug)
    courses = course_summaries(conn, queries.courses_by_instructor(conn, slug, hidden), hidden)
    return {**author_summaries(conn, [row], hidden)[0], "body": row["markdown"], "html": row["html"],
            "courses": courses}


def path_summaries(conn: sqlite3.Connection, rows: list[Row], hidden: bool = False) -> list[Row]:
    """Learning paths, each with the courses the caller may see, in the path's order."""
    shaped = [_shaped(row, PATH_SUMMARY) for row in rows]
    for path in shaped:
        path["courses"] = course_summaries(conn, queries.courses_by_slugs(conn, path["courses"], hidden), hidden)
    return shaped


def paths(conn: sqlite3.Connection, hidden: bool = False) -> list[Row]:
    return path_summaries(conn, queries.list_paths(conn, hidden), hidden)


def path_detail(conn: sqlite3.Connection, slug: str, hidden: bool = False) -> Row:
    row = _found(queries.learning_path(conn, slug, hidden), "path", slug)
    return {**path_summaries(conn, [row], hidden)[0], "body": row["markdown"], "html": row["html"]}


def media_detail(conn: sqlite3.Connection, media_id: str, hidden: bool = False) -> Row:
    return _shaped(_found(queries.media(conn, media_id, hidden), "media", media_id), MEDIA)


def categories(conn: sqlite3.Connection, hidden: bool = False) -> list[Row]:
    return queries.list_categories(conn, hidden)
