"""Every read of the index, in one place: parameterized SQL, allow-listed sorts.

Functions take a read-only connection (`cms.read.connection`) and return
plain dicts (JSON columns decoded). Public visibility is decided at read
time (`cms.read.visibility`); `hidden=True` (admin readers) drops it.
Full-text search is in `cms.read.search`.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import msgspec

from cms.read.search import fts_or_nothing, matching
from cms.read.visibility import COURSE_VISIBLE, LESSON_VISIBLE, PUBLISHED, SECTION_VISIBLE, visible

COURSE_SORTS = {"title": "c.title COLLATE NOCASE, c.slug", "-updated_at": "c.updated_at DESC, c.slug",
                "price": "c.price, c.slug", "-price": "c.price DESC, c.slug"}
COURSE_SUMMARY = ("c.slug, c.version, c.title, c.description, c.status, c.difficulty_level, c.instructor, "
                  "c.category, c.tags, c.price, c.currency, c.image, c.publish_at, c.section_count, c.lesson_count, "
                  "c.video_count, c.video_seconds, c.duration_minutes, c.created_at, c.updated_at")
LESSON_SUMMARY = ("l.slug, l.version, l.title, l.description, l.status, l.type, l.section, l.section_order, "
                  "l.lesson_order, l.position, l.duration_minutes, l.reading_time_minutes, l.video_count, "
                  "l.video_seconds, s.title AS section_title")
SECTION_SUMMARY = ("s.slug, s.version, s.title, s.description, s.status, s.section_order, s.lesson_count, "
                   "s.video_count, s.video_seconds, s.duration_minutes")


Condition = tuple[str, str | None, Any]
"""(SQL condition, parameter name or None, value): the condition applies when the value is not None."""
ALWAYS = True


def _where(*conditions: Condition) -> tuple[str, dict[str, Any]]:
    """The conditions whose value was given, joined with AND, and their parameters."""
    given = [(sql, name, value) for sql, name, value in conditions if value is not None]
    clause = " AND ".join(["TRUE", *(sql for sql, _, _ in given)])
    return clause, {name: value for _, name, value in given if name is not None}


def _page(conn: sqlite3.Connection, columns: str, table: str, clause: str, params: dict[str, Any], order: str,
          page: int, page_size: int) -> tuple[list[dict[str, Any]], int]:
    """One page of a filtered listing, and how many rows match in all."""
    total = conn.execute(f"SELECT COUNT(*) AS n FROM {table} WHERE {clause}", params).fetchone()["n"]
    rows = conn.execute(f"SELECT {columns} FROM {table} WHERE {clause} ORDER BY {order} LIMIT :limit OFFSET :offset",
                        {**params, "limit": page_size, "offset": (page - 1) * page_size}).fetchall()
    return rows, total


class CourseFilters(msgspec.Struct, kw_only=True):
    difficulty_level: str | None = None
    category: str | None = None
    tag: str | None = None
    instructor: str | None = None
    q: str | None = None
    min_price: float | None = None
    max_price: float | None = None


def list_courses(conn: sqlite3.Connection, filters: CourseFilters, sort: str, page: int, page_size: int,
                 hidden: bool = False) -> tuple[list[dict[str, Any]], int]:
    clause, params = _course_filters(filters, hidden)
    return _page(conn, COURSE_SUMMARY, "courses c", clause, params, COURSE_SORTS[sort], page, page_size)


def list_course_documents(conn: sqlite3.Connection, filters: CourseFilters, sort: str, page: int,
                          page_size: int) -> tuple[list[dict[str, Any]], int]:
    """`list_courses` for the public as (slug, body): each course's stored summary, or None where it is missing.

    The page is found first and its summaries read after: sorting never carries their bytes.
    """
    clause, params = _course_filters(filters, False)
    rows, total = _page(conn, "c.slug", "courses c", clause, params, COURSE_SORTS[sort], page, page_size)
    among, keys = _among([f"course/{row['slug']}/summary" for row in rows])
    bodies = {row["key"]: row["body"] for row in conn.execute(f"SELECT key, body FROM documents WHERE key {among}",
                                                              keys)} if rows else {}
    return [{"slug": row["slug"], "body": bodies.get(f"course/{row['slug']}/summary")} for row in rows], total


def _course_filters(filters: CourseFilters, hidden: bool) -> tuple[str, dict[str, Any]]:
    return _where(
        (visible(COURSE_VISIBLE, hidden), None, ALWAYS),
        ("c.difficulty_level = :difficulty_level", "difficulty_level", filters.difficulty_level),
        ("c.category = :category", "category", filters.category),
        ("c.instructor = :instructor", "instructor", filters.instructor),
        ("EXISTS (SELECT 1 FROM json_each(c.tags) WHERE value = :tag)", "tag", filters.tag),
        ("c.price >= :min_price", "min_price", filters.min_price),
        ("c.price <= :max_price", "max_price", filters.max_price),
        (matching("course", "c.slug"), "q", fts_or_nothing(filters.q)))


def course(conn: sqlite3.Connection, slug: str, hidden: bool = False) -> dict[str, Any] | None:
    return conn.execute(f"SELECT {COURSE_SUMMARY}, c.markdown, c.html, c.toc, c.prerequisites FROM courses c "
                        f"WHERE c.slug = ? AND {visible(COURSE_VISIBLE, hidden)}", [slug]).fetchone()


def course_outline(conn: sqlite3.Connection, slug: str, hidden: bool = False) -> list[dict[str, Any]]:
    """Sections in order, each with its lessons in order."""
    sections = sections_of(conn, slug, hidden)
    lessons = lessons_of(conn, slug, None, hidden)
    by_section: dict[str, list[dict[str, Any]]] = {s["slug"]: [] for s in sections}
    for lesson in lessons:
        by_section.get(lesson["section"], []).append(lesson)
    return [{**section, "lessons": by_section[section["slug"]]} for section in sections]


def sections_of(conn: sqlite3.Connection, course_slug: str, hidden: bool = False) -> list[dict[str, Any]]:
    return conn.execute(f"SELECT {SECTION_SUMMARY} FROM sections s WHERE s.course = ? AND "
                        f"{visible(SECTION_VISIBLE, hidden)} ORDER BY s.section_order", [course_slug]).fetchall()


def section(conn: sqlite3.Connection, course_slug: str, slug: str, hidden: bool = False) -> dict[str, Any] | None:
    return conn.execute(f"SELECT {SECTION_SUMMARY}, s.markdown, s.html FROM sections s WHERE s.course = ? "
                        f"AND s.slug = ? AND {visible(SECTION_VISIBLE, hidden)}", [course_slug, slug]).fetchone()


def lessons_of(conn: sqlite3.Connection, course_slug: str, section_slug: str | None,
               hidden: bool = False) -> list[dict[str, Any]]:
    condition = visible(f"{LESSON_VISIBLE} AND {SECTION_VISIBLE}", hidden)
    where = "l.course = :course" + (" AND l.section = :section" if section_slug is not None else "")
    return conn.execute(f"SELECT {LESSON_SUMMARY} FROM lessons l JOIN sections s "
                        f"ON s.course = l.course AND s.slug = l.section WHERE {where} AND {condition} "
                        "ORDER BY l.position", {"course": course_slug, "section": section_slug}).fetchall()


LESSON_DETAIL = (f"SELECT {LESSON_SUMMARY}, l.course, l.pdf_url, l.objectives, l.questions, l.videos, l.ai, "
                 "l.markdown, l.html, l.toc, l.prev_slug, l.prev_title, l.next_slug, l.next_title, l.created_at, "
                 "l.updated_at, c.title AS course_title FROM lessons l "
                 "JOIN sections s ON s.course = l.course AND s.slug = l.section JOIN courses c ON c.slug = l.course")
LESSON_PUBLIC = f"{LESSON_VISIBLE} AND {SECTION_VISIBLE} AND {COURSE_VISIBLE}"


def lesson(conn: sqlite3.Connection, course_slug: str, slug: str, hidden: bool = False) -> dict[str, Any] | None:
    """One lesson with what the lesson page needs, if it and its course and section are visible."""
    return conn.execute(f"{LESSON_DETAIL} WHERE l.course = ? AND l.slug = ? AND {visible(LESSON_PUBLIC, hidden)}",
                        [course_slug, slug]).fetchone()


def lessons_by_slugs(conn: sqlite3.Connection, course_slug: str, slugs: list[str]) -> list[dict[str, Any]]:
    """The public lessons of a course among `slugs`, as `lesson` has them, in course order."""
    among, params = _among(slugs)
    return conn.execute(f"{LESSON_DETAIL} WHERE l.course = ? AND l.slug {among} AND {LESSON_PUBLIC} "
                        "ORDER BY l.position", [course_slug, *params]).fetchall()


def course_visible(conn: sqlite3.Connection, slug: str, hidden: bool = False) -> bool:
    return conn.execute(f"SELECT 1 FROM courses c WHERE c.slug = ? AND {visible(COURSE_VISIBLE, hidden)}",
                        [slug]).fetchone() is not None


def _keyed(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in rows}


def _among(keys: list[str]) -> tuple[str, list[str]]:
    """`IN (?, …)` for the distinct `keys`, and its parameters (a placeholder each: faster than json_each)."""
    distinct = sorted(set(keys))
    return f"IN ({', '.join('?' * len(distinct))})", distinct


def author_briefs(conn: sqlite3.Connection, slugs: list[str]) -> dict[str, dict[str, Any]]:
    """Authors among `slugs` as references (slug, name, avatar id), by slug."""
    among, params = _among(slugs)
    return _keyed(conn.execute(f"SELECT slug, name, avatar FROM authors WHERE slug {among}", params).fetchall(), "slug")


def category_briefs(conn: sqlite3.Connection, slugs: list[str]) -> dict[str, dict[str, Any]]:
    """Categories among `slugs` as references (slug, name), by slug."""
    among, params = _among(slugs)
    return _keyed(conn.execute(f"SELECT slug, name FROM categories WHERE slug {among}", params).fetchall(), "slug")


MEDIA_PUBLIC = ("id, version, public_id, resource_type, secure_url, format, width, height, bytes, duration_ms, "
                "alt")


def media_records(conn: sqlite3.Connection, ids: list[str], hidden: bool = False) -> dict[str, dict[str, Any]]:
    """Media records among `ids` as the public sees them (deleted ones only for `hidden`), by id."""
    condition = "TRUE" if hidden else "deleted = 0"
    among, params = _among(ids)
    return _keyed(conn.execute(f"SELECT {MEDIA_PUBLIC} FROM media WHERE id {among} AND {condition}",
                               params).fetchall(), "id")


def course_refs(conn: sqlite3.Connection, slugs: list[str], hidden: bool = False) -> dict[str, dict[str, Any]]:
    """Visible courses among `slugs` as references (slug, title), by slug."""
    among, params = _among(slugs)
    return _keyed(conn.execute(f"SELECT c.slug, c.title FROM courses c WHERE c.slug {among} AND "
                               f"{visible(COURSE_VISIBLE, hidden)}", params).fetchall(), "slug")


def media(conn: sqlite3.Connection, media_id: str, hidden: bool = False) -> dict[str, Any] | None:
    return media_records(conn, [media_id], hidden).get(media_id)


MEDIA_ADMIN = ("id, version, public_id, resource_type, secure_url, format, width, height, bytes, duration_ms, alt, "
               "deleted, uploaded_at, uploaded_by, created_at, updated_at")


class MediaFilters(msgspec.Struct, kw_only=True):
    resource_type: str | None = None
    deleted: bool | None = None
    q: str | None = None


def list_media(conn: sqlite3.Connection, filters: MediaFilters, page: int,
               page_size: int) -> tuple[list[dict[str, Any]], int]:
    """Every media record (deleted ones too, unless filtered), newest first; `q` matches id, public_id and alt."""
    like = None if filters.q is None else "%" + re.sub(r"([\\%_])", r"\\\1", filters.q) + "%"
    clause, params = _where(
        ("resource_type = :resource_type", "resource_type", filters.resource_type),
        ("deleted = :deleted", "deleted", None if filters.deleted is None else int(filters.deleted)),
        ("(id LIKE :q ESCAPE '\\' OR public_id LIKE :q ESCAPE '\\' OR alt LIKE :q ESCAPE '\\')", "q", like))
    return _page(conn, MEDIA_ADMIN, "media", clause, params, "created_at DESC, id", page, page_size)


def media_admin(conn: sqlite3.Connection, media_id: str) -> dict[str, Any] | None:
    """One media record with everything an editor sees (deleted, uploaded_at, uploaded_by, dates)."""
    return conn.execute(f"SELECT {MEDIA_ADMIN} FROM media WHERE id = ?", [media_id]).fetchone()


def media_references(conn: sqlite3.Connection, media_id: str) -> list[dict[str, Any]]:
    """Content files that name media `media_id`: `{path, field}`, by path.

    Indexed entries answer from their tables; files left out of the index with errors answer from
    the front matter the indexer remembered for them in `files`.
    """
    return conn.execute("""
        SELECT path, 'image' AS field FROM courses WHERE image = :id
        UNION SELECT path, 'avatar' FROM authors WHERE avatar = :id
        UNION SELECT path, 'thumbnail' FROM projects WHERE thumbnail = :id
        UNION SELECT path, 'videos' FROM video_snippets WHERE media = :id
        UNION SELECT f.path, CASE f.kind WHEN 'course' THEN 'image' WHEN 'author' THEN 'avatar'
                                         WHEN 'project' THEN 'thumbnail' ELSE 'videos' END
            FROM files f WHERE f.ok = 0 AND f.entry IS NOT NULL AND (
                (f.kind = 'course' AND json_extract(f.entry, '$.image') = :id)
                OR (f.kind = 'author' AND json_extract(f.entry, '$.avatar') = :id)
                OR (f.kind = 'project' AND json_extract(f.entry, '$.thumbnail') = :id)
                OR (f.kind = 'lesson' AND EXISTS (SELECT 1 FROM json_each(f.entry, '$.videos') v
                                                  WHERE json_extract(v.value, '$.media') = :id)))
        ORDER BY path, field""", {"id": media_id}).fetchall()


def courses_by_slugs(conn: sqlite3.Connection, slugs: list[str], hidden: bool = False) -> list[dict[str, Any]]:
    """Visible courses among `slugs`, in the order given."""
    rows = conn.execute(f"SELECT {COURSE_SUMMARY} FROM courses c JOIN json_each(?) j ON j.value = c.slug "
                        f"WHERE {visible(COURSE_VISIBLE, hidden)} ORDER BY j.key",
                        [msgspec.json.encode(slugs).decode()]).fetchall()
    return rows


def courses_by_instructor(conn: sqlite3.Connection, author: str, hidden: bool = False) -> list[dict[str, Any]]:
    return conn.execute(f"SELECT {COURSE_SUMMARY} FROM courses c WHERE c.instructor = ? AND "
                        f"{visible(COURSE_VISIBLE, hidden)} ORDER BY c.title COLLATE NOCASE", [author]).fetchall()


class ProjectFilters(msgspec.Struct, kw_only=True):
    project_type: str | None = None
    featured: bool | None = None
    tech: str | None = None
    q: str | None = None


PROJECT_SUMMARY = ("p.slug, p.version, p.title, p.description, p.status, p.client_name, p.project_type, "
                   "p.featured, p.tech_stack, p.thumbnail, p.live_demo_url, p.github_url, p.created_at, p.updated_at")


def list_projects(conn: sqlite3.Connection, filters: ProjectFilters, page: int, page_size: int,
                  hidden: bool = False) -> tuple[list[dict[str, Any]], int]:
    clause, params = _where(
        (visible(PUBLISHED, hidden), None, ALWAYS),
        ("p.project_type = :project_type", "project_type", filters.project_type),
        ("p.featured = :featured", "featured", None if filters.featured is None else int(filters.featured)),
        ("EXISTS (SELECT 1 FROM json_each(p.tech_stack) WHERE lower(value) = lower(:tech))", "tech", filters.tech),
        (matching("project", "p.slug"), "q", fts_or_nothing(filters.q)))
    return _page(conn, PROJECT_SUMMARY, "projects p", clause, params,
                 "p.featured DESC, p.updated_at DESC, p.slug", page, page_size)


def project(conn: sqlite3.Connection, slug: str, hidden: bool = False) -> dict[str, Any] | None:
    return conn.execute(f"SELECT {PROJECT_SUMMARY}, p.markdown, p.html, p.toc FROM projects p WHERE p.slug = ? AND "
                        f"{visible(PUBLISHED, hidden)}", [slug]).fetchone()


def list_authors(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return conn.execute("SELECT slug, version, name, avatar, links FROM authors ORDER BY name").fetchall()


def author(conn: sqlite3.Connection, slug: str) -> dict[str, Any] | None:
    return conn.execute("SELECT slug, version, name, avatar, links, markdown, html FROM authors WHERE slug = ?",
                        [slug]).fetchone()


def list_categories(conn: sqlite3.Connection, hidden: bool = False) -> list[dict[str, Any]]:
    return conn.execute(f"SELECT g.slug, g.version, g.name, g.description, (SELECT COUNT(*) FROM courses c "
                        f"WHERE c.category = g.slug AND {visible(COURSE_VISIBLE, hidden)}) AS course_count "
                        "FROM categories g ORDER BY g.position").fetchall()


def list_paths(conn: sqlite3.Connection, hidden: bool = False) -> list[dict[str, Any]]:
    return conn.execute(f"SELECT slug, version, title, description, status, courses FROM paths p WHERE "
                        f"{visible(PUBLISHED, hidden)} ORDER BY title").fetchall()


def learning_path(conn: sqlite3.Connection, slug: str, hidden: bool = False) -> dict[str, Any] | None:
    return conn.execute(f"SELECT slug, version, title, description, status, courses, markdown, html FROM paths p "
                        f"WHERE slug = ? AND {visible(PUBLISHED, hidden)}",
                        [slug]).fetchone()


def meta(conn: sqlite3.Connection) -> dict[str, str]:
    return {row["key"]: row["value"] for row in conn.execute("SELECT key, value FROM meta")}


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    """How many entries the public sees, by kind."""
    return {
        "courses": conn.execute(f"SELECT COUNT(*) AS n FROM courses c WHERE {COURSE_VISIBLE}").fetchone()["n"],
        "lessons": conn.execute(f"SELECT COUNT(*) AS n FROM lessons l JOIN sections s ON s.course = l.course AND "
                                f"s.slug = l.section JOIN courses c ON c.slug = l.course WHERE {LESSON_VISIBLE} "
                                f"AND {SECTION_VISIBLE} AND {COURSE_VISIBLE}").fetchone()["n"],
        "projects": conn.execute("SELECT COUNT(*) AS n FROM projects WHERE status = 'published'").fetchone()["n"],
        "authors": conn.execute("SELECT COUNT(*) AS n FROM authors").fetchone()["n"],
        "paths": conn.execute("SELECT COUNT(*) AS n FROM paths WHERE status = 'published'").fetchone()["n"],
        "media": conn.execute("SELECT COUNT(*) AS n FROM media WHERE deleted = 0").fetchone()["n"],
        "problems": conn.execute("SELECT COUNT(*) AS n FROM problems WHERE severity = 'error'").fetchone()["n"],
    }


def course_text(conn: sqlite3.Connection, slug: str) -> dict[str, Any] | None:
    """A course's title, summary and long description (markdown), drafts included: an AI prompt's starting point."""
    return conn.execute("SELECT slug, title, description, markdown FROM courses WHERE slug = ?", [slug]).fetchone()


def lesson_outline(conn: sqlite3.Connection, course_slug: str) -> list[dict[str, Any]]:
    """Every lesson of a course in order, drafts included, with what it covers (for scoping an AI draft)."""
    return conn.execute("SELECT slug, title, section, description, COALESCE(objectives, '[]') AS objectives "
                        "FROM lessons WHERE course = ? ORDER BY position", [course_slug]).fetchall()
