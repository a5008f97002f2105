"""One writer across servers: with Postgres state the write lock is also a Postgres advisory lock.

Each "server" here is a clone of one repository; the lock is held by a separate process, as another
server would hold it, and that process is killed the hard way to show the lock dies with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
import psycopg
import pytest

from cms.content import Kind
from cms.database.postgres import lock_key
from cms.repo.commits import Identity
from cms.repo.repository import GitRepo
from cms.write import journal, operations
from cms.write.operations import Workspace
from tests.conftest import SITE, git, make_repo

HOLD = """
import sys
from pathlib import Path
from cms.repo.repository import GitRepo
from cms.write import journal
with journal.exclusive(GitRepo.open(Path(sys.argv[1])), sys.argv[2] or None):
    print("locked", flush=True)
    sys.stdin.readline()
"""
"""Another server: takes the write lock for its clone, says so, and holds it until told (or killed)."""


@pytest.fixture
def clones(tmp_path: Path) -> tuple[Path, Path]:
    """Two servers' clones of one repository."""
    origin = make_repo(tmp_path / "origin", SITE)
    for name in ("one", "two"):
        git(tmp_path, "clone", "--quiet", str(origin), name)
    return tmp_path / "one", tmp_path / "two"


@contextmanager
def held_elsewhere(clone: Path, state_url: str) -> Iterator[subprocess.Popen[str]]:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(clone / "content"), state_url], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=Path(__file__).parents[2])
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def takes(clone: Path, state_url: str | None, within: float) -> float | None:
    """Seconds until this process has the write lock of `clone`, or None if not within `within` seconds."""
    got = threading.Event()
    started = time.monotonic()

    def lock() -> None:
        with journal.exclusive(GitRepo.open(clone / "content"), state_url):
            got.set()
    threading.Thread(target=lock, daemon=True).start()
    return time.monotonic() - started if got.wait(within) else None


def test_two_servers_with_their_own_clones_never_write_at_once(clones: tuple[Path, Path],
                                                               postgres_database: str) -> None:
    one, two = clones
    with held_elsewhere(one, postgres_database) as holder:
        assert takes(two, postgres_database, within=1.0) is None
        assert holder.stdin is not None
        holder.stdin.write("release\n")
        holder.stdin.flush()
        waited = takes(two, postgres_database, within=10.0)
    assert waited is not None


def test_a_killed_server_leaves_no_lock_held(clones: tuple[Path, Path], postgres_database: str) -> None:
    one, two = clones
    with held_elsewhere(one, postgres_database) as holder:
        assert takes(two, postgres_database, within=0.5) is None
        os.kill(holder.pid, signal.SIGKILL)
        waited = takes(two, postgres_database, within=5.0)
    assert waited is not None and waited < 2.0, waited
    with psycopg.connect(postgres_database) as conn:
        assert conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone() == (0,)


def test_with_sqlite_state_the_lock_is_the_clones_own(clones: tuple[Path, Path]) -> None:
    one, two = clones
    with held_elsewhere(one, ""):
        assert takes(two, None, within=5.0) is not None
        assert takes(one, None, within=0.5) is None


def test_the_write_path_waits_for_another_servers_write(site: Path, space: Workspace, postgres_database: str) -> None:
    """A write through `cms.write.operations` with CMS_STATE_URL on Postgres holds the servers' lock."""
    shared = msgspec.structs.replace(space, state_url=postgres_database)
    done = threading.Event()

    def write() -> None:
        operations.create(shared, Kind.PROJECT, (), {"slug": "late", "title": "Late", "status": "draft"},
                          Identity(name="Ada Admin", email="ada@example.com"))
        done.set()
    with psycopg.connect(postgres_database, autocommit=True) as other_server:
        other_server.execute("SELECT pg_advisory_lock(%s)", [lock_key(journal.WRITE_LOCK)])
        threading.Thread(target=write, daemon=True).start()
        assert not done.wait(1.0)
    assert done.wait(30.0)
    assert (site / "content" / "projects" / "late.md").is_file()
