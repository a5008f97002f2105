"""Three real `cms serve` processes on one real Postgres state database, each with its own clone of one bare remote.

The topology of docker-compose.yml without Docker: `remote.git` stands for the forge, `one`, `two` and
`three` are the servers' clone volumes, the Postgres test server is the state database. Every server
pushes its writes (CMS_GIT_PUSH), takes webhooks (CMS_WEBHOOK_SECRET) and holds answers for a long
while (CMS_RESPONSE_HOLD_SECONDS=30), so a new commit shows only if the hold follows the index. The
first server creates the admin (FIRST_SUPERUSER), then the other two start side by side; one login's
token works on all three (same CMS_SECRET_KEY, one state database). Given an `index_url`, the three
also share one index on Postgres (CMS_DATABASE_URL) instead of a SQLite file each.

Each server runs in a session of its own, so `kill()` can SIGKILL its whole process tree at once, as
a machine that dies takes everything with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.admin_api import HOOK_SECRET, PASSWORD, SECRET, run_git, signature
from tests.api_server import BASE, CMS, free_port, server_env, wait_healthy
from tests.conftest import SITE, git, make_repo

NAMES = ("one", "two", "three")
ADMIN = "ada"
PUSH_EVENT = b'{"ref": "refs/heads/main"}'


@dataclass
class Server:
    name: str
    clone: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.clone.parent / f"{self.name}.log"

    def launch(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([str(CMS), "serve", str(self.clone / "content"), "--port", str(self.port)],
                                            cwd=self.clone.parent, env=server_env(**self.env), stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def wait_healthy(self) -> None:
        assert self.process is not None
        wait_healthy(self.base_url, self.process, self.log, self.name)

    def kill(self) -> None:
        """SIGKILL the server and everything it started, at once."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def head(self) -> str:
        return git(self.clone, "rev-parse", "HEAD")


@dataclass
class Cluster:
    bare: Path
    servers: list[Server]
    state_url: str
    token: str = ""

    def client(self, index: int, timeout: float = 120) -> httpx.Client:
        """An admin client on server `index` (every request carries the token; a write may wait its turn at the
        servers' lock behind many others)."""
        return httpx.Client(base_url=f"{self.servers[index].base_url}{BASE}", timeout=timeout,
                            headers={"Authorization": f"Bearer {self.token}"})

    def public(self, index: int) -> httpx.Client:
        return httpx.Client(base_url=f"{self.servers[index].base_url}{BASE}", timeout=10)

    def remote_head(self) -> str:
        return git(self.bare, "rev-parse", "main")

    def remote_commits(self, since: str) -> list[str]:
        return git(self.bare, "log", "--format=%s", f"{since}..main").splitlines()

    def remote_file(self, path: str) -> str:
        return git(self.bare, "show", f"main:content/{path}")

    def creates_through_a_kill(self, prefix: str, seconds: float) -> tuple[dict[str, int], list[str]]:
        """Six writers create projects `<prefix>-<writer>-<n>` through the three servers for `seconds`; 1.5 s in,
        server 2 is SIGKILLed (its writers stop). (each answered create's status, the creates cut off unanswered:
        they may or may not have landed)."""
        answered: dict[str, int] = {}
        failed: list[str] = []
        stop_at = time.monotonic() + seconds
        killed = threading.Event()

        def write(worker: int) -> None:
            server = worker % 3
            with self.client(server, timeout=20) as client:
                for n in range(100):
                    if time.monotonic() > stop_at or (server == 2 and killed.is_set()):
                        return
                    slug = f"{prefix}-{worker}-{n}"
                    try:
                        answered[slug] = client.post("/projects", json={"slug": slug, "title": slug}).status_code
                    except httpx.TransportError:
                        failed.append(slug)

        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(write, worker) for worker in range(6)]
            time.sleep(1.5)
            self.servers[2].kill()
            killed.set()
            for future in futures:
                future.result(timeout=60)
        return answered, failed

    def webhook(self, index: int) -> httpx.Response:
        with httpx.Client(timeout=30) as client:
            return client.post(f"{self.servers[index].base_url}{BASE}/hooks/git", content=PUSH_EVENT,
                               headers={"X-Hub-Signature-256": signature(PUSH_EVENT), "X-GitHub-Event": "push",
                                        "Content-Type": "application/json"})


GIT_IDENTITY = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                "GIT_COMMITTER_NAME": "Coursebase", "GIT_COMMITTER_EMAIL": "cms@example.com"}
"""The servers' git sees no developer configuration; commits are by their editors, committed by the server."""


def server_settings(state_url: str, index_url: str | None = None) -> dict[str, str]:
    shared_index = {} if index_url is None else {"CMS_DATABASE_URL": index_url}
    return {**shared_index, "CMS_STATE_URL": state_url, "CMS_SECRET_KEY": SECRET, "CMS_GIT_PUSH": "true",
            "CMS_WEBHOOK_SECRET": HOOK_SECRET, "CMS_RESPONSE_HOLD_SECONDS": "30",
            "FIRST_SUPERUSER": ADMIN, "FIRST_SUPERUSER_PASSWORD": PASSWORD, **GIT_IDENTITY}


def make_clones(root: Path) -> Path:
    """The bare remote (the test site, committed) and a clone of it per server; the remote's path."""
    origin = make_repo(root / "origin", SITE)
    bare = root / "remote.git"
    run_git(root, "clone", "--quiet", "--bare", str(origin), str(bare))
    for name in NAMES:
        run_git(root, "clone", "--quiet", str(bare), name)
    return bare


def start_cluster(root: Path, state_url: str, index_url: str | None = None) -> Cluster:
    bare = make_clones(root)
    servers = [Server(name, root / name, server_settings(state_url, index_url)) for name in NAMES]
    try:
        servers[0].launch()
        servers[0].wait_healthy()  # creates the admin: the other two find it there
        for server in servers[1:]:
            server.launch()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(Server.wait_healthy, servers[1:]))
    except BaseException:
        for server in servers:
            server.kill()
        raise
    cluster = Cluster(bare=bare, servers=servers, state_url=state_url)
    with httpx.Client(base_url=f"{servers[0].base_url}{BASE}", timeout=30) as client:
        response = client.post("/auth/login", json={"username": ADMIN, "password": PASSWORD})
    assert response.status_code == 200, response.text
    cluster.token = response.json()["access_token"]
    return cluster


def seconds_until(check: Callable[[], bool], limit: float) -> float | None:
    """Seconds until `check()` holds, polled every 10 ms; None if not within `limit`."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        if check():
            return time.monotonic() - began
        time.sleep(0.01)
    return None

