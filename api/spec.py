"""The OpenAPI document as served: Litestar's generated document, completed in this one place.

Litestar documents each handler's parameters, body and success answer. What
applies to many handlers at once is added here, from the handlers
themselves, so the document says what the API does:

- every error a handler can answer, as `application/problem+json` with the
  `Problem` schema (Litestar's own `{status_code, detail, extra}` is
  removed): 400 everywhere (unknown query parameters), 401 everywhere (a
  bearer token that is not valid), 403 and 503 where a role guard and the
  admin API apply, 415 and 422 where a JSON body is taken, and the statuses
  a handler declares with `documented(...)` (404, 409, 412, 413, …), and
  403 and 404 where `?ref=` reads another branch or commit;
- conditional requests: `If-None-Match`, 304, `ETag` and `Cache-Control`
  on GETs, 301 with `Location` on GETs of an entry's path (a renamed
  entry), `Link` on paged listings, `If-Match` (with 412 and 428) on
  writes that need it, `Location` on creates;
- security: the `bearer` scheme on routes with a role guard, optional on
  the public reads (a staff token shows drafts), the refresh cookie where
  `documented(cookie=True)`.

`ServedDocument` renders the completed document as `openapi.json`, once
per app.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.routes import HTTPRoute

from api.deps import API_PREFIX
from cms.read.redirects import PREFIXES

CONTRACT = "contract"
"""The handler `opt` key `documented()` fills in."""
PROBLEM_MEDIA_TYPE = "application/problem+json"
REF = "#/components/schemas/{name}"
PROBLEM_REF = {"$ref": REF.format(name="Problem")}
BEARER = "bearer"
REFRESH_COOKIE = "refreshCookie"


@dataclass(frozen=True)
class EntryBody:
    """A content write's JSON body (taken as a dict, so it is validated like a file), documented from the
    content model it becomes: the model's fields plus `extra` ones (`slug`, `body`, placement)."""

    name: str
    model: type[msgspec.Struct]
    description: str
    extra: dict[str, dict[str, Any]]
    required: tuple[str, ...] = ()
    open: bool = False
    """Other keys are allowed too (a PUT of what a read answered)."""
    many: bool = False
    """A list of such objects (bulk)."""
    references: dict[str, str] | None = None
    """Fields naming another entry that may also be sent as the object a read shows, with the key naming it."""

    def components(self) -> dict[str, dict[str, Any]]:
        _, found = msgspec.json.schema_components([self.model], ref_template=REF)
        base = found.pop(self.model.__name__)
        properties = {name: self._as_read(name, schema) for name, schema in base["properties"].items()}
        found[self.name] = {**base, "title": self.name, "description": self.description,
                            "properties": {**properties, **self.extra},
                            "required": sorted({*base.get("required", []), *self.required}),
                            "additionalProperties": self.open}
        return found

    def _as_read(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        key = (self.references or {}).get(name)
        if key is None:
            return schema
        read = {"type": "object", "required": [key], "properties": {key: {"type": "string"}},
                "description": f"the object a read shows (its `{key}` counts)"}
        if schema.get("type") == "array":
            return {**schema, "items": {"anyOf": [schema["items"], read]}}
        return {"anyOf": [*schema.get("anyOf", [schema]), read]}

    def schema(self) -> dict[str, Any]:
        ref = {"$ref": REF.format(name=self.name)}
        return {"type": "array", "items": ref, "minItems": 1, "maxItems": 100} if self.many else ref


@dataclass(frozen=True)
class Contract:
    """What a handler declares beyond its signature; see `documented`."""

    errors: tuple[int, ...] = ()
    paged: bool = False
    if_match: bool = False
    cookie: bool = False
    anonymous: bool = False
    tokenless: bool = False
    creates: bool = False
    body: EntryBody | None = None


def documented(*errors: int, paged: bool = False, if_match: bool = False, cookie: bool = False,
               anonymous: bool = False, tokenless: bool = False, creates: bool = False,
               body: EntryBody | None = None) -> dict[str, Contract]:
    """A handler's `opt`: the error statuses it answers besides the ones every handler of its kind does,
    whether it is a paged listing (`Link`), needs `If-Match` (412, 428), reads the refresh cookie (and
    works without it: `anonymous`), takes no token at all (`tokenless`: logging in, the signed webhook),
    creates an entry (`Location`), or takes a content entry as its body."""
    return {CONTRACT: Contract(errors=errors, paged=paged, if_match=if_match, cookie=cookie, anonymous=anonymous,
                               tokenless=tokenless, creates=creates, body=body)}


ERRORS = {
    400: "The request is malformed: an unknown query parameter, a bad value, JSON nested too deep.",
    401: "The `Authorization` header is not a valid, current access token (or one is needed and missing).",
    403: "The access token's role may not do this.",
    404: "Nothing by that name, or nothing the caller may see (both answer alike).",
    409: "The repository or the data forbids it now; the problem's `type` names the reason.",
    410: "What the request names is no longer known here (a sync token: sync from scratch, without `since`).",
    412: "`If-Match` names a version that is no longer current: read the entry again.",
    413: "The request is over a size limit.",
    415: "The body is not of a type this route takes.",
    422: "The body breaks a rule; `errors` lists each problem.",
    428: "This write needs `If-Match` with the version last read.",
    429: "Too many attempts; `Retry-After` says when to try again.",
    502: "An outside service (Cloudinary, Gemini, the git remote) failed; nothing was written.",
    503: "This part of the API is not configured on this server.",
}
PROBLEM_SCHEMA = {
    "type": "object",
    "description": "An RFC 9457 problem: every error answer.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "`urn:coursebase:problem:<reason>`, a machine-readable reason."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What went wrong and how to fix it."},
        "errors": {"type": "array", "description": "Each problem found (validation), when there are several.",
                   "items": {"type": "object", "additionalProperties": True}},
    },
}
SECURITY_SCHEMES = {
    BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
             "description": "An access token from `POST /auth/login`; ADMIN and MODERATOR tokens also read "
                            "drafts on the public routes."},
    REFRESH_COOKIE: {"type": "apiKey", "in": "cookie", "name": "cms_refresh",
                     "description": "The refresh token `POST /auth/login` sets (HttpOnly, path /api/v1/auth)."},
}


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


ETAG = _header("The representation's entity tag (for `If-None-Match`); on a write, the entry's new version "
               "(for `If-Match`).")
CACHE_CONTROL = _header("`public, max-age=…` for anonymous reads; `private, no-store` with a token.")
LINK = _header('`<…>; rel="next"` and `<…>; rel="prev"` where those pages exist.')
LOCATION = _header("Where the new entry is read.")
ENTITY_TAGS = {"type": "string", "minLength": 1, "pattern": r"\S",
               "description": '`*`, or entity tags: `"<tag>"`, `W/"<tag>"`, separated by commas (RFC 9110 §8.8.3).'}
"""What `If-Match` and `If-None-Match` hold. Read leniently: a tag that names no current version is just stale."""
IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "required": False,
                 "description": "Entity tags already held (weak comparison): the answer is 304 when one matches.",
                 "schema": {"type": "string"}}
IF_MATCH = {"name": "If-Match", "in": "header", "required": True,
            "description": 'The version last read, as `"<version>"` (or `*`, or a list); a stale one gets 412.',
            "schema": ENTITY_TAGS}
MOVED = {"description": "The entry was renamed or moved: `Location` names its path now, with the query kept "
                        "(`GET /redirects` lists them).",
         "headers": {"Location": _header("Where the entry is now."),
                     "Cache-Control": _header("`public, max-age=…`; `private, no-store` with a token.")}}
PROBLEM_HEADERS = {401: {"WWW-Authenticate": _header("`Bearer`, with `error=\"invalid_token\"` for a bad one.")},
                   429: {"Retry-After": _header("Seconds to wait.", {"type": "integer"})}}


def complete(document: dict[str, Any], app: Litestar) -> dict[str, Any]:
    """`document` with every operation's errors, conditional headers and security filled in."""
    document = copy.deepcopy(document)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = SECURITY_SCHEMES
    operations = list(_operations(app))
    schemas.update(_request_structs([handler for _, _, handler in operations]))
    for path, method, handler in operations:
        operation = document["paths"].get(path, {}).get(method.lower())
        if operation is not None:
            _complete_operation(operation, method, handler)
            if method == "GET" and _moves(path):
                operation["responses"]["301"] = MOVED
            body = handler.opt.get(CONTRACT, Contract()).body
            if body is not None:
                schemas.update(body.components())
                operation["requestBody"] = {"required": True, "content": {"application/json": {
                    "schema": body.schema()}}}
    components["schemas"] = dict(sorted(schemas.items()))
    return document


def _moves(path: str) -> bool:
    """Whether a GET of `path` may answer 301: an entry's path, or one below it (`cms.read.redirects`)."""
    return "{" in path and path.removeprefix(API_PREFIX).startswith(PREFIXES)


def _request_structs(handlers: list[HTTPRouteHandler]) -> dict[str, dict[str, Any]]:
    """Request bodies that are msgspec Structs, as msgspec describes them: Litestar's own description leaves out
    `forbid_unknown_fields` (`additionalProperties: false`) and `extra_json_schema` (rules checked later)."""
    structs = set()
    for handler in handlers:
        field = handler.parsed_data_field
        if field is not None and isinstance(field.annotation, type) and issubclass(field.annotation, msgspec.Struct):
            structs.add(field.annotation)
    _, found = msgspec.json.schema_components(sorted(structs, key=lambda struct: struct.__name__), ref_template=REF)
    return found


def _operations(app: Litestar) -> Iterator[tuple[str, str, HTTPRouteHandler]]:
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for method, (handler, _) in route.route_handler_map.items():
                if handler.resolve_include_in_schema():
                    yield route.path_format or "/", method, handler


def _complete_operation(operation: dict[str, Any], method: str, handler: HTTPRouteHandler) -> None:
    contract: Contract = handler.opt.get(CONTRACT, Contract())
    roles = _guarded(handler)
    responses = operation.setdefault("responses", {})
    success = next((responses[code] for code in sorted(responses) if code.startswith("2")), None)
    for code in [code for code in responses if code[0] in "45"]:
        del responses[code]  # Litestar's own error documentation, replaced below
    if "204" in responses:
        responses["204"].pop("content", None)  # no content, so no media type
    statuses = _error_statuses(operation, contract, roles, _admin(handler))
    if any(parameter.get("name") == "ref" for parameter in operation.get("parameters", [])):
        statuses |= {403, 404}  # a preview: refused without a staff token or a valid link, an unknown ref
    for status in sorted(statuses):
        responses[str(status)] = _problem(status)
    parameters = operation.setdefault("parameters", [])
    headers = success.setdefault("headers", {}) if success is not None else {}
    if method == "GET":
        parameters.append(IF_NONE_MATCH)
        headers.update({"ETag": ETAG, "Cache-Control": CACHE_CONTROL})
        responses["304"] = {"description": "Not modified: the `If-None-Match` tag is current.",
                            "headers": {"ETag": ETAG}}
    if contract.paged:
        headers["Link"] = LINK
    if contract.if_match:
        parameters.append(IF_MATCH)
    if contract.if_match or contract.creates:
        headers["ETag"] = ETAG
    if contract.creates:
        headers["Location"] = LOCATION
    operation["security"] = _security(roles, contract)
    if not parameters:
        del operation["parameters"]


def _guards(handler: HTTPRouteHandler) -> list[Any]:
    """The guards of the handler and the layers above it, as declared (`resolve_guards` wraps them)."""
    return [guard for layer in handler.ownership_layers for guard in (layer.guards or [])]


def _guarded(handler: HTTPRouteHandler) -> bool:
    """Whether a role guard protects the handler (`api.auth.requires` marks its guards)."""
    return any(getattr(guard, "roles", None) for guard in _guards(handler))


def _admin(handler: HTTPRouteHandler) -> bool:
    """Whether the handler needs the admin API (503 without CMS_SECRET_KEY)."""
    return any(getattr(guard, "admin_api", False) for guard in _guards(handler))


def _error_statuses(operation: dict[str, Any], contract: Contract, roles: bool, admin: bool) -> set[int]:
    statuses = {400, 401, *contract.errors}
    if roles:
        statuses.add(403)
    if admin:
        statuses.add(503)
    body = operation.get("requestBody", {}).get("content", {})
    if "application/json" in body:
        statuses |= {415, 422}
    if contract.if_match:
        statuses |= {412, 428}
    return statuses


def _problem(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": ERRORS[status],
                              "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}}
    if status in PROBLEM_HEADERS:
        answer["headers"] = PROBLEM_HEADERS[status]
    return answer


def _security(roles: bool, contract: Contract) -> list[dict[str, list[str]]]:
    if contract.cookie:
        return [{REFRESH_COOKIE: []}, *([{BEARER: []}, {}] if contract.anonymous else [])]
    if contract.tokenless:
        return []
    if roles:
        return [{BEARER: []}]
    return [{}, {BEARER: []}]


class ServedDocument(JsonRenderPlugin):
    """`openapi.json`: the completed document, encoded once per app."""

    def __init__(self) -> None:
        super().__init__()
        self._encoded: bytes | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._encoded is None:
            self._encoded = msgspec.json.encode(complete(openapi_schema, request.app))
        return self._encoded
