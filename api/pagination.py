"""Query parameter types shared by the listings, and one paged answer with a `Link` header for its neighbours."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.params import Parameter

from api.schemas import Page, to_wire

P = TypeVar("P", bound=Page)
PageNumber = Annotated[int, Parameter(ge=1, le=1_000_000, description="Page number, from 1.")]
PageSize = Annotated[int, Parameter(ge=1, le=100, description="Items per page, 1 to 100.")]


def text_filter(description: str) -> Any:
    """An optional text filter: present means 1 to 200 characters.

    The constraint must sit on the optional type: Litestar ignores it on `Annotated[...] | None`.
    """
    return Annotated[str | None, Parameter(min_length=1, max_length=200, description=description)]


Text = text_filter("Words to search for: every one must appear (the last may be the start of a word).")


def paged(request: Request[Any, Any, Any], rows: list[dict[str, Any]], total: int, page: int, page_size: int,
          shape: type[P]) -> Response[P]:
    """One page of `rows` as the page shape `shape`, with `Link` to the next and previous pages."""
    body = to_wire({"items": rows, "total": total, "page": page, "page_size": page_size}, shape)
    return Response(body, headers=link_header(request, page, page_size, total))


def paged_list(request: Request[Any, Any, Any], rows: list[dict[str, Any]], page: int, page_size: int,
               shape: type[P]) -> Response[P]:
    """`paged` over a whole (short) list: its page is cut out here."""
    start = (page - 1) * page_size
    return paged(request, rows[start:start + page_size], len(rows), page, page_size, shape)


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
