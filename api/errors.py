"""The one place where errors become HTTP: RFC 9457 problem details.

`problem()` shapes every error body; the handler mapping sends library
errors (`CmsError`, which carries its status), Litestar's HTTP errors
(validation included) and anything unexpected through it. A GET (or HEAD)
that finds nothing at a renamed entry's old path answers 301 instead, with
`Location` on the new path (`cms.read.redirects`).
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from api.deps import API_PREFIX, services_of
from api.schemas import ProblemOut
from cms.errors import CmsError, InvalidInput, NotAuthenticated, RateLimited
from cms.read import redirects

PROBLEM_TYPE = "application/problem+json"
TITLES = {400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 410: "Gone", 412: "Precondition failed", 413: "Payload too large",
          415: "Unsupported media type", 422: "Unprocessable content", 428: "Precondition required",
          429: "Too many requests", 500: "Internal server error", 502: "Bad gateway", 503: "Service unavailable"}
log = logging.getLogger("coursebase.api")
REDIRECTED_BASES = (API_PREFIX, "/preview")
"""Where an entry's public path is served: the read API, and the preview pages."""


def problem(status: int, detail: str, *, reason: str | None = None, errors: list[dict[str, Any]] | None = None,
            headers: dict[str, str] | None = None) -> Response[ProblemOut]:
    """A problem-details response; `reason` is a machine-readable word for the failure."""
    body = ProblemOut(type=f"urn:coursebase:problem:{reason or _slug(TITLES.get(status, 'error'))}",
                      title=TITLES.get(status, "Error"), status=status, detail=detail, errors=errors)
    return Response(body, status_code=status, media_type=PROBLEM_TYPE,
                    headers={"Cache-Control": "no-store", **(headers or {})})


def _slug(title: str) -> str:
    return title.lower().replace(" ", "-")


def moved(request: Request[Any, Any, Any]) -> Response[bytes] | None:
    """301 to where a renamed entry is now, for a GET (HEAD is one) that found nothing at its old path."""
    services = services_of(request.app)
    path = request.scope["path"]
    base = next((base for base in REDIRECTED_BASES if path.startswith(f"{base}/")), None)
    if request.method != "GET" or services is None or base is None:
        return None
    try:
        found = redirects.target(services.index.conn, path.removeprefix(base))
    except sqlite3.Error:  # an index from before redirects: nothing moved
        log.exception("redirects could not be read for %s", path)
        return None
    if found is None:
        return None
    query = request.scope.get("query_string", b"").decode("latin-1")
    private = "authorization" in request.headers or base != API_PREFIX  # a preview's query may hold its link
    cache = "private, no-store" if private else f"public, max-age={services.settings.cache_max_age}"
    return Response(b"", status_code=301, headers={"Location": f"{base}{found}{'?' * bool(query)}{query}",
                                                   "Cache-Control": cache, "Vary": "Authorization",
                                                   "Referrer-Policy": "no-referrer"})


def _cms_error(request: Request[Any, Any, Any], error: CmsError) -> Response[Any]:
    if error.status == 404 and (redirect := moved(request)) is not None:
        return redirect
    errors = [msgspec.structs.asdict(p) for p in error.problems] or None
    if isinstance(error, InvalidInput):
        errors = [{"key": key, "message": message, "source": "body"} for key, message in error.fields.items()]
    return problem(error.status, error.message, reason=error.reason, errors=errors, headers=_auth_headers(error))


def _auth_headers(error: CmsError) -> dict[str, str]:
    if isinstance(error, NotAuthenticated):
        token_problem = error.reason in ("invalid-token", "token-expired", "token-revoked")
        return {"WWW-Authenticate": 'Bearer error="invalid_token"' if token_problem else "Bearer"}
    if isinstance(error, RateLimited):
        return {"Retry-After": str(error.retry_after)}
    return {}


def _validation_error(_: Request[Any, Any, Any], error: ValidationException) -> Response[ProblemOut]:
    extra = error.extra if isinstance(error.extra, list) else ([error.extra] if error.extra else [])
    if not extra:  # a missing required parameter comes with its explanation in `detail` only
        extra = [{"message": str(error.detail)}]
    return problem(400, "The request has invalid parameters.", reason="invalid-parameters",
                   errors=[_plain(item) for item in extra])


def _plain(item: Any) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key in ("key", "message", "source")} \
        if isinstance(item, dict) else {"message": str(item)}


def _http_error(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    if error.status_code == 404 and (redirect := moved(request)) is not None:
        return redirect
    return problem(error.status_code, str(error.detail), headers=error.headers)


def _unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[ProblemOut]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "The server could not answer this request.")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    CmsError: _cms_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
