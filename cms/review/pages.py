"""Preview pages: one ref of the content as a site would show it to people, and the links that open them.

    page_path(text)         → "/courses", "/courses/<course>" or "/courses/<course>/lessons/<lesson>" (checked)
    make_link(...)          → PreviewLink: a signed address of one page of one ref, until a moment
    courses_page / course_page / lesson_page(conn, …) → the page models templates render

The models are built from the read layer (`cms.read.views`) with hidden entries shown: a preview is for
reviewers, who must see the drafts. Quiz questions carry their prompt and choices only, as the read layer
serves them: answers and explanations never reach a page. Bodies are the index's HTML, sanitized when the
index was built.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import msgspec

from cms.errors import InvalidInput
from cms.read import queries, views
from cms.review import links

PREVIEW_PARAM = "preview"
"""The query parameter holding a preview link's token (`?ref=<ref>&preview=<token>`)."""
PAGES_PREFIX = "/preview"
_SLUG = r"[a-z0-9]+(?:-[a-z0-9]+)*"
_PAGE_PATH = re.compile(rf"/courses(?:/({_SLUG})(?:/lessons/({_SLUG}))?)?")


class PreviewLink(msgspec.Struct, frozen=True, kw_only=True):
    """A signed page address for one ref: what `POST /preview-links` answers."""

    url: str
    ref: str
    commit: str
    expires_at: str


class Neighbour(msgspec.Struct, frozen=True):
    slug: str
    title: str


class LessonItem(msgspec.Struct, frozen=True, kw_only=True):
    slug: str
    title: str
    status: str
    duration_minutes: int | None


class SectionItem(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    description: str | None
    status: str
    lessons: list[LessonItem]


class CoursePage(msgspec.Struct, frozen=True, kw_only=True):
    slug: str
    title: str
    description: str | None
    status: str
    html: str
    sections: list[SectionItem]


class CourseItem(msgspec.Struct, frozen=True, kw_only=True):
    slug: str
    title: str
    description: str | None
    status: str


class Video(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    description: str | None
    start_time_seconds: int | None
    end_time_seconds: int | None


class Question(msgspec.Struct, frozen=True, kw_only=True):
    """A quiz question as a page shows it: never its answer or explanation."""

    prompt: str
    choices: list[str]


class LessonPage(msgspec.Struct, frozen=True, kw_only=True):
    course: Neighbour
    section: str
    slug: str
    title: str
    description: str | None
    status: str
    objectives: list[str]
    html: str
    videos: list[Video]
    questions: list[Question]
    prev: Neighbour | None
    next: Neighbour | None


def page_path(text: str | None) -> str:
    """A page's path under /preview, checked: the course list (the default), a course, or a lesson."""
    path = "/courses" if text is None else text.removeprefix(PAGES_PREFIX)
    if not _PAGE_PATH.fullmatch(path):
        raise InvalidInput({"path": "must be /courses, /courses/<course> or /courses/<course>/lessons/<lesson> "
                                    "(slugs: lowercase words joined by hyphens)"})
    return path


def page_query(ref: str | None, token: str | None) -> str:
    """The query that keeps a page on its ref (and link) as a reader follows the page's own links."""
    pairs = [(name, value) for name, value in (("ref", ref), (PREVIEW_PARAM, token)) if value is not None]
    return f"?{urlencode(pairs, quote_via=quote, safe='/')}" if pairs else ""


def make_link(secret_key: str, base_url: str, ref: str, commit: str, path: str | None = None,
              seconds: int = links.DEFAULT_SECONDS) -> PreviewLink:
    """A link to the page at `path` (default: the course list) of `ref`, signed for `seconds`."""
    token = links.sign(secret_key, ref, seconds)
    expires = links.verify(secret_key, token).expires
    url = f"{base_url.rstrip('/')}{PAGES_PREFIX}{page_path(path)}{page_query(ref, token)}"
    return PreviewLink(url=url, ref=ref, commit=commit,
                       expires_at=datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z"))


def courses_page(conn: sqlite3.Connection) -> list[CourseItem]:
    """Every course of the ref, drafts included, by title."""
    rows, _ = queries.list_courses(conn, queries.CourseFilters(), "title", 1, 10_000, True)
    return [_item(row, CourseItem) for row in rows]


def course_page(conn: sqlite3.Connection, course: str) -> CoursePage:
    """The course's outline: its description, then its sections with their lessons, in order."""
    row = views.course_detail(conn, course, hidden=True)
    sections = [SectionItem(title=section["title"], description=section["description"], status=section["status"],
                            lessons=[_item(lesson, LessonItem) for lesson in section["lessons"]])
                for section in row["sections"]]
    return CoursePage(slug=row["slug"], title=row["title"], description=row["description"], status=row["status"],
                      html=row["html"], sections=sections)


def lesson_page(conn: sqlite3.Connection, course: str, lesson: str) -> LessonPage:
    """The lesson as a site would show it: body, videos, quiz questions (without answers), prev and next."""
    row = views.lesson_detail(conn, course, lesson, hidden=True)
    before, after = _neighbours(conn, course, lesson)
    return LessonPage(
        course=Neighbour(**row["course"]), section=row["section"]["title"], slug=row["slug"], title=row["title"],
        description=row["description"], status=row["status"], objectives=row["objectives"], html=row["html"],
        videos=[_item(video, Video) for video in row["videos"]],
        questions=[_item(question, Question) for question in row["questions"]],
        prev=before, next=after)


def _item(row: dict[str, Any], shape: type[Any]) -> Any:
    return shape(**{name: row[name] for name in shape.__struct_fields__})


def _neighbours(conn: sqlite3.Connection, course: str, lesson: str) -> tuple[Neighbour | None, Neighbour | None]:
    """The lessons before and after `lesson` in course order, drafts included: the index's own prev and next
    count published lessons only (what readers see), and a preview shows the drafts in their places."""
    ordered = [Neighbour(slug=row["slug"], title=row["title"]) for row in views.lessons(conn, course, None, True)]
    at = next(index for index, item in enumerate(ordered) if item.slug == lesson)
    return (ordered[at - 1] if at > 0 else None), (ordered[at + 1] if at + 1 < len(ordered) else None)
