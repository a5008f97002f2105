"""Several servers, one remote, one Postgres: no lost update, every commit lands, every server follows in 2 s.

Three real `cms serve` processes (tests/servers/cluster.py) with clones of their own of one bare
remote and one real Postgres state database. Clients talk real HTTP to all three at once. Every
loop is bounded in count and in time; the figures (lost updates, commits landed, seconds to
converge) are printed (`pytest -s` shows them).
"""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from cms.database.postgres import lock_key
from cms.repo.repository import GitRepo
from cms.write import journal
from tests.admin_api import run_git
from tests.conftest import git
from tests.postgres_server import PostgresServer
from tests.servers.cluster import Cluster, seconds_until, start_cluster

pytestmark = pytest.mark.xdist_group("processes")
"""One xdist worker for every test that starts whole servers (see tests/cli/test_serve.py)."""

LESSON = "/courses/intro-to-testing/lessons/why-test"
LESSON_FILE = "courses/intro-to-testing/01-basics/01-why-test.md"
WRITERS_PER_SERVER = 20
ATTEMPTS = 400
"""Tries a racing writer makes at most (each 412 is one)."""
RACE_SECONDS = 300.0
BACKOFF_CAP = 4.0
"""A writer told 412 waits a random while, up to 0.2 s, 0.4 s, 0.8 s, … at most this, before it reads again:
sixty writers retrying at once would otherwise keep the servers busy answering them rather than writing."""
CREATES = 200
CONVERGE_SECONDS = 2.0
PUSHES = 5


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("servers")
    name = "servers_" + root.name.replace("-", "_").lower()[-40:]
    started = start_cluster(root, postgres_server.create_database(name))
    try:
        yield started
    finally:
        for server in started.servers:
            server.kill()
        postgres_server.drop_database(name)


def read_modify_write(cluster: Cluster, server: int, mark: str, deadline: float) -> tuple[int, int, str]:
    """Append `mark` to the shared lesson through `server`, retrying on 412; (final status, attempts, its body
    unless 200)."""
    with cluster.client(server) as client:
        for attempt in range(1, ATTEMPTS + 1):
            lesson = client.get(LESSON).json()
            body = f"{lesson['body'].rstrip()}\n\n{mark}\n"
            response = client.put(LESSON, json={**lesson, "body": body},
                                  headers={"If-Match": f'"{lesson["version"]}"'})
            if response.status_code != 412 or time.monotonic() > deadline:
                return response.status_code, attempt, "" if response.status_code == 200 else response.text
            time.sleep(random.uniform(0, min(BACKOFF_CAP, 0.1 * 2 ** attempt)))  # back off, as a client should
    return 412, ATTEMPTS, "too many attempts"


def test_racing_read_modify_writes_through_three_servers_lose_no_update(cluster: Cluster) -> None:
    start = cluster.remote_head()
    marks = [f"edit-{server}-{writer}" for server in range(3) for writer in range(WRITERS_PER_SERVER)]
    deadline = time.monotonic() + RACE_SECONDS
    began = time.monotonic()
    with ThreadPoolExecutor(len(marks)) as pool:
        results = list(pool.map(lambda n: read_modify_write(cluster, n % 3, marks[n], deadline), range(len(marks))))
    seconds = time.monotonic() - began
    statuses = Counter(status for status, _, _ in results)
    final = set(cluster.remote_file(LESSON_FILE).splitlines())
    lost = [mark for mark, (status, _, _) in zip(marks, results, strict=True) if status == 200 and mark not in final]
    commits = cluster.remote_commits(start)
    print(f"\nread-modify-write: {len(marks)} writers on 3 servers, {sum(a for _, a, _ in results)} attempts, "
          f"{statuses[200]} answered 200, {len(lost)} of them lost, {len(commits)} commits on the remote, "
          f"{seconds:.1f} s")
    assert lost == []
    assert statuses == {200: len(marks)}, [detail for _, _, detail in results if detail][:3]
    assert len(commits) == len(marks) and set(commits) == {"Update lesson intro-to-testing/why-test"}
    assert_all_serve(cluster, cluster.remote_head())


def test_two_hundred_parallel_creates_over_three_servers_all_land(cluster: Cluster) -> None:
    start = cluster.remote_head()

    def create(n: int) -> int:
        with cluster.client(n % 3) as client:
            return client.post("/projects", json={"slug": f"many-{n}", "title": f"Many {n}"}).status_code

    began = time.monotonic()
    with ThreadPoolExecutor(24) as pool:
        statuses = Counter(pool.map(create, range(CREATES)))
    seconds = time.monotonic() - began
    commits = cluster.remote_commits(start)
    print(f"\ncreates: {CREATES} over 3 servers, {len(commits)} commits landed on the remote, {seconds:.1f} s")
    assert statuses == {201: CREATES}, statuses
    assert sorted(commits) == sorted(f"Create project many-{n}" for n in range(CREATES))
    assert_all_serve(cluster, cluster.remote_head())


def assert_all_serve(cluster: Cluster, head: str) -> None:
    """Every server's clone reaches `head` within the convergence bound, and its index with it."""
    for server in cluster.servers:
        waited = seconds_until(lambda server=server: server.head() == head, CONVERGE_SECONDS)
        assert waited is not None, f"{server.name} is at {server.head()}, not {head}"
    for index in range(len(cluster.servers)):
        with cluster.public(index) as client:
            waited = seconds_until(lambda client=client: client.get("/health").json()["index_commit"] == head,
                                   CONVERGE_SECONDS)
        assert waited is not None, f"server {index} does not serve {head}"


def push_from_outside(cluster: Cluster, work: Path, title: str) -> str:
    """An author's push straight to the remote: a new title for the shared lesson; the new commit."""
    if not work.exists():
        run_git(work.parent, "clone", "--quiet", str(cluster.bare), work.name)
    git(work, "pull", "--quiet", "--ff-only")
    lesson = work / "content" / LESSON_FILE
    text = lesson.read_text()
    head, _, rest = text.partition("\n---\n")
    lines = [f"title: {title}" if line.startswith("title:") else line for line in head.splitlines()]
    lesson.write_text("\n".join(lines) + "\n---\n" + rest)
    git(work, "commit", "--quiet", "--all", "--message", f"Retitle to {title}")
    git(work, "push", "--quiet", "origin", "HEAD:main")
    return git(work, "rev-parse", "HEAD")


def test_a_webhook_to_one_server_shows_the_new_commit_on_all_three_within_two_seconds(
        cluster: Cluster, tmp_path: Path) -> None:
    clients = [cluster.public(index) for index in range(3)]
    slowest: list[float] = []
    for push in range(PUSHES):
        for client in clients:  # hold the current answer on every server (CMS_RESPONSE_HOLD_SECONDS=30)
            assert client.get(LESSON).status_code == 200
        title = f"Retitled {push}"
        push_from_outside(cluster, tmp_path / "author", title)
        began = time.monotonic()
        assert cluster.webhook(push % 3).status_code == 200
        waits = [seconds_until(lambda c=client, t=title: c.get(LESSON).json()["title"] == t, CONVERGE_SECONDS * 2)
                 for client in clients]
        assert all(wait is not None for wait in waits), (push, waits)
        slowest.append(time.monotonic() - began)
    for client in clients:
        client.close()
    print(f"\nconverge after a webhook to one server: median {statistics.median(slowest):.2f} s, "
          f"max {max(slowest):.2f} s over {PUSHES} pushes (all three serving the new commit)")
    assert max(slowest) < CONVERGE_SECONDS, slowest


def test_a_server_killed_mid_write_loses_nothing_and_holds_no_lock(cluster: Cluster) -> None:
    start = cluster.remote_head()
    answered, failed = cluster.creates_through_a_kill("kill", seconds=8.0)
    landed = {subject.removeprefix("Create project ") for subject in cluster.remote_commits(start)}
    created = {slug for slug, status in answered.items() if status == 201}
    print(f"\nkill: {len(created)} writes answered 201, {len(failed)} cut off by the kill, "
          f"{len(created - landed)} answered but not on the remote")
    assert set(answered.values()) <= {201}, Counter(answered.values())
    assert created <= landed and landed <= created | set(failed)
    assert any(slug.split("-")[1] in "01" and int(slug.split("-")[2]) > 0 for slug in created)
    with psycopg.connect(cluster.state_url, autocommit=True) as conn:  # nobody holds the write lock
        key = lock_key(journal.WRITE_LOCK)
        assert conn.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone() == (True,)
        conn.execute("SELECT pg_advisory_unlock(%s)", [key])
    assert_restarts_at_the_remote_head(cluster)


def assert_restarts_at_the_remote_head(cluster: Cluster) -> None:
    """The killed server starts again on its clone: nothing half-done is left and it serves the remote's head."""
    killed = cluster.servers[2]
    killed.launch()
    killed.wait_healthy()
    assert_all_serve(cluster, cluster.remote_head())
    assert git(killed.clone, "status", "--porcelain", "--untracked-files=no") == ""
    assert not journal.base_path(GitRepo.open(killed.clone)).exists()
