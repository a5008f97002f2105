"""`cms new`: start a course, section, lesson or project as a file that validates.

Sections and lessons are numbered next in line after their siblings.
Nothing is overwritten, and slugs are checked before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from cms.content.frontmatter import dump_markdown
from cms.content.models import Title
from cms.content.numbering import numbered_children, numbered_name
from cms.content.sources import slug_problem
from cms.errors import CmsError, Conflict, NotFound


def new_course(content_dir: Path, slug: str, title: str) -> Path:
    _check_slug(slug, "course")
    _check_title(title)
    return _write(content_dir / "courses" / slug / "course.md",
                  {"title": title, "status": "draft"}, f"{title} is a new course. Describe it here.\n")


def new_section(content_dir: Path, course: str, slug: str, title: str) -> Path:
    _check_slug(slug, "section")
    _check_title(title)
    course_dir = _course_dir(content_dir, course)
    if _find_ordered(course_dir, slug, folders=True) is not None:
        raise Conflict(f"course {course!r} already has a section {slug!r}")
    folder = course_dir / _next_name(course_dir, slug, folders=True)
    return _write(folder / "section.md", {"title": title}, "")


def new_lesson(content_dir: Path, course: str, section: str, slug: str, title: str) -> Path:
    _check_slug(slug, "lesson")
    _check_title(title)
    course_dir = _course_dir(content_dir, course)
    section_dir = _find_ordered(course_dir, section, folders=True)
    if section_dir is None:
        raise NotFound(f"course {course!r} has no section {section!r}")
    if any(_find_ordered(folder, slug, folders=False) for folder in course_dir.iterdir() if folder.is_dir()):
        raise Conflict(f"course {course!r} already has a lesson {slug!r}")
    path = section_dir / f"{_next_name(section_dir, slug, folders=False)}.md"
    return _write(path, {"title": title, "type": "text", "status": "draft"}, f"## {title}\n\nWrite the lesson here.\n")


def new_project(content_dir: Path, slug: str, title: str) -> Path:
    _check_slug(slug, "project")
    _check_title(title)
    return _write(content_dir / "projects" / f"{slug}.md", {"title": title, "status": "draft"},
                  "## The problem\n\n## The approach\n\n## The result\n")


def _check_slug(slug: str, what: str) -> None:
    problem = slug_problem(slug, slug, what)
    if problem is not None:
        raise CmsError(problem.describe())


def _check_title(title: str) -> None:
    """The title goes into the new file: it must pass the model, or the file would not validate."""
    try:
        msgspec.convert(title, Title)
    except msgspec.ValidationError:
        raise CmsError(f"a title has 1 to 255 characters, found {len(title)}") from None


def _course_dir(content_dir: Path, course: str) -> Path:
    folder = content_dir / "courses" / course
    if not (folder / "course.md").is_file():
        raise NotFound(f"no course {course!r} (expected {folder / 'course.md'})")
    return folder


def _find_ordered(folder: Path, slug: str, folders: bool) -> Path | None:
    return next((child for _, found, child in numbered_children(folder, folders) if found == slug), None)


def _next_name(folder: Path, slug: str, folders: bool) -> str:
    return numbered_name(slug, [child.name for _, _, child in numbered_children(folder, folders)])


def _write(path: Path, data: dict[str, object], body: str) -> Path:
    if path.exists():
        raise Conflict(f"{path} already exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_markdown(data, body), encoding="utf-8")
    return path
