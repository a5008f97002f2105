"""The record of an asset, `media/<id>.yml`: its id, its alt text, its fields from Cloudinary's answer.

The client's file name never becomes a path: the id is generated
(`img-<12 hex>`) or a slug the caller chose and nobody has taken.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import msgspec

from cms.content.models import Media
from cms.errors import Conflict, InvalidInput, UpstreamError
from cms.media.cloud import Cloudinary
from cms.media.limits import Received
from cms.media.sniffing import AssetKind
from cms.write.changes import checked_slug
from cms.write.commit import checked_path
from cms.write.operations import Workspace

ALT_MAX = 500


def record_path(media_id: str) -> str:
    return f"media/{media_id}.yml"


def new_id(space: Workspace, kind: AssetKind, wanted: str | None) -> str:
    """The id of a new record: the caller's slug if nobody has it, else `img-`/`vid-` and 12 random hex digits."""
    if wanted is None:
        return f"{'img' if kind == 'image' else 'vid'}-{secrets.token_hex(6)}"
    media_id = checked_slug(wanted, "id")
    if checked_path(space.tree, record_path(media_id)).exists():
        raise Conflict(f"media {media_id!r} already exists; choose another id or leave it out",
                       reason="already-exists")
    return media_id


def checked_alt(kind: AssetKind, alt: str | None) -> str | None:
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


def _check_answer(result: dict[str, Any], kind: AssetKind, cloud: Cloudinary, public_id: str) -> None:
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
