"""The content model: one msgspec Struct per kind of file, with its constraints.

These definitions are the single source of truth. Parsing converts front
matter into them, `content.schema.json` is generated from them, and the
write path builds files from them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

END = r"(?![\s\S])"
"""The very end of the text. A pattern's `$` also matches before a final newline in Python (not in
JSON Schema's ECMA dialect), so `"intro\n"` would pass as a slug; this reads the same in both."""
SLUG_PATTERN = rf"^[a-z0-9]+(-[a-z0-9]+)*{END}"
SLUG_MAX = 80
HTTPS_PATTERN = rf"^https://[^\s/?#]+[^\s]*{END}"
CURRENCY_PATTERN = rf"^[A-Z]{{3}}{END}"
EMAIL_PATTERN = rf"^[^@\s]+@[^@\s]+\.[^@\s]+{END}"
SHA256_PATTERN = rf"^[0-9a-f]{{64}}{END}"
PATTERN_MEANINGS = {
    SLUG_PATTERN: "a slug (lowercase a-z and 0-9 words joined by single hyphens)",
    HTTPS_PATTERN: "an https:// URL",
    CURRENCY_PATTERN: "a 3-letter ISO 4217 currency code such as USD",
    EMAIL_PATTERN: "an email address",
    SHA256_PATTERN: "a SHA-256 hex digest",
}

Slug = Annotated[str, msgspec.Meta(
    pattern=SLUG_PATTERN, max_length=SLUG_MAX,
    description="lowercase letters and digits in words joined by single hyphens, at most 80 characters")]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Summary = Annotated[str, msgspec.Meta(max_length=500)]
HttpsUrl = Annotated[str, msgspec.Meta(pattern=HTTPS_PATTERN, max_length=2048,
                                       description="an https:// URL")]
Timestamp = Annotated[datetime, msgspec.Meta(tz=True, description="RFC 3339 date and time with a time zone",
                                             extra_json_schema={"format": "date-time"})]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
Currency = Annotated[str, msgspec.Meta(pattern=CURRENCY_PATTERN, description="ISO 4217 currency code")]
Email = Annotated[str, msgspec.Meta(pattern=EMAIL_PATTERN, max_length=254)]
Sha256 = Annotated[str, msgspec.Meta(pattern=SHA256_PATTERN)]

CourseStatus = Literal["draft", "published", "archived"]
EntryStatus = Literal["draft", "published"]
Difficulty = Literal["beginner", "intermediate", "advanced"]
LessonType = Literal["text", "video", "pdf", "quiz"]
ResourceType = Literal["image", "video", "raw"]


class Model(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Base of every content model: unknown keys are errors, defaults are not written out."""


class Course(Model, kw_only=True):
    """A course: `courses/<course>/course.md`. The body is the long description."""

    title: Title
    description: Summary | None = None
    status: CourseStatus = "draft"
    difficulty_level: Difficulty | None = None
    instructor: Slug | None = None
    category: Slug | None = None
    tags: list[Slug] = []
    price: Annotated[float, msgspec.Meta(ge=0)] | None = None
    currency: Currency = "USD"
    image: Slug | None = None
    publish_at: Timestamp | None = None
    prerequisites: list[Slug] = []


class Section(Model, kw_only=True):
    """A section: `courses/<course>/<NN>-<section>/section.md`."""

    title: Title
    description: Summary | None = None
    status: EntryStatus = "published"


class VideoSnippet(Model, kw_only=True):
    """A part of a video shown with a lesson."""

    url: HttpsUrl
    description: Summary | None = None
    start_time_seconds: NonNegativeInt = 0
    end_time_seconds: PositiveInt | None = None
    media: Slug | None = None


class Question(Model, kw_only=True):
    """A quiz question; `answer` is the index of the right choice and is never served."""

    prompt: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    choices: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=500)]], msgspec.Meta(min_length=2)]
    answer: NonNegativeInt
    explanation: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class AiProvenance(Model, kw_only=True):
    """Written by the AI step: which model drafted the lesson, from which prompt, and who reviewed it."""

    model: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    prompt_sha256: Sha256
    generated_at: Timestamp
    reviewed_by: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class Lesson(Model, kw_only=True):
    """A lesson: `courses/<course>/<NN>-<section>/<NN>-<lesson>.md`."""

    title: Title
    type: LessonType = "text"
    status: EntryStatus = "published"
    description: Summary | None = None
    videos: list[VideoSnippet] = []
    pdf_url: HttpsUrl | None = None
    duration_minutes: NonNegativeInt | None = None
    objectives: list[Annotated[str, msgspec.Meta(min_length=1, max_length=500)]] = []
    questions: list[Question] = []
    ai: AiProvenance | None = None


class Project(Model, kw_only=True):
    """A portfolio project: `projects/<project>.md`. The body is the project detail."""

    title: Title
    description: Summary | None = None
    status: EntryStatus = "draft"
    client_name: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    project_type: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    featured: bool = False
    tech_stack: list[Annotated[str, msgspec.Meta(min_length=1, max_length=50)]] = []
    thumbnail: Slug | None = None
    live_demo_url: HttpsUrl | None = None
    github_url: HttpsUrl | None = None


class AuthorLink(Model, kw_only=True):
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    url: HttpsUrl


class Author(Model, kw_only=True):
    """An instructor or author: `authors/<author>.md`. The body is the bio; `email` is never served."""

    name: Title
    email: Email | None = None
    avatar: Slug | None = None
    links: list[AuthorLink] = []


class LearningPath(Model, kw_only=True):
    """A learning path: `paths/<path>.md`, an ordered list of courses."""

    title: Title
    courses: Annotated[list[Slug], msgspec.Meta(min_length=1)]
    description: Summary | None = None
    status: EntryStatus = "draft"


class Media(Model, kw_only=True):
    """A media asset record: `media/<media-id>.yml`, written by the media commands."""

    public_id: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    resource_type: ResourceType
    secure_url: HttpsUrl
    format: Annotated[str, msgspec.Meta(max_length=20)] | None = None
    width: PositiveInt | None = None
    height: PositiveInt | None = None
    bytes: NonNegativeInt | None = None
    duration_ms: NonNegativeInt | None = None
    alt: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    deleted: bool = False
    uploaded_at: Timestamp | None = None
    uploaded_by: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class Category(Model, kw_only=True):
    slug: Slug
    name: Title
    description: Summary | None = None


Categories = list[Category]
"""`categories.yml`: the category list."""

Entry = Course | Section | Lesson | Project | Author | LearningPath | Media
