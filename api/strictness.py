"""Requests are taken strictly, so mistakes never pass silently, before any handler runs.

- Unknown query parameters are refused (400).
- A route that takes a JSON body takes nothing else (415), and a body decoded to a Struct has its types
  exactly (400: `0` is not `false`, `"5"` is not `5`).
- A JSON body, on any route, may nest at most `MAX_JSON_DEPTH` levels (400; deeper ones would
  exhaust the parsers' recursion) and may not repeat a key in one object (422; the last would
  silently win).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from typing import Any

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, ValidationException
from litestar.handlers import HTTPRouteHandler

from cms.errors import InvalidInput

_RESERVED = {"request", "state", "scope", "headers", "cookies", "query", "data", "body", "socket"}


@cache
def allowed_query(handler: HTTPRouteHandler) -> frozenset[str]:
    """The query parameter names a handler declares, itself or through its dependencies (`?ref=` on reads)."""
    dependencies = handler.resolve_dependencies()
    names = set(handler.parsed_fn_signature.parameters)
    for name in handler.parsed_fn_signature.parameters:
        if name in dependencies:
            names |= set(dependencies[name].parsed_fn_signature.parameters)
    return frozenset(names - _RESERVED - set(dependencies))


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


MAX_JSON_DEPTH = 32
JSON_MEDIA_TYPE = "application/json"
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
"""A JSON string, or an unterminated one up to the end: possessive, so it never backtracks."""
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


async def strict_request(request: Request[Any, Any, Any]) -> None:
    """Every check of this module, as the app's `before_request` hook."""
    await reject_unknown_query(request)
    await check_json_body(request)


async def check_json_body(request: Request[Any, Any, Any]) -> None:
    """415 for a body that is not JSON where JSON is taken; 400 and 422 for JSON nested too deep or with a key twice.

    A route that reads its body as a stream (no size limit, such as uploads) is left to itself.
    """
    handler = request.route_handler
    if not isinstance(handler, HTTPRouteHandler) or handler.resolve_request_max_body_size() is None:
        return
    is_json = request.content_type[0] == JSON_MEDIA_TYPE
    if takes_json(handler) and not is_json:
        raise ClientException(f"send the body as JSON with `Content-Type: {JSON_MEDIA_TYPE}`", status_code=415)
    if is_json:
        body = await request.body()
        check_json(body)
        _check_types(body, struct_body(handler))


@cache
def struct_body(handler: HTTPRouteHandler) -> type[msgspec.Struct] | None:
    """The Struct a handler's JSON body decodes to, if it is one."""
    data = handler.parsed_fn_signature.parameters.get("data")
    annotation = data.annotation if data is not None else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct) else None


def _check_types(body: bytes, shape: type[msgspec.Struct] | None) -> None:
    """A body of the wrong types is refused (400), never converted: `0` is not `false`, `"5"` is not `5`."""
    if shape is None:
        return
    try:
        msgspec.json.decode(body, type=shape, strict=True)
    except msgspec.ValidationError as error:
        raise ValidationException(detail="the JSON body does not fit the schema",
                                  extra=[{"message": str(error), "source": "body"}]) from None
    except msgspec.DecodeError:
        return  # not JSON at all: the route says what it expected


@cache
def takes_json(handler: HTTPRouteHandler) -> bool:
    """Whether a handler's `data` is a JSON body."""
    data = handler.parsed_fn_signature.parameters.get("data")
    media_type = getattr(data.kwarg_definition, "media_type", RequestEncodingType.JSON) if data else None
    return media_type == RequestEncodingType.JSON


def check_json(body: bytes) -> None:
    """Refuse JSON nested deeper than `MAX_JSON_DEPTH` (400) or with a key twice in one object (422).

    The depth is measured on the bytes before any parser recurses. A body that is not JSON at all
    is left to the route, which says what it expected.
    """
    if _depth_exceeds(_STRING.sub(b"", body).translate(_BRACKETS, _NOT_BRACKETS), MAX_JSON_DEPTH):
        raise ClientException(f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        json.loads(body.decode(), object_pairs_hook=_without_repeats)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return


def _depth_exceeds(brackets: bytes, limit: int) -> bool:
    """Whether `brackets` (`[` and `]` only) nest deeper than `limit`.

    Each pass removes the innermost pairs, so n passes clear what nests n deep; whatever is left
    once a pass changes nothing is unbalanced (`]]][[`), and each `[` in it never closes.
    """
    for passes in range(limit + 1):
        inner = brackets.replace(b"[]", b"")
        if inner == brackets:
            return passes + brackets.count(b"[") > limit
        brackets = inner
    return True


def _without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) < len(pairs):
        repeated = next(key for key, count in Counter(key for key, _ in pairs).items() if count > 1)
        raise InvalidInput({repeated: "appears more than once in one JSON object; send each key once"})
    return found
