"""Media assets: checked from their bytes, stored at Cloudinary, recorded as `media/<id>.yml` commits.

    upload:  bytes → type from the first bytes → size limit → alt text → Cloudinary (chunked when large)
             → check what Cloudinary answered → record → one commit through `cms.authoring.apply`
    delete:  references from the index (409 unless forced) → validate the removal → Cloudinary destroy
             under the write lock → one commit

A file's name and declared content type prove nothing, so neither is read:
the type comes from an allow-list of signatures (JPEG, PNG, GIF, WebP, AVIF;
MP4, MOV, WebM), and SVG is refused because it can carry script. The
client's file name never becomes a path: the record's id is generated
(`img-<12 hex>`) or a slug the caller chose and nobody has taken.

`Cloudinary` is the seam: the real SDK, configured per call from
CLOUDINARY_URL alone (`upload_prefix` points it at a fake server in tests,
`timeout` bounds each request). Whatever goes wrong there becomes an
`UpstreamError` (502) and nothing is committed; an asset uploaded for a
commit that then fails is destroyed again.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import cloudinary.exceptions
import cloudinary.uploader
import msgspec
import urllib3

from cms.content.frontmatter import dump_yaml, load_data_file
from cms.content.models import Media
from cms.content.sources import slug_problem
from cms.errors import (
    Conflict,
    ContentError,
    InUse,
    InvalidInput,
    NotConfigured,
    NotFound,
    TooLarge,
    UnsupportedType,
    UpstreamError,
)
from cms.index import build
from cms.problems import Problem
from cms.read import queries
from cms.repo.repository import GitRepo, Identity, blob_at_head, configured_identity
from cms.settings import Settings
from cms.write.changes import checked_slug, edit_front_matter
from cms.write.commit import Change, Plan, Versions, apply, check_version, checked_path, read_target
from cms.write.operations import Workspace, Written

log = logging.getLogger("coursebase.media")

Kind = Literal["image", "video"]
MB = 1024 * 1024
SNIFF_BYTES = 512
"""How much of the start of a file the type check reads."""
ALT_MAX = 500
CLOUDINARY_API = "https://api.cloudinary.com"
DEFAULT_TIMEOUT = 60.0
CONFIGURE = "set CLOUDINARY_URL=cloudinary://<api key>:<api secret>@<cloud name>"


# --- what the bytes are ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sniffed:
    kind: Kind
    format: str


_PREFIXES = ((b"\xff\xd8\xff", Sniffed("image", "jpg")), (b"\x89PNG\r\n\x1a\n", Sniffed("image", "png")),
             (b"GIF87a", Sniffed("image", "gif")), (b"GIF89a", Sniffed("image", "gif")))
_MP4_BRANDS = {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"mp71", b"avc1",
               b"dash", b"M4V ", b"MSNV", b"f4v "}
_AVIF_BRANDS = {b"avif", b"avis"}
_REFUSED = ((b"MZ", "a Windows executable"), (b"\x7fELF", "an ELF executable"),
            (b"\xcf\xfa\xed\xfe", "a Mach-O executable"), (b"\xca\xfe\xba\xbe", "a Mach-O or Java executable"),
            (b"#!", "a script"), (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a ZIP archive"))
ACCEPTED = "JPEG, PNG, GIF, WebP or AVIF images and MP4, MOV or WebM videos"


def sniff(head: bytes) -> Sniffed:
    """The kind and format of a file from its first bytes; anything off the allow-list is refused (415)."""
    found = _by_prefix(head) or _riff(head) or _iso_media(head) or _webm(head)
    if found is None:
        raise UnsupportedType(f"the file is {_describe(head)}; upload {ACCEPTED}")
    return found


def _by_prefix(head: bytes) -> Sniffed | None:
    return next((sniffed for prefix, sniffed in _PREFIXES if head.startswith(prefix)), None)


def _riff(head: bytes) -> Sniffed | None:
    return Sniffed("image", "webp") if head[:4] == b"RIFF" and head[8:12] == b"WEBP" else None


def _iso_media(head: bytes) -> Sniffed | None:
    """ISO base media files (MP4, MOV, AVIF): the `ftyp` box names the brands."""
    if head[4:8] in (b"moov", b"mdat", b"wide"):
        return Sniffed("video", "mov")  # a QuickTime file from before `ftyp`
    if head[4:8] != b"ftyp":
        return None
    size = int.from_bytes(head[:4], "big")
    major = head[8:12]
    brands = {major} | {head[i:i + 4] for i in range(16, min(size, len(head)) - 3, 4)}
    if major in _AVIF_BRANDS or (major in (b"mif1", b"msf1") and brands & _AVIF_BRANDS):
        return Sniffed("image", "avif")
    if major == b"qt  ":
        return Sniffed("video", "mov")
    return Sniffed("video", "mp4") if brands & _MP4_BRANDS else None


def _webm(head: bytes) -> Sniffed | None:
    return Sniffed("video", "webm") if head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head[:64] else None


def _describe(head: bytes) -> str:
    """What a refused file looks like, for the message."""
    if not head:
        return "empty"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<svg") or (text.startswith((b"<?xml", b"<!doctype svg", b"<!--")) and b"<svg" in text):
        return "an SVG image, which is refused because SVG can carry script (export it as PNG or WebP)"
    if text.startswith((b"<!doctype html", b"<html")):
        return "an HTML document"
    return next((name for prefix, name in _REFUSED if head.startswith(prefix)), "not a kind of file we accept")


# --- how big it may be ----------------------------------------------------------------------------------

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

    def cap(self, kind: Kind | None) -> int:
        """The most bytes a file of `kind` may have (the larger cap while the kind is not known yet)."""
        if kind is None:
            return max(self.max_image, self.max_video)
        return self.max_image if kind == "image" else self.max_video

    def check(self, kind: Kind | None, size: int) -> None:
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


# --- Cloudinary -----------------------------------------------------------------------------------------

class Cloudinary:
    """The Cloudinary upload API through its SDK, configured from CLOUDINARY_URL alone.

    Every call passes the credentials, cloud and `upload_prefix` itself, so
    the SDK's global configuration is never read or changed.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        self.cloud_name = parts.hostname or ""
        self._key = unquote(parts.username or "")
        self._secret = unquote(parts.password or "")
        self.upload_prefix = query.get("upload_prefix", CLOUDINARY_API).rstrip("/")
        self.timeout = float(query.get("timeout", DEFAULT_TIMEOUT))
        self.distribution = parts.path.strip("/") or None
        """A private CDN's host name (`cloudinary://key:secret@cloud/cdn.example.com`), if any."""

    def _options(self, resource_type: str) -> dict[str, Any]:
        return {"cloud_name": self.cloud_name, "api_key": self._key, "api_secret": self._secret,
                "upload_prefix": self.upload_prefix, "timeout": self.timeout, "resource_type": resource_type}

    def upload(self, received: Received, public_id: str, chunk_size: int | None) -> dict[str, Any]:
        """Upload a file as `public_id`; with `chunk_size`, in chunks of that many bytes (`upload_large`)."""
        options = {**self._options(received.sniffed.kind), "public_id": public_id, "overwrite": False,
                   "filename": f"{public_id}.{received.sniffed.format}"}
        with _calling("upload"):
            if chunk_size is None:
                result = cloudinary.uploader.upload(str(received.path), **options)
            else:
                result = cloudinary.uploader.upload_large(str(received.path), chunk_size=chunk_size, **options)
        if not isinstance(result, dict):
            raise UpstreamError("Cloudinary's answer to the upload is not a JSON object; nothing was recorded")
        return result

    def destroy(self, public_id: str, resource_type: str) -> None:
        """Delete an asset; one that is already gone counts as deleted."""
        with _calling("delete"):
            result = cloudinary.uploader.destroy(public_id, invalidate=True, **self._options(resource_type))
        outcome = result.get("result") if isinstance(result, dict) else None
        if outcome not in ("ok", "not found"):
            raise UpstreamError(f"Cloudinary did not delete {public_id!r} (it answered {outcome!r}); "
                                "the record is kept")

    def discard(self, public_id: str, resource_type: str) -> None:
        """Best-effort destroy of an asset uploaded for a commit that did not happen."""
        try:
            self.destroy(public_id, resource_type)
        except UpstreamError as error:
            log.warning("could not remove %s from Cloudinary after a failed commit: %s", public_id, error.message)

    def owns(self, url: str) -> bool:
        """Whether `url` is an https address of our cloud's assets."""
        parts = urlsplit(url)
        if parts.scheme != "https" or parts.username or parts.password or parts.port not in (None, 443):
            return False
        if parts.hostname == "res.cloudinary.com":
            return parts.path.startswith(f"/{self.cloud_name}/")
        return parts.hostname in {f"{self.cloud_name}-res.cloudinary.com", self.distribution}


@contextmanager
def _calling(action: str) -> Iterator[None]:
    """Every way a Cloudinary call fails becomes one clear 502."""
    try:
        yield
    except (cloudinary.exceptions.Error, urllib3.exceptions.HTTPError, OSError) as error:
        raise UpstreamError(f"{_failure(error, action)}; nothing was changed") from None


def _failure(error: Exception, action: str) -> str:
    """What went wrong: the network (the SDK wraps urllib3's errors in its own), or Cloudinary's refusal."""
    cause: BaseException | None = error if not isinstance(error, cloudinary.exceptions.Error) else error.__context__
    if isinstance(cause, urllib3.exceptions.MaxRetryError) and cause.reason is not None:
        cause = cause.reason
    timed_out = isinstance(cause, urllib3.exceptions.TimeoutError | TimeoutError)
    if timed_out and not isinstance(cause, urllib3.exceptions.NewConnectionError):  # a subclass, for history
        return f"Cloudinary did not answer the {action} in time ({_short(cause)})"
    if isinstance(cause, urllib3.exceptions.HTTPError | OSError):
        return f"Cloudinary could not be reached for the {action} ({_short(cause)})"
    return f"Cloudinary refused the {action}: {_short(error)}"


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 300 else text[:299] + "…"


@dataclass(frozen=True)
class MediaSetup:
    """What the media routes need: the limits, and Cloudinary when CLOUDINARY_URL is set."""

    limits: Limits
    cloudinary: Cloudinary | None

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaSetup:
        cloud = Cloudinary(settings.cloudinary_url) if settings.cloudinary_url else None
        return cls(limits=Limits.from_settings(settings), cloudinary=cloud)

    def cloud(self) -> Cloudinary:
        if self.cloudinary is None:
            raise NotConfigured(f"Cloudinary is not configured: {CONFIGURE}")
        return self.cloudinary


# --- the record -----------------------------------------------------------------------------------------

def record_path(media_id: str) -> str:
    return f"media/{media_id}.yml"


def new_id(space: Workspace, kind: Kind, wanted: str | None) -> str:
    """The id of a new record: the caller's slug if nobody has it, else `img-`/`vid-` and 12 random hex digits."""
    if wanted is None:
        return f"{'img' if kind == 'image' else 'vid'}-{secrets.token_hex(6)}"
    media_id = checked_slug(wanted, "id")
    if checked_path(space.tree, record_path(media_id)).exists():
        raise Conflict(f"media {media_id!r} already exists; choose another id or leave it out",
                       reason="already-exists")
    return media_id


def checked_alt(kind: Kind, alt: str | None) -> str | None:
    """Alt text, trimmed; an image must have some."""
    alt = (alt or "").strip() or None
    if alt is None and kind == "image":
        raise InvalidInput({"alt": "an image needs alt text: describe it for people who cannot see it"})
    if alt is not None and len(alt) > ALT_MAX:
        raise InvalidInput({"alt": f"alt text is at most {ALT_MAX} characters"})
    return alt


def build_record(result: dict[str, Any], received: Received, cloud: Cloudinary, public_id: str, alt: str | None,
                 uploaded_by: str, now: datetime) -> dict[str, Any]:
    """The fields of `media/<id>.yml` from Cloudinary's answer, checked before anything is written."""
    _check_answer(result, received.sniffed.kind, cloud, public_id)
    fields: dict[str, Any] = {
        "public_id": result["public_id"], "resource_type": received.sniffed.kind, "secure_url": result["secure_url"],
        "format": result.get("format") or received.sniffed.format, "width": result.get("width"),
        "height": result.get("height"), "bytes": result.get("bytes"),
        "duration_ms": _milliseconds(result.get("duration")) if received.sniffed.kind == "video" else None,
        "alt": alt, "uploaded_at": now.astimezone(UTC).replace(microsecond=0), "uploaded_by": uploaded_by[:100]}
    record = {key: value for key, value in fields.items() if value is not None}
    try:
        msgspec.convert(record, Media)
    except msgspec.ValidationError as error:
        raise UpstreamError(f"Cloudinary's answer does not make a valid media record ({error}); "
                            "nothing was recorded") from None
    return record


def _check_answer(result: dict[str, Any], kind: Kind, cloud: Cloudinary, public_id: str) -> None:
    if result.get("existing"):
        raise Conflict(f"Cloudinary already has an asset {public_id!r}; choose another id", reason="already-exists")
    if result.get("public_id") != public_id or result.get("resource_type") != kind:
        raise UpstreamError(f"Cloudinary answered with {result.get('resource_type')!r} "
                            f"{result.get('public_id')!r} for the {kind} {public_id!r}; nothing was recorded")
    url = result.get("secure_url")
    if not isinstance(url, str) or not cloud.owns(url):
        raise UpstreamError(f"Cloudinary answered with a secure_url outside cloud {cloud.cloud_name!r} "
                            f"({str(url)[:200]!r}); nothing was recorded")


def _milliseconds(seconds: Any) -> int | None:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        return None
    return round(seconds * 1000)


# --- the operations -------------------------------------------------------------------------------------

def upload(space: Workspace, cloud: Cloudinary, limits: Limits, received: Received, alt: str | None,
           wanted_id: str | None, author: Identity, uploaded_by: str) -> Written:
    """Upload a checked file to Cloudinary and commit its record; nothing is committed if anything fails."""
    kind = received.sniffed.kind
    alt = checked_alt(kind, alt)
    media_id = new_id(space, kind, wanted_id)
    chunked = kind == "video" and received.size > limits.chunked_over
    result = cloud.upload(received, media_id, limits.chunk_size if chunked else None)
    try:
        record = build_record(result, received, cloud, media_id, alt, uploaded_by, datetime.now(UTC))
        change = Change(path=record_path(media_id), text=dump_yaml(record), must_exist=False)
        return _commit(space, [change], f"Upload {kind} {media_id}", author)
    except BaseException:
        cloud.discard(media_id, kind)
        raise


def upload_file(settings: Settings, space: Workspace, path: Path, alt: str | None, wanted_id: str | None) -> Written:
    """The command line's upload: a file on disk, committed as git's configured user."""
    setup = MediaSetup.from_settings(settings)
    cloud = setup.cloud()
    received = examine(path, setup.limits)
    author = configured_identity(GitRepo.open(space.tree.content_dir))
    return upload(space, cloud, setup.limits, received, alt, wanted_id, author, author.name)


def update(space: Workspace, media_id: str, changes: Any, expected: Versions | None, author: Identity) -> Written:
    """Change what a person may change about a record: its alt text."""
    if not isinstance(changes, dict) or not changes:
        raise InvalidInput({"(body)": "send a JSON object such as {\"alt\": \"...\"}"})
    refused = {key: "cannot be changed here; only alt can" for key in changes if key != "alt"}
    if refused:
        raise InvalidInput(refused)
    alt = changes["alt"]
    if alt is not None and not isinstance(alt, str):
        raise InvalidInput({"alt": "alt text is a string"})
    _existing(space, media_id)
    return _commit(space, lambda: [_edit_record(space, media_id, expected,
                                                lambda fields: _set(fields, "alt", (alt or "").strip() or None))],
                   f"Update media {media_id}", author)


def soft_delete(space: Workspace, media_id: str, expected: Versions | None, author: Identity, force: bool) -> Written:
    """Mark a record deleted (the public no longer sees it); refused while content uses it, unless forced."""
    _existing(space, media_id)

    def plan() -> list[Change]:
        change = _edit_record(space, media_id, expected, lambda fields: _flag_deleted(fields, media_id, True))
        return [change, *detach(space, media_id, force)]
    return _commit(space, plan, lambda changes: _message("Soft-delete", media_id, changes[1:]), author)


def restore(space: Workspace, media_id: str, expected: Versions | None, author: Identity) -> Written:
    _existing(space, media_id)
    return _commit(space, lambda: [_edit_record(space, media_id, expected,
                                                lambda fields: _flag_deleted(fields, media_id, False))],
                   f"Restore media {media_id}", author)


class _Removal:
    """A record's removal, planned under the write lock, and the Cloudinary destroy that goes with it."""

    def __init__(self, space: Workspace, cloud: Cloudinary, media_id: str, expected: Versions | None,
                 force: bool) -> None:
        self.space, self.cloud, self.media_id, self.expected, self.force = space, cloud, media_id, expected, force
        self.asset: tuple[str, str] | None = None

    def plan(self) -> list[Change]:
        path = _existing(self.space, self.media_id)
        check_version(self.space.tree, path, self.expected)
        self.asset = _asset_of(self.space, path)
        return [Change(path=path, text=None, expected=self.expected), *detach(self.space, self.media_id, self.force)]

    def destroy(self) -> None:
        assert self.asset is not None, "planned first"
        self.cloud.destroy(*self.asset)


def destroy(space: Workspace, cloud: Cloudinary, media_id: str, expected: Versions | None, author: Identity,
            force: bool) -> Written:
    """Delete the asset at Cloudinary, then its record, in one commit.

    The destroy runs under the write lock once the removal is known to
    validate, so a refused write never deletes the asset.
    """
    _existing(space, media_id)
    removal = _Removal(space, cloud, media_id, expected, force)
    return _commit(space, removal.plan, lambda changes: _message("Delete", media_id, changes[1:]), author,
                   before_write=removal.destroy)


def references(space: Workspace, media_id: str) -> list[tuple[str, str]]:
    """The content files (content-relative) that use media `media_id` and the field.

    The index is brought up to date first (a quick no-op when nothing changed), so files committed
    or edited since the last write count too.
    """
    build.update(space.tree, space.db_path)
    conn = queries.connect(space.db_path)
    try:
        return [(row["path"], row["field"]) for row in queries.media_references(conn, media_id)]
    finally:
        conn.close()


def detach(space: Workspace, media_id: str, force: bool) -> list[Change]:
    """Nothing when no content uses the media; with `force`, those files without the reference; else 409."""
    used = references(space, media_id)
    if not used:
        return []
    paths = sorted({path for path, _ in used})
    if not force:
        problems = [Problem(file=space.tree.label(path), field=field, rule="media-in-use",
                            message=f"uses media {media_id!r}") for path, field in used]
        raise InUse(f"media {media_id!r} is used by {', '.join(space.tree.label(p) for p in paths)}; remove it "
                    "there first, or force it (ADMIN) to remove it from those files in the same commit", problems)
    return [_without_reference(space, path, media_id) for path in paths]


def _without_reference(space: Workspace, path: str, media_id: str) -> Change:
    version = blob_at_head(GitRepo.open(space.tree.content_dir), space.tree.label(path))
    if version is None:
        raise Conflict(f"{space.tree.label(path)} uses media {media_id!r} but is not committed yet; commit it first",
                       reason="uncommitted-changes")
    return edit_front_matter(space.tree, path, version, lambda fields: _unreference(fields, media_id))


def _unreference(fields: dict[str, Any], media_id: str) -> None:
    for key in ("image", "avatar", "thumbnail"):
        if fields.get(key) == media_id:
            del fields[key]
    for video in fields.get("videos") or []:
        if isinstance(video, dict) and video.get("media") == media_id:
            del video["media"]


def _message(verb: str, media_id: str, detached: list[Change]) -> str:
    if not detached:
        return f"{verb} media {media_id}"
    return f"{verb} media {media_id} and remove it from {len(detached)} file{'s' * (len(detached) != 1)}"


def _existing(space: Workspace, media_id: str) -> str:
    if slug_problem(media_id, "", "media") is not None:
        raise NotFound(f"no media {media_id[:80]!r}")
    path = record_path(media_id)
    if not checked_path(space.tree, path).is_file():
        raise NotFound(f"no media {media_id!r}")
    return path


def _fields(space: Workspace, path: str) -> dict[str, Any]:
    loaded = load_data_file(read_target(space.tree, path), space.tree.label(path))
    if not isinstance(loaded.data, dict):
        raise ContentError(f"{space.tree.label(path)} cannot be changed until it is fixed", loaded.problems)
    return dict(loaded.data)


def _asset_of(space: Workspace, path: str) -> tuple[str, str]:
    fields = _fields(space, path)
    public_id, resource_type = fields.get("public_id"), fields.get("resource_type")
    if not isinstance(public_id, str) or resource_type not in ("image", "video", "raw"):
        raise ContentError(f"{space.tree.label(path)} names no asset to delete (public_id, resource_type)", [])
    return public_id, resource_type


def _edit_record(space: Workspace, media_id: str, expected: Versions | None,
                 edit: Callable[[dict[str, Any]], None]) -> Change:
    """The record with `edit` applied (under the write lock: what earlier writes left is what is edited)."""
    path = _existing(space, media_id)
    if expected is not None:
        check_version(space.tree, path, expected)
    fields = _fields(space, path)
    edit(fields)
    return Change(path=path, text=dump_yaml(fields), expected=expected)


def _set(fields: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        fields.pop(key, None)
    else:
        fields[key] = value


def _flag_deleted(fields: dict[str, Any], media_id: str, deleted: bool) -> None:
    if bool(fields.get("deleted")) == deleted:
        state = "already deleted" if deleted else "not deleted"
        raise Conflict(f"media {media_id!r} is {state}", reason="already-deleted" if deleted else "not-deleted")
    _set(fields, "deleted", True if deleted else None)


def _commit(space: Workspace, changes: list[Change] | Plan, message: str | Callable[[list[Change]], str],
            author: Identity, before_write: Callable[[], None] | None = None) -> Written:
    """One commit; the answer is about the first change, the media record."""
    result = apply(space.tree, space.db_path, changes, message, author, push=space.push, before_write=before_write)
    first = next(iter(result.versions))
    return Written(path=first, slug=first.removeprefix("media/").removesuffix(".yml"),
                   version=result.versions[first], commit=result.commit)
