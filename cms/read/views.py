"""Entries as the read API serves them: rows from `cms.read.queries` put together.

Each function answers one resource, raising `NotFound` for anything
missing or not visible, so hidden and absent entries look the same.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from cms.errors import NotFound
from cms.read import queries

Row = dict[str, Any]


def _found(row: Row | None, what: str, slug: str) -> Row:
    if row is None:
        raise NotFound(f"no {what} {slug!r}")
    return row


def course_detail(conn: sqlite3.Connection, slug: str, hidden: bool = False) -> Row:
    row = _found(queries.course(conn, slug, hidden), "course", slug)
    instructor = queries.author_brief(conn, row["instructor"])
    if instructor is not None:
        instructor["avatar"] = queries.media(conn, instructor["avatar"])
    prerequisites = queries.courses_by_slugs(conn, row["prerequisites"], hidden)
    return {**row, "instructor": instructor, "category": queries.category_brief(conn, row["category"]),
            "image": queries.media(conn, row["image"]),
            "prerequisites": [{"slug": c["slug"], "title": c["title"]} for c in prerequisites],
            "sections": queries.course_outline(conn, slug, hidden)}


def sections(conn: sqlite3.Connection, course: str, hidden: bool = False) -> list[Row]:
    _require_course(conn, course, hidden)
    return queries.sections_of(conn, course, hidden)


def section_detail(conn: sqlite3.Connection, course: str, slug: str, hidden: bool = False) -> Row:
    _require_course(conn, course, hidden)
    row = _found(queries.section(conn, course, slug, hidden), "section", slug)
    return {**row, "lessons": queries.lessons_of(conn, course, slug, hidden)}


def lessons(conn: sqlite3.Connection, course: str, section: str | None, hidden: bool = False) -> list[Row]:
    _require_course(conn, course, hidden)
    if section is not None:
        _found(queries.section(conn, course, section, hidden), "section", section)
    return queries.lessons_of(conn, course, section, hidden)


def lesson_detail(conn: sqlite3.Connection, course: str, slug: str, hidden: bool = False) -> Row:
    row = _found(queries.lesson(conn, course, slug, hidden), "lesson", slug)
    row["section"] = {"slug": row["section"], "title": row.pop("section_title"), "order": row["section_order"]}
    row["prev"] = _neighbour(row, "prev")
    row["next"] = _neighbour(row, "next")
    return row


def _neighbour(row: Row, which: str) -> Row | None:
    slug, title = row.pop(f"{which}_slug"), row.pop(f"{which}_title")
    return None if slug is None else {"slug": slug, "title": title}


def _require_course(conn: sqlite3.Connection, course: str, hidden: bool) -> None:
    if not queries.course_visible(conn, course, hidden):
        raise NotFound(f"no course {course!r}")


def project_detail(conn: sqlite3.Connection, slug: str, hidden: bool = False) -> Row:
    row = _found(queries.project(conn, slug, hidden), "project", slug)
    return {**row, "thumbnail": queries.media(conn, row["thumbnail"])}


def author_detail(conn: sqlite3.Connection, slug: str, hidden: bool = False) -> Row:
    row = _found(queries.author(conn, slug), "author", slug)
    return {**row, "avatar": queries.media(conn, row["avatar"]),
            "courses": queries.courses_by_instructor(conn, slug, hidden)}


def path_detail(conn: sqlite3.Connection, slug: str, hidden: bool = False) -> Row:
    row = _found(queries.learning_path(conn, slug, hidden), "path", slug)
    return {**row, "courses": queries.courses_by_slugs(conn, row["courses"], hidden)}


def media_detail(conn: sqlite3.Connection, media_id: str, hidden: bool = False) -> Row:
    return _found(queries.media(conn, media_id, hidden), "media", media_id)


def paths(conn: sqlite3.Connection, hidden: bool = False) -> list[Row]:
    """Learning paths, each listing only the courses the caller may see."""
    rows = queries.list_paths(conn, hidden)
    for row in rows:
        row["courses"] = [c["slug"] for c in queries.courses_by_slugs(conn, row["courses"], hidden)]
    return rows
