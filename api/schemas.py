"""Wire shapes of the read API: what clients receive, kept apart from the content models.

Every entry carries `version`, the git blob id of its file (what writes
send back in `If-Match`). Author emails and quiz answers have no field
here, so they cannot leak.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

import msgspec

T = TypeVar("T")


def to_wire(data: Any, shape: type[T]) -> T:
    """Rows from the index as a response shape (SQLite's 0/1 become booleans)."""
    return msgspec.convert(data, shape, strict=False)


class Wire(msgspec.Struct, kw_only=True):
    """Base of every response shape."""


class MediaOut(Wire, kw_only=True):
    id: str
    version: str
    public_id: str
    resource_type: str
    secure_url: str
    format: str | None = None
    width: int | None = None
    height: int | None = None
    bytes: int | None = None
    duration_ms: int | None = None
    alt: str | None = None


class MediaAdminOut(MediaOut, kw_only=True):
    """A media record as editors see it: deleted ones too, with who uploaded it and when."""

    deleted: bool
    uploaded_at: str | None = None
    uploaded_by: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class AuthorBrief(Wire, kw_only=True):
    slug: str
    name: str
    avatar: MediaOut | None = None


class CategoryBrief(Wire, kw_only=True):
    slug: str
    name: str


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
    instructor: str | None
    category: str | None
    tags: list[str]
    price: float
    currency: str
    image: str | None
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
    section: str
    section_order: int
    lesson_order: int
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
    section_order: int
    lesson_count: int
    video_count: int
    video_seconds: int
    duration_minutes: int


class SectionOutline(SectionSummary, kw_only=True):
    lessons: list[LessonSummary]


class SectionDetail(SectionOutline, kw_only=True):
    html: str


class CourseRef(Wire, kw_only=True):
    slug: str
    title: str


class CourseDetail(CourseSummary, kw_only=True):
    html: str
    toc: list[TocEntry]
    prerequisites: list[CourseRef]
    instructor: AuthorBrief | None  # type: ignore[assignment]
    category: CategoryBrief | None  # type: ignore[assignment]
    image: MediaOut | None  # type: ignore[assignment]
    sections: list[SectionOutline]


class VideoOut(Wire, kw_only=True):
    position: int
    url: str
    description: str | None = None
    start_time_seconds: int
    end_time_seconds: int | None = None
    duration_seconds: int | None = None
    media: str | None = None


class QuestionOut(Wire, kw_only=True):
    prompt: str
    choices: list[str]


class LessonRef(Wire, kw_only=True):
    slug: str
    title: str


class SectionRef(Wire, kw_only=True):
    slug: str
    title: str
    order: int


class LessonDetail(LessonSummary, kw_only=True):
    course: str
    pdf_url: str | None
    objectives: list[str]
    questions: list[QuestionOut]
    videos: list[VideoOut]
    ai: dict[str, Any] | None
    markdown: str
    html: str
    toc: list[TocEntry]
    section: SectionRef  # type: ignore[assignment]
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
    thumbnail: str | None
    live_demo_url: str | None
    github_url: str | None
    created_at: str | None
    updated_at: str | None


class ProjectDetail(ProjectSummary, kw_only=True):
    html: str
    toc: list[TocEntry]
    thumbnail: MediaOut | None  # type: ignore[assignment]


class AuthorLinkOut(Wire, kw_only=True):
    label: str
    url: str


class AuthorSummary(Wire, kw_only=True):
    slug: str
    version: str
    name: str
    avatar: str | None
    links: list[AuthorLinkOut]


class AuthorDetail(AuthorSummary, kw_only=True):
    html: str
    avatar: MediaOut | None  # type: ignore[assignment]
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
    courses: list[str]


class PathDetail(PathSummary, kw_only=True):
    html: str
    courses: list[CourseSummary]  # type: ignore[assignment]


class SearchHit(Wire, kw_only=True):
    kind: Literal["course", "lesson", "project"]
    slug: str
    course: str | None
    title: str
    snippet: str
    score: float


class Page(Wire, Generic[T], kw_only=True):
    items: list[T]
    total: int
    page: int
    page_size: int


class Meta(Wire, kw_only=True):
    commit: str | None
    built_at: str | None
    schema_version: str | None
    counts: dict[str, int]


class Health(Wire, kw_only=True):
    status: Literal["ok", "degraded"]
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
