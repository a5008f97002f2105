"""Bad database settings stop start-up with a message that names the variable and never shows the password:
in-process, and through the real `cms serve` and `cms users create`, which exit 2 before serving anything."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cms.accounts import StateDB
from cms.errors import ConfigError
from tests.postgres_server import PostgresServer

CMS = Path(sys.executable).parent / "cms"
SECRET = "a-test-secret-key-that-is-long-enough-0123456789"


def bad_url(server: PostgresServer, case: str) -> str:
    """A URL with one thing wrong, and the rest right."""
    if case == "wrong password":
        return server.url(password="not-the-password")
    if case == "missing database":
        return server.url("no_such_db")
    return server.url().replace(f":{server.port}/", ":1/")  # nothing listens on port 1


REASONS = {
    "wrong password": 'password authentication failed for user "cms" (check the user name and password)',
    "missing database": 'database "no_such_db" does not exist (create the database (`createdb --owner <user> '
                        '<database>`) or correct its name)',
    "unreachable": "Connection refused (is Postgres running there, on that port?)",
}


@pytest.mark.parametrize("case", REASONS)
def test_a_state_database_that_cannot_be_used_is_named_with_the_reason(postgres_server: PostgresServer,
                                                                       case: str) -> None:
    url = bad_url(postgres_server, case)
    with pytest.raises(ConfigError) as raised:
        StateDB(url)
    message = raised.value.message
    assert message.startswith("CMS_STATE_URL=postgresql://cms:***@127.0.0.1:")
    assert message.endswith(f": cannot connect: {REASONS[case]}")
    assert postgres_server.password not in message and "not-the-password" not in message


def cms(site: Path, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    clean = {name: value for name, value in os.environ.items() if not name.startswith(("CMS_", "FIRST_SUPERUSER"))}
    return subprocess.run([str(CMS), *args], input=stdin, capture_output=True, text=True, timeout=60, cwd=site,
                          env={**clean, "CMS_CONTENT_DIR": str(site / "content"), **env})


@pytest.mark.parametrize("case", REASONS)
def test_cms_serve_stops_before_serving(site: Path, postgres_server: PostgresServer, case: str) -> None:
    started = time.monotonic()
    result = cms(site, "serve", "--port", "1", CMS_SECRET_KEY=SECRET, CMS_STATE_URL=bad_url(postgres_server, case))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Error: CMS_STATE_URL=postgresql://cms:***@") and REASONS[case] in result.stderr
    assert postgres_server.password not in result.stderr + result.stdout and "serving" not in result.stdout
    assert time.monotonic() - started < 30


def test_cms_users_create_names_the_state_database(site: Path, postgres_server: PostgresServer) -> None:
    result = cms(site, "users", "create", "--username", "ada", "--email", "ada@example.com", "--password-stdin",
                 stdin="correct horse battery\n", CMS_STATE_URL=bad_url(postgres_server, "wrong password"))
    assert result.returncode == 2
    assert result.stderr.startswith("Error: CMS_STATE_URL=postgresql://cms:***@")
    assert REASONS["wrong password"] in result.stderr and postgres_server.password not in result.stderr


@pytest.mark.parametrize(("setting", "url", "message"), [
    ("CMS_STATE_URL", "mysql://cms:s3cret@db/cms", "Error: CMS_STATE_URL is not valid: 'mysql://cms:***@db/cms' "
     "is not a database URL Coursebase understands: use sqlite:///path/to/file.db or "
     "postgresql://user:password@host:5432/database"),
    ("CMS_DATABASE_URL", "postgresql://cms:s3cret@db/cms", "Error: CMS_DATABASE_URL=postgresql://cms:***@db/cms: "
     "cannot connect: failed to resolve host 'db'"),
    ("CMS_DATABASE_URL", "postgresql+psycopg://cms:s3cret@db/cms", "Error: CMS_DATABASE_URL is not valid: "
     "'postgresql+psycopg://cms:***@db/cms' is not a database URL Coursebase understands (write postgresql://, "
     "without SQLAlchemy's +driver)"),
], ids=["unknown-scheme", "index-on-unknown-host", "index-with-a-driver"])
def test_cms_serve_refuses_a_database_url_it_cannot_use(site: Path, setting: str, url: str, message: str) -> None:
    result = cms(site, "serve", "--port", "1", **{setting: url})
    assert result.returncode == 2 and result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "s3cret" not in result.stderr + result.stdout
