"""Admin requests on entries → the file changes that carry them out.

A request body is the entry's front-matter fields plus `body` (the
markdown), and on create the `slug` (lessons also name their `section`;
sections and lessons may give an `order`). The fields are written to the
file as given and validated exactly like a hand-written file, so unknown
and derived fields (`html`, `created_at`, …) fail the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from cms.content.corpus import ContentTree
from cms.content.frontmatter import dump_markdown, load_markdown
from cms.content.models import Course, LearningPath, Lesson, Project, Section
from cms.content.numbering import numbered_children, numbered_name
from cms.content.sources import Kind, Source, classify, slug_problem
from cms.errors import ContentError, NotFound
from cms.problems import Problem
from cms.write.commit import Change, Versions, check_version, checked_path, read_target

RESERVED = {"slug", "body", "section", "order"}


PLACEMENT = {Kind.SECTION: {"order"}, Kind.LESSON: {"section", "order"}}
"""The request keys besides `slug` and `body` that place a new entry; other kinds take none."""


def _bad_request(field: str, message: str, found: Any = None) -> ContentError:
    problem = Problem(file="(request)", field=field, rule="request", message=message,
                      found=None if found is None else repr(found))
    return ContentError(message, [problem])


def checked_slug(value: Any, field: str = "slug") -> str:
    if not isinstance(value, str):
        raise _bad_request(field, f"{field} must be a string", value)
    problem = _slug_problem(value, "entry" if field == "slug" else field)
    if problem is not None:
        problem = msgspec.structs.replace(problem, field=field)
        raise ContentError(problem.message, [problem])
    return value


def _slug_problem(value: str, what: str) -> Problem | None:
    """`slug_problem`, also refusing a trailing newline (the pattern's `$` matches just before one)."""
    problem = slug_problem(value, "(request)", what)
    if problem is None and value.endswith("\n"):
        problem = Problem(file="(request)", rule="slug", field="slug", found=repr(value),
                          message=f"{what} slug {value!r} is not a valid slug")
    return problem


def _known_slug(value: str, what: str) -> str:
    """An identifier from a URL: anything that is not a slug names nothing."""
    if _slug_problem(value, what) is not None:
        raise NotFound(f"no {what} {value[:80]!r}")
    return value


def locate(tree: ContentTree, kind: Kind, *ids: str) -> str:
    """The content-relative path of an existing entry."""
    if kind is Kind.COURSE:
        path = f"courses/{_known_slug(ids[0], 'course')}/course.md"
    elif kind is Kind.SECTION:
        path = f"{_section_dir(tree, ids[0], ids[1])}/section.md"
    elif kind is Kind.LESSON:
        path = _lesson_path(tree, ids[0], ids[1])
    else:
        folder = "projects" if kind is Kind.PROJECT else "paths"
        path = f"{folder}/{_known_slug(ids[0], kind.value)}.md"
    if not checked_path(tree, path).is_file():
        raise NotFound(f"no {kind.value} {ids[-1]!r}")
    return path


def _course_dir(tree: ContentTree, course: str) -> Path:
    folder = checked_path(tree, f"courses/{_known_slug(course, 'course')}")
    if not (folder / "course.md").is_file():
        raise NotFound(f"no course {course!r}")
    return folder


def _section_dir(tree: ContentTree, course: str, section: str) -> str:
    for _, slug, child in numbered_children(_course_dir(tree, course), folders=True):
        if slug == section:
            folder = child.relative_to(tree.content_dir).as_posix()
            checked_path(tree, folder)  # a linked folder is refused before anything behind it is listed
            return folder
    raise NotFound(f"course {course!r} has no section {section!r}")


def _lesson_path(tree: ContentTree, course: str, lesson: str) -> str:
    for _, _, folder in numbered_children(_course_dir(tree, course), folders=True):
        for _, slug, child in numbered_children(folder, folders=False):
            if slug == lesson:
                return child.relative_to(tree.content_dir).as_posix()
    raise NotFound(f"course {course!r} has no lesson {lesson!r}")


def _numbered(payload: dict[str, Any], slug: str, folder: str, directories: bool, tree: ContentTree,
              pending: list[Change]) -> str:
    """The new entry's `<NN>-<slug>` name in `folder`: the payload's `order`, or after its siblings (pending ones of
    the same commit too, so bulk creates number after each other)."""
    order = payload.get("order")
    if order is not None and (not isinstance(order, int) or isinstance(order, bool) or not 1 <= order <= 9999):
        raise _bad_request("order", "order must be a whole number from 1 to 9999", order)
    siblings = [child.name for _, _, child in numbered_children(tree.content_dir / folder, directories)]
    return numbered_name(slug, [*siblings, *_pending_names(pending, folder, directories)], order)


def _pending_names(pending: list[Change], folder: str, directories: bool) -> list[str]:
    """The names pending new files (or their folders, for sections) take in `folder`."""
    names = []
    for change in pending:
        parent, _, name = change.path.rpartition("/")
        if directories:
            parent, _, name = parent.rpartition("/")
        if parent == folder:
            names.append(name)
    return names


def _split(payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    if not isinstance(payload, dict):
        raise _bad_request("(body)", "the request body must be a JSON object", type(payload).__name__)
    body = payload.get("body", "")
    if not isinstance(body, str):
        raise _bad_request("body", "body must be a string of markdown", body)
    fields = {key: _from_read(key, value) for key, value in payload.items() if key not in RESERVED}
    return fields, body


def create(tree: ContentTree, kind: Kind, parents: tuple[str, ...], payload: dict[str, Any],
           pending: list[Change] | None = None) -> Change:
    """A new entry's file; the slug and placement come from the payload and URL.

    `pending` are other new files of the same commit, so bulk creates number after each other.
    """
    fields, body = _split(payload)
    slug = checked_slug(payload.get("slug"))
    path = _new_path(tree, kind, parents, slug, payload, pending or [])
    for key in sorted(RESERVED - {"slug", "body"} - PLACEMENT.get(kind, set())):
        if key in payload:
            raise _bad_request(key, f"a {kind.value} has no {key!r}", payload[key])
    if any(change.path == path for change in pending or []):
        raise _bad_request("slug", f"the request creates {kind.value} {slug!r} twice", slug)
    return Change(path=path, text=dump_markdown(fields, _body_text(body)), must_exist=False)


def _new_path(tree: ContentTree, kind: Kind, parents: tuple[str, ...], slug: str,
              payload: dict[str, Any], pending: list[Change]) -> str:
    if kind is Kind.COURSE:
        return f"courses/{slug}/course.md"
    if kind in (Kind.PROJECT, Kind.PATH):
        return f"{'projects' if kind is Kind.PROJECT else 'paths'}/{slug}.md"
    course_dir = _course_dir(tree, parents[0])
    if kind is Kind.SECTION:
        folder = course_dir.relative_to(tree.content_dir).as_posix()
        return f"{folder}/{_numbered(payload, slug, folder, True, tree, pending)}/section.md"
    folder = _section_dir(tree, parents[0], checked_slug(payload.get("section"), "section"))
    return f"{folder}/{_numbered(payload, slug, folder, False, tree, pending)}.md"


def replace(tree: ContentTree, kind: Kind, ids: tuple[str, ...], payload: dict[str, Any],
            expected: Versions | None, served: Served | None = None) -> Change:
    """The entry's file rewritten from the payload (PUT): every field replaced.

    A stale `expected` is a 412 before the payload is looked at. The payload may be the entry as read
    (`served()` gives it) with changes: a key the read adds (`html`, `version`, totals, `slug`, a lesson's
    `section` and `order`, …) is ignored when it is unchanged and refused when it differs; a reference
    may be the object a read shows (`{"slug": …}`, a media record's `{"id": …}`); a quiz question sent
    back without its `answer` and `explanation` (reads never show them) keeps the file's.
    """
    path = locate(tree, kind, *ids)
    check_version(tree, path, expected)
    if not isinstance(payload, dict):
        raise _bad_request("(body)", "the request body must be a JSON object", type(payload).__name__)
    current = served() if served is not None else {"slug": ids[-1]}
    model = MODELS[kind]
    fields: dict[str, Any] = {}
    for key, value in payload.items():
        if key in model.__struct_fields__:
            fields[key] = _from_read(key, value)
        elif key in current and key != "body":
            _check_unchanged(key, value, current[key])
        elif key != "body":
            fields[key] = value  # unknown: validation names it
    _, body = _split({"body": payload.get("body", "")})
    if isinstance(fields.get("videos"), list):
        fields["videos"] = [_video_in(video, _at(current.get("videos"), i)) for i, video in enumerate(fields["videos"])]
    stored, stored_body = _file_entry(tree, path)
    if isinstance(fields.get("questions"), list):
        fields["questions"] = _with_answers(fields["questions"], stored.get("questions"))
    fields = _without_defaults(model, fields)
    if fields == _without_defaults(model, stored) and _body_text(body) == stored_body:
        return Change(path=path, text=read_target(tree, path).decode(), expected=expected)  # as it is: no commit
    return Change(path=path, text=dump_markdown(fields, _body_text(body)), expected=expected)


Served = Callable[[], dict[str, Any]]
"""The entry as an editor reads it (the read API's detail shape), fetched under the write lock."""
MODELS: dict[Kind, type[msgspec.Struct]] = {Kind.COURSE: Course, Kind.SECTION: Section, Kind.LESSON: Lesson,
                                            Kind.PROJECT: Project, Kind.PATH: LearningPath}
REFERENCES = {"instructor": "slug", "category": "slug", "image": "id", "thumbnail": "id", "avatar": "id",
              "prerequisites": "slug", "courses": "slug", "media": "id"}
"""Front-matter fields that name another entry, and the key that names it in the object a read shows."""
PLACING = {"slug", "section", "order"}
"""What places an entry: a PUT may send it unchanged, but moving an entry is not a PUT."""
DERIVED_VIDEO_KEYS = ("position", "duration_seconds")


def _from_read(key: str, value: Any) -> Any:
    """A reference as the file writes it: a read's object becomes its slug (or id), in lists too."""
    name = REFERENCES.get(key)
    if name is None:
        return value
    if isinstance(value, list):
        return [_named(item, name) for item in value]
    return _named(value, name)


def _named(value: Any, name: str) -> Any:
    return value[name] if isinstance(value, dict) and isinstance(value.get(name), str) else value


def _check_unchanged(key: str, value: Any, current: Any) -> None:
    if key == "section" and isinstance(current, dict) and not isinstance(value, dict):
        current = current.get("slug")
    if value == current:
        return
    if key in PLACING:
        raise _bad_request(key, f"{key} cannot be changed by PUT (send it unchanged, or leave it out)", value)
    raise _bad_request(key, f"{key} is derived from the content and cannot be written: send it as read, or "
                            "leave it out", value)


def _at(items: Any, index: int) -> dict[str, Any]:
    return items[index] if isinstance(items, list) and index < len(items) and isinstance(items[index], dict) else {}


def _video_in(video: Any, current: dict[str, Any]) -> Any:
    """A video snippet as the file writes it: `position` and `duration_seconds` (derived) checked and dropped."""
    if not isinstance(video, dict):
        return video
    for key in DERIVED_VIDEO_KEYS:
        if key in video:
            _check_unchanged(f"videos.{key}", video[key], current.get(key))
    return {key: _from_read(key, value) for key, value in video.items() if key not in DERIVED_VIDEO_KEYS}


def _with_answers(questions: list[Any], stored: Any) -> list[Any]:
    """Questions sent back as read keep the file's `answer` and `explanation` (same position, prompt and choices)."""
    kept = []
    for index, question in enumerate(questions):
        old = _at(stored, index)
        same = isinstance(question, dict) and "answer" not in question and \
            (old.get("prompt"), old.get("choices")) == (question.get("prompt"), question.get("choices"))
        kept.append({**question, **{k: old[k] for k in ("answer", "explanation") if k in old}} if same else question)
    return kept


def _file_entry(tree: ContentTree, path: str) -> tuple[dict[str, Any], str]:
    """The front matter and body of the file at `path`, as JSON would carry them (dates as text)."""
    loaded = load_markdown(read_target(tree, path), tree.label(path))
    fields = dict(loaded.data) if isinstance(loaded.data, dict) else {}
    return msgspec.json.decode(msgspec.json.encode(fields)), loaded.body


def _without_defaults(model: type[msgspec.Struct], fields: dict[str, Any]) -> dict[str, Any]:
    """Fields whose value is the model's default are left out of the file, as a hand-written file would."""
    defaults = {f.name: f.default if f.default is not msgspec.NODEFAULT else f.default_factory()
                for f in msgspec.structs.fields(model)
                if f.default is not msgspec.NODEFAULT or f.default_factory is not msgspec.NODEFAULT}
    return {key: value for key, value in fields.items() if key not in defaults or defaults[key] != value
            or isinstance(value, bool) != isinstance(defaults[key], bool)}


def edit_front_matter(tree: ContentTree, path: str, expected: Versions | None, edit: Any) -> Change:
    """The file at `path` with `edit(fields)` applied to its front matter, body kept.

    A stale `expected` is a 412 before the edit runs, so it never answers for a file the caller has not seen.
    """
    check_version(tree, path, expected)
    loaded = load_markdown(read_target(tree, path), tree.label(path))
    if not isinstance(loaded.data, dict):
        raise ContentError(f"{path} cannot be edited until its front matter is fixed", loaded.problems)
    fields = dict(loaded.data)
    edit(fields)
    return Change(path=path, text=dump_markdown(fields, loaded.body), expected=expected)


def publish(tree: ContentTree, kind: Kind, ids: tuple[str, ...], published: bool,
            expected: Versions | None) -> Change:
    status = "published" if published else "draft"
    return edit_front_matter(tree, locate(tree, kind, *ids), expected, lambda fields: fields.update(status=status))


def delete(tree: ContentTree, kind: Kind, ids: tuple[str, ...], expected: Versions | None) -> list[Change]:
    """Deleting a course or section deletes everything in its folder (refused if a link is in there)."""
    path = locate(tree, kind, *ids)
    changes = [Change(path=path, text=None, expected=expected)]
    if kind in (Kind.COURSE, Kind.SECTION):
        folder = (tree.content_dir / path).parent
        inside = [checked_path(tree, p.relative_to(tree.content_dir).as_posix()) for p in sorted(folder.rglob("*"))]
        files = (p.relative_to(tree.content_dir).as_posix() for p in inside if p.is_file())
        changes += [Change(path=rel, text=None) for rel in files if rel != path and isinstance(classify(rel), Source)]
    return changes


def add_video(tree: ContentTree, course: str, lesson: str, snippet: dict[str, Any],
              expected: Versions | None) -> Change:
    """The lesson with one more video snippet at the end."""
    return edit_front_matter(tree, locate(tree, Kind.LESSON, course, lesson), expected,
                             lambda fields: fields.setdefault("videos", []).append(_snippet(snippet)))


def replace_video(tree: ContentTree, course: str, lesson: str, index: int, snippet: dict[str, Any] | None,
                  expected: Versions | None) -> Change:
    """The lesson with snippet `index` replaced (or removed when `snippet` is None)."""
    def edit(fields: dict[str, Any]) -> None:
        videos = fields.get("videos") or []
        if not 0 <= index < len(videos):
            raise NotFound(f"lesson {lesson!r} has no video {index}")
        if snippet is None:
            videos.pop(index)
        else:
            videos[index] = _snippet(snippet)
        fields["videos"] = videos
    return edit_front_matter(tree, locate(tree, Kind.LESSON, course, lesson), expected, edit)


def _snippet(snippet: Any) -> dict[str, Any]:
    if not isinstance(snippet, dict):
        raise _bad_request("(body)", "a video snippet must be a JSON object", type(snippet).__name__)
    return snippet


def _body_text(body: str) -> str:
    return body if body.endswith("\n") or not body else body + "\n"
