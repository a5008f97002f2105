"""The Cloudinary seam: the real SDK, configured per call from CLOUDINARY_URL alone.

`upload_prefix` points it at a fake server in tests and `timeout` bounds
each request. Whatever goes wrong there becomes an `UpstreamError` (502).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import cloudinary.exceptions
import cloudinary.uploader
import urllib3

from cms.errors import NotConfigured, UpstreamError
from cms.media.limits import Limits, Received
from cms.settings import Settings

log = logging.getLogger("coursebase.media")

CLOUDINARY_API = "https://api.cloudinary.com"
DEFAULT_TIMEOUT = 60.0
CONFIGURE = "set CLOUDINARY_URL=cloudinary://<api key>:<api secret>@<cloud name>"


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
