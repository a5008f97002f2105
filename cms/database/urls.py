"""Which database a setting names: a SQLite file (the embedded default) or a Postgres server.

Every message quotes a URL through `redacted`, so a password never reaches a log or a terminal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cms.errors import ConfigError

POSTGRES_SCHEMES = ("postgresql", "postgres")
EXPECTED = "use sqlite:///path/to/file.db or postgresql://user:password@host:5432/database"


@dataclass(frozen=True)
class SqliteFile:
    path: Path
    setting: str
    """The variable that named it (or would have): messages name it."""

    def __str__(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class PostgresUrl:
    url: str
    setting: str

    def __str__(self) -> str:
        return redacted(self.url)


Location = SqliteFile | PostgresUrl


def redacted(url: str) -> str:
    """`url` with its password (`user:password@`, `?password=`) replaced by `***`, to quote in messages.

    Parsed by hand rather than by urllib, which gives up on a malformed port and reads `user:pw@host`
    without a scheme as a scheme and a path."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    authority, slash, tail = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if at and ":" in userinfo:
        authority = f"{userinfo.split(':', 1)[0]}:***@{host}"
    tail = _PASSWORD_PARAMETER.sub(r"\1***", tail)
    return f"{scheme}{separator}{authority}{slash}{tail}"


_PASSWORD_PARAMETER = re.compile(r"((?:^|[?&])password=)[^&]*")


def is_postgres(url: str | None) -> bool:
    return url is not None and url.partition("://")[0] in POSTGRES_SCHEMES


def check_url(url: str) -> str:
    """A database setting's value, if its scheme is one we serve (for `cms.settings`; ValueError otherwise)."""
    if url.startswith("sqlite:///") or (is_postgres(url) and "://" in url):
        return url
    scheme = url.partition("://")[0]
    hint = " (write postgresql://, without SQLAlchemy's +driver)" if scheme.startswith(POSTGRES_SCHEMES) else ""
    raise ValueError(f"{redacted(url)!r} is not a database URL Coursebase understands{hint}: {EXPECTED}")


def locate(setting: str, url: str | None, repo_root: Path, default_file: str) -> Location:
    """The database `setting` names, or the SQLite file `.cms/<default_file>` under the repository root."""
    if url is None:
        return SqliteFile(repo_root / ".cms" / default_file, setting)
    return parse(setting, url)


def parse(setting: str, url: str) -> Location:
    """The database `url` names; a ConfigError naming `setting` if it is not one we serve."""
    try:
        check_url(url)
    except ValueError as error:
        raise ConfigError(f"{setting} is not valid: {error}") from None
    if is_postgres(url):
        return PostgresUrl(url, setting)
    return SqliteFile(Path(url.removeprefix("sqlite:///")), setting)
