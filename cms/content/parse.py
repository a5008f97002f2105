"""One file → one typed entry: read, convert to its model, check its own rules.

Conversion collects every problem in the file (each field and list item is
converted on its own when the whole fails), with the line and column of the
field, what was expected and what was found.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal, get_args, get_origin

import msgspec

from cms.content.frontmatter import Loaded, Marks, PathKey, load_data_file, load_markdown
from cms.content.links import content_links
from cms.content.models import (
    PATTERN_MEANINGS,
    Author,
    Categories,
    Category,
    Course,
    LearningPath,
    Lesson,
    Media,
    Model,
    Project,
    Section,
)
from cms.content.sources import Kind, Source
from cms.problems import Problem

MODELS: dict[Kind, type[Model]] = {
    Kind.COURSE: Course, Kind.SECTION: Section, Kind.LESSON: Lesson, Kind.PROJECT: Project,
    Kind.AUTHOR: Author, Kind.PATH: LearningPath, Kind.MEDIA: Media,
}

_MSGSPEC_ERROR = re.compile(r"^(?P<message>.*?)(?: - at `(?P<path>\$[^`]*)`)?$", re.DOTALL)
_EXPECTED_GOT = re.compile(r"^Expected (?P<expected>.+?)(?:, got (?P<found>.+))?$")
_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


Reference = tuple[str, str, PathKey]
"""A name an entry uses for another entry: (`author`, `category`, `media` or `course`, the name, the field)."""


class Document(msgspec.Struct, kw_only=True):
    """A parsed content file: where it is, what it says, and what is wrong with it."""

    source: Source
    file: str
    entry: Any = None
    body: str = ""
    body_line: int = 1
    marks: Marks = {}
    links: list[tuple[str, int, str]] = []
    """Relative links to content files in the body: (as written, 0-based body line, content path it points at)."""
    references: list[Reference] = []
    """What the entry names in other files (see `references`), found once when the file is parsed."""
    problems: list[Problem] = []

    @property
    def ok(self) -> bool:
        return self.entry is not None and not any(p.is_error for p in self.problems)

    def where(self, *path: str | int) -> tuple[int | None, int | None]:
        """Line and column of a field, falling back to its nearest known parent."""
        key: PathKey = tuple(path)
        while key:
            if key in self.marks:
                return self.marks[key]
            key = key[:-1]
        return (None, None)

    def problem(self, rule: str, message: str, *path: str | int, **extra: Any) -> Problem:
        """A problem about a field of this file, placed at the field's line."""
        line, column = self.where(*path)
        field = _field_name(tuple(path)) if path else None
        return Problem(file=self.file, line=line, column=column, field=field, rule=rule, message=message, **extra)


def parse_bytes(source: Source, raw: bytes, file: str) -> Document:
    """Parse one content file's bytes; `file` is how problems name it."""
    loaded = load_data_file(raw, file) if source.kind in (Kind.MEDIA, Kind.CATEGORIES) else load_markdown(raw, file)
    document = Document(source=source, file=file, body=loaded.body, body_line=loaded.body_line,
                        marks=loaded.marks, links=content_links(source.path, loaded.body),
                        problems=list(loaded.problems))
    if loaded.data is not None or not loaded.problems:
        document.entry = _convert(loaded, document)
        if document.entry is not None:
            document.problems.extend(own_rules(document))
            document.references = references(document.entry)
    return document


_NAMED_FIELDS = (("instructor", "author"), ("category", "category"), ("image", "media"), ("avatar", "media"),
                 ("thumbnail", "media"))


def references(entry: Any) -> list[Reference]:
    """Instructor, category, media, prerequisites and path courses that an entry names, with their fields."""
    found: list[Reference] = [(kind, value, (name,)) for name, kind in _NAMED_FIELDS
                              if isinstance(value := getattr(entry, name, None), str)]
    if isinstance(entry, Course):
        found += [("course", slug, ("prerequisites", i)) for i, slug in enumerate(entry.prerequisites)]
    if isinstance(entry, LearningPath):
        found += [("course", slug, ("courses", i)) for i, slug in enumerate(entry.courses)]
    if isinstance(entry, Lesson):
        found += [("media", video.media, ("videos", i, "media")) for i, video in enumerate(entry.videos) if video.media]
    return found


def _convert(loaded: Loaded, document: Document) -> Any:
    kind = document.source.kind
    data = loaded.data
    if data is None:  # an empty data file: no fields (or no categories), not "nothing to check"
        data = [] if kind is Kind.CATEGORIES else {}
    if kind is Kind.CATEGORIES:
        return _convert_categories(data, document)
    if not isinstance(data, dict):
        document.problems.append(document.problem(
            "schema", "front matter must be a mapping of fields", expected="key: value pairs",
            found=_describe(data)))
        return None
    return convert_model(data, MODELS[kind], document)


def _convert_categories(data: Any, document: Document) -> Categories | None:
    if not isinstance(data, list):
        document.problems.append(document.problem(
            "schema", "categories.yml must be a list of categories", expected="a YAML list of {slug, name}",
            found=_describe(data)))
        return None
    items = [convert_model(item, Category, document, (index,)) for index, item in enumerate(data)]
    return None if any(item is None for item in items) else items


def convert_model(data: Any, model: type[Model], document: Document, path: PathKey = ()) -> Any:
    """Convert `data` to `model`; on failure report every bad field, not just the first."""
    try:
        return msgspec.convert(data, model)
    except msgspec.ValidationError:
        pass
    if not isinstance(data, dict):
        document.problems.append(_type_problem(document, path, model.__name__, data))
        return None
    _report_fields(data, model, document, path)
    return None


def _report_fields(data: dict[str, Any], model: type[Model], document: Document, path: PathKey) -> None:
    fields = {field.encode_name: field for field in msgspec.structs.fields(model)}
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            document.problems.append(_unknown_field(document, (*path, key), sorted(fields)))
        else:
            _report_value(value, field.type, document, (*path, key))
    for name, field in fields.items():
        if field.required and name not in data:
            line, column = document.where(*path) if path else (None, None)
            document.problems.append(Problem(
                file=document.file, line=line or 1, column=column, field=_field_name((*path, name)),
                rule="required", message=f"required field {name!r} is missing", expected=f"a value for {name!r}",
                found="nothing"))


def _report_value(value: Any, annotation: Any, document: Document, path: PathKey) -> None:
    item_model = _list_item_model(annotation)
    if item_model is not None and isinstance(value, list):
        for index, item in enumerate(value):
            if convert_model(item, item_model, document, (*path, index)) is None:
                continue
        return
    model = _model_of(annotation)
    if model is not None and isinstance(value, dict):
        convert_model(value, model, document, path)
        return
    try:
        msgspec.convert(value, annotation)
    except msgspec.ValidationError as error:
        document.problems.append(_validation_problem(document, path, str(error), value, annotation))


def _model_of(annotation: Any) -> type[Model] | None:
    """The model a field holds, also when it is optional (`AiProvenance | None`)."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, Model):
            return candidate
    return None


def _choices(annotation: Any) -> str | None:
    """`one of a, b, c` for a Literal field (optional or not), else None."""
    literals = [annotation] if get_origin(annotation) is Literal else [
        arg for arg in get_args(annotation) if get_origin(arg) is Literal]
    values = [str(value) for literal in literals for value in get_args(literal)]
    return f"one of {', '.join(values)}" if values else None


def _list_item_model(annotation: Any) -> type[Model] | None:
    origin = getattr(annotation, "__origin__", None)
    args = getattr(annotation, "__args__", ())
    if origin is list and args and isinstance(args[0], type) and issubclass(args[0], Model):
        return args[0]
    return None


def _validation_problem(document: Document, path: PathKey, text: str, value: Any, annotation: Any) -> Problem:
    match = _MSGSPEC_ERROR.match(text)
    assert match is not None
    inner = tuple(_parse_path(match.group("path") or "$"))
    full = (*path, *inner)
    found_value = _dig(value, inner)
    detail = _EXPECTED_GOT.match(match.group("message"))
    expected = _friendly(detail.group("expected")) if detail else None
    if expected is None and not inner:
        expected = _choices(annotation)
    name = _field_name(full)
    message = f"invalid value for {name}" if detail else f"{name}: {match.group('message')}"
    line, column = document.where(*full)
    return Problem(file=document.file, line=line, column=column, field=_field_name(full), rule="schema",
                   message=message, expected=expected, found=_describe(found_value))


def _type_problem(document: Document, path: PathKey, expected: str, value: Any) -> Problem:
    line, column = document.where(*path) if path else (None, None)
    return Problem(file=document.file, line=line, column=column, field=_field_name(path) if path else None,
                   rule="schema", message="wrong type", expected=f"a mapping ({expected})", found=_describe(value))


def _unknown_field(document: Document, path: PathKey, known: list[str]) -> Problem:
    line, column = document.where(*path)
    return Problem(file=document.file, line=line, column=column, field=_field_name(path), rule="unknown-field",
                   message=f"unknown field {path[-1]!r}", expected=f"one of {', '.join(known)}",
                   found=repr(path[-1]))


def _parse_path(text: str) -> list[str | int]:
    return [name or int(index) for name, index in _PATH_PART.findall(text.removeprefix("$"))]


def _dig(value: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return value
    return value


def _friendly(expected: str) -> str:
    """Name a constrained string by what it means rather than by its regex."""
    for pattern, meaning in PATTERN_MEANINGS.items():
        expected = expected.replace(f"`str` matching regex {pattern!r}", meaning)
    return expected


def _field_name(path: PathKey) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _describe(value: Any) -> str:
    """How a found value is shown to an author: its YAML type and a short form."""
    if value is None:
        return "null"
    if isinstance(value, date):
        return f"{type(value).__name__} {value.isoformat()}"
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "mapping"}
    kind = kinds.get(type(value), type(value).__name__)
    shown = repr(value)
    return f"{kind} {shown[:60]}{'…' if len(shown) > 60 else ''}"


def own_rules(document: Document) -> list[Problem]:
    """Checks that need only this one file, beyond the schema."""
    entry = document.entry
    if isinstance(entry, Lesson):
        return _lesson_rules(entry, document)
    if isinstance(entry, Media):
        return _media_rules(entry, document)
    if isinstance(entry, Course) and document.source.slug in entry.prerequisites:
        return [document.problem("prerequisite-cycle", "a course cannot be its own prerequisite", "prerequisites",
                                 expected="prerequisites other than the course itself",
                                 found=repr(document.source.slug))]
    return []


def _lesson_rules(lesson: Lesson, document: Document) -> list[Problem]:
    problems: list[Problem] = []
    if lesson.type == "video" and not lesson.videos:
        problems.append(document.problem("type-requirement", "a video lesson needs at least one video", "type",
                                         expected="a non-empty 'videos' list", found="none"))
    if lesson.type == "pdf" and lesson.pdf_url is None:
        problems.append(document.problem("type-requirement", "a pdf lesson needs 'pdf_url'", "type",
                                         expected="pdf_url: https://…", found="none"))
    if lesson.type == "quiz" and not lesson.questions:
        problems.append(document.problem("type-requirement", "a quiz lesson needs questions", "type",
                                         expected="a non-empty 'questions' list", found="none"))
    for index, video in enumerate(lesson.videos):
        end = video.end_time_seconds
        if end is not None and end <= video.start_time_seconds:
            problems.append(document.problem(
                "video-times", "a video snippet must end after it starts", "videos", index, "end_time_seconds",
                expected=f"end_time_seconds > {video.start_time_seconds}", found=str(end)))
    for index, question in enumerate(lesson.questions):
        if question.answer >= len(question.choices):
            problems.append(document.problem(
                "quiz-answer", "the answer must be the index of one of the choices", "questions", index, "answer",
                expected=f"0 to {len(question.choices) - 1}", found=str(question.answer)))
    return problems


def _media_rules(media: Media, document: Document) -> list[Problem]:
    problems: list[Problem] = []
    if media.resource_type == "image" and not (media.alt or "").strip():
        problems.append(document.problem("image-alt", "an image needs alt text", "resource_type",
                                         expected="alt: a description of the image", found="none"))
    if media.resource_type != "video" and media.duration_ms is not None:
        problems.append(document.problem(
            "media-duration", f"only videos have a duration, this is an {media.resource_type}", "duration_ms",
            expected="no duration_ms", found=str(media.duration_ms)))
    return problems
