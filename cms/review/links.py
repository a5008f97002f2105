"""Preview links: a reviewer without an account may read one ref of the content until a moment.

A link carries a token, `<ref>.<expires>.<signature>` (the ref base64url-encoded, the expiry in Unix
seconds, the signature HMAC-SHA256 over both). The key is derived from CMS_SECRET_KEY for this use
alone, so a preview token can never pass as an access token or the other way round. Anyone may hold a
link; what it opens is fixed when it is made: one ref (a branch follows its branch, a commit stays put),
read-only, until it expires. A tampered, malformed or expired token is refused (403) without saying which.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

import msgspec

from cms.errors import Forbidden, InvalidInput

DEFAULT_SECONDS = 24 * 3600
MAX_SECONDS = 7 * 24 * 3600
_PURPOSE = b"coursebase preview link v1"


class PreviewGrant(msgspec.Struct, frozen=True):
    """What a valid link opens: `ref`, until `expires` (Unix seconds)."""

    ref: str
    expires: int


def sign(secret_key: str, ref: str, seconds: int = DEFAULT_SECONDS, now: float | None = None) -> str:
    """A token opening `ref` for `seconds` (1 second to 7 days)."""
    if not 0 < seconds <= MAX_SECONDS:
        raise InvalidInput({"expires_in": f"must be from 1 second to {MAX_SECONDS} seconds (7 days)"})
    expires = int(now if now is not None else time.time()) + seconds
    payload = f"{_encode(ref.encode())}.{expires}"
    return f"{payload}.{_signature(secret_key, payload)}"


def verify(secret_key: str, token: str, now: float | None = None) -> PreviewGrant:
    """The grant a token carries; `Forbidden` when it is malformed, tampered with or expired."""
    try:
        encoded_ref, expires_text, signature = token.split(".")
        expires = int(expires_text)
        ref = _decode(encoded_ref).decode()
    except (ValueError, binascii.Error):
        raise _refused() from None
    if not hmac.compare_digest(signature, _signature(secret_key, f"{encoded_ref}.{expires_text}")):
        raise _refused()
    if expires <= (now if now is not None else time.time()):
        raise _refused()
    return PreviewGrant(ref=ref, expires=expires)


def _refused() -> Forbidden:
    return Forbidden("this preview link is not valid (expired, changed or incomplete): ask for a new one",
                     reason="preview-link-invalid")


def _signature(secret_key: str, payload: str) -> str:
    key = hmac.new(secret_key.encode(), _PURPOSE, hashlib.sha256).digest()
    return _encode(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _decode(text: str) -> bytes:
    if not text or "=" in text:
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
