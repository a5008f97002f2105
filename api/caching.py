"""Strong ETags, `If-None-Match` and `Cache-Control` for every successful GET, and a short hold of public answers.

An ASGI middleware: it buffers a GET's response, hashes the body into a
strong ETag (unless the handler gave one: a stored document's), answers
304 when the client already has it, and marks the response public (with
`max-age`) or, for requests that carry credentials, `private, no-store`.

Anonymous answers are also held in memory for `hold_seconds` (one second by
default), keyed by path and query and dropped at once when the index changes
(SQLite's `data_version`, or a replaced index file). A busy page is then built once a second rather
than on every request; `publish_at` is still honoured to within that second.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from litestar import Response
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import services_of
from cms.read import documents
from cms.read.documents import strong_etag

HELD_ENTRIES = 4096
HELD_BYTES = 24_000_000
"""At most this many bytes of held bodies per worker (a course outline is 100 KB, a lesson 15 KB)."""
HELD_STORED_BYTES = 64_000
"""Stored documents this large are held too (a course outline); smaller ones (a lesson) are read again, which
costs no more than holding them (measured: holding every lesson made random lesson reads slower)."""
NOT_CACHED = {"not_cached": True}
"""Handler `opt` for answers that are never cached nor held (`/health`): they pass through untouched."""
STORED = "stored_document"
"""Handler `opt` key: the key of the stored document (`cms.read.documents`) that answers its path parameters."""


KEPT = "kept_while"
"""Handler `opt` key: for how many seconds the route's anonymous answers stay right while the index is unchanged."""
KEPT_SECONDS = 3600.0
"""The longest a kept answer is reused without the index changing."""


def kept_while(seconds: Callable[[Any], float]) -> dict[str, Any]:
    """Handler `opt` for a route whose anonymous answers change only with the index and the clock (`seconds(conn)`
    says until when): they are held that long whatever `hold_seconds` is, and dropped when the index changes."""
    return {KEPT: seconds}


def stored_as(key: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """Handler `opt` for a route whose anonymous answers are stored documents: the middleware answers those
    itself, with one key lookup; the handler answers everything else (hidden, missing, malformed)."""
    return {STORED: key}
IndexVersion = tuple[int, int]
"""`LiveIndex.version()`: changes whenever the index may have."""


def json_answer(body: bytes, etag: str | None = None, headers: dict[str, str] | None = None) -> Response[Any]:
    """A JSON body that is already encoded (a stored document), with its ETag when known (else it is hashed here)."""
    given = {**(headers or {}), **({"ETag": etag} if etag else {})}
    return Response(body, media_type="application/json", headers=given)


@dataclass(frozen=True)
class Prepared:
    """A finished 200 answer: its headers (ETag and Cache-Control included), ETag and body."""

    start: dict[str, Any]
    etag: bytes
    body: bytes
    index_version: IndexVersion
    until: float


class HeldAnswers:
    """Recent anonymous answers, valid while the index is unchanged and for a short while."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.entries: OrderedDict[tuple[str, bytes], Prepared] = OrderedDict()
        self.size = 0
        """Bytes of the bodies held."""

    def get(self, key: tuple[str, bytes], index_version: IndexVersion) -> Prepared | None:
        held = self.entries.get(key)
        if held is None or held.index_version != index_version or held.until < time.monotonic():
            return None
        return held

    def put(self, key: tuple[str, bytes], held: Prepared) -> None:
        replaced = self.entries.pop(key, None)
        self.size += len(held.body) - (len(replaced.body) if replaced else 0)
        self.entries[key] = held
        while len(self.entries) > HELD_ENTRIES or self.size > HELD_BYTES:
            _, oldest = self.entries.popitem(last=False)
            self.size -= len(oldest.body)


class CachingMiddleware:
    def __init__(self, app: ASGIApp, max_age: int, hold_seconds: float = 1.0) -> None:
        self.app = app
        self.public = f"public, max-age={max_age}".encode()
        self.held = HeldAnswers(hold_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["route_handler"].opt.get("not_cached"):
            await self.app(scope, receive, send)
            return
        if _reads_ref(scope.get("query_string", b"")):
            await self.app(scope, receive, preview_answer(send, scope["query_string"]))
            return
        request_headers = dict(scope["headers"])
        key = (scope["path"], scope.get("query_string", b""))
        holding = self._holding(scope, request_headers)
        held = self.held.get(key, self._version(scope)) if holding and key in self.held.entries else None
        if held is not None:
            await _reply(held, request_headers, send)
            return
        index_version = self._version(scope) if holding else None  # before the read: a newer index ends the hold
        stored = self._stored(scope, request_headers)
        if stored is not None:
            if index_version is not None and len(stored.body) >= HELD_STORED_BYTES:
                self.held.put(key, dataclasses.replace(stored, index_version=index_version,
                                                       until=time.monotonic() + self.held.seconds))
            await _reply(stored, request_headers, send)
            return

        async def finish(start: dict[str, Any], body: bytes) -> None:
            await self._finish(start, body, request_headers, send, key, index_version, lambda: self._lifetime(scope))

        await self.app(scope, receive, buffering(send, finish))

    def _stored(self, scope: Scope, request_headers: dict[bytes, bytes]) -> Prepared | None:
        """A stored document's answer, for an anonymous GET without a query of a route that has them.

        What is not stored (hidden, missing, a malformed name) goes on to the handler, which answers it.
        """
        key_of = scope["route_handler"].opt.get(STORED)
        services = services_of(scope["app"])
        if key_of is None or scope.get("query_string") or b"authorization" in request_headers or services is None:
            return None
        found = documents.stored(services.index.conn, key_of(scope["path_params"]))
        if found is None:
            return None
        headers = [(b"content-type", b"application/json"), (b"etag", found.etag.encode()),
                   (b"cache-control", self.public), (b"vary", b"Authorization")]
        return Prepared(start={"type": "http.response.start", "status": 200, "headers": headers},
                        etag=found.etag.encode(), body=found.body, index_version=(0, 0), until=0.0)

    def _holding(self, scope: Scope, request_headers: dict[bytes, bytes]) -> bool:
        """Whether this answer may be held: anonymous, and holding on or a kept route (once the app is up)."""
        if b"authorization" in request_headers or (self.held.seconds <= 0 and KEPT not in scope["route_handler"].opt):
            return False
        return services_of(scope["app"]) is not None

    def _version(self, scope: Scope) -> IndexVersion:
        """The index's change counter (`_holding` says the services are there)."""
        services = services_of(scope["app"])
        assert services is not None
        return services.index.version()

    def _lifetime(self, scope: Scope) -> float:
        """How long an answer may be held: `hold_seconds`, or for a kept route until the clock changes it."""
        kept, services = scope["route_handler"].opt.get(KEPT), services_of(scope["app"])
        if kept is None or services is None:
            return self.held.seconds
        return max(self.held.seconds, min(kept(services.index.conn), KEPT_SECONDS))

    async def _finish(self, start: dict[str, Any], body: bytes, request_headers: dict[bytes, bytes], send: Send,
                      key: tuple[str, bytes], index_version: IndexVersion | None,
                      lifetime: Callable[[], float]) -> None:
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        if start["status"] != 200:
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        given = next((value for name, value in headers if name.lower() == b"etag"), None)
        etag = given or strong_etag(body).encode()
        private = b"authorization" in request_headers
        headers = [(k, v) for k, v in headers if k.lower() not in (b"etag", b"cache-control")]
        headers += [(b"etag", etag), (b"cache-control", b"private, no-store" if private else self.public),
                    (b"vary", b"Authorization")]
        prepared = Prepared(start={**start, "headers": headers}, etag=etag, body=body,
                            index_version=index_version or (0, 0),
                            until=time.monotonic() + (lifetime() if index_version is not None else 0.0))
        if index_version is not None:
            self.held.put(key, prepared)
        await _reply(prepared, request_headers, send)


async def _reply(prepared: Prepared, request_headers: dict[bytes, bytes], send: Send) -> None:
    """Send a prepared answer, or 304 when the client already holds it."""
    headers = prepared.start["headers"]
    if _matches(request_headers.get(b"if-none-match"), prepared.etag):
        await send({"type": "http.response.start", "status": 304,
                    "headers": [(k, v) for k, v in headers if k.lower() != b"content-type"]})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({**prepared.start, "headers": [*headers, (b"content-length", str(len(prepared.body)).encode())]})
    await send({"type": "http.response.body", "body": prepared.body})


def _matches(header: bytes | None, etag: bytes) -> bool:
    """`If-None-Match` uses the weak comparison (RFC 9110 §13.1.2): `W/"x"` matches `"x"`."""
    if header is None:
        return False
    candidates = [item.strip().removeprefix(b"W/") for item in header.split(b",")]
    return etag in candidates or b"*" in candidates


def _reads_ref(query: bytes) -> bool:
    """Whether a query string asks for a preview (`ref`)."""
    return b"ref=" in query and any(name == "ref" for name, _ in parse_qsl(query.decode("latin-1"), True))


def preview_answer(send: Send, query: bytes) -> Send:
    """A preview's answer (`?ref=`): `private, no-store`, never held nor answered 304, its ETag its own.

    The ETag hashes the query (the ref) with the body, so an answer from one ref never matches another's.
    """

    async def finish(start: dict[str, Any], body: bytes) -> None:
        headers = [(k, v) for k, v in start.get("headers", [])
                   if k.lower() not in (b"etag", b"cache-control", b"content-length")]
        if start["status"] == 200:
            tag = hashlib.blake2b(query + b"\0" + body, digest_size=16).hexdigest()
            headers += [(b"etag", f'"{tag}"'.encode()), (b"vary", b"Authorization")]
        headers += [(b"cache-control", b"private, no-store"), (b"content-length", str(len(body)).encode())]
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return buffering(send, finish)


def buffering(send: Send, finish: Callable[[dict[str, Any], bytes], Awaitable[None]]) -> Send:
    """A `send` that passes other messages on and hands a whole answer, its start and its body, to `finish`."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def buffered(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] != "http.response.body":
            await send(message)
        else:
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                await finish(start, b"".join(chunks))

    return buffered
