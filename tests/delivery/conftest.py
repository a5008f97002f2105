"""Delivery tests: real content repositories and indexes, the delivery tables on both state databases, and a
real HTTP receiver on 127.0.0.1 that verifies signatures exactly as the README tells receivers to.

- `state` (both backends): the delivery tables, opened as `cms.delivery.setup` opens them, on a SQLite file or
  on a Postgres database of the test's own (copied from a template migrated once per session).
- `content`: the test site in a git repository with its index; `Content.commit()` commits every change and
  brings the index up to date, as `cms index` would.
- `receiver`: a `Receiver`, an HTTP server answering POSTs by a plan (a status per request, a pause), that
  records each request and whether its signature verifies.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cms.content.corpus import ContentTree
from cms.database import Database, open_database, parse
from cms.delivery.tables import SCHEMA
from cms.index.build import update
from cms.index.sqlite import database_path
from cms.read import connect
from tests.conftest import SITE, git, make_repo
from tests.postgres_server import PostgresServer

README = Path(__file__).parents[2] / "README.md"
SECRET = "receiver-secret-0123456789"
BASICS_LESSON = "courses/intro-to-testing/01-basics/01-why-test.md"


def readme_verify() -> Callable[[str, dict[str, str], bytes], bool]:
    """The `verify` function of the README's "Verifying a delivery", run as a receiver would copy it."""
    text = README.read_text()
    section = text[text.index("### Verifying a delivery"):]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code is not None, "the README shows receivers how to verify a delivery in Python"
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)
    return namespace["verify"]


VERIFY = readme_verify()


# -- the state database ------------------------------------------------------------------------------------


def _migrated(url: str) -> None:
    open_database(parse("CMS_STATE_URL", url), SCHEMA).close()


@pytest.fixture(params=["sqlite", "postgres"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """CMS_STATE_URL of a state database: a SQLite file (not created yet) or a migrated Postgres database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/state/state.db"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"delivery_{secrets.token_hex(6)}"
    yield server.create_database(name, template=server.template("cms_delivery_template", _migrated))
    server.drop_database(name)


def open_state(url: str) -> Database:
    return open_database(parse("CMS_STATE_URL", url), SCHEMA)


@pytest.fixture
def state(state_url: str) -> Iterator[Database]:
    db = open_state(state_url)
    yield db
    db.close()


def add_target(db: Database, url: str, secret: str = SECRET) -> int:
    with db.write() as conn:
        return conn.execute("INSERT INTO webhook_targets (url, secret, source, active, created_at) "
                            "VALUES (:url, :secret, 'api', 1, '2026-01-01T00:00:00Z') RETURNING id",
                            {"url": url, "secret": secret}).fetchone()["id"]


# -- content -----------------------------------------------------------------------------------------------


LESSON = """---
title: {title}
type: text
{extra}---
Body of {title}.
"""


@dataclass
class Content:
    """A content repository and its index, changed by commits."""

    repo: Path
    db_path: Path

    @property
    def content(self) -> Path:
        return self.repo / "content"

    def write(self, path: str, text: str) -> None:
        target = self.content / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def edit(self, path: str, old: str, new: str) -> None:
        target = self.content / path
        text = target.read_text()
        assert old in text, (path, old)
        target.write_text(text.replace(old, new, 1))

    def remove(self, path: str) -> None:
        target = self.content / path
        shutil.rmtree(target) if target.is_dir() else target.unlink()

    def move(self, source: str, destination: str) -> None:
        git(self.repo, "mv", f"content/{source}", f"content/{destination}")

    def commit(self, message: str = "change") -> str:
        """Commit everything, bring the index up to date; the new commit."""
        git(self.repo, "add", "--all")
        git(self.repo, "commit", "--quiet", "--allow-empty", "--message", message)
        self.index()
        return self.head()

    def index(self) -> None:
        report = update(ContentTree.locate(self.content), self.db_path)
        assert not [problem for problem in report.problems if problem.is_error], report.problems

    def head(self) -> str:
        return git(self.repo, "rev-parse", "HEAD")

    def connect(self) -> sqlite3.Connection:
        return connect(self.db_path)


def new_content(path: Path) -> Content:
    repo = make_repo(path, SITE)
    content = Content(repo=repo, db_path=database_path(ContentTree.locate(repo / "content"), None))
    content.index()
    return content


@pytest.fixture
def content(tmp_path: Path) -> Content:
    return new_content(tmp_path / "site")


@pytest.fixture
def index(content: Content) -> Iterator[sqlite3.Connection]:
    conn = content.connect()
    yield conn
    conn.close()


# -- the receiver ------------------------------------------------------------------------------------------


@dataclass
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    verified: bool

    def json(self) -> Any:
        return json.loads(self.body)


Plan = Callable[[int], int]
"""The status to answer the n-th request (from 0) with."""


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers by `plan`, verifies with the README's `verify` and `secret`."""

    secret: str = SECRET
    plan: Plan = lambda n: 200
    pause: float = 0.0
    """Seconds to wait before answering (a slow receiver)."""
    port: int = 0
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        """Listen (again on the same port, after `stop`)."""
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def reserve(self) -> Receiver:
        """Take a free port and close it again: a receiver that is down, until `start`."""
        self.start()
        self.stop()
        return self

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            status = self.plan(len(self.received))
            self.received.append(Received(time.time(), path, headers, body, status,
                                          VERIFY(self.secret, headers, body)))
        return status

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) >= count, f"{len(self.received)} of {count} requests within {timeout}s"
        return self.received


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(receiver.pause)
            status = receiver.answer(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", f"http://127.0.0.1:{receiver.port}/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()
