"""The prompt: one lesson, scoped by what the index knows about its course (outline, neighbours, the rest)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from cms.ai.target import Target
from cms.errors import NotFound
from cms.read import queries
from cms.read.connection import reading

WORD_RANGE = "900–1,400"
COURSE_TEXT_MAX = 2000
"""How much of the course's long description goes into the prompt."""


class OutlineLesson(msgspec.Struct, frozen=True, kw_only=True):
    slug: str
    title: str
    section: str
    description: str | None = None
    objectives: list[str] = []


class OutlineSection(msgspec.Struct, frozen=True, kw_only=True):
    slug: str
    title: str
    description: str | None = None


class Outline(msgspec.Struct, frozen=True, kw_only=True):
    """What the index knows about a course: enough to scope a lesson."""

    title: str
    description: str | None
    about: str
    sections: list[OutlineSection]
    lessons: list[OutlineLesson]


def outline(db_path: Path, course: str) -> Outline:
    with reading(db_path) as conn:
        row = queries.course_text(conn, course)
        if row is None:
            raise NotFound(f"course {course!r} is not in the index: run `cms validate` and fix its problems")
        sections = queries.sections_of(conn, course, hidden=True)
        lessons = queries.lesson_outline(conn, course)
    return Outline(title=row["title"], description=row["description"], about=(row["markdown"] or "").strip(),
                   sections=[msgspec.convert(s, OutlineSection, strict=False) for s in sections],
                   lessons=[msgspec.convert(lesson, OutlineLesson, strict=False) for lesson in lessons])


def build_prompt(outline: Outline, target: Target, brief: str | None) -> str:
    """The whole prompt, exactly as sent (its SHA-256 goes into the lesson's provenance)."""
    lessons = _placed(outline, target)
    parts = [
        "You are an experienced instructor writing one lesson of an online course. Write the body of the "
        "lesson described below.",
        _course_part(outline),
        _outline_part(outline, lessons, target),
        _lesson_part(outline, lessons, target),
        _scope_part(lessons, target),
        "# Brief from the author\n\n" + (brief.strip() if brief and brief.strip()
                                         else "No brief: go by the course, the outline and the title."),
        _INSTRUCTIONS,
    ]
    return "\n\n".join(parts) + "\n"


_INSTRUCTIONS = f"""# Instructions

- Answer with the body of the lesson in Markdown and nothing else: no YAML front matter, no code fence
  around the whole answer, no preamble and no closing remarks.
- Length: roughly {WORD_RANGE} words.
- Do not repeat the lesson title as a level-1 heading; structure the lesson with ## and ### headings.
- Where they fit the topic, include short, correct code examples in fenced code blocks with a language tag.
- Plain Markdown only: no raw HTML, no images, no links to other lessons or files.
- Stay within the scope above: teach this lesson's topic, not the other lessons'."""


def _placed(outline: Outline, target: Target) -> list[OutlineLesson]:
    """The course's lessons in order, with the target in its place (a new lesson ends its section)."""
    own = OutlineLesson(slug=target.slug, title=target.title, section=target.section,
                        description=target.fields.get("description"),
                        objectives=[str(o) for o in target.fields.get("objectives") or []])
    lessons = [own if lesson.slug == target.slug else lesson for lesson in outline.lessons]
    if own in lessons:
        return lessons
    order = [section.slug for section in outline.sections]
    rank = order.index(target.section) if target.section in order else len(order)
    at = max((i + 1 for i, lesson in enumerate(lessons)
              if lesson.section in order and order.index(lesson.section) <= rank), default=0)
    return [*lessons[:at], own, *lessons[at:]]


def _course_part(outline: Outline) -> str:
    lines = ["# The course", "", f"Title: {outline.title}"]
    if outline.description:
        lines.append(f"Summary: {outline.description}")
    if outline.about:
        about = outline.about[:COURSE_TEXT_MAX] + ("…" if len(outline.about) > COURSE_TEXT_MAX else "")
        lines += ["", "About the course:", "", about]
    return "\n".join(lines)


def _outline_part(outline: Outline, lessons: list[OutlineLesson], target: Target) -> str:
    lines = ["# Course outline", "", "Sections in order, each with its lessons; → marks the lesson to write.", ""]
    for number, section in enumerate(outline.sections, start=1):
        summary = f": {section.description}" if section.description else ""
        lines.append(f"{number}. {section.title}{summary}")
        inside = [lesson for lesson in lessons if lesson.section == section.slug]
        for index, lesson in enumerate(inside, start=1):
            mark = "→ " if lesson.slug == target.slug else ""
            lines.append(f"   {mark}{number}.{index} {lesson.title}")
    return "\n".join(lines)


def _lesson_part(outline: Outline, lessons: list[OutlineLesson], target: Target) -> str:
    index = next(i for i, lesson in enumerate(lessons) if lesson.slug == target.slug)
    own = lessons[index]
    section = next((s.title for s in outline.sections if s.slug == target.section), target.section)
    lines = ["# The lesson to write", "", f"Title: {target.title}", f"Section: {section}"]
    if own.description:
        lines.append(f"Summary: {own.description}")
    lines += [f"Objective: {objective}" for objective in own.objectives]
    before = lessons[index - 1] if index > 0 else None
    after = lessons[index + 1] if index + 1 < len(lessons) else None
    lines.append(f"Comes after: {_described(before)}" if before else "It is the first lesson of the course.")
    lines.append(f"Comes before: {_described(after)}" if after else "It is the last lesson of the course.")
    return "\n".join(lines)


def _scope_part(lessons: list[OutlineLesson], target: Target) -> str:
    others = [lesson for lesson in lessons if lesson.slug != target.slug]
    if not others:
        return "# Out of scope\n\nThis is the course's only lesson so far."
    lines = ["# Out of scope", "", "Other lessons of this course teach these. Do not teach them here; at most "
             "mention one in a sentence and move on.", ""]
    lines += [f"- {_described(lesson)}" for lesson in others]
    return "\n".join(lines)


def _described(lesson: OutlineLesson) -> str:
    text = f'"{lesson.title}"'
    if lesson.objectives:
        text += f" (objectives: {'; '.join(lesson.objectives)})"
    return text
