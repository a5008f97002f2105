"""Admin writes on content entries: every request becomes one git commit.

One controller per kind of entry, made by `write_controller` from the
kind and where it lives in the URL. Handlers stay thin: they read the
path, the body and `If-Match`, call `cms.write.operations`, and answer with the
entry as the read routes show it (drafts included), its new `version`
(also the `ETag`) and the commit.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, patch, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.auth import AUTH_DEPENDENCIES, admin_api_enabled, requires
from api.deps import EDITORS, Opened, Services, identity, if_match
from api.schemas import CourseDetail, LessonDetail, PathDetail, ProjectDetail, SectionDetail, to_wire
from cms.accounts import User
from cms.content import Kind
from cms.read import views
from cms.write import operations
from cms.write.operations import Written

Ids = NamedDependency[tuple[str, ...]]
"""The entry's (or its parent's) identifiers from the path: (course, slug), (slug), (course,) or ()."""
NO_STORE = {"Cache-Control": "no-store"}


class WriteOut(msgspec.Struct, kw_only=True):
    """A write's answer: the entry (None once deleted), its new version and the commit."""

    entry: dict[str, Any] | None
    version: str | None
    commit: str


class PublishIn(msgspec.Struct, forbid_unknown_fields=True):
    published: bool


VIEWS = {Kind.COURSE: (views.course_detail, CourseDetail),
         Kind.SECTION: (views.section_detail, SectionDetail),
         Kind.LESSON: (views.lesson_detail, LessonDetail),
         Kind.PROJECT: (views.project_detail, ProjectDetail),
         Kind.PATH: (views.path_detail, PathDetail)}
"""Each kind's reader and the response shape its read route answers with."""


def entry_view(conn: sqlite3.Connection, kind: Kind, ids: tuple[str, ...]) -> dict[str, Any]:
    """The entry exactly as the read route shows it to an editor (same shape, so no index-only columns)."""
    read, shape = VIEWS[kind]
    return msgspec.to_builtins(to_wire(read(conn, *ids, hidden=True), shape))


def answer(services: Services, kind: Kind, parents: tuple[str, ...], written: Written,
           status: int = HTTP_200_OK) -> Response[WriteOut]:
    entry = None if written.version is None else entry_view(services.index.conn, kind, (*parents, written.slug))
    headers = dict(NO_STORE)
    if written.version is not None:
        headers["ETag"] = f'"{written.version}"'
    return Response(WriteOut(entry=entry, version=written.version, commit=written.commit), status_code=status,
                    headers=headers)


def _course_and_slug(course: FromPath[str], slug: FromPath[str]) -> tuple[str, ...]:
    return (course, slug)


def _slug_only(slug: FromPath[str]) -> tuple[str, ...]:
    return (slug,)


def _course_only(course: FromPath[str]) -> tuple[str, ...]:
    return (course,)


def _no_parents() -> tuple[str, ...]:
    return ()


def write_controller(kind: Kind, base: str, nested: bool) -> type[Controller]:
    """Create, bulk create, replace, publish and delete for one kind of entry.

    The entry is `{slug}` under `base`; nested kinds (sections, lessons) also take `{course}`.
    Path parameters reach handlers through the `ids` and `parents` dependencies, so every
    handler is shared by all kinds and the OpenAPI document lists them in a fixed order.
    """

    class Writes(Controller):
        path = base
        tags = [f"{kind.value}s (admin)"]
        guards = [admin_api_enabled, requires(*EDITORS)]
        dependencies = {**AUTH_DEPENDENCIES,
                        "ids": Provide(_course_and_slug if nested else _slug_only, sync_to_thread=False),
                        "parents": Provide(_course_only if nested else _no_parents, sync_to_thread=False)}

        @post("/", status_code=HTTP_201_CREATED, sync_to_thread=True)
        def create(self, services: Opened, caller: NamedDependency[User], parents: Ids,
                   data: JSONBody[dict[str, Any]]) -> Response[WriteOut]:
            """Create an entry from its fields, `body` and `slug`."""
            written = operations.create(services.workspace, kind, parents, data, identity(caller))
            return answer(services, kind, parents, written, HTTP_201_CREATED)

        @post("/bulk", status_code=HTTP_201_CREATED, sync_to_thread=True)
        def create_many(self, services: Opened, caller: NamedDependency[User], parents: Ids,
                        data: JSONBody[list[dict[str, Any]]]) -> Response[list[WriteOut]]:
            """Create several entries in one commit."""
            done = operations.create_many(services.workspace, kind, parents, data, identity(caller))
            return Response([answer(services, kind, parents, w).content for w in done], status_code=HTTP_201_CREATED,
                            headers=NO_STORE)

        @put("/{slug:str}", sync_to_thread=True)
        def replace(self, request: Request[Any, Any, Any], services: Opened, caller: NamedDependency[User], ids: Ids,
                    data: JSONBody[dict[str, Any]]) -> Response[WriteOut]:
            """Replace an entry's fields and body (needs If-Match)."""
            written = operations.replace(services.workspace, kind, ids, data, if_match(request), identity(caller))
            return answer(services, kind, ids[:-1], written)

        @patch("/{slug:str}/publish", sync_to_thread=True)
        def publish(self, request: Request[Any, Any, Any], services: Opened, caller: NamedDependency[User], ids: Ids,
                    data: JSONBody[PublishIn]) -> Response[WriteOut]:
            """Publish or unpublish: `{"published": true|false}` (needs If-Match)."""
            written = operations.publish(services.workspace, kind, ids, data.published, if_match(request),
                                      identity(caller))
            return answer(services, kind, ids[:-1], written)

        @delete("/{slug:str}", status_code=HTTP_200_OK, sync_to_thread=True)
        def remove(self, request: Request[Any, Any, Any], services: Opened, caller: NamedDependency[User],
                   ids: Ids) -> Response[WriteOut]:
            """Delete an entry (a course or section with everything in it; needs If-Match)."""
            written = operations.delete(services.workspace, kind, ids, if_match(request), identity(caller))
            return answer(services, kind, ids[:-1], written)

    Writes.__name__ = Writes.__qualname__ = f"{kind.value.title()}Writes"
    return Writes


WRITE_CONTROLLERS = [
    write_controller(Kind.COURSE, "/courses", nested=False),
    write_controller(Kind.SECTION, "/courses/{course:str}/sections", nested=True),
    write_controller(Kind.LESSON, "/courses/{course:str}/lessons", nested=True),
    write_controller(Kind.PROJECT, "/projects", nested=False),
    write_controller(Kind.PATH, "/paths", nested=False),
]


class VideoWrites(Controller):
    """A lesson's video snippets: add one, replace one, remove one (each a commit of the lesson file)."""

    path = "/courses/{course:str}/lessons/{lesson:str}/videos"
    tags = ["lessons (admin)"]
    guards = [admin_api_enabled, requires(*EDITORS)]
    dependencies = AUTH_DEPENDENCIES

    @post("/", status_code=HTTP_201_CREATED, sync_to_thread=True)
    def add(self, request: Request[Any, Any, Any], services: Opened, caller: NamedDependency[User],
            course: FromPath[str], lesson: FromPath[str], data: JSONBody[dict[str, Any]]) -> Response[WriteOut]:
        """Append a video snippet to the lesson (needs the lesson's If-Match)."""
        written = operations.add_video(services.workspace, course, lesson, data, if_match(request), identity(caller))
        return answer(services, Kind.LESSON, (course,), written, HTTP_201_CREATED)

    @put("/{index:int}", sync_to_thread=True)
    def replace(self, request: Request[Any, Any, Any], services: Opened, caller: NamedDependency[User],
                course: FromPath[str], lesson: FromPath[str], index: FromPath[int],
                data: JSONBody[dict[str, Any]]) -> Response[WriteOut]:
        """Replace the snippet at `index` (0-based; needs the lesson's If-Match)."""
        written = operations.change_video(services.workspace, course, lesson, index, data, if_match(request),
                                       identity(caller))
        return answer(services, Kind.LESSON, (course,), written)

    @delete("/{index:int}", status_code=HTTP_200_OK, sync_to_thread=True)
    def remove(self, request: Request[Any, Any, Any], services: Opened, caller: NamedDependency[User],
               course: FromPath[str], lesson: FromPath[str], index: FromPath[int]) -> Response[WriteOut]:
        """Remove the snippet at `index` (needs the lesson's If-Match)."""
        written = operations.change_video(services.workspace, course, lesson, index, None, if_match(request),
                                       identity(caller))
        return answer(services, Kind.LESSON, (course,), written)


WRITE_CONTROLLERS.append(VideoWrites)
