"""Wire shapes of the read API: what clients receive, kept apart from the content models.

Every entry carries `version`, the git blob id of its file (what writes
send back in `If-Match`). Author emails and quiz answers have no field
here, so they cannot leak.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import msgspec

T = TypeVar("T")


def to_wire(data: Any, shape: type[T]) -> T:
    """Rows from the index as a response shape (SQLite's 0/1 become booleans)."""
    return msgspec.convert(data, shape, strict=False)


class Wire(msgspec.Struct, kw_only=True):
    """Base of every response shape."""


class MediaOut(Wire, kw_only=True):
    """A media record wherever it appears (a course's `image`, an author's `avatar`, a video's `media`, …)."""

    id: str
    version: str
    public_id: str
    resource_type: str
    secure_url: str
    format: str | None
    width: int | None
    height: int | None
    bytes: int | None
    duration_ms: int | None
    alt: str | None


class MediaAdminOut(MediaOut, kw_only=True):
    """A media record as editors see it: deleted ones too, with who uploaded it and when."""

    deleted: bool
    uploaded_at: str | None = None
    uploaded_by: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class AuthorBrief(Wire, kw_only=True):
    """An author wherever an entry names one (a course's `instructor`)."""

    slug: str
    name: str
    avatar: MediaOut | None


class CategoryBrief(Wire, kw_only=True):
    """A category wherever an entry names one (a course's `category`)."""

    slug: str
    name: str


class CourseRef(Wire, kw_only=True):
    """A course wherever an entry names one (prerequisites, a lesson's course, a search hit's course)."""

    slug: str
    title: str


class SectionRef(Wire, kw_only=True):
    """A section wherever a lesson names it."""

    slug: str
    title: str
    order: int


class LessonRef(Wire, kw_only=True):
    slug: str
    title: str


class TocEntry(Wire, kw_only=True):
    level: int
    id: str
    title: str


class CourseSummary(Wire, kw_only=True):
    slug: str
    version: str
    title: str
    description: str | None
    status: str
    difficulty_level: str | None
    instructor: AuthorBrief | None
    category: CategoryBrief | None
    tags: list[str]
    price: float
    currency: str
    image: MediaOut | None
    publish_at: str | None
    section_count: int
    lesson_count: int
    video_count: int
    video_seconds: int
    duration_minutes: int
    created_at: str | None
    updated_at: str | None


class LessonSummary(Wire, kw_only=True):
    slug: str
    version: str
    title: str
    description: str | None
    status: str
    type: str
    section: SectionRef
    order: int
    duration_minutes: int | None
    reading_time_minutes: int
    video_count: int
    video_seconds: int


class SectionSummary(Wire, kw_only=True):
    slug: str
    version: str
    title: str
    description: str | None
    status: str
    order: int
    lesson_count: int
    video_count: int
    video_seconds: int
    duration_minutes: int


class SectionOutline(SectionSummary, kw_only=True):
    lessons: list[LessonSummary]


class SectionDetail(SectionOutline, kw_only=True):
    body: str
    html: str


class CourseDetail(CourseSummary, kw_only=True):
    body: str
    html: str
    toc: list[TocEntry]
    prerequisites: list[CourseRef]
    sections: list[SectionOutline]


class VideoOut(Wire, kw_only=True):
    position: int
    url: str
    description: str | None
    start_time_seconds: int
    end_time_seconds: int | None
    duration_seconds: int | None
    media: MediaOut | None


class QuestionOut(Wire, kw_only=True):
    prompt: str
    choices: list[str]


class LessonDetail(LessonSummary, kw_only=True):
    course: CourseRef
    pdf_url: str | None
    objectives: list[str]
    questions: list[QuestionOut]
    videos: list[VideoOut]
    ai: dict[str, Any] | None
    body: str
    html: str
    toc: list[TocEntry]
    prev: LessonRef | None
    next: LessonRef | None
    created_at: str | None
    updated_at: str | None


class ProjectSummary(Wire, kw_only=True):
    slug: str
    version: str
    title: str
    description: str | None
    status: str
    client_name: str | None
    project_type: str | None
    featured: bool
    tech_stack: list[str]
    thumbnail: MediaOut | None
    live_demo_url: str | None
    github_url: str | None
    created_at: str | None
    updated_at: str | None


class ProjectDetail(ProjectSummary, kw_only=True):
    body: str
    html: str
    toc: list[TocEntry]


class AuthorLinkOut(Wire, kw_only=True):
    label: str
    url: str


class AuthorSummary(Wire, kw_only=True):
    slug: str
    version: str
    name: str
    avatar: MediaOut | None
    links: list[AuthorLinkOut]


class AuthorDetail(AuthorSummary, kw_only=True):
    body: str
    html: str
    courses: list[CourseSummary]


class CategoryOut(Wire, kw_only=True):
    slug: str
    version: str
    name: str
    description: str | None
    course_count: int


class PathSummary(Wire, kw_only=True):
    slug: str
    version: str
    title: str
    description: str | None
    status: str
    courses: list[CourseSummary]


class PathDetail(PathSummary, kw_only=True):
    body: str
    html: str


class SearchHit(Wire, kw_only=True):
    kind: Literal["course", "lesson", "project"]
    slug: str
    course: CourseRef | None
    """The lesson's course (None for courses and projects)."""
    title: str
    path: str
    """Where the hit lives on the public site: `/courses/<c>`, `/courses/<c>/lessons/<l>`, `/projects/<p>`."""
    snippet: str
    score: float
    """Relevance: higher is better."""


class HistoryEntry(Wire, kw_only=True):
    """A commit that touched an entry's file: its id, its author's name (never the email), date and subject."""

    commit: str
    author: str
    date: str
    message: str


class Page(Wire, kw_only=True):
    """One page of a listing: `items`, how many there are in all (`total`), and which `page` of what `page_size`
    this is. Every list the API answers is one, with `Link` to the next and previous pages."""


def _page(name: str, item: type[Wire]) -> type[Page]:
    """The page of `item`s: a concrete class, so the OpenAPI document names it (`CoursePage`)."""
    fields = [("items", list[item]), ("total", int), ("page", int), ("page_size", int)]  # type: ignore[valid-type]
    page = msgspec.defstruct(name, fields, bases=(Page,), kw_only=True, module=__name__)
    page.__doc__ = f"One page of {item.__name__} items, with how many there are in all."
    return page


CoursePage = _page("CoursePage", CourseSummary)
SectionPage = _page("SectionPage", SectionSummary)
LessonPage = _page("LessonPage", LessonSummary)
ProjectPage = _page("ProjectPage", ProjectSummary)
AuthorPage = _page("AuthorPage", AuthorSummary)
CategoryPage = _page("CategoryPage", CategoryOut)
PathPage = _page("PathPage", PathSummary)
SearchPage = _page("SearchPage", SearchHit)
MediaPage = _page("MediaPage", MediaAdminOut)
HistoryPage = _page("HistoryPage", HistoryEntry)


class Meta(Wire, kw_only=True):
    commit: str | None
    built_at: str | None
    schema_version: str | None
    counts: dict[str, int]


class Health(Wire, kw_only=True):
    status: Literal["ok", "degraded"]
    problems: int
    """Errors the index holds: files left out of it because they do not validate."""
    index_commit: str | None
    repository_head: str | None
    commits_behind: int | None
    built_at: str | None


class ProblemOut(Wire, kw_only=True, omit_defaults=True):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None
