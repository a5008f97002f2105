"""How big an upload may be, and the upload itself as it arrives: spooled to disk and checked on the way."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from cms.errors import InvalidInput, TooLarge
from cms.media.sniffing import SNIFF_BYTES, AssetKind, Sniffed, sniff
from cms.settings import Settings

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Upload limits in bytes, from the CMS_MEDIA_* settings."""

    max_image: int
    max_video: int
    chunked_over: int
    chunk_size: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(max_image=_bytes(settings.media_max_image_mb), max_video=_bytes(settings.media_max_video_mb),
                   chunked_over=_bytes(settings.media_chunked_over_mb), chunk_size=_bytes(settings.media_chunk_mb))

    def cap(self, kind: AssetKind | None) -> int:
        """The most bytes a file of `kind` may have (the larger cap while the kind is not known yet)."""
        if kind is None:
            return max(self.max_image, self.max_video)
        return self.max_image if kind == "image" else self.max_video

    def check(self, kind: AssetKind | None, size: int) -> None:
        if size <= self.cap(kind):
            return
        if kind is None:
            raise TooLarge(f"the file is over {_megabytes(self.cap(kind))}, the most any upload may have")
        setting = "CMS_MEDIA_MAX_IMAGE_MB" if kind == "image" else "CMS_MEDIA_MAX_VIDEO_MB"
        raise TooLarge(f"the {kind} is over {_megabytes(self.cap(kind))}, the most a {kind} may have ({setting})")


def _bytes(megabytes: float) -> int:
    return max(1, int(megabytes * MB))


def _megabytes(size: int) -> str:
    return f"{size / MB:g} MB"


@dataclass(frozen=True)
class Received:
    """A file ready to upload: where it is, what it is, how big."""

    path: Path
    sniffed: Sniffed
    size: int


def examine(path: Path, limits: Limits) -> Received:
    """Check a file on disk (the command line's upload) without copying it."""
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
            size = os.fstat(handle.fileno()).st_size
    except OSError as error:
        raise InvalidInput({"file": f"cannot read {path}: {error.strerror or error}"}) from None
    sniffed = sniff(head)
    limits.check(sniffed.kind, size)
    return Received(path=path, sniffed=sniffed, size=size)


class Spool:
    """An upload arriving in pieces, written to a temporary file as it comes.

    The type is checked as soon as the first bytes are in and the size
    limit of that type from then on, so an executable or an oversized image
    is refused without reading the rest. The file is removed on exit.
    """

    def __init__(self, limits: Limits, directory: Path | None = None) -> None:
        self.limits = limits
        handle, name = tempfile.mkstemp(prefix="cms-upload-", dir=directory)
        self.path = Path(name)
        self._file = os.fdopen(handle, "wb")
        self._head = b""
        self.sniffed: Sniffed | None = None
        self.size = 0

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.sniffed is None:
            self._head += data[:SNIFF_BYTES - len(self._head)]
            if len(self._head) >= SNIFF_BYTES:
                self.sniffed = sniff(self._head)
        self.limits.check(self.sniffed.kind if self.sniffed else None, self.size)
        self._file.write(data)

    def finish(self) -> Received:
        """The whole file is in: check a short file's type now, and hand it over."""
        self._file.flush()
        sniffed = self.sniffed or sniff(self._head)
        self.limits.check(sniffed.kind, self.size)
        return Received(path=self.path, sniffed=sniffed, size=self.size)
