"""The one place where errors become HTTP: RFC 9457 problem details.

`problem()` shapes every error body; the handler mapping sends library
errors (`CmsError`, which carries its status), Litestar's HTTP errors
(validation included) and anything unexpected through it.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from api.schemas import ProblemOut
from cms.errors import CmsError, InvalidInput, NotAuthenticated, RateLimited

PROBLEM_TYPE = "application/problem+json"
TITLES = {400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 410: "Gone", 412: "Precondition failed", 413: "Payload too large",
          415: "Unsupported media type", 422: "Unprocessable content", 428: "Precondition required",
          429: "Too many requests", 500: "Internal server error", 502: "Bad gateway", 503: "Service unavailable"}
log = logging.getLogger("coursebase.api")


def problem(status: int, detail: str, *, reason: str | None = None, errors: list[dict[str, Any]] | None = None,
            headers: dict[str, str] | None = None) -> Response[ProblemOut]:
    """A problem-details response; `reason` is a machine-readable word for the failure."""
    body = ProblemOut(type=f"urn:coursebase:problem:{reason or _slug(TITLES.get(status, 'error'))}",
                      title=TITLES.get(status, "Error"), status=status, detail=detail, errors=errors)
    return Response(body, status_code=status, media_type=PROBLEM_TYPE,
                    headers={"Cache-Control": "no-store", **(headers or {})})


def _slug(title: str) -> str:
    return title.lower().replace(" ", "-")


def _cms_error(_: Request[Any, Any, Any], error: CmsError) -> Response[ProblemOut]:
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


def _http_error(_: Request[Any, Any, Any], error: HTTPException) -> Response[ProblemOut]:
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
