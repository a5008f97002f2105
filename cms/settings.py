"""Settings: one declared list, read from the environment (and `.env`) at start-up.

Each `Setting` has a name, a default and help text; the same list drives
`Settings.from_env`, the README's table and a test that every setting is
documented. A malformed value fails with a message naming the variable.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cms.database.urls import check_url
from cms.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    help: str
    parse: Callable[[str], Any] = str
    secret: bool = False
    """Never echo the value in an error message."""

    @property
    def attribute(self) -> str:
        return self.name.lower().removeprefix("cms_")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 3600:
        raise ValueError("expected a number of seconds from 0 to 3600")
    return value


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


SECRET_KEY_MIN_LENGTH = 32


def _secret_key(text: str) -> str:
    if len(text) < SECRET_KEY_MIN_LENGTH:
        raise ValueError(f"must be at least {SECRET_KEY_MIN_LENGTH} characters; generate one with "
                         "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`")
    return text


def _origins(text: str) -> tuple[str, ...]:
    return tuple(origin.strip() for origin in text.split(",") if origin.strip())


def _addresses(text: str) -> tuple[str, ...]:
    """Comma-separated IP addresses or networks (`10.0.0.0/8`), or `*` for any."""
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    for item in items:
        if item != "*":
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (`10.0.0.2`, `10.0.0.0/8`, `*`)") from None
    return items


def _megabytes(text: str) -> float:
    """A size in megabytes (MiB); decimals are allowed (`0.5`)."""
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise ValueError("must be a positive number of megabytes")
    return value


def _cloudinary_url(text: str) -> str:
    """`cloudinary://<api key>:<api secret>@<cloud name>`, checked here so a typo stops start-up."""
    parts = urlsplit(text.strip())
    if parts.scheme != "cloudinary" or not (parts.username and parts.password and parts.hostname):
        raise ValueError("expected cloudinary://<api key>:<api secret>@<cloud name> "
                         "(copy it from the Cloudinary console's API keys page)")
    timeout = parse_qs(parts.query).get("timeout", ["60"])[-1]
    if not _is_positive_number(timeout):
        raise ValueError("its timeout parameter must be a positive number of seconds")
    return text.strip()


def _is_positive_number(text: str) -> bool:
    try:
        return 0 < float(text) < float("inf")
    except ValueError:
        return False


WEBHOOK_SECRET_MIN_LENGTH = 16


def _webhook_targets(text: str) -> tuple[tuple[str, str], ...]:
    """`URL|SECRET` pairs separated by commas (a `|` or `,` inside a URL is percent-encoded, so they separate
    unambiguously): the outgoing webhooks' targets as (url, secret)."""
    targets = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        url, bar, secret = item.partition("|")
        parts = urlsplit(url.strip())
        if not bar or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected `https://host/path|SECRET` pairs separated by commas")
        if len(secret.strip()) < WEBHOOK_SECRET_MIN_LENGTH:
            raise ValueError(f"the secret of {url.strip()} must be at least {WEBHOOK_SECRET_MIN_LENGTH} characters")
        targets.append((url.strip(), secret.strip()))
    return tuple(targets)


def _public_url(text: str) -> str:
    """An http(s) address without query or fragment, kept without a trailing slash."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError("expected the server's address as people reach it, like https://cms.example.com")
    return text.strip().rstrip("/")


def _delays(text: str) -> tuple[float, ...]:
    """Seconds, separated by commas, each more than 0 and at most a day."""
    delays = tuple(float(part) for part in text.split(",") if part.strip())
    if not delays or not all(0 < delay <= 86400 for delay in delays):
        raise ValueError("expected seconds separated by commas, each more than 0 and at most 86400")
    return delays


def _hours(text: str) -> float:
    value = float(text)
    if not 0 < value <= 24 * 30:
        raise ValueError("expected a number of hours, more than 0 and at most 720")
    return value


SETTINGS: tuple[Setting, ...] = (
    Setting("CMS_CONTENT_DIR", "./content", "The content directory (inside a git repository).", Path),
    Setting("CMS_DATABASE_URL", None, "The index: `sqlite:///path.db` (default `.cms/index.db` under the "
            "content repository's root), or `postgresql://user:password@host:5432/database`.",
            check_url, secret=True),
    Setting("CMS_STATE_URL", None, "Users, tokens, login attempts, quotas, the change log and the webhook "
            "outbox: `sqlite:///path.db` (default `.cms/state.db`) or "
            "`postgresql://user:password@host:5432/database`.", check_url, secret=True),
    Setting("CMS_SECRET_KEY", None, "Signs access tokens (at least 32 characters); without it the admin API "
            "answers 503.", _secret_key, secret=True),
    Setting("CMS_PUBLIC_URL", None, "The server's address as people reach it (`https://cms.example.com`), for "
            "preview links; without it the API uses the address a request came to and `cms ai draft` prints no "
            "link.", _public_url),
    Setting("CMS_ACCESS_TOKEN_MINUTES", "15", "Lifetime of an access token.", _positive_int),
    Setting("CMS_REFRESH_TOKEN_DAYS", "14", "Lifetime of a refresh token.", _positive_int),
    Setting("CMS_CORS_ORIGINS", "", "Comma-separated origins allowed to call the API from a browser.", _origins),
    Setting("CMS_CORS_CREDENTIALS", "false", "Let the CMS_CORS_ORIGINS send credentials (the refresh cookie, which "
            "is then SameSite=None) from another origin.", _flag),
    Setting("CMS_TRUSTED_PROXIES", "", "Addresses or networks of load balancers (comma-separated; `*` for any) "
            "whose `X-Forwarded-For` names the client, as login limits count it.", _addresses),
    Setting("CMS_CACHE_MAX_AGE", "60", "`Cache-Control: max-age` of public reads, in seconds.", _positive_int),
    Setting("CMS_RESPONSE_HOLD_SECONDS", "1", "How long the server reuses an anonymous answer while the index is "
            "unchanged (0 turns it off).", _seconds),
    Setting("CMS_PREVIEW_CACHE", "8", "How many commits' preview indexes (`?ref=`) are kept beside the index (in "
            "`.cms/previews/` with the index on Postgres); the least recently read is removed first.", _positive_int),
    Setting("CMS_WEBHOOK_SECRET", None, "HMAC secret of `POST /hooks/git`."),
    Setting("CMS_WEBHOOK_TARGETS", "", "Outgoing webhooks: `URL|SECRET` pairs separated by commas (percent-"
            "encode a `|` or `,` in a URL; secrets at least 16 characters). Each gets one signed POST per change of "
            "public content; more can be added through `POST /webhooks`.", _webhook_targets, secret=True),
    Setting("CMS_WEBHOOK_ALLOW_PRIVATE", "false", "Let webhook targets resolve to loopback, private, link-local or "
            "other non-global addresses (refused otherwise, so a webhook cannot reach the server's own network).",
            _flag),
    Setting("CMS_WEBHOOK_RETRY_SECONDS", "10,30,60,300,900,1800,3600", "Waits before each retry of a failed "
            "webhook delivery, separated by commas; the last repeats.", _delays),
    Setting("CMS_WEBHOOK_RETRY_HOURS", "24", "How long after its first attempt a failing delivery is still retried "
            "(then it is `dead`).", _hours),
    Setting("CMS_GIT_PUSH", "false", "Push each admin commit to the remote.", _flag),
    Setting("CMS_MAX_MARKDOWN_MB", "1", "Largest markdown body a write may carry, in megabytes; a larger one "
            "gets 413.", _megabytes),
    Setting("GEMINI_API_KEY", None, "Gemini API key for `cms ai draft`."),
    Setting("GEMINI_MODEL", "gemini-2.5-flash", "Gemini model for drafts."),
    Setting("CMS_AI_DAILY_QUOTA", "20", "AI drafts each user may ask for per day (UTC) through `POST /ai/drafts`; "
            "0 turns the route off.", _positive_int),
    Setting("CLOUDINARY_URL", None, "cloudinary://key:secret@cloud (the only Cloudinary configuration); without "
            "it the media upload and delete routes answer 503.", _cloudinary_url, secret=True),
    Setting("CMS_MEDIA_MAX_IMAGE_MB", "20", "Largest image upload, in megabytes.", _megabytes),
    Setting("CMS_MEDIA_MAX_VIDEO_MB", "2048", "Largest video upload, in megabytes.", _megabytes),
    Setting("CMS_MEDIA_CHUNKED_OVER_MB", "100", "Videos larger than this go to Cloudinary in chunks.", _megabytes),
    Setting("CMS_MEDIA_CHUNK_MB", "20", "Size of each chunk of a chunked upload (Cloudinary needs at least 5).",
            _megabytes),
    Setting("FIRST_SUPERUSER", None, "Username of an admin created at start-up if missing."),
    Setting("FIRST_SUPERUSER_PASSWORD", None, "That admin's password.", secret=True),
    Setting("CMS_FORGE_URL", None, "The content repository's web address on GitHub, GitLab or Gitea/Forgejo "
            "(`https://github.com/owner/repo`); with CMS_FORGE_TOKEN, each pushed AI draft opens a pull request "
            "(merge request). Without them a draft waits on its branch."),
    Setting("CMS_FORGE_TOKEN", None, "Token that opens pull requests there: GitHub `pull_requests: write`, "
            "GitLab `api` scope (Developer role), Gitea `write:repository`.", secret=True),
    Setting("CMS_FORGE_KIND", None, "`github`, `gitlab` or `gitea` (Forgejo too); needed only when the host of "
            "CMS_FORGE_URL does not tell (github.com, gitlab.com, codeberg.org and `gitlab.<domain>`-like hosts do)."),
    Setting("CMS_FORGE_API_URL", None, "The forge's REST API base, when it is not where CMS_FORGE_URL puts it "
            "(GitHub Enterprise `/api/v3`, GitLab `/api/v4`, Gitea `/api/v1`): GitLab under a relative URL root, "
            "a proxy."),
)


@dataclass(frozen=True)
class Settings:
    content_dir: Path
    database_url: str | None
    state_url: str | None
    secret_key: str | None
    public_url: str | None
    access_token_minutes: int
    refresh_token_days: int
    cors_origins: tuple[str, ...]
    cors_credentials: bool
    trusted_proxies: tuple[str, ...]
    cache_max_age: int
    response_hold_seconds: float
    preview_cache: int
    webhook_secret: str | None
    git_push: bool
    max_markdown_mb: float
    gemini_api_key: str | None
    gemini_model: str
    ai_daily_quota: int
    cloudinary_url: str | None
    media_max_image_mb: float
    media_max_video_mb: float
    media_chunked_over_mb: float
    media_chunk_mb: float
    first_superuser: str | None
    first_superuser_password: str | None
    forge_url: str | None
    forge_token: str | None
    forge_kind: str | None
    forge_api_url: str | None
    webhook_targets: tuple[tuple[str, str], ...]
    webhook_allow_private: bool
    webhook_retry_seconds: tuple[float, ...]
    webhook_retry_hours: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every setting; `.env` in the working directory fills what the environment lacks."""
        if environ is None:
            environ = {**_dotenv(Path(".env")), **os.environ}
        values = {setting.attribute: _read(setting, environ) for setting in SETTINGS}
        return cls(**{**values, **overrides})

    @property
    def max_markdown_bytes(self) -> int:
        """CMS_MAX_MARKDOWN_MB in bytes (a megabyte is 1024 × 1024 bytes, as for the media limits)."""
        return int(self.max_markdown_mb * 1024 * 1024)

    @property
    def admin_enabled(self) -> bool:
        """The admin API (auth, users, writes) runs only with a secret key to sign tokens."""
        return self.secret_key is not None

    def check_first_superuser(self) -> None:
        """FIRST_SUPERUSER needs its password and a working admin API; say so at start-up."""
        if self.first_superuser is None:
            if self.first_superuser_password is not None:
                raise ConfigError("FIRST_SUPERUSER_PASSWORD is set but FIRST_SUPERUSER is not: set both or neither")
            return
        if self.first_superuser_password is None:
            raise ConfigError("FIRST_SUPERUSER is set but FIRST_SUPERUSER_PASSWORD is not: set both or neither")
        if self.secret_key is None:
            raise ConfigError("FIRST_SUPERUSER is set but CMS_SECRET_KEY is not: the admin API needs "
                              "CMS_SECRET_KEY (at least 32 characters) to sign tokens")


def _read(setting: Setting, environ: Mapping[str, str]) -> Any:
    raw = environ.get(setting.name, setting.default)
    if raw is None or (raw == "" and setting.default is None):
        return None
    try:
        return setting.parse(raw)
    except ValueError as error:
        shown = setting.name if setting.secret else f"{setting.name}={raw!r}"
        raise ConfigError(f"{shown} is not valid: {error}") from None


def _dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values  # 20 ms to import: only when there is a .env to read

    return {key: value for key, value in dotenv_values(path).items() if value is not None}
