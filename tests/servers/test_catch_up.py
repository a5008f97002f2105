"""Catching up before a write, on real clones of one bare remote and a real Postgres state database.

Each "server" is a clone with its own index, writing through `cms.write.operations` with
CMS_STATE_URL on Postgres and CMS_GIT_PUSH on, as `cms serve` does. The cases where a clone cannot
follow the remote (it diverged, the remote is gone), a server that died holding the lock, and an
announcement that is not a commit id must each end in a precise answer with nothing lost.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import psycopg
import pytest

from cms.content import Kind
from cms.content.corpus import ContentTree
from cms.database import PostgresUrl
from cms.delivery.follower import follow
from cms.errors import Conflict, PreconditionFailed, Unavailable, UpstreamError
from cms.index import heads
from cms.index.build import update
from cms.index.sqlite import database_path
from cms.read import queries
from cms.read.connection import reading
from cms.repo.commits import Identity, blob_at_head
from cms.repo.repository import GitRepo
from cms.write import journal, operations
from cms.write.operations import Workspace
from tests.admin_api import run_git
from tests.api_server import free_port
from tests.conftest import SITE, git, make_repo

ADA = Identity(name="Ada Admin", email="ada@example.com")
LESSON = ("intro-to-testing", "why-test")
LESSON_FILE = "content/courses/intro-to-testing/01-basics/01-why-test.md"


@pytest.fixture
def servers(tmp_path: Path, postgres_database: str) -> tuple[Workspace, Workspace, Path]:
    """Two servers' workspaces (clones `one` and `two` of `remote.git`, indexed) on one state database."""
    origin = make_repo(tmp_path / "origin", SITE)
    bare = tmp_path / "remote.git"
    run_git(tmp_path, "clone", "--quiet", "--bare", str(origin), str(bare))
    heads.prepare(PostgresUrl(postgres_database, "CMS_STATE_URL"))
    spaces = []
    for name in ("one", "two"):
        run_git(tmp_path, "clone", "--quiet", str(bare), name)
        tree = ContentTree.locate(tmp_path / name / "content")
        update(tree, database_path(tree, None))
        spaces.append(Workspace(tree=tree, db_path=database_path(tree, None), push=True, state_url=postgres_database))
    return spaces[0], spaces[1], bare


def retitle(space: Workspace, title: str, version: str | None) -> operations.Written:
    return operations.replace(space, Kind.LESSON, LESSON, {"title": title, "type": "text"}, version, ADA)


def version(space: Workspace) -> str:
    blob = blob_at_head(GitRepo.open(space.tree.content_dir), LESSON_FILE)
    assert blob is not None
    return blob


def test_a_write_starts_from_what_another_server_pushed(servers: tuple[Workspace, Workspace, Path]) -> None:
    one, two, bare = servers
    stale = version(two)
    written = retitle(one, "Written through one", version(one))
    retitle(two, "Then through two", written.version)  # two's clone was behind: it caught up first
    with pytest.raises(PreconditionFailed):
        retitle(two, "On the old version", stale)
    assert git(bare, "log", "-2", "--format=%s", "main").splitlines() == ["Update lesson intro-to-testing/why-test"] * 2
    assert git(bare, "rev-parse", "main") == git(two.tree.content_dir, "rev-parse", "HEAD")


def test_a_clone_that_cannot_fast_forward_is_409_and_keeps_its_commit(
        servers: tuple[Workspace, Workspace, Path]) -> None:
    one, two, bare = servers
    clone = two.tree.content_dir.parent
    (clone / "content" / "projects" / "test-dashboard.md").write_text("---\ntitle: Local only\n---\n")
    git(clone, "commit", "--quiet", "--all", "--message", "A commit this server never pushed")
    local = git(clone, "rev-parse", "HEAD")
    retitle(one, "Moves the remote on", version(one))
    remote_head = git(bare, "rev-parse", "main")
    with pytest.raises(Conflict) as caught:
        retitle(two, "Refused", None)
    assert caught.value.reason == "clone-diverged"
    assert "cannot fast-forward" in caught.value.message and "nothing was written" in caught.value.message
    assert git(clone, "rev-parse", "HEAD") == local and git(bare, "rev-parse", "main") == remote_head
    assert git(clone, "status", "--porcelain") == ""


def test_an_unreachable_remote_is_502_and_nothing_is_written(servers: tuple[Workspace, Workspace, Path],
                                                             tmp_path: Path) -> None:
    one, two, _ = servers
    clone = two.tree.content_dir.parent
    git(clone, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    retitle(one, "Moves the remote on", version(one))  # the recorded head is no longer two's: two must fetch
    head = git(clone, "rev-parse", "HEAD")
    with pytest.raises(UpstreamError) as caught:
        retitle(two, "Never written", None)
    assert caught.value.reason == "remote-unreachable" and "gone.git" in caught.value.message
    assert git(clone, "rev-parse", "HEAD") == head and git(clone, "status", "--porcelain") == ""


def test_a_server_that_died_holding_the_lock_has_its_unanswered_commit_taken_back(
        servers: tuple[Workspace, Workspace, Path], postgres_database: str) -> None:
    one, two, bare = servers
    clone = two.tree.content_dir.parent
    repo = GitRepo.open(clone)
    base = repo.head()
    assert base is not None
    journal.base_path(repo).write_text(base)  # as a write leaves it, inside the servers' lock
    (clone / "content" / "projects" / "test-dashboard.md").write_text("---\ntitle: Never answered\n---\n")
    git(clone, "commit", "--quiet", "--all", "--message", "Committed, then the server died before its push")
    with psycopg.connect(postgres_database, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
        heads.begin(conn, base)  # and the shared head says a write is under way
    assert journal.recover(repo) == []
    assert repo.head() == base and not journal.base_path(repo).exists()
    written = retitle(two, "After the restart", version(two))
    assert git(bare, "log", "-1", "--format=%s", "main") == "Update lesson intro-to-testing/why-test"
    assert "Never answered" not in git(bare, "log", "--format=%s", "main")
    assert written.commit == git(bare, "rev-parse", "main")
    retitle(one, "One follows", written.version)


@pytest.mark.parametrize("announced", ["--upload-pack=touch pwned", "not a commit", "0" * 40, "", "a" * 65])
def test_an_announcement_that_is_not_a_commit_here_only_makes_the_follower_catch_up(
        servers: tuple[Workspace, Workspace, Path], announced: str) -> None:
    one, two, bare = servers
    written = retitle(one, "Announced elsewhere", version(one))
    follow(two, announced)
    assert git(two.tree.content_dir, "rev-parse", "HEAD") == written.commit == git(bare, "rev-parse", "main")
    assert not (two.tree.content_dir.parent / "pwned").exists()
    with reading(two.db_path) as conn:
        assert queries.meta(conn)["commit"] == written.commit


def test_a_state_database_out_of_reach_is_503_and_nothing_is_written(
        servers: tuple[Workspace, Workspace, Path]) -> None:
    _, two, bare = servers
    away = msgspec.structs.replace(two, state_url=f"postgresql://cms:secret@127.0.0.1:{free_port()}/cms")
    head = git(bare, "rev-parse", "main")
    with pytest.raises(Unavailable) as caught:
        retitle(away, "Never written", None)
    assert caught.value.status == 503 and caught.value.reason == "state-unavailable"
    assert "CMS_STATE_URL" in caught.value.message and "secret" not in caught.value.message
    assert git(bare, "rev-parse", "main") == head and git(two.tree.content_dir, "status", "--porcelain") == ""
