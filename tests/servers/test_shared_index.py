"""Several servers, ONE index on Postgres: what one server indexes, all serve within 2 s, and nothing is lost.

Three real `cms serve` processes (tests/servers/cluster.py), each with its own clone of one bare remote,
all on one Postgres database for both the state (CMS_STATE_URL) and the index (CMS_DATABASE_URL), as
docker-compose.yml runs them. Answers are held for 30 s, so a server shows a new commit only when its
hold follows the shared index.

Every index run that changes the index writes the row `commit` of `cms_index.meta`, and a run with
nothing to do writes nothing. A trigger the test adds there notes each such write (`IndexRuns`): so the
tests see how often each commit was indexed (once: the servers that follow find it done) and in which
order (always forward: a server whose clone lags never takes the shared index back). Every loop is
bounded in count and in time; the figures are printed (`pytest -s` shows them).
"""

from __future__ import annotations

import itertools
import random
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from cms.database.postgres import lock_key
from cms.index import heads
from cms.index.postgres import WRITES
from cms.repo.repository import GitRepo
from cms.write import journal
from tests.conftest import git
from tests.postgres_server import PostgresServer
from tests.servers.cluster import Cluster, make_clones, seconds_until, start_cluster
from tests.servers.test_several_servers import ATTEMPTS, LESSON, LESSON_FILE, push_from_outside

pytestmark = pytest.mark.xdist_group("processes")
"""One xdist worker for every test that starts whole servers (see tests/cli/test_serve.py)."""

CONVERGE_SECONDS = 2.0
ROUNDS = 3
"""Writes, and pushes with a webhook, each through a different server in turn."""
WRITERS_PER_SERVER = 5
RACE_SECONDS = 60.0
LOCK_FREE_SECONDS = 5.0
"""A lock the killed server held goes as soon as Postgres sees its connection close; a surviving server's
follower may hold the index's lock for a run of its own a moment longer."""

RECORD_RUNS = """
CREATE TABLE public.index_runs (n bigserial PRIMARY KEY, commit text NOT NULL);
CREATE FUNCTION public.note_index_run() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN INSERT INTO public.index_runs (commit) VALUES (NEW.value); RETURN NEW; END $$;
CREATE TRIGGER note_index_run AFTER INSERT OR UPDATE ON cms_index.meta FOR EACH ROW WHEN (NEW.key = 'commit')
    EXECUTE FUNCTION public.note_index_run();
"""


@dataclass
class IndexRuns:
    """The index runs that changed the shared index since `install`, noted by a trigger on `cms_index.meta`."""

    url: str

    def install(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(RECORD_RUNS)

    def commits(self) -> list[str]:
        """The commit each run left the index at, in the order they committed (runs hold the index's lock)."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            return [row[0] for row in conn.execute("SELECT commit FROM public.index_runs ORDER BY n")]

    def indexed(self) -> str:
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute("SELECT value FROM cms_index.meta WHERE key = 'commit'").fetchone()
        assert row is not None
        return str(row[0])


@dataclass
class Shared:
    cluster: Cluster
    runs: IndexRuns


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer) -> Iterator[Shared]:
    root = tmp_path_factory.mktemp("shared")
    name = "shared_" + root.name.replace("-", "_").lower()[-40:]
    url = postgres_server.create_database(name)
    started = start_cluster(root, url, index_url=url)
    try:
        runs = IndexRuns(url)
        runs.install()
        yield Shared(started, runs)
    finally:
        for server in started.servers:
            server.kill()
        postgres_server.drop_database(name)


def hold(clients: list[httpx.Client]) -> None:
    """Ask each server for the lesson, so it holds that answer (CMS_RESPONSE_HOLD_SECONDS=30)."""
    for client in clients:
        assert client.get(LESSON).status_code == 200


def write_title(cluster: Cluster, server: int, title: str) -> None:
    """Retitle the lesson through `server` with the version just read (If-Match); it must be answered 200."""
    with cluster.client(server, timeout=30) as client:
        lesson = client.get(LESSON).json()
        response = client.put(LESSON, json={**lesson, "title": title}, headers={"If-Match": f'"{lesson["version"]}"'})
    assert response.status_code == 200, response.text


def seconds_until_all_serve(clients: list[httpx.Client], title: str) -> float:
    """Seconds until every server answers the lesson with `title`; fails after twice the bound."""
    began = time.monotonic()
    waits = [seconds_until(lambda c=client: c.get(LESSON).json()["title"] == title, CONVERGE_SECONDS * 2)
             for client in clients]
    assert all(wait is not None for wait in waits), (title, waits)
    return time.monotonic() - began


def assert_followed(shared: Shared, head: str) -> None:
    """Every clone reaches `head` (so each follower has had its turn at the index), the index is at `head`,
    and every run since the start moved the shared index forward: each commit once, each a descendant of the last."""
    for server in shared.cluster.servers:
        if server.process is not None and server.process.poll() is None:
            assert seconds_until(lambda s=server: s.head() == head, CONVERGE_SECONDS) is not None, server.name
    assert shared.runs.indexed() == head
    commits = shared.runs.commits()
    twice = [commit for commit, count in Counter(commits).items() if count > 1]
    assert twice == [], f"indexed more than once: {twice} in {commits}"
    bare = shared.cluster.bare
    backwards = [(a, b) for a, b in itertools.pairwise(commits) if not is_ancestor(bare, a, b)]
    assert backwards == [], f"the index went back: {backwards}"


def is_ancestor(repo: Path, older: str, newer: str) -> bool:
    try:
        git(repo, "merge-base", "--is-ancestor", older, newer)
    except subprocess.CalledProcessError:
        return False
    return True


def test_a_write_through_one_server_is_served_by_all_three_within_two_seconds(shared: Shared) -> None:
    cluster = shared.cluster
    clients = [cluster.public(index) for index in range(3)]
    seconds: list[float] = []
    for n in range(ROUNDS):
        hold(clients)
        title = f"Written through {n}"
        write_title(cluster, n % 3, title)
        seconds.append(seconds_until_all_serve(clients, title))
    for client in clients:
        client.close()
    print(f"\nshared index, write through one server: all three serve it after median "
          f"{statistics.median(seconds):.2f} s, max {max(seconds):.2f} s ({ROUNDS} writes)")
    assert max(seconds) < CONVERGE_SECONDS, seconds
    assert_followed(shared, cluster.remote_head())


def test_a_webhook_to_one_server_is_indexed_once_and_served_by_all_three_within_two_seconds(
        shared: Shared, tmp_path: Path) -> None:
    cluster = shared.cluster
    clients = [cluster.public(index) for index in range(3)]
    seconds: list[float] = []
    for push in range(ROUNDS):
        hold(clients)
        title = f"Pushed {push}"
        head = push_from_outside(cluster, tmp_path / "author", title)
        began = time.monotonic()
        assert cluster.webhook(push % 3).status_code == 200
        seconds_until_all_serve(clients, title)
        seconds.append(time.monotonic() - began)
        assert_followed(shared, head)
        assert shared.runs.commits().count(head) == 1
    for client in clients:
        client.close()
    print(f"\nshared index, push + webhook to one server: all three serve it after median "
          f"{statistics.median(seconds):.2f} s, max {max(seconds):.2f} s ({ROUNDS} pushes, each indexed once)")
    assert max(seconds) < CONVERGE_SECONDS, seconds


def read_modify_write(cluster: Cluster, server: int, mark: str, deadline: float) -> tuple[int, int, str]:
    """Append `mark` to the shared lesson through `server`, retrying on 412 with backoff; (final status, attempts,
    its body unless 200). Nothing else is retried: the lesson exists throughout, so a 404 (its file looked for
    while this clone's follower rewrote it) is a failure."""
    with cluster.client(server) as client:
        for attempt in range(1, ATTEMPTS + 1):
            lesson = client.get(LESSON).json()
            response = client.put(LESSON, json={**lesson, "body": f"{lesson['body'].rstrip()}\n\n{mark}\n"},
                                  headers={"If-Match": f'"{lesson["version"]}"'})
            if response.status_code != 412 or time.monotonic() > deadline:
                return response.status_code, attempt, "" if response.status_code == 200 else response.text
            time.sleep(random.uniform(0, min(4.0, 0.1 * 2 ** attempt)))
    return 412, ATTEMPTS, "too many attempts"


def test_racing_writers_on_three_servers_lose_no_update_and_leave_the_index_at_the_remote_head(
        shared: Shared) -> None:
    cluster = shared.cluster
    start = cluster.remote_head()
    marks = [f"shared-{server}-{writer}" for server in range(3) for writer in range(WRITERS_PER_SERVER)]
    deadline = time.monotonic() + RACE_SECONDS
    began = time.monotonic()
    with ThreadPoolExecutor(len(marks)) as pool:
        results = list(pool.map(lambda n: read_modify_write(cluster, n % 3, marks[n], deadline), range(len(marks))))
    seconds = time.monotonic() - began
    final = set(cluster.remote_file(LESSON_FILE).splitlines())
    lost = [mark for mark, (status, *_) in zip(marks, results, strict=True) if status == 200 and mark not in final]
    commits = cluster.remote_commits(start)
    print(f"\nshared index, read-modify-write: {len(marks)} writers on 3 servers, "
          f"{sum(attempts for _, attempts, _ in results)} attempts, {len(lost)} lost, "
          f"{len(commits)} commits on the remote, {seconds:.1f} s")
    assert lost == []
    assert Counter(status for status, *_ in results) == {200: len(marks)}, [d for *_, d in results if d][:3]
    assert len(commits) == len(marks)
    assert_followed(shared, cluster.remote_head())
    for index in range(3):
        with cluster.client(index) as client:
            assert set(marks) <= set(client.get(LESSON).json()["body"].splitlines())


def test_a_server_killed_mid_write_holds_no_lock_and_its_restart_leaves_the_index_be(shared: Shared) -> None:
    cluster = shared.cluster
    start = cluster.remote_head()
    answered, _ = cluster.creates_through_a_kill("cut", seconds=4.0)
    created = [slug for slug, status in answered.items() if status == 201]
    assert set(answered.values()) <= {201}, Counter(answered.values())
    for name in (WRITES, journal.WRITE_LOCK):  # the index's lock and the servers' write lock: both free soon
        assert seconds_until(lambda n=name: lock_is_free(cluster.state_url, n), LOCK_FREE_SECONDS) is not None, name
    landed = {subject.removeprefix("Create project ") for subject in cluster.remote_commits(start)}
    assert set(created) <= landed
    clients = [cluster.public(index) for index in range(2)]
    hold(clients)
    write_title(cluster, 0, "After the kill")
    waited = seconds_until_all_serve(clients, "After the kill")
    for client in clients:
        client.close()
    print(f"\nshared index, kill: {len(created)} creates answered 201, all {len(created)} on the remote; both "
          f"locks free; the next write through another server served by both after {waited:.2f} s")
    assert_followed(shared, cluster.remote_head())
    cluster.servers[2].launch()  # its clone lags behind the index now: its first index run must leave it be
    cluster.servers[2].wait_healthy()
    assert_followed(shared, cluster.remote_head())


def lock_is_free(url: str, name: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        key = lock_key(name)
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()
        conn.execute("SELECT pg_advisory_unlock(%s)", [key])
    return row == (True,)


# -- when a clone lags behind the shared index (`heads.lags`), on real repositories -----------------------------


@pytest.fixture
def clones(tmp_path: Path) -> tuple[GitRepo, GitRepo]:
    """Two clones of one bare remote at the same commit: `ahead` pushes, `behind` has not fetched."""
    make_clones(tmp_path)
    return GitRepo.open(tmp_path / "one"), GitRepo.open(tmp_path / "two")


def commit_and_push(repo: GitRepo) -> str:
    (repo.root / "content" / "pushed.md").write_text("not content\n")
    git(repo.root, "add", "--all")
    git(repo.root, "commit", "--quiet", "--message", "Pushed")
    git(repo.root, "push", "--quiet", "origin", "HEAD:main")
    return git(repo.root, "rev-parse", "HEAD")


def test_a_clone_lags_behind_a_commit_another_server_pushed_and_it_has_not_fetched(
        clones: tuple[GitRepo, GitRepo]) -> None:
    ahead, behind = clones
    pushed = commit_and_push(ahead)
    assert heads.lags(behind, pushed)
    assert not heads.lags(ahead, pushed)  # it has the commit: an ordinary run decides
    git(behind.root, "pull", "--quiet", "--ff-only")
    assert not heads.lags(behind, pushed)


@pytest.mark.parametrize("commit", ["", "main", "HEAD", "0" * 39, "--all", "../../etc/passwd", "a" * 40 + "\n"])
def test_what_is_not_a_commit_id_never_counts_as_ahead(clones: tuple[GitRepo, GitRepo], commit: str) -> None:
    ahead, behind = clones
    commit_and_push(ahead)
    assert not heads.lags(behind, commit)


def test_a_commit_nobody_has_while_the_remote_is_at_head_is_no_reason_to_wait(clones: tuple[GitRepo, GitRepo]) -> None:
    _, behind = clones  # a repository made anew under an index built from another history
    assert not heads.lags(behind, "1" * 40)


def test_an_unreachable_remote_leaves_the_shared_index_as_it_is(clones: tuple[GitRepo, GitRepo],
                                                                 tmp_path: Path) -> None:
    _, behind = clones
    git(behind.root, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    assert heads.lags(behind, "1" * 40)
    git(behind.root, "remote", "remove", "origin")  # no remote at all: nobody can be ahead of it
    assert not heads.lags(behind, "1" * 40)
