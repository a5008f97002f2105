"""The one exception tree of Coursebase.

    CmsError                      base; carries an HTTP-ish status and a message
    ├── ConfigError               a setting is missing or malformed (names the variable)
    ├── ContentError              content does not validate; carries the problems
    ├── NotFound                  no such entry (or not visible to the caller)
    ├── Conflict                  repository state forbids the write (409, with a reason)
    │   └── InUse                 content still references what is to be deleted (409; the problems name the files)
    ├── Gone                      what was named is no longer known here (410: a sync token to start over from)
    ├── PreconditionFailed        If-Match does not match the current version (412)
    ├── PreconditionRequired      If-Match missing on a conditional write (428)
    ├── InvalidInput              a request or command value breaks a rule (422; field → message)
    ├── NotAuthenticated          missing, wrong, expired or revoked credentials (401)
    ├── Forbidden                 the credentials are real but do not open this (403: an expired or tampered link)
    ├── RateLimited               too many failed logins from one address (429; retry_after)
    ├── TooLarge                  an upload is over its size limit (413)
    ├── UnsupportedType           an upload's bytes are not a kind of file we accept (415)
    ├── NotConfigured             an outside service is not configured, so its routes are off (503)
    ├── Unavailable               a service the request needs cannot be reached just now (503: the state database)
    └── UpstreamError             an outside service (Gemini, Cloudinary, git remote) failed (502)
"""

from __future__ import annotations

from cms.problems import Problem


class CmsError(Exception):
    """A failure with a status, a machine-readable reason and, where files are at fault, their problems."""

    status: int = 500
    reason: str = "error"

    def __init__(self, message: str, problems: list[Problem] | None = None, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []
        if reason is not None:
            self.reason = reason


class ConfigError(CmsError):
    status = 500
    reason = "bad-setting"


class ContentError(CmsError):
    status = 422
    reason = "invalid-content"


class NotFound(CmsError):
    status = 404
    reason = "not-found"


class Conflict(CmsError):
    status = 409
    reason = "conflict"


class InUse(Conflict):
    reason = "in-use"


class Gone(CmsError):
    status = 410
    reason = "gone"


class PreconditionFailed(CmsError):
    status = 412
    reason = "stale-version"


class PreconditionRequired(CmsError):
    status = 428
    reason = "if-match-required"


class InvalidInput(CmsError):
    status = 422
    reason = "invalid-input"

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in fields.items()))
        self.fields = fields


class NotAuthenticated(CmsError):
    status = 401
    reason = "not-authenticated"


class Forbidden(CmsError):
    status = 403
    reason = "forbidden"


class RateLimited(CmsError):
    status = 429
    reason = "rate-limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooLarge(CmsError):
    status = 413
    reason = "too-large"


class UnsupportedType(CmsError):
    status = 415
    reason = "unsupported-type"


class NotConfigured(CmsError):
    status = 503
    reason = "not-configured"


class Unavailable(CmsError):
    status = 503
    reason = "unavailable"


class UpstreamError(CmsError):
    status = 502
    reason = "upstream-failed"
