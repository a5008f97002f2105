"""A server killed with SIGKILL in the middle of writes restarts by itself and loses no acknowledged write.

The real `cms serve --workers 2` process (and with it its workers and any
git command they run) is killed at a random moment while four writers
create projects through the admin API. The next start must answer, every
write that was acknowledged (201) must be a commit, nothing uncommitted
may remain under `content/`, no `.git/index.lock` may stop git, and the
index must hold what HEAD holds. The kills are bounded: `KILLS` rounds,
each a few seconds.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from cms.accounts import NewUser, Role, StateDB, UserStore
from tests.api_server import CMS, free_port
from tests.cli.test_serve import launch, wait_healthy
from tests.conftest import SITE, git, make_repo

pytestmark = pytest.mark.xdist_group("processes")
"""One xdist worker for every test that starts whole servers (see tests/cli/test_serve.py)."""

KILLS = 8
WRITERS = 4
SECRET = "a-test-secret-key-long-enough-for-hs256-0123456789"
PASSWORD = "password-for-tests-1"
LEFTOVERS = (".git/index.lock", ".cms/pending-write.json")
"""What a kill in the middle of a write leaves for the next start to clear."""


def admin_env(state: Path) -> dict[str, str]:
    return {"CMS_SECRET_KEY": SECRET, "CMS_STATE_URL": f"sqlite:///{state}", "CMS_RESPONSE_HOLD_SECONDS": "0"}


def create_admin(state: Path) -> None:
    db = StateDB(state)
    try:
        UserStore(db).create(NewUser(username="ada", email="ada@example.com", password=PASSWORD, role=Role.ADMIN,
                                     full_name="Ada Admin"))
    finally:
        db.close()


class Writers:
    """Threads creating projects until told to stop; remembers which creates were acknowledged."""

    def __init__(self, base_url: str, token: str, round_: int) -> None:
        self.base_url, self.token, self.round = base_url, token, round_
        self.acknowledged: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._write, args=(n,)) for n in range(WRITERS)]

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _write(self, writer: int) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=f"{self.base_url}/api/v1", timeout=20, headers=headers) as client:
            for n in range(1000):
                if self.stop.is_set():
                    return
                slug = f"p{self.round}-{writer}-{n}"
                try:
                    response = client.post("/projects", json={"slug": slug, "title": f"Project {slug}"})
                except httpx.TransportError:
                    return
                if response.status_code == 201:
                    self.acknowledged.append(slug)


def login(base_url: str) -> str:
    response = httpx.post(f"{base_url}/api/v1/auth/login", json={"username": "ada", "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_sigkill_during_writes_then_restart_loses_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "site", SITE)
    state = tmp_path / "state.db"
    create_admin(state)
    rng = random.Random(20261130)
    acknowledged: list[str] = []
    leftovers: list[str] = []
    for round_ in range(KILLS):
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        process = launch([str(CMS), "serve", str(repo / "content"), "--port", str(port), "--workers", "2"],
                         tmp_path, port, **admin_env(state))
        log = tmp_path / f"serve-{port}.log"
        try:
            wait_healthy(process, base_url, log, 20)
            check_consistent(repo, base_url, acknowledged, log)
            with Writers(base_url, login(base_url), round_) as writers:
                time.sleep(rng.uniform(0.2, 1.5))
                os.killpg(process.pid, signal.SIGKILL)
            acknowledged += writers.acknowledged
            leftovers += [name for name in LEFTOVERS if (repo / name).exists()]
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert acknowledged, "no write was acknowledged in any round: the rounds are too short to test anything"
    print(f"{KILLS} kills, {len(acknowledged)} acknowledged writes, left behind by the kills: {Counter(leftovers)}")
    port = free_port()
    process = launch([str(CMS), "serve", str(repo / "content"), "--port", str(port)], tmp_path, port,
                     **admin_env(state))
    try:
        wait_healthy(process, f"http://127.0.0.1:{port}", tmp_path / f"serve-{port}.log", 20)
        check_consistent(repo, f"http://127.0.0.1:{port}", acknowledged, tmp_path / f"serve-{port}.log")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def check_consistent(repo: Path, base_url: str, acknowledged: list[str], log: Path) -> None:
    """Every acknowledged write is committed and served; nothing else is left in the working tree."""
    assert not (repo / ".git" / "index.lock").exists(), log.read_text(errors="replace")
    assert git(repo, "status", "--porcelain", "--untracked-files=all", "--", "content") == ""
    committed = set(git(repo, "ls-tree", "--name-only", "HEAD", "content/projects/").split())
    missing = [slug for slug in acknowledged if f"content/projects/{slug}.md" not in committed]
    assert not missing, f"acknowledged but not committed: {missing}"
    assert not list((repo / "content").rglob(".*.tmp")), "a half-written temporary file was left behind"
    with httpx.Client(base_url=f"{base_url}/api/v1", timeout=10,
                      headers={"Authorization": f"Bearer {login(base_url)}"}) as client:
        listed = client.get("/projects", params={"page_size": 100}).json()
        served = {item["slug"] for item in listed["items"]}
        for page in range(2, listed["total"] // 100 + 2):
            served |= {item["slug"] for item in client.get("/projects", params={"page_size": 100,
                                                                               "page": page}).json()["items"]}
    on_disk = {Path(name).stem for name in committed}
    assert served == on_disk, (sorted(on_disk - served), sorted(served - on_disk))

