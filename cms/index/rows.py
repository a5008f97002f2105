"""A parsed, valid document → the rows it contributes to the index.

Pure functions of one file: its entry, its rendered body, its blob id and
dates. Figures that span files (totals, positions, prev/next) are filled
in afterwards by `cms.index.derived`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from cms.content.links import content_target, fragment, public_url
from cms.content.models import Author, Course, LearningPath, Lesson, Media, Project, Section
from cms.content.parse import Document
from cms.content.sources import Kind, Source, classify
from cms.timestamps import utc

if TYPE_CHECKING:  # the renderer (comrak, nh3) is loaded by the first file rendered, not by every run
    from cms.index.rendering import Rendered

Rows = dict[str, list[dict[str, Any]]]


class Stamp(msgspec.Struct, frozen=True):
    """What the index knows of a file beyond its text: blob id and dates."""

    version: str
    created_at: str | None
    updated_at: str | None


def to_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def render_document(document: Document) -> Rendered:
    """Render a document's body with its relative content links made public."""
    from cms.index.rendering import render

    return render(document.body, lambda target: public_link(document.source.path, target))


def public_link(from_path: str, target: str) -> str | None:
    path = content_target(from_path, target)
    if path is None:
        return None
    source = classify(path)
    if not isinstance(source, Source) or source.kind is Kind.CATEGORIES:
        return None
    anchor = fragment(target)
    return public_url(source) + (f"#h-{anchor[1:]}" if anchor else "")


def rows_for(document: Document, rendered: Rendered | None, stamp: Stamp) -> Rows:
    """Every row one valid document adds to the index."""
    entry = document.entry
    base = {"path": document.source.path, "version": stamp.version}
    dates = {"created_at": utc(stamp.created_at), "updated_at": utc(stamp.updated_at)}
    body = _body_columns(document, rendered)
    builders = {Kind.COURSE: _course, Kind.SECTION: _section, Kind.LESSON: _lesson, Kind.PROJECT: _project,
                Kind.AUTHOR: _author, Kind.PATH: _path, Kind.MEDIA: _media, Kind.CATEGORIES: _categories}
    return builders[document.source.kind](document.source, entry, {**base, **dates}, body, rendered)


def _body_columns(document: Document, rendered: Rendered | None) -> dict[str, Any]:
    if rendered is None:
        return {}
    return {"markdown": document.body, "html": rendered.html, "toc": to_json(rendered.toc)}


def _search_row(kind: str, source: Source, title: str, rendered: Rendered | None, extra: str = "",
                listed: bool | None = None) -> dict[str, Any]:
    """A search document; `listed` (published all the way up) is known here for projects only,
    and filled in for courses and lessons by `cms.index.derived`."""
    text = rendered.text if rendered else ""
    return {"kind": kind, "course": source.course or (source.slug if kind == "course" else None),
            "slug": source.slug, "path": source.path, "title": title, "body": f"{extra} {text}".strip(),
            "listed": None if listed is None else int(listed)}


def _course(source: Source, course: Course, base: dict[str, Any], body: dict[str, Any],
            rendered: Rendered | None) -> Rows:
    row = {**base, **body, "slug": source.slug, "title": course.title, "description": course.description,
           "status": course.status, "difficulty_level": course.difficulty_level, "instructor": course.instructor,
           "category": course.category, "tags": to_json(course.tags), "price": course.price or 0.0,
           "currency": course.currency, "image": course.image, "publish_at": utc(course.publish_at),
           "prerequisites": to_json(course.prerequisites)}
    return {"courses": [row], "search": [_search_row("course", source, course.title, rendered,
                                                     course.description or "")]}


def _section(source: Source, section: Section, base: dict[str, Any], body: dict[str, Any],
             rendered: Rendered | None) -> Rows:
    row = {**base, **body, "course": source.course, "slug": source.slug, "section_order": source.order,
           "title": section.title, "description": section.description, "status": section.status}
    row.pop("toc", None)
    return {"sections": [row]}


def _lesson(source: Source, lesson: Lesson, base: dict[str, Any], body: dict[str, Any],
            rendered: Rendered | None) -> Rows:
    snippets = [_snippet(source, index, video) for index, video in enumerate(lesson.videos)]
    words = rendered.words if rendered else 0
    row = {**base, **body, "course": source.course, "slug": source.slug, "section": source.section,
           "section_order": source.section_order, "lesson_order": source.order, "title": lesson.title,
           "type": lesson.type, "status": lesson.status, "description": lesson.description,
           "duration_minutes": lesson.duration_minutes, "word_count": words,
           "reading_time_minutes": _reading_time(words), "video_count": len(snippets),
           "video_seconds": sum(s["duration_seconds"] or 0 for s in snippets), "pdf_url": lesson.pdf_url,
           "objectives": to_json(lesson.objectives),
           "questions": to_json([{"prompt": q.prompt, "choices": q.choices} for q in lesson.questions]),
           "videos": to_json([{k: v for k, v in s.items() if k not in ("course", "lesson", "path")}
                              for s in snippets]),
           "ai": to_json(lesson.ai) if lesson.ai else None}
    return {"lessons": [row], "video_snippets": snippets,
            "search": [_search_row("lesson", source, lesson.title, rendered, lesson.description or "")]}


def _snippet(source: Source, index: int, video: Any) -> dict[str, Any]:
    end = video.end_time_seconds
    return {"course": source.course, "lesson": source.slug, "path": source.path, "position": index,
            "url": video.url, "description": video.description, "start_time_seconds": video.start_time_seconds,
            "end_time_seconds": end, "duration_seconds": None if end is None else end - video.start_time_seconds,
            "media": video.media}


def _project(source: Source, project: Project, base: dict[str, Any], body: dict[str, Any],
             rendered: Rendered | None) -> Rows:
    row = {**base, **body, "slug": source.slug, "title": project.title, "description": project.description,
           "status": project.status, "client_name": project.client_name, "project_type": project.project_type,
           "featured": int(project.featured), "tech_stack": to_json(project.tech_stack),
           "thumbnail": project.thumbnail, "live_demo_url": project.live_demo_url, "github_url": project.github_url}
    extra = " ".join([project.description or "", *project.tech_stack])
    return {"projects": [row], "search": [_search_row("project", source, project.title, rendered, extra,
                                                      listed=project.status == "published")]}


def _author(source: Source, author: Author, base: dict[str, Any], body: dict[str, Any],
            rendered: Rendered | None) -> Rows:
    row = {**base, **body, "slug": source.slug, "name": author.name, "avatar": author.avatar,
           "links": to_json(author.links)}
    row.pop("toc", None)
    return {"authors": [row]}


def _path(source: Source, path: LearningPath, base: dict[str, Any], body: dict[str, Any],
          rendered: Rendered | None) -> Rows:
    row = {**base, **body, "slug": source.slug, "title": path.title, "description": path.description,
           "status": path.status, "courses": to_json(path.courses)}
    links = [{"learning_path": source.slug, "path": source.path, "position": index, "course": course}
             for index, course in enumerate(path.courses)]
    return {"paths": [row], "path_courses": links}


def _media(source: Source, media: Media, base: dict[str, Any], body: dict[str, Any],
           rendered: Rendered | None) -> Rows:
    fields = msgspec.structs.asdict(media)
    row = {**base, **fields, "id": source.slug, "deleted": int(media.deleted), "uploaded_at": utc(media.uploaded_at)}
    return {"media": [row]}


def _categories(source: Source, categories: list[Any], base: dict[str, Any], body: dict[str, Any],
                rendered: Rendered | None) -> Rows:
    rows = [{"slug": c.slug, "path": source.path, "version": base["version"], "position": index, "name": c.name,
             "description": c.description} for index, c in enumerate(categories)]
    return {"categories": rows}


def _reading_time(words: int) -> int:
    from cms.index.rendering import reading_time_minutes

    return reading_time_minutes(words)
