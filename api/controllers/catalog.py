"""Authors, categories, learning paths and media records."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency

from api.deps import View
from api.pagination import PageNumber, PageSize, paged_list
from api.params import AuthorSlug, MediaId, PathSlug
from api.schemas import AuthorDetail, AuthorPage, CategoryPage, MediaOut, PathDetail, PathPage, to_wire
from api.spec import documented
from cms.read import views


@get("/authors", tags=["authors"], opt=documented(paged=True))
async def list_authors(request: Request[Any, Any, Any], view: NamedDependency[View], page: PageNumber = 1,
                       page_size: PageSize = 20) -> Response[AuthorPage]:
    """Public author profiles, by name."""
    return paged_list(request, views.authors(view.conn, view.hidden), page, page_size, AuthorPage)


@get("/authors/{author:str}", tags=["authors"], opt=documented(404))
async def get_author(view: NamedDependency[View], author: AuthorSlug) -> AuthorDetail:
    """One author's public profile with their published courses."""
    return to_wire(views.author_detail(view.conn, author, view.hidden), AuthorDetail)


@get("/categories", tags=["categories"], opt=documented(paged=True))
async def list_categories(request: Request[Any, Any, Any], view: NamedDependency[View], page: PageNumber = 1,
                          page_size: PageSize = 20) -> Response[CategoryPage]:
    """Categories with the number of published courses in each."""
    return paged_list(request, views.categories(view.conn, view.hidden), page, page_size, CategoryPage)


@get("/paths", tags=["paths"], opt=documented(paged=True))
async def list_paths(request: Request[Any, Any, Any], view: NamedDependency[View], page: PageNumber = 1,
                     page_size: PageSize = 20) -> Response[PathPage]:
    """Published learning paths, each with its courses in order."""
    return paged_list(request, views.paths(view.conn, view.hidden), page, page_size, PathPage)


@get("/paths/{path:str}", tags=["paths"], opt=documented(404))
async def get_path(view: NamedDependency[View], path: PathSlug) -> PathDetail:
    """One learning path with its courses in order."""
    return to_wire(views.path_detail(view.conn, path, view.hidden), PathDetail)


@get("/media/{media_id:str}", tags=["media"], opt=documented(404))
async def get_media(view: NamedDependency[View], media_id: MediaId) -> MediaOut:
    """One media record (not deleted)."""
    return to_wire(views.media_detail(view.conn, media_id, view.hidden), MediaOut)


HANDLERS = [list_authors, get_author, list_categories, list_paths, get_path, get_media]
