"""Concurrent admin writes: one winner per version, nothing lost, serialized across server workers.

Threads send real HTTP requests: through Litestar's TestClient (the app runs
each write in a worker thread), and against `cms serve --workers 2` as a
subprocess, where only the file lock on `.cms/write.lock` keeps two
processes from interleaving. Each race starts its threads at a barrier so
the requests overlap, and every count is checked in git afterwards.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.register_assert_rewrite("tests.admin_api")

from cms.accounts import Role  # noqa: E402
from tests.admin_api import ADA, BASE, MOE, PASSWORD, SECRET, AdminSite, Workbench  # noqa: E402
from tests.api_server import CMS, free_port, server_env  # noqa: E402
from tests.conftest import git, stop  # noqa: E402

pytest_plugins = ["tests.admin_api"]

PROJECT_FILE = "projects/test-dashboard.md"
RACERS = 24
PARALLEL_CREATES = 100
STARTUP_SECONDS = 30


def race(count: int, action: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """`action(n)` in `count` threads released together; their responses in order of n."""
    barrier = threading.Barrier(count)
    results: list[httpx.Response | BaseException | None] = [None] * count

    def run(n: int) -> None:
        barrier.wait(timeout=30)
        try:
            results[n] = action(n)
        except BaseException as error:  # reported below, with the others
            results[n] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    failures = [r for r in results if not isinstance(r, httpx.Response)]
    assert not failures, failures[:3]
    return [r for r in results if isinstance(r, httpx.Response)]


def commit_subjects(repo: Path, since: str) -> list[str]:
    return git(repo, "log", "--format=%an|%s", f"{since}..HEAD").splitlines()


def assert_one_winner(responses: list[httpx.Response], repo: Path, head: str, subject: str) -> httpx.Response:
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 412: len(responses) - 1}, [(r.status_code, r.text[:200]) for r in responses]
    assert all(r.json()["type"] == "urn:coursebase:problem:stale-version" for r in responses if r.status_code == 412)
    assert commit_subjects(repo, head) == [f"{ADA.full_name}|{subject}"]
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    return next(r for r in responses if r.status_code == 200)


def test_racing_writers_on_one_version_have_exactly_one_winner(admin_site: AdminSite) -> None:
    site = admin_site
    version, head = site.blob(PROJECT_FILE), site.head()

    def replace(n: int) -> httpx.Response:
        return site.request("PUT", "/projects/test-dashboard", version=version,
                            json={"title": f"Writer {n}", "status": "published"})

    winner = assert_one_winner(race(RACERS, replace), site.repo, head, "Update project test-dashboard")
    title = winner.json()["entry"]["title"]
    assert f"title: {title}\n" in (site.content / PROJECT_FILE).read_text()
    assert winner.json()["version"] == site.blob(PROJECT_FILE)
    assert site.read("/projects/test-dashboard").json()["title"] == title


def test_racing_different_writes_on_one_lesson_version_have_one_winner(admin_site: AdminSite) -> None:
    """Publish, add a video and replace, all against the same version of one lesson: only one lands."""
    site, lesson = admin_site, "/courses/intro-to-testing/lessons/first-test"
    version, head = site.version_of(lesson), site.head()
    writes = [("PATCH", f"{lesson}/publish", {"published": False}),
              ("POST", f"{lesson}/videos", {"url": "https://v.example.com/new.mp4"}),
              ("PUT", f"{lesson}/videos/0", {"url": "https://v.example.com/zero.mp4"}),
              ("DELETE", f"{lesson}/videos/1", None)]

    def write(n: int) -> httpx.Response:
        method, path, payload = writes[n % len(writes)]
        return site.request(method, path, version=version, **({} if payload is None else {"json": payload}))

    responses = race(RACERS, write)
    statuses = Counter(r.status_code for r in responses)
    assert statuses[412] == RACERS - 1 and statuses[200] + statuses[201] == 1, statuses
    assert len(commit_subjects(site.repo, head)) == 1
    assert site.status() == ""


def test_a_hundred_parallel_creates_all_land(admin_site: AdminSite) -> None:
    site, head = admin_site, admin_site.head()

    def create(n: int) -> httpx.Response:
        role = Role.ADMIN if n % 2 else Role.MODERATOR
        return site.request("POST", "/projects", role, json={"slug": f"parallel-{n}", "title": f"Parallel {n}"})

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(create, range(PARALLEL_CREATES)))
    assert [r.status_code for r in responses] == [201] * PARALLEL_CREATES, \
        [r.text[:200] for r in responses if r.status_code != 201][:3]
    subjects = commit_subjects(site.repo, head)
    names = {person: person.full_name or person.username for person in (ADA, MOE)}
    assert sorted(subjects) == sorted(f"{names[ADA if n % 2 else MOE]}|Create project parallel-{n}"
                                      for n in range(PARALLEL_CREATES))
    subject_of = dict(line.split(" ", 1) for line in git(site.repo, "log", "--format=%H %s").splitlines())
    blob_of = {line.split()[3]: line.split()[2] for line in git(site.repo, "ls-tree", "HEAD", "content/projects/")
               .splitlines()}
    for n, response in enumerate(responses):
        assert response.json()["version"] == blob_of[f"content/projects/parallel-{n}.md"]
        assert subject_of[response.json()["commit"]] == f"Create project parallel-{n}"
    assert site.status() == ""
    listed = site.read("/projects?page_size=100&page=2", Role.ADMIN).json()
    assert listed["total"] == PARALLEL_CREATES + 1


def test_parallel_lessons_without_an_order_all_go_last_in_turn(admin_site: AdminSite) -> None:
    """Each new lesson takes the next order number when it is written, not when its request arrived."""
    site, head, count = admin_site, admin_site.head(), 12

    def create(n: int) -> httpx.Response:
        return site.request("POST", "/courses/intro-to-testing/lessons",
                            json={"slug": f"racing-{n}", "title": f"Racing {n}", "section": "basics"})

    responses = race(count, create)
    assert [r.status_code for r in responses] == [201] * count, [r.text[:300] for r in responses]
    orders = sorted(r.json()["entry"]["order"] for r in responses)
    assert orders == list(range(3, 3 + count))
    assert len(commit_subjects(site.repo, head)) == count
    lessons = site.read("/courses/intro-to-testing/lessons?section=basics").json()["items"]
    assert [lesson["order"] for lesson in lessons] == list(range(1, 3 + count))


# --- two server processes ----------------------------------------------------------------------------------

def login(client: httpx.Client, username: str) -> dict[str, str]:
    response = client.post("/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def server_workers(pid: int) -> list[int]:
    """The worker processes of the server `pid`: its children running `cms serve`."""
    children = [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
                for child in (task / "children").read_text().split()]
    return [child for child in children if b"serve" in Path(f"/proc/{child}/cmdline").read_bytes()]


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


@pytest.fixture
def two_workers(workbench: Workbench, start: Any, tmp_path: Path) -> Iterator[tuple[httpx.Client, list[int]]]:
    """`cms serve --workers 2` over the renewed repository: a client on its /api/v1, and the workers' pids."""
    port = free_port()
    log_path = tmp_path / "server.log"
    env = server_env(CMS_SECRET_KEY=SECRET, CMS_STATE_URL=f"sqlite:///{workbench.state}")
    with log_path.open("wb") as log:
        process = subprocess.Popen([str(CMS), "serve", str(workbench.repo / "content"), "--port", str(port),
                                    "--workers", "2"], cwd=tmp_path, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}{BASE}", timeout=60) as client:
                wait_until_healthy(client, process, log_path)
                yield client, server_workers(process.pid)
        finally:
            stop(process)


def wait_until_healthy(client: httpx.Client, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"cms serve exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"cms serve did not answer within {STARTUP_SECONDS}s:\n{log.read_text(errors='replace')}")


def test_two_server_workers_serialize_writes(two_workers: tuple[httpx.Client, list[int]],
                                            workbench: Workbench) -> None:
    (client, workers), repo = two_workers, workbench.repo
    assert len(workers) == 2, workers
    ticks = {pid: cpu_ticks(pid) for pid in workers}
    auth = login(client, ADA.username)
    version = git(repo, "hash-object", f"content/{PROJECT_FILE}")
    head = git(repo, "rev-parse", "HEAD")

    def replace(n: int) -> httpx.Response:
        return client.put("/projects/test-dashboard", json={"title": f"Worker race {n}", "status": "published"},
                          headers={**auth, "If-Match": f'"{version}"'})

    winner = assert_one_winner(race(RACERS, replace), repo, head, "Update project test-dashboard")
    assert client.get("/projects/test-dashboard").json()["title"] == winner.json()["entry"]["title"]

    head = git(repo, "rev-parse", "HEAD")

    def create(n: int) -> httpx.Response:
        return client.post("/projects", json={"slug": f"worker-{n}", "title": f"Worker {n}"}, headers=auth)

    responses = race(RACERS, create)
    assert [r.status_code for r in responses] == [201] * RACERS, [r.text[:200] for r in responses]
    assert len(commit_subjects(repo, head)) == RACERS
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    for n in range(RACERS):
        response = client.get(f"/projects/worker-{n}", headers=auth)
        assert response.status_code == 200 and response.json()["version"] == responses[n].json()["version"]
    assert os.path.exists(repo / ".cms" / "write.lock")
    assert all(cpu_ticks(pid) > ticks[pid] for pid in workers), "both worker processes took part"
