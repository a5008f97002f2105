"""The real API server (`cms serve`) over fixture repositories, for tests that talk HTTP.

`api_site` builds a repository from the test site plus the API overlay
(`fixtures/api`: one of every hidden kind, more courses and projects),
commits a few course files at distinct dates so `-updated_at` has an order,
indexes it, and starts `cms serve` on a free loopback port. `api` is an
`httpx.Client` on it whose every response passes through `check_response`:
no body may carry an author email, a quiz answer or explanation, or a word
that only hidden content contains.

Test modules load this file with `pytest_plugins = ["tests.api_server"]`,
so every module shares one server per test session.

`served_on(backend, ...)` serves the same site from its SQLite index or, for
"postgres", from a Postgres database of the session's `postgres_server` that
`cms index` filled (`CMS_DATABASE_URL` set for both): a module that wants its
tests run on both overrides `api_site` with `params=BACKENDS`.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cms.content.corpus import ContentTree
from cms.index.build import update
from cms.index.sqlite import database_path
from tests.conftest import FIXTURES, GIT_ENV, SITE, git, make_repo, stop

API_OVERLAY = FIXTURES / "api"
CMS = Path(sys.executable).parent / "cms"
BASE = "/api/v1"
CACHE_MAX_AGE = 321
ALLOWED_ORIGIN = "https://site.example"
STARTUP_SECONDS = 30

EMAILS = ("grace@example.com", "ada.private@builder.example")
"""Every author email in the fixtures: none may appear in any response."""
QUIZ_SECRETS = ("A failure means behaviour changed.", "hushhush")
"""Quiz explanations (the second is a word only an explanation holds)."""
HIDDEN_WORDS = {
    "zanzibarsecret": "a draft lesson in a published section",
    "quokkahidden": "a draft section and its published lesson",
    "flamingoarchive": "an archived course and its lesson",
    "nebulafuture": "a course whose publish_at is in 2099, and its lesson",
    "yakdraftcourse": "a published lesson of a draft course",
    "kumquatdraft": "a draft project",
    "walrusdraftpath": "a draft learning path",
}
FORBIDDEN_KEYS = {"answer", "explanation", "email"}
BACKENDS = ["sqlite", "postgres"]
"""Where the index lives: `.cms/index.db` in the repository, or a Postgres database (`CMS_DATABASE_URL`)."""
UPDATED_ORDER = ["python-data", "ci-pipelines", "intro-to-testing", "ui-design-basics", "git-for-teams"]
"""Courses touched by later commits, oldest first: `-updated_at` lists them in reverse."""


@dataclass
class Site:
    """A fixture repository, its index, and the server answering over it."""

    repo: Path
    content: Path
    db_path: Path
    base_url: str = ""
    process: subprocess.Popen[bytes] | None = None
    settings: dict[str, str] = field(default_factory=dict)
    """What the server and `cms index` need in their environment for this site's index (CMS_DATABASE_URL)."""

    def file(self, path: str) -> Path:
        return self.content / path

    def blob(self, path: str) -> str:
        """`git hash-object` of a content file: what its entries' `version` must be."""
        return git(self.repo, "hash-object", str(self.file(path)))


@dataclass
class Collector:
    """Every response the shared client received, checked as it arrives."""

    bodies: int = 0
    json_bodies: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    paths: set[str] = field(default_factory=set)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def commit_at(repo: Path, message: str, when: datetime) -> None:
    """Commit everything staged-or-not with a fixed author and committer date."""
    stamp = when.isoformat(timespec="seconds")
    env = {**os.environ, **GIT_ENV, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    subprocess.run(["git", "-C", str(repo), "commit", "--quiet", "--all", "--message", message], check=True,
                   capture_output=True, env=env)


def build_site(path: Path) -> Site:
    """The test site with the API overlay, committed, dated and indexed."""
    repo = make_repo(path, SITE, API_OVERLAY)
    start = datetime.fromisoformat(git(repo, "log", "-1", "--format=%aI"))
    for minutes, slug in enumerate(UPDATED_ORDER, start=1):
        course = repo / "content" / "courses" / slug / "course.md"
        course.write_text(course.read_text() + "\n")
        commit_at(repo, f"Touch {slug}", start + timedelta(minutes=minutes))
    tree = ContentTree.locate(repo / "content")
    db_path = database_path(tree, None)
    report = update(tree, db_path)
    assert not [p for p in report.problems if p.is_error], report.problems
    return Site(repo=repo, content=tree.content_dir, db_path=db_path)


def server_env(**extra: str) -> dict[str, str]:
    """The environment of a server: this one without the developer's CMS settings."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("CMS_", "GEMINI_", "GOOGLE_GEMINI", "CLOUDINARY_", "FIRST_SUPERUSER"))}
    return {**env, "CMS_CACHE_MAX_AGE": str(CACHE_MAX_AGE), "CMS_CORS_ORIGINS": ALLOWED_ORIGIN, **extra}


def cms_index(content: Path, **settings: str) -> None:
    """`cms index CONTENT` as users run it (with `settings`, such as CMS_DATABASE_URL, in its environment)."""
    result = subprocess.run([str(CMS), "index", "--quiet", str(content)], env=server_env(**settings),
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@contextmanager
def served_on(backend: str, root: Path, request: pytest.FixtureRequest) -> Iterator[Site]:
    """The API site in `root`, its index on `backend` (a database of `postgres_server` for "postgres"), served."""
    site = build_site(root / "site")
    if backend == "postgres":
        server = request.getfixturevalue("postgres_server")
        name = f"api_{secrets.token_hex(6)}"
        site.settings["CMS_DATABASE_URL"] = server.create_database(name)
        cms_index(site.content, **site.settings)
    try:
        with running_server(site, root) as served:
            yield served
    finally:
        if backend == "postgres":
            server.drop_database(name)


@contextmanager
def running_server(site: Site, workdir: Path, **settings: str) -> Iterator[Site]:
    """`cms serve CONTENT --port P` as a subprocess (with the site's and `settings` in its environment), until the
    block ends."""
    port = free_port()
    log = (workdir / f"server-{port}.log").open("wb")
    process = subprocess.Popen([str(CMS), "serve", str(site.content), "--port", str(port)], cwd=workdir,
                               env=server_env(**{**site.settings, **settings}), stdout=log, stderr=subprocess.STDOUT)
    site.process, site.base_url = process, f"http://127.0.0.1:{port}"
    try:
        wait_healthy(site.base_url, process, workdir / f"server-{port}.log")
        yield site
    finally:
        stop(process)
        log.close()


def wait_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path, name: str = "cms serve") -> None:
    """Wait for the server at `base_url` to answer /health; fail with its log if it exits or stays silent."""
    deadline = time.monotonic() + STARTUP_SECONDS
    with httpx.Client(base_url=base_url, timeout=1) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}:\n{log.read_text(errors='replace')}")
            try:
                if client.get(f"{BASE}/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    pytest.fail(f"{name} did not answer within {STARTUP_SECONDS}s:\n{log.read_text(errors='replace')}")


def walk_keys(value: Any) -> Iterator[str]:
    """Every object key anywhere in a decoded JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from walk_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_keys(item)


def check_response(collector: Collector, response: httpx.Response) -> None:
    """Fail the request's test if a body leaks anything the public must not see."""
    response.read()
    collector.statuses[response.status_code] += 1
    collector.paths.add(response.url.path)
    text = response.text
    if text:
        collector.bodies += 1
    for secret in (*EMAILS, *QUIZ_SECRETS, *HIDDEN_WORDS):
        assert secret not in text, f"{response.url} leaks {secret!r}: {text[:500]}"
    if "json" in response.headers.get("content-type", "") and text:
        collector.json_bodies += 1
        leaked = FORBIDDEN_KEYS & set(walk_keys(response.json()))
        assert not leaked, f"{response.url} has keys {leaked}: {text[:500]}"


def checked_client(base_url: str, collector: Collector) -> httpx.Client:
    return httpx.Client(base_url=f"{base_url}{BASE}", timeout=10,
                        event_hooks={"response": [lambda response: check_response(collector, response)]})


@pytest.fixture(scope="session")
def api_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The API fixture site, served by a real `cms serve` for the whole session."""
    root = tmp_path_factory.mktemp("api")
    with running_server(build_site(root / "site"), root) as site:
        yield site


@pytest.fixture(scope="session")
def api_collector() -> Collector:
    return Collector()


@pytest.fixture(scope="session")
def api(api_site: Site, api_collector: Collector) -> Iterator[httpx.Client]:
    """A client on `/api/v1` of the shared server; every response is checked for leaks."""
    with checked_client(api_site.base_url, api_collector) as client:
        yield client
