"""Search, index metadata and health."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Request, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.params import Parameter

from api.caching import NOT_CACHED
from api.deps import Opened, View
from api.pagination import PageNumber, PageSize, paged
from api.schemas import Health, Meta, SearchPage, to_wire
from api.spec import documented
from cms.read import queries
from cms.read.health import index_health
from cms.read.search import search as search_index

Query = Annotated[str, Parameter(min_length=1, max_length=200, description="Words to find: every one must appear "
                                                                           "(the last may be the start of a word).")]
Kind = Annotated[Literal["course", "lesson", "project"] | None, Parameter(description="Only hits of this kind.")]
Course = Annotated[str | None, Parameter(min_length=1, max_length=80, description="Only hits in this course "
                                                                                  "(its slug).")]


@get("/search", tags=["search"], opt=documented(paged=True))
async def search(request: Request[Any, Any, Any], view: NamedDependency[View], q: Query, kind: Kind = None,
                 course: Course = None, page: PageNumber = 1, page_size: PageSize = 20) -> Response[SearchPage]:
    """Ranked hits across courses, lessons and projects, best first, with highlighted snippets and each hit's
    public path."""
    rows, total = search_index(view.conn, q, kind, course, page, page_size, view.hidden)
    return paged(request, rows, total, page, page_size, SearchPage)


@get("/meta", tags=["status"])
async def meta(view: NamedDependency[View]) -> Meta:
    """The indexed commit, when the index was built, and how many entries it serves."""
    info = queries.meta(view.conn)
    return Meta(commit=info.get("commit") or None, built_at=info.get("built_at"),
                schema_version=info.get("schema_version"), counts=queries.counts(view.conn))


@get("/health", tags=["status"], cache_control=CacheControlHeader(no_store=True), opt=NOT_CACHED)
async def health(services: Opened, conn: NamedDependency[Any]) -> Health:  # sqlite3, or cms.read.postgres
    """Liveness and index status: the indexed commit, how far it lags the repository, and how many problems
    the index holds. Never cached."""
    return to_wire(index_health(conn, services.repo), Health)


HANDLERS = [search, meta, health]
