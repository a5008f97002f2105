"""Multipart uploads read as they arrive: the file part goes straight into a `cms.media.Spool` on disk.

Litestar's own form parsing would accept the whole body before the handler
runs; this parser feeds the spool chunk by chunk instead, so the type is
checked from the first bytes and the size limit stops an oversized upload
while it is still coming in. Text fields are small and named; the part's
file name is never read.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException
from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartState, parse_options_header

from cms.errors import InvalidInput, TooLarge, UnsupportedType
from cms.media import Spool

FILE_FIELD = "file"
FIELD_MAX = 4096
"""Bytes a text field may have."""
OVERHEAD = 64 * 1024
"""Bytes a request may have beyond the file: boundaries, part headers, text fields."""


class _Form:
    """Callbacks for `MultipartParser`: the `file` part into the spool, the other parts into `fields`."""

    def __init__(self, spool: Spool, allowed: frozenset[str]) -> None:
        self.spool = spool
        self.allowed = allowed
        self.fields: dict[str, str] = {}
        self.files = 0
        self._header = bytearray()
        self._value = bytearray()
        self._disposition = b""
        self._name: str | None = None
        self._text = bytearray()

    def callbacks(self) -> dict[str, Any]:
        return {"on_part_begin": self._begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished, "on_part_data": self._data,
                "on_part_end": self._end}

    def _begin(self) -> None:
        self._disposition, self._name = b"", None
        self._text.clear()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        if bytes(self._header).lower() == b"content-disposition":
            self._disposition = bytes(self._value)
        self._header.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name != FILE_FIELD and name not in self.allowed:
            raise InvalidInput({name or "(part)": f"unknown form field; send {FILE_FIELD} and "
                                                   f"{', '.join(sorted(self.allowed))}"})
        if name == FILE_FIELD:
            self.files += 1
            if self.files > 1:
                raise InvalidInput({FILE_FIELD: "send one file per upload"})
        self._name = name

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._name == FILE_FIELD:
            self.spool.write(data[start:end])
            return
        self._text += data[start:end]
        if len(self._text) > FIELD_MAX:
            raise InvalidInput({self._name or "(part)": f"a form field has at most {FIELD_MAX} bytes"})

    def _end(self) -> None:
        if self._name is None or self._name == FILE_FIELD:
            return
        try:
            self.fields[self._name] = self._text.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput({self._name: "must be UTF-8 text"}) from None


async def receive(request: Request[Any, Any, Any], spool: Spool, allowed: frozenset[str]) -> dict[str, str]:
    """Read a `multipart/form-data` body: its `file` part into `spool`; returns the text fields."""
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data" or not options.get(b"boundary"):
        raise UnsupportedType(f"send multipart/form-data with the file in a part named {FILE_FIELD!r}")
    limit = spool.limits.cap(None) + OVERHEAD
    if (request.content_length or 0) > limit:
        raise TooLarge("the request is larger than any upload may be")
    form = _Form(spool, allowed)
    parser = MultipartParser(options[b"boundary"], callbacks=form.callbacks())
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise TooLarge("the request is larger than any upload may be")
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        raise ClientException("the request body is not valid multipart/form-data") from None
    if parser.state != MultipartState.END:
        raise ClientException("the request body ended before its multipart form did")
    if form.files == 0:
        raise InvalidInput({FILE_FIELD: f"send the file in a form part named {FILE_FIELD!r}"})
    return form.fields
