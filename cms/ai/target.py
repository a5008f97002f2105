"""What the author asks for, and where the lesson goes: decided from HEAD, the commit the branch starts from.

A new lesson ends its section, numbered after every lesson committed or on
disk there, with a slug no other lesson of the course has; a regenerated
lesson keeps its path and its front matter.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath
from typing import Any

import msgspec

from cms.content.corpus import ContentTree
from cms.content.frontmatter import load_markdown
from cms.content.models import SLUG_MAX
from cms.content.numbering import numbered_name
from cms.content.sources import Kind, Source, classify, is_ignored, slug_problem
from cms.errors import ContentError, InvalidInput, NotFound
from cms.repo.repository import GitRepo

MAX_BRIEF = 4000


class DraftRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A new lesson (`section` and `title`), or `lesson` to regenerate an existing one; `brief` is optional."""

    course: str
    section: str | None = None
    title: str | None = None
    brief: str | None = None
    lesson: str | None = None


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """Where the drafted lesson goes, and the front matter it keeps (a regenerated lesson keeps its own)."""

    course: str
    section: str
    slug: str
    path: str
    title: str
    fields: dict[str, Any]
    existing: bool


def check_request(request: DraftRequest) -> None:
    """Every rule the request breaks, at once (422), before anything is asked of git or Gemini."""
    problems: dict[str, str] = {}
    for field in ("course", "section", "lesson"):
        value = getattr(request, field)
        if value is not None and slug_problem(value, "(request)", field) is not None:
            problems[field] = "must be a slug (lowercase a-z and 0-9 words joined by single hyphens)"
    if request.lesson is not None:
        problems.update({field: "leave it out when regenerating an existing lesson"
                         for field in ("section", "title") if getattr(request, field) is not None})
    else:
        problems.update({field: "is required for a new lesson (or give `lesson` to regenerate one)"
                         for field in ("section", "title") if getattr(request, field) is None})
    if request.title is not None and not 1 <= len(request.title.strip()) <= 255:
        problems["title"] = "must be 1 to 255 characters"
    if request.brief is not None and len(request.brief) > MAX_BRIEF:
        problems["brief"] = f"must be at most {MAX_BRIEF} characters"
    if problems:
        raise InvalidInput(problems)


def locate(repo: GitRepo, tree: ContentTree, request: DraftRequest) -> Target:
    at_head = _sources_at_head(repo, tree, request.course)
    if not any(source.kind is Kind.COURSE for source in at_head):
        raise NotFound(f"no course {request.course!r} in the last commit")
    if request.lesson is not None:
        return _existing_target(repo, tree, at_head, request.course, request.lesson)
    assert request.section is not None and request.title is not None
    return _new_target(tree, at_head, request.course, request.section, request.title.strip())


def _new_target(tree: ContentTree, at_head: list[Source], course: str, section: str, title: str) -> Target:
    """The next lesson of the section; order and slug clash with nothing committed or on disk."""
    folder = next((s.section_dir for s in at_head if s.kind is Kind.SECTION and s.slug == section), None)
    if folder is None:
        raise NotFound(f"course {course!r} has no section {section!r} in the last commit")
    lessons = [s for s in [*at_head, *_sources_on_disk(tree, course)] if s.kind is Kind.LESSON]
    slug = _unique(slug_from_title(title), {s.slug for s in lessons})
    siblings = [PurePosixPath(s.path).stem for s in lessons if s.section_dir == folder]
    return Target(course=course, section=section, slug=slug, path=f"{folder}/{numbered_name(slug, siblings)}.md",
                  title=title, fields={"title": title}, existing=False)


def _existing_target(repo: GitRepo, tree: ContentTree, at_head: list[Source], course: str, lesson: str) -> Target:
    """The lesson as HEAD has it: same path, same front matter (the body is what gets replaced)."""
    source = next((s for s in at_head if s.kind is Kind.LESSON and s.slug == lesson), None)
    if source is None:
        raise NotFound(f"course {course!r} has no lesson {lesson!r} in the last commit")
    label = tree.label(source.path)
    loaded = load_markdown(repo.run_bytes("cat-file", "blob", f"HEAD:{label}"), label)
    title = loaded.data.get("title") if isinstance(loaded.data, dict) else None
    if not isinstance(title, str) or loaded.problems:
        raise ContentError(f"{label} cannot be regenerated until its front matter is fixed", loaded.problems)
    return Target(course=course, section=source.section or "", slug=lesson, path=source.path, title=title,
                  fields=dict(loaded.data), existing=True)


def _sources_at_head(repo: GitRepo, tree: ContentTree, course: str) -> list[Source]:
    listing = repo.run("ls-tree", "-r", "-z", "--name-only", "HEAD", "--", f"{tree.prefix}courses/{course}/")
    paths = [path.removeprefix(tree.prefix) for path in listing.split("\0") if path]
    return _sources(paths)


def _sources_on_disk(tree: ContentTree, course: str) -> list[Source]:
    folder = tree.content_dir / "courses" / course
    paths = [p.relative_to(tree.content_dir).as_posix() for p in folder.rglob("*.md")] if folder.is_dir() else []
    return _sources(paths)


def _sources(paths: list[str]) -> list[Source]:
    found = (classify(path) for path in paths if not is_ignored(path))
    return [source for source in found if isinstance(source, Source)]


def slug_from_title(title: str) -> str:
    """A lesson slug from its title: ASCII words joined by hyphens, with room left for a `-2` suffix."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    slug = ""
    for word in re.findall(r"[a-z0-9]+", text):
        candidate = f"{slug}-{word}" if slug else word[:SLUG_MAX - 4]
        if len(candidate) > SLUG_MAX - 4:
            break
        slug = candidate
    return slug or "lesson"


def _unique(slug: str, taken: set[str]) -> str:
    number = 2
    candidate = slug
    while candidate in taken:
        candidate = f"{slug}-{number}"
        number += 1
    return candidate
