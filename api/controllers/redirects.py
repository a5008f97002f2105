"""`GET /redirects`: the old public paths of renamed entries, and where each leads now (`cms.read.redirects`)."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Request, Response, get
from litestar.di import NamedDependency

from api.deps import View
from api.pagination import PageNumber, PageSize, paged
from api.schemas import Page, Wire
from api.spec import documented
from cms.read.redirects import redirects_page


class RedirectOut(Wire, kw_only=True):
    """A renamed entry's old public path, answered with 301 and `Location` on its new one."""

    kind: Literal["course", "section", "lesson", "project", "path", "author", "media"]
    old_path: str
    """The path it had (under `/api/v1`, as a search hit's `path`): a GET there answers 301."""
    new_path: str
    """Where it is now."""
    commit: str
    """The commit that last moved it."""
    renamed_at: str
    """That commit's author date."""


class RedirectPage(Page, kw_only=True):
    """One page of RedirectOut items, with how many there are in all."""

    items: list[RedirectOut]
    total: int
    page: int
    page_size: int


@get("/redirects", tags=["redirects"], opt=documented(paged=True))
async def list_redirects(request: Request[Any, Any, Any], view: NamedDependency[View], page: PageNumber = 1,
                         page_size: PageSize = 20) -> Response[RedirectPage]:
    """The old paths of entries git saw renamed or moved, by old path, each with the path it leads to now (chains
    collapsed; a path that names an entry again is not listed)."""
    rows, total = redirects_page(view.conn, page, page_size)
    return paged(request, rows, total, page, page_size, RedirectPage)
