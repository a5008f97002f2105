"""Unknown query parameters are refused (400), so typos never pass silently."""

from __future__ import annotations

from functools import cache
from typing import Any

from litestar import Request
from litestar.exceptions import ValidationException
from litestar.handlers import HTTPRouteHandler

_RESERVED = {"request", "state", "scope", "headers", "cookies", "query", "data", "body", "socket"}


@cache
def allowed_query(handler: HTTPRouteHandler) -> frozenset[str]:
    """The query parameter names a handler declares."""
    names = set(handler.parsed_fn_signature.parameters) - _RESERVED - set(handler.resolve_dependencies())
    return frozenset(names)


async def reject_unknown_query(request: Request[Any, Any, Any]) -> None:
    handler = request.route_handler
    if not isinstance(handler, HTTPRouteHandler) or not request.query_params:
        return
    unknown = sorted(set(request.query_params) - allowed_query(handler) - set(request.path_params))
    if unknown:
        allowed = ", ".join(sorted(allowed_query(handler) - set(request.path_params))) or "none"
        raise ValidationException(
            detail="unknown query parameter",
            extra=[{"key": name, "message": f"unknown query parameter {name!r}; allowed: {allowed}",
                    "source": "query"} for name in unknown])
