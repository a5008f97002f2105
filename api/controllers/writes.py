"""Admin writes on content entries: every request becomes one git commit.

One controller per kind of entry, made by `write_controller` from the
kind and where it lives in the URL. Handlers stay thin: they read the
path, the body and `If-Match`, call `cms.write.operations`, and answer with the
entry as the read routes show it (drafts included), its new `version`
(also the `ETag`) and the commit.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, patch, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.auth import AUTH_DEPENDENCIES, admin_api_enabled, requires
from api.deps import API_PREFIX, EDITORS, Opened, Services, identity, if_match
from api.params import CourseSlug, LessonSlug, PathSlug, ProjectSlug, SectionSlug, VideoIndex
from api.schemas import CourseDetail, LessonDetail, PathDetail, ProjectDetail, SectionDetail, to_wire
from api.spec import EntryBody, documented
from cms.accounts import User
from cms.content import Kind
from cms.content.models import SLUG_MAX, SLUG_PATTERN, VideoSnippet
from cms.read import reading, views
from cms.write import operations
from cms.write.changes import MODELS, REFERENCES
from cms.write.operations import Written

Ids = NamedDependency[tuple[str, ...]]
"""The entry's (or its parent's) identifiers from the path: (course, section), (project), (course,) or ()."""
NO_STORE = {"Cache-Control": "no-store"}


class WriteOut(msgspec.Struct, kw_only=True):
    """A write's answer: the entry as its read route shows it (None once deleted), its new version and the commit."""

    entry: dict[str, Any] | None
    version: str | None
    commit: str


class PublishIn(msgspec.Struct, forbid_unknown_fields=True):
    published: bool


@dataclass(frozen=True)
class Place:
    """Where one kind of entry lives in the URL: its collection, its item path, and how both name it."""

    kind: Kind
    base: str
    item: str
    ids: Callable[..., tuple[str, ...]]
    parents: Callable[..., tuple[str, ...]]
    read: Callable[..., dict[str, Any]]
    shape: type[Any]

    def location(self, ids: tuple[str, ...]) -> str:
        """The API path of the entry named by `ids` (its parents' and its own identifiers)."""
        names = re.findall(r"{(\w+):str}", self.base + self.item)
        return API_PREFIX + re.sub(r"{(\w+):str}", lambda m: ids[names.index(m.group(1))], self.base + self.item)


def _course(course: CourseSlug) -> tuple[str, ...]:
    return (course,)


def _section(course: CourseSlug, section: SectionSlug) -> tuple[str, ...]:
    return (course, section)


def _lesson(course: CourseSlug, lesson: LessonSlug) -> tuple[str, ...]:
    return (course, lesson)


def _project(project: ProjectSlug) -> tuple[str, ...]:
    return (project,)


def _path(path: PathSlug) -> tuple[str, ...]:
    return (path,)


def _no_parents() -> tuple[str, ...]:
    return ()


PLACES = [
    Place(Kind.COURSE, "/courses", "/{course:str}", _course, _no_parents, views.course_detail, CourseDetail),
    Place(Kind.SECTION, "/courses/{course:str}/sections", "/{section:str}", _section, _course, views.section_detail,
          SectionDetail),
    Place(Kind.LESSON, "/courses/{course:str}/lessons", "/{lesson:str}", _lesson, _course, views.lesson_detail,
          LessonDetail),
    Place(Kind.PROJECT, "/projects", "/{project:str}", _project, _no_parents, views.project_detail, ProjectDetail),
    Place(Kind.PATH, "/paths", "/{path:str}", _path, _no_parents, views.path_detail, PathDetail),
]
BY_KIND = {place.kind: place for place in PLACES}
SLUG = {"type": "string", "pattern": SLUG_PATTERN, "maxLength": SLUG_MAX,
        "description": "lowercase letters and digits in words joined by single hyphens, at most 80 characters"}
MARKDOWN = {"type": "string", "description": "The markdown body (CMS_MAX_MARKDOWN_MB at most; 413 past it)."}
ORDER = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 9999}, {"type": "null"}],
         "description": "The `<NN>` of the entry's name, its place among its siblings; without it the entry goes last."}
PLACING = {Kind.SECTION: {"order": ORDER}, Kind.LESSON: {"section": {**SLUG, "description": "The section's slug."},
                                                         "order": ORDER}}


def entry_body(kind: Kind, replace: bool = False, many: bool = False) -> EntryBody:
    """The documented body of a create (`slug`, the fields, `body`, placement) or a replace (PUT)."""
    name = kind.value.title() + ("Replace" if replace else "In")
    if replace:
        return EntryBody(name, MODELS[kind], open=True, extra={"body": MARKDOWN}, references=REFERENCES, description=(
            f"A {kind.value}'s fields and `body` (every field is replaced). What its read answers may be sent back "
            "as it is: what the read adds (`slug`, `version`, `html`, totals, …) is ignored when unchanged and "
            "refused (422) when it differs, and a reference may be the object the read shows."))
    extra = {"slug": SLUG, "body": MARKDOWN, **PLACING.get(kind, {})}
    required = ("slug", "section") if kind is Kind.LESSON else ("slug",)
    return EntryBody(name, MODELS[kind], extra=extra, required=required, many=many, description=(
        f"A new {kind.value}: its slug, fields and markdown `body`, validated like a file in the repository."))


VIDEO_BODY = EntryBody("VideoSnippetIn", VideoSnippet, extra={}, description="A lesson's video snippet.")


def entry_view(conn: sqlite3.Connection, kind: Kind, ids: tuple[str, ...]) -> dict[str, Any]:
    """The entry exactly as the read route shows it to an editor."""
    place = BY_KIND[kind]
    return msgspec.to_builtins(to_wire(place.read(conn, *ids, hidden=True), place.shape))


def answer(services: Services, kind: Kind, parents: tuple[str, ...], written: Written,
           status: int = HTTP_200_OK) -> Response[WriteOut]:
    ids = (*parents, written.slug)
    entry = None if written.version is None else entry_view(services.index.conn, kind, ids)
    headers = dict(NO_STORE)
    if written.version is not None:
        headers["ETag"] = f'"{written.version}"'
    if status == HTTP_201_CREATED:
        headers["Location"] = BY_KIND[kind].location(ids)
    return Response(WriteOut(entry=entry, version=written.version, commit=written.commit), status_code=status,
                    headers=headers)


def served(services: Services, kind: Kind, ids: tuple[str, ...]) -> Callable[[], dict[str, Any]]:
    """The entry as an editor reads it now (for a PUT of what was read): the index is brought up to date first."""
    def current() -> dict[str, Any]:
        operations.refresh(services.workspace)
        with reading(services.workspace.db_path) as conn:
            return entry_view(conn, kind, ids)
    return current


def write_controller(place: Place) -> type[Controller]:
    """Create, bulk create, replace, publish and delete for one kind of entry.

    The entry's identifiers come from the path through the `ids` and `parents` dependencies, named as
    the read routes name them (`/courses/{course}/lessons/{lesson}`), so reads and writes share paths.
    """
    kind, item = place.kind, place.item

    class Writes(Controller):
        path = place.base
        tags = [f"{kind.value}s (admin)"]
        guards = [admin_api_enabled, requires(*EDITORS)]
        dependencies = {**AUTH_DEPENDENCIES, "ids": Provide(place.ids, sync_to_thread=False),
                        "parents": Provide(place.parents, sync_to_thread=False)}

        @post("/", status_code=HTTP_201_CREATED, sync_to_thread=True,
              opt=documented(404, 409, 413, 502, creates=True, body=entry_body(kind)))
        def create(self, services: Opened, caller: NamedDependency[User], parents: Ids,
                   data: JSONBody[dict[str, Any]]) -> Response[WriteOut]:
            """Create an entry from its fields, `body` and `slug`."""
            written = operations.create(services.workspace, kind, parents, data, identity(caller))
            return answer(services, kind, parents, written, HTTP_201_CREATED)

        @post("/bulk", status_code=HTTP_201_CREATED, sync_to_thread=True,
              opt=documented(404, 409, 413, 502, body=entry_body(kind, many=True)))
        def create_many(self, services: Opened, caller: NamedDependency[User], parents: Ids,
                        data: JSONBody[list[dict[str, Any]]]) -> Response[list[WriteOut]]:
            """Create several entries in one commit."""
            done = operations.create_many(services.workspace, kind, parents, data, identity(caller))
            return Response([answer(services, kind, parents, w).content for w in done], status_code=HTTP_201_CREATED,
                            headers=NO_STORE)

        @put(item, sync_to_thread=True,
             opt=documented(404, 409, 413, 502, if_match=True, body=entry_body(kind, replace=True)))
        def replace(self, request: Request[Any, Any, Any], services: Opened, caller: NamedDependency[User], ids: Ids,
                    data: JSONBody[dict[str, Any]]) -> Response[WriteOut]:
            """Replace an entry's fields and body (needs If-Match). The entry as read may be sent back with
            changes: what the read adds (`html`, `version`, totals, …) is ignored when unchanged, and a
            reference may be an object with its `slug` (or `id`)."""
            written = operations.replace(services.workspace, kind, ids, data, if_match(request), identity(caller),
                                         served(services, kind, ids))
            return answer(services, kind, ids[:-1], written)

        @patch(f"{item}/publish", sync_to_thread=True, opt=documented(404, 409, 422, 502, if_match=True))
        def publish(self, request: Request[Any, Any, Any], services: Opened, caller: NamedDependency[User], ids: Ids,
                    data: JSONBody[PublishIn]) -> Response[WriteOut]:
            """Publish or unpublish: `{"published": true|false}` (needs If-Match)."""
            written = operations.publish(services.workspace, kind, ids, data.published, if_match(request),
                                         identity(caller))
            return answer(services, kind, ids[:-1], written)

        @delete(item, status_code=HTTP_200_OK, sync_to_thread=True,
                opt=documented(404, 409, 422, 502, if_match=True))
        def remove(self, request: Request[Any, Any, Any], services: Opened, caller: NamedDependency[User],
                   ids: Ids) -> Response[WriteOut]:
            """Delete an entry (a course or section with everything in it; needs If-Match)."""
            written = operations.delete(services.workspace, kind, ids, if_match(request), identity(caller))
            return answer(services, kind, ids[:-1], written)

    Writes.__name__ = Writes.__qualname__ = f"{kind.value.title()}Writes"
    return Writes


WRITE_CONTROLLERS = [write_controller(place) for place in PLACES]


class VideoWrites(Controller):
    """A lesson's video snippets: add one, replace one, remove one (each a commit of the lesson file)."""

    path = "/courses/{course:str}/lessons/{lesson:str}/videos"
    tags = ["lessons (admin)"]
    guards = [admin_api_enabled, requires(*EDITORS)]
    dependencies = AUTH_DEPENDENCIES

    @post("/", status_code=HTTP_201_CREATED, sync_to_thread=True,
          opt=documented(404, 409, 502, if_match=True, body=VIDEO_BODY))
    def add(self, request: Request[Any, Any, Any], services: Opened, caller: NamedDependency[User],
            course: CourseSlug, lesson: LessonSlug, data: JSONBody[dict[str, Any]]) -> Response[WriteOut]:
        """Append a video snippet to the lesson (needs the lesson's If-Match)."""
        written = operations.add_video(services.workspace, course, lesson, data, if_match(request), identity(caller))
        return answer(services, Kind.LESSON, (course,), written, HTTP_201_CREATED)

    @put("/{index:int}", sync_to_thread=True, opt=documented(404, 409, 502, if_match=True, body=VIDEO_BODY))
    def replace(self, request: Request[Any, Any, Any], services: Opened, caller: NamedDependency[User],
                course: CourseSlug, lesson: LessonSlug, index: VideoIndex,
                data: JSONBody[dict[str, Any]]) -> Response[WriteOut]:
        """Replace the snippet at `index` (0-based; needs the lesson's If-Match)."""
        written = operations.change_video(services.workspace, course, lesson, index, data, if_match(request),
                                          identity(caller))
        return answer(services, Kind.LESSON, (course,), written)

    @delete("/{index:int}", status_code=HTTP_200_OK, sync_to_thread=True,
            opt=documented(404, 409, 422, 502, if_match=True))
    def remove(self, request: Request[Any, Any, Any], services: Opened, caller: NamedDependency[User],
               course: CourseSlug, lesson: LessonSlug, index: VideoIndex) -> Response[WriteOut]:
        """Remove the snippet at `index` (needs the lesson's If-Match)."""
        written = operations.change_video(services.workspace, course, lesson, index, None, if_match(request),
                                          identity(caller))
        return answer(services, Kind.LESSON, (course,), written)


WRITE_CONTROLLERS.append(VideoWrites)
