"""Query parameter types shared by the listings, and one paged answer with a `Link` header for its neighbours."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.params import Parameter

from api.schemas import Page, to_wire

T = TypeVar("T")
PageNumber = Annotated[int, Parameter(ge=1, le=1_000_000, description="Page number, from 1.")]
PageSize = Annotated[int, Parameter(ge=1, le=100, description="Items per page, 1 to 100.")]
# The constraint must sit on the optional type: Litestar ignores it on `Annotated[...] | None`.
Text = Annotated[str | None, Parameter(min_length=1, max_length=200)]
"""An optional text filter: present means 1 to 200 characters."""


def paged(request: Request[Any, Any, Any], rows: list[dict[str, Any]], total: int, page: int, page_size: int,
          shape: type[T]) -> Response[Page[T]]:
    """One page of `rows` as `shape`, with `Link` to the next and previous pages."""
    body = Page(items=to_wire(rows, list[shape]), total=total, page=page, page_size=page_size)  # type: ignore[valid-type]
    return Response(body, headers=link_header(request, page, page_size, total))


def link_header(request: Request[Any, Any, Any], page: int, page_size: int, total: int) -> dict[str, str]:
    """`Link: <…>; rel="next", <…>; rel="prev"` where those pages exist."""
    links = []
    last = max(1, -(-total // page_size))
    if page < last:
        links.append(f'<{_with_page(request, page + 1)}>; rel="next"')
    if 1 < page <= last + 1:
        links.append(f'<{_with_page(request, min(page - 1, last))}>; rel="prev"')
    return {"Link": ", ".join(links)} if links else {}


def _with_page(request: Request[Any, Any, Any], page: int) -> str:
    query = {**dict(request.query_params), "page": str(page)}
    return str(request.url.with_replacements(query=urlencode(query)))
