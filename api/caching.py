"""Strong ETags, `If-None-Match` and `Cache-Control` for every successful GET.

An ASGI middleware: it buffers a GET's response, hashes the body into a
strong ETag, answers 304 when the client already has it, and marks the
response public (with `max-age`) or, for requests that carry credentials,
`private, no-store`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send


def strong_etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


class CachingMiddleware:
    def __init__(self, app: ASGIApp, max_age: int) -> None:
        self.app = app
        self.public = f"public, max-age={max_age}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        request_headers = dict(scope["headers"])
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def buffered(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                await self._finish(start, b"".join(chunks), request_headers, send)

        await self.app(scope, receive, buffered)

    async def _finish(self, start: dict[str, Any], body: bytes, request_headers: dict[bytes, bytes],
                      send: Send) -> None:
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        if start["status"] != 200:
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        etag = strong_etag(body).encode()
        private = b"authorization" in request_headers
        headers = [(k, v) for k, v in headers if k.lower() not in (b"etag", b"cache-control")]
        headers += [(b"etag", etag), (b"cache-control", b"private, no-store" if private else self.public),
                    (b"vary", b"Authorization")]
        if _matches(request_headers.get(b"if-none-match"), etag):
            await send({"type": "http.response.start", "status": 304,
                        "headers": [(k, v) for k, v in headers if k.lower() != b"content-type"]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _matches(header: bytes | None, etag: bytes) -> bool:
    if header is None:
        return False
    candidates = [item.strip() for item in header.split(b",")]
    return etag in candidates or b"*" in candidates
