"""Where content lives: which file is which kind of entry, by its path alone.

`classify` turns a path relative to the content directory into a `Source`
(kind, slugs, order numbers) or a naming problem; `walk` lists a content
directory without following symlinks and without the editors' debris.
Both the validator and the git-driven indexer use this one mapping.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path

import msgspec

from cms.content.models import SLUG_MAX, SLUG_PATTERN
from cms.content.numbering import split_numbered
from cms.problems import Problem

_SLUG = re.compile(SLUG_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""Control characters (Unicode category Cc): a newline or escape in a file name breaks tools and terminals."""
_DEBRIS_SUFFIXES = ("~", ".swp", ".tmp")
CONTENT_SUFFIXES = (".md", ".yml")


class Kind(StrEnum):
    COURSE = "course"
    SECTION = "section"
    LESSON = "lesson"
    PROJECT = "project"
    AUTHOR = "author"
    PATH = "path"
    MEDIA = "media"
    CATEGORIES = "categories"


FLAT_KINDS = {"projects": (Kind.PROJECT, ".md"), "authors": (Kind.AUTHOR, ".md"),
              "paths": (Kind.PATH, ".md"), "media": (Kind.MEDIA, ".yml")}


class Source(msgspec.Struct, frozen=True, kw_only=True):
    """A content file identified by its place in the tree."""

    kind: Kind
    path: str
    slug: str = ""
    course: str | None = None
    section: str | None = None
    section_order: int | None = None
    order: int | None = None

    @property
    def section_dir(self) -> str | None:
        """The section folder this file belongs to (sections and lessons)."""
        if self.kind in (Kind.SECTION, Kind.LESSON):
            return self.path.rpartition("/")[0]
        return None


def is_debris(name: str) -> bool:
    """Editor and tool leftovers: ignored everywhere, never an error."""
    return name.startswith((".", "_")) or name.endswith(_DEBRIS_SUFFIXES)


def is_ignored(path: str) -> bool:
    """Whether any part of a content-relative path is debris (checked per part only when it could be)."""
    if not (path.startswith((".", "_")) or "/." in path or "/_" in path or "~" in path or ".sw" in path
            or ".tmp" in path):
        return False
    return any(is_debris(part) for part in path.split("/"))


WINDOWS_RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"com{n}" for n in range(1, 10)),
                              *(f"lpt{n}" for n in range(1, 10))})
"""Names Windows reserves for devices: no file or folder may have them (with any extension), so git cannot
check such a file out there, and authors clone on Windows."""


def slug_problem(slug: str, path: str, what: str) -> Problem | None:
    """A problem when `slug` does not follow the slug grammar or is a name Windows reserves."""
    if slug in WINDOWS_RESERVED:
        return Problem(file=path, rule="reserved-name", field="slug",
                       message=f"{what} slug {slug!r} is a device name Windows reserves: no file there may be named "
                               "so, and the content could not be checked out on Windows",
                       expected="a slug other than con, prn, aux, nul, com1 to com9 and lpt1 to lpt9", found=repr(slug))
    if _SLUG.match(slug) and len(slug) <= SLUG_MAX:
        return None
    return Problem(file=path, rule="slug", field="slug",
                   message=f"{what} slug {slug!r} is not a valid slug",
                   expected=f"lowercase words of a-z and 0-9 joined by single hyphens, at most {SLUG_MAX} characters",
                   found=repr(slug) if len(slug) <= SLUG_MAX else f"{len(slug)} characters")


@functools.lru_cache(maxsize=65536)
def classify(path: str) -> Source | Problem:
    """Map a content-relative POSIX path to its kind of entry."""
    if _CONTROL.search(path):
        return _control_problem(path)
    parts = tuple(path.split("/"))
    if parts == ("categories.yml",):
        return Source(kind=Kind.CATEGORIES, path=path, slug="categories")
    if len(parts) == 2 and parts[0] in FLAT_KINDS:
        return _classify_flat(path, parts[0], parts[1])
    if parts and parts[0] == "courses":
        return _classify_course_file(path, parts[1:])
    return _misplaced(path)


def _classify_flat(path: str, folder: str, name: str) -> Source | Problem:
    kind, suffix = FLAT_KINDS[folder]
    if not name.endswith(suffix):
        return _misplaced(path)
    slug = name.removesuffix(suffix)
    return slug_problem(slug, path, kind.value) or Source(kind=kind, path=path, slug=slug)


def _classify_course_file(path: str, parts: tuple[str, ...]) -> Source | Problem:
    if len(parts) == 2 and parts[1] == "course.md":
        return slug_problem(parts[0], path, "course") or Source(kind=Kind.COURSE, path=path, slug=parts[0])
    if len(parts) != 3 or not parts[2].endswith(".md"):
        return _misplaced(path)
    course, folder, name = parts
    section = _section_folder(course, folder)
    if isinstance(section, Problem):
        return msgspec.structs.replace(section, file=path)
    section_order, section_slug = section
    if name == "section.md":
        return Source(kind=Kind.SECTION, path=path, slug=section_slug, course=course,
                      section=section_slug, section_order=section_order, order=section_order)
    lesson = _ordered(name.removesuffix(".md"), path, "lesson")
    if isinstance(lesson, Problem):
        return lesson
    return Source(kind=Kind.LESSON, path=path, slug=lesson[1], course=course, section=section_slug,
                  section_order=section_order, order=lesson[0])


@functools.lru_cache(maxsize=4096)
def _section_folder(course: str, folder: str) -> tuple[int, str] | Problem:
    """A section folder's order and slug, or the problem with it or its course (naming no file: the caller does).

    Asked once per folder, not once per lesson in it."""
    section = _ordered(folder, "", "section")
    if isinstance(section, Problem):
        return section
    return slug_problem(course, "", "course") or section


def _ordered(name: str, path: str, what: str) -> tuple[int, str] | Problem:
    numbered = split_numbered(name)
    if numbered is None:
        return Problem(file=path, rule="naming", message=f"{what} name {name!r} has no order number",
                       expected=f"<NN>-<{what}> such as 01-{name.lower()}", found=repr(name))
    return slug_problem(numbered[1], path, what) or numbered


def _control_problem(path: str) -> Problem:
    found = sorted({repr(char)[1:-1] for char in _CONTROL.findall(path)})
    return Problem(file=path, rule="control-character",
                   message=f"file name {path!r} holds a control character; file names may not contain "
                           "control characters (rename the file)",
                   expected="a name without newlines, tabs or other control characters", found=", ".join(found))


def _misplaced(path: str) -> Problem:
    return Problem(file=path, rule="naming", message="file is not where content lives",
                   expected="courses/<course>/course.md, courses/<course>/<NN>-<section>/section.md, "
                            "courses/<course>/<NN>-<section>/<NN>-<lesson>.md, projects/<slug>.md, "
                            "authors/<slug>.md, paths/<slug>.md, media/<id>.yml or categories.yml",
                   found=path)


class Listing(msgspec.Struct):
    """What a walk over a content directory found."""

    files: list[str]
    problems: list[Problem]


def walk(content_dir: Path, label: str) -> Listing:
    """Every content-looking file under `content_dir` as relative POSIX paths.

    Symlinks are reported and never followed; debris is skipped silently;
    other files are reported as warnings. `label` prefixes paths in problems.
    """
    files: list[str] = []
    problems: list[Problem] = []
    for rel, is_link in _scan(content_dir, ""):
        shown = f"{label}{rel}"
        if is_link:
            problems.append(Problem(file=shown, rule="symlink", message="symlinks are not followed",
                                    expected="a regular file or folder", found="a symbolic link"))
        elif rel.endswith(CONTENT_SUFFIXES):
            files.append(rel)
        else:
            problems.append(Problem(file=shown, rule="not-content", severity="warning",
                                    message="not a content file (.md or .yml); it is ignored"))
    files.sort()
    return Listing(files=files, problems=problems)


def _scan(root: Path, prefix: str) -> Iterator[tuple[str, bool]]:
    with os.scandir(root / prefix if prefix else root) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if is_debris(entry.name):
                continue
            rel = f"{prefix}{entry.name}"
            if entry.is_symlink():
                yield rel, True
            elif entry.is_dir(follow_symlinks=False):
                yield from _scan(root, f"{rel}/")
            elif entry.is_file(follow_symlinks=False):
                yield rel, False
