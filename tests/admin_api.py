"""The admin write API on a real repository with a bare remote, for tests that write through HTTP.

Each test gets the test site as a git repository whose `origin` is a
bare repository beside it (pushed, tracking `main`), indexed, and the app
(`create_app` under Litestar's TestClient, its lifespan run) over it.
Users are created through `cms.users` in a state database outside the
repository: an ADMIN with a full name, a MODERATOR without one, a USER,
and a MODERATOR whose name looks like git options; each logs in through
`POST /auth/login`. Building an app is the
slow part, so a module builds each configuration once (`Workbench`) and
every test renews the repository under it from a pristine copy.
`AdminSite` holds the client, the tokens and the git questions tests ask.
`backend_workbench(backend, ...)` makes a workbench whose index is on SQLite or, for "postgres", in a
database of the session's `postgres_server`, filled once by `cms index`; each test's start brings it
from the last test's commit to the renewed one, as a server's indexer does (the runs compare blobs, so
any indexed commit is a valid start). A module that wants its tests run on both overrides `workbench`
with `params=BACKENDS`.

Password hashing uses argon2 at its lowest cost; the production code has
no test switch. Test modules load this file with
`pytest_plugins = ["tests.admin_api"]`; it has no autouse fixtures.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from cms.accounts import NewUser, Role, StateDB, UserStore, users
from cms.content.corpus import ContentTree
from cms.index.build import update
from cms.index.sqlite import database_path
from cms.settings import Settings
from tests.api_server import cms_index
from tests.conftest import GIT_ENV, SITE, git, index_for_start, make_repo
from tests.postgres_server import PostgresServer

BASE = "/api/v1"
ORIGIN = "https://testserver.local"
SECRET = "a-test-secret-key-long-enough-for-hs256-0123456789"
HOOK_SECRET = "webhook-secret-for-tests"
PASSWORD = "password-for-tests-1"
PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Person:
    username: str
    email: str
    role: Role
    full_name: str | None

    @property
    def author(self) -> str:
        """`%an|%ae` of the commits this person makes: the full name, or the username without one."""
        return f"{self.full_name or self.username}|{self.email}"


ADA = Person("ada", "ada@example.com", Role.ADMIN, "Ada Admin")
MOE = Person("moe", "moe@example.com", Role.MODERATOR, None)
UMA = Person("uma", "uma@example.com", Role.USER, "Uma User")
DASH = Person("dash", "dash@example.com", Role.MODERATOR, "--amend --no-verify --author=Mallory")
"""A moderator whose name looks like git options: it must reach git as a name, never as an option."""
PEOPLE = (ADA, MOE, UMA, DASH)
BY_ROLE = {person.role: person for person in (ADA, MOE, UMA)}
Who = Role | Person


def run_git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """git in `repo` with the tests' fixed identity, answering the whole result (for commands that may fail)."""
    return subprocess.run(["git", "-C", str(repo), *args], check=check, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV})


def signature(body: bytes, secret: str = HOOK_SECRET) -> str:
    """`X-Hub-Signature-256` as GitHub computes it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class AdminSite:
    """A running app over a repository with a bare remote, and a token per role."""

    repo: Path
    bare: Path
    client: TestClient[Any]
    tokens: dict[str, str] = field(default_factory=dict)
    """Username → access token."""

    @property
    def content(self) -> Path:
        return self.repo / "content"

    def git(self, *args: str) -> str:
        return git(self.repo, *args)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def count(self) -> int:
        """Commits on the checked-out branch."""
        return int(self.git("rev-list", "--count", "HEAD"))

    def status(self) -> str:
        return self.git("status", "--porcelain", "--untracked-files=all")

    def blob(self, path: str) -> str:
        """`git hash-object` of a content file: what its `version` must be."""
        return self.git("hash-object", "--", f"content/{path}")

    def remote_log(self) -> list[str]:
        return git(self.bare, "log", "--format=%an|%ae|%s", "main").splitlines()

    def auth(self, who: Who = Role.ADMIN, version: str | None = None) -> dict[str, str]:
        """Headers of a request by `who` (a person, or the one with that role), with `If-Match` for `version`."""
        person = BY_ROLE[who] if isinstance(who, Role) else who
        headers = {"Authorization": f"Bearer {self.tokens[person.username]}"}
        if version is not None:
            headers["If-Match"] = f'"{version}"'
        return headers

    def request(self, method: str, path: str, role: Who | None = Role.ADMIN, version: str | None = None,
                **kwargs: Any) -> httpx.Response:
        headers = {**(self.auth(role, version) if role else {}), **kwargs.pop("headers", {})}
        return self.client.request(method, f"{BASE}{path}", headers=headers, **kwargs)

    def read(self, path: str, role: Who | None = None) -> httpx.Response:
        """A public GET, anonymous or with the token of `role`."""
        return self.client.get(f"{BASE}{path}", headers=self.auth(role) if role else {})

    def version_of(self, path: str) -> str:
        """The `version` an admin reads for the entry at API path `path`."""
        response = self.read(path, Role.ADMIN)
        assert response.status_code == 200, response.text
        return response.json()["version"]


def make_remote(repo: Path) -> Path:
    """A bare repository beside `repo` as its `origin`, with `main` pushed and tracked."""
    bare = repo.parent / "remote.git"
    run_git(repo.parent, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "--quiet", "--set-upstream", "origin", "main")
    return bare


def create_people(state: Path) -> None:
    db = StateDB(state)
    try:
        store = UserStore(db)
        for person in PEOPLE:
            store.create(NewUser(username=person.username, email=person.email, password=PASSWORD,
                                 role=person.role, full_name=person.full_name))
    finally:
        db.close()


def build_template(root: Path) -> None:
    """The test site at `root/site`, committed, with its bare remote `root/remote.git`, indexed."""
    repo = make_repo(root / "site", SITE)
    make_remote(repo)
    tree = ContentTree.locate(repo / "content")
    update(tree, database_path(tree, None))


def settings_for(repo: Path, state: Path, push: bool, webhook: str | None, database_url: str | None = None) -> Settings:
    # Each test renews the repository (index included) under a running app, which no deployment does:
    # answers held from the previous test's index must not outlive it, so holding is off here.
    env = {"CMS_CONTENT_DIR": str(repo / "content"), "CMS_SECRET_KEY": SECRET,
           "CMS_STATE_URL": f"sqlite:///{state}", "CMS_GIT_PUSH": "true" if push else "false",
           "CMS_RESPONSE_HOLD_SECONDS": "0"}
    if webhook is not None:
        env["CMS_WEBHOOK_SECRET"] = webhook
    if database_url is not None:
        env["CMS_DATABASE_URL"] = database_url
    return Settings.from_env(env)


def login(client: TestClient[Any], person: Person) -> str:
    response = client.post(f"{BASE}/auth/login", json={"username": person.username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@dataclass
class Workbench:
    """One module's apps (building one is the slow part) over a repository that is renewed for each test.

    The apps are bound to `root/work/site`; `renew()` replaces that folder (repository, bare remote,
    index) with a copy of the pristine template, so every test starts from the committed test site.
    """

    root: Path
    state: Path
    apps: dict[tuple[bool, str | None], Litestar] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    postgres: PostgresServer | None = None
    """With a Postgres index: the server holding it, in the database `database`."""
    database: str = ""

    @property
    def database_url(self) -> str | None:
        return None if self.postgres is None else self.postgres.url(self.database)

    @property
    def repo(self) -> Path:
        return self.root / "work" / "site"

    @property
    def bare(self) -> Path:
        return self.root / "work" / "remote.git"

    def renew(self) -> None:
        work = self.root / "work"
        if work.exists():
            shutil.rmtree(work)
        shutil.copytree(self.root / "template", work, symlinks=True)
        git(self.repo, "remote", "set-url", "origin", str(self.bare))

    @contextmanager
    def start(self, push: bool = False, webhook: str | None = HOOK_SECRET) -> Iterator[AdminSite]:
        """The app over the repository as it is now, started as `cms serve` starts it.

        First what the server's indexer does before any worker runs (recover an interrupted write, bring
        the index up to date), then the app, whose lifespan opens the index and the state database.
        """
        key = (push, webhook)
        settings = settings_for(self.repo, self.state, push, webhook, self.database_url)
        index_for_start(settings)
        if key not in self.apps:
            self.apps[key] = create_app(settings)
        with TestClient(self.apps[key], base_url=ORIGIN) as client:
            if not self.tokens:
                self.tokens = {person.username: login(client, person) for person in PEOPLE}
            yield AdminSite(repo=self.repo, bare=self.bare, client=client, tokens=self.tokens)


Starter = Callable[..., AbstractContextManager[AdminSite]]


@pytest.fixture(scope="module")
def workbench(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Workbench]:
    """The module's template repository, state database (with the three users) and apps."""
    with backend_workbench("sqlite", tmp_path_factory.mktemp("admin"), request) as bench:
        yield bench


@contextmanager
def backend_workbench(backend: str, root: Path, request: pytest.FixtureRequest) -> Iterator[Workbench]:
    """A workbench in `root` with its index on `backend` ("sqlite", or "postgres": the session's server)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(users, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        build_template(root / "template")
        state = root / "state" / "state.db"
        state.parent.mkdir()
        create_people(state)
        bench = Workbench(root=root, state=state)
        if backend == "postgres":
            bench.postgres, bench.database = request.getfixturevalue("postgres_server"), f"admin_{secrets.token_hex(6)}"
            cms_index(root / "template" / "site" / "content", CMS_DATABASE_URL=bench.postgres.create_database(
                bench.database))
        try:
            bench.renew()
            yield bench
        finally:
            if bench.postgres is not None:
                bench.postgres.drop_database(bench.database)


@pytest.fixture
def start(workbench: Workbench) -> Starter:
    """Renew the repository, then `with start(push=True) as site: ...` runs the app over it."""
    workbench.renew()
    return workbench.start


@pytest.fixture
def fresh_repo(workbench: Workbench, start: Starter) -> Path:
    """The renewed repository, for a test that changes it before the app starts."""
    return workbench.repo


@pytest.fixture
def admin_site(start: Starter) -> Iterator[AdminSite]:
    """The app with a remote configured but CMS_GIT_PUSH off (commits stay local)."""
    with start() as site:
        yield site


@pytest.fixture
def pushing_site(start: Starter) -> Iterator[AdminSite]:
    """The app with CMS_GIT_PUSH on: every write is pushed to the bare remote."""
    with start(push=True) as site:
        yield site


def assert_problem(response: httpx.Response, status: int, reason: str | None = None) -> dict[str, Any]:
    """A problem-details answer with `status`, and the machine-readable `reason` in its `type`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    assert "no-store" in response.headers["cache-control"]
    body = response.json()
    assert body["status"] == status and body["detail"]
    if reason is not None:
        assert body["type"] == f"urn:coursebase:problem:{reason}", body
    return body
