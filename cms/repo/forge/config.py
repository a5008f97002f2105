"""Where pull requests are opened: the forge's kind, its API, the repository and the token, from settings.

`CMS_FORGE_URL` is the repository as a browser shows it. The kind of forge is `CMS_FORGE_KIND`, or known
from the host (github.com, *.ghe.com, gitlab.com, gitea.com, codeberg.org, or a first DNS label `github`,
`gitlab`, `gitea` or `forgejo`); any other host must say. The API base follows from the address (GitHub
Enterprise `/api/v3`, GitLab `/api/v4`, Gitea `/api/v1` under its sub-path); `CMS_FORGE_API_URL`
overrides it (GitLab under a relative URL root, a proxy, a local fake forge).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar
from urllib.parse import urlsplit

from cms.errors import ConfigError
from cms.settings import Settings

T = TypeVar("T")


class ForgeKind(StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"
    GITEA = "gitea"

    @property
    def label(self) -> str:
        return {"github": "GitHub", "gitlab": "GitLab", "gitea": "Gitea"}[self.value]


KNOWN_HOSTS: Mapping[str, ForgeKind] = {"github.com": ForgeKind.GITHUB, "gitlab.com": ForgeKind.GITLAB,
                                        "gitea.com": ForgeKind.GITEA, "codeberg.org": ForgeKind.GITEA}
HOST_HINTS: Mapping[str, ForgeKind] = {"github": ForgeKind.GITHUB, "gitlab": ForgeKind.GITLAB,
                                       "gitea": ForgeKind.GITEA, "forgejo": ForgeKind.GITEA}
"""A self-hosted forge is recognised by its host's first DNS label (`gitlab.example.com`)."""


@dataclass(frozen=True)
class ForgePolicy:
    """`attempts` requests at most for one call, each within `timeout` seconds; a 5xx answer or a network
    failure waits `backoff` seconds (doubling) before the next attempt."""

    attempts: int = 3
    backoff: float = 0.5
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.timeout <= 0 or self.backoff < 0:
            raise ValueError("a forge policy needs attempts >= 1, a positive timeout and a backoff >= 0")


@dataclass(frozen=True)
class Forge:
    """Where pull requests are opened: the repository (`owner/name`, or `group/subgroup/project` on GitLab)
    on a forge of some `kind`, its REST API's base, and the token (kept out of `repr`)."""

    kind: ForgeKind
    web_url: str
    api_url: str
    repository: str
    token: str = field(repr=False)
    policy: ForgePolicy = ForgePolicy()

    def __post_init__(self) -> None:
        if parse_token(self.token) != self.token:  # h11 would quote a token with a line break in its error
            raise ValueError("a forge's token must be stripped of spaces")


def parse_repository_url(text: str) -> str:
    """CMS_FORGE_URL: an http(s) address with at least `owner/name` (the kind-specific check is `configure`'s)."""
    origin, _, segments = _split(text)
    if len(segments) < 2:
        raise ValueError("expected the repository's web address, like https://github.com/owner/repo")
    return f"{origin}/{'/'.join(segments)}"


def parse_api_url(text: str) -> str:
    """CMS_FORGE_API_URL: an http(s) address without credentials, query or trailing slash."""
    origin, _, segments = _split(text)
    return f"{origin}{''.join('/' + segment for segment in segments)}"


def parse_kind(text: str) -> ForgeKind:
    """CMS_FORGE_KIND: `github`, `gitlab` or `gitea`, in any case."""
    try:
        return ForgeKind(text.strip().lower())
    except ValueError:
        raise ValueError(f"expected one of {', '.join(kind.value for kind in ForgeKind)} "
                         "(Forgejo and Codeberg are gitea)") from None


def parse_token(text: str) -> str:
    """CMS_FORGE_TOKEN, stripped: one word of printable ASCII. Anything else could not go in a header, and
    httpx's complaint about it would quote it."""
    token = text.strip()
    if not token or not all(33 <= ord(char) <= 126 for char in token):
        raise ValueError("must be the token alone: printable ASCII, no spaces or line breaks")
    return token


def from_settings(settings: Settings, policy: ForgePolicy | None = None) -> Forge | None:
    """The forge, or None when CMS_FORGE_URL and CMS_FORGE_TOKEN are both unset; checked at start-up.

    The settings arrive as text; `configure` parses them, so a ConfigError names the one at fault."""
    url, token = settings.forge_url, settings.forge_token
    if url is None and token is None:
        return None
    if url is None or token is None:
        given, missing = ("CMS_FORGE_URL", "CMS_FORGE_TOKEN") if token is None else \
            ("CMS_FORGE_TOKEN", "CMS_FORGE_URL")
        raise ConfigError(f"{given} is set but {missing} is not: set both to open pull requests, or neither")
    if not settings.git_push:
        raise ConfigError("CMS_FORGE_URL is set but CMS_GIT_PUSH is not: a pull request needs the draft's branch "
                          "pushed, so set CMS_GIT_PUSH=true")
    return configure(url, token, settings.forge_kind, settings.forge_api_url, policy or ForgePolicy())


def configure(url: str, token: str, kind: ForgeKind | str | None = None, api_url: str | None = None,
              policy: ForgePolicy | None = None) -> Forge:
    """A forge from the repository's web address; a ConfigError names the setting at fault (never the token)."""
    origin, host, path = _setting("CMS_FORGE_URL", url, _split)
    forge_kind = _setting("CMS_FORGE_KIND", kind, parse_kind) if isinstance(kind, str) else kind or _inferred(host)
    segments = _setting("CMS_FORGE_URL", url, lambda _: _repository_segments(forge_kind, path))
    api = _setting("CMS_FORGE_API_URL", api_url, parse_api_url) if api_url else \
        _derived_api(forge_kind, origin, host, segments)
    return Forge(kind=forge_kind, web_url=f"{origin}/{'/'.join(segments)}", api_url=api,
                 repository="/".join(segments if forge_kind is ForgeKind.GITLAB else segments[-2:]),
                 token=_setting("CMS_FORGE_TOKEN", token, parse_token, secret=True), policy=policy or ForgePolicy())


def _setting(name: str, value: str, parse: Callable[[str], T], secret: bool = False) -> T:
    """`parse(value)`, its ValueError a ConfigError naming the setting (and its value, unless secret)."""
    try:
        return parse(value)
    except ValueError as error:
        shown = name if secret else f"{name}={value!r}"
        raise ConfigError(f"{shown} is not valid: {error}") from None


def _split(url: str) -> tuple[str, str, list[str]]:
    """(`scheme://host[:port]`, host, path segments) of an http(s) address without credentials or query."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http(s) address, like https://github.com/owner/repo")
    if parts.username is not None or parts.password is not None:
        raise ValueError("it must not hold credentials: put the token in CMS_FORGE_TOKEN")
    if parts.query or parts.fragment:
        raise ValueError("it must not have a query (?…) or a fragment (#…)")
    parts.port  # noqa: B018 - raises ValueError on a malformed port
    segments = [segment for segment in parts.path.split("/") if segment]
    if segments:
        segments[-1] = segments[-1].removesuffix(".git")
    return f"{parts.scheme}://{parts.netloc.lower()}", parts.hostname.lower(), segments


def _inferred(host: str) -> ForgeKind:
    if host in KNOWN_HOSTS:
        return KNOWN_HOSTS[host]
    if host.endswith(".ghe.com"):
        return ForgeKind.GITHUB
    hint = HOST_HINTS.get(host.split(".", 1)[0])
    if hint is None:
        raise ConfigError(f"cannot tell which forge {host} runs: set CMS_FORGE_KIND to github, gitlab or gitea")
    return hint


def _repository_segments(kind: ForgeKind, segments: list[str]) -> list[str]:
    """The repository's own path: `owner/name` (after a Gitea sub-path), or GitLab's `group/…/project`."""
    if kind is ForgeKind.GITLAB and "-" in segments:
        segments = segments[:segments.index("-")]
    if len(segments) < 2:
        raise ValueError(f"expected the repository's web address, like {_EXAMPLES[kind]}")
    if kind is ForgeKind.GITHUB and len(segments) != 2:
        raise ValueError(f"a GitHub repository's address is {_EXAMPLES[kind]}, with nothing after the name")
    return segments


_EXAMPLES = {ForgeKind.GITHUB: "https://github.com/owner/repo",
             ForgeKind.GITLAB: "https://gitlab.com/group/subgroup/project",
             ForgeKind.GITEA: "https://gitea.example.com/owner/repo"}


def _derived_api(kind: ForgeKind, origin: str, host: str, segments: list[str]) -> str:
    if kind is ForgeKind.GITHUB:
        if host == "github.com":
            return "https://api.github.com"
        return f"https://api.{host}" if host.endswith(".ghe.com") else f"{origin}/api/v3"
    if kind is ForgeKind.GITLAB:
        return f"{origin}/api/v4"
    return f"{origin}{''.join('/' + segment for segment in segments[:-2])}/api/v1"
