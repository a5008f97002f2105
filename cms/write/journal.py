"""A write-ahead note for the write path, so a crash never leaves a stray file.

Before the write path touches the working tree it records which files it
is about to change and the commit HEAD pointed at. The note is removed
once the commit exists. If the process dies in between, `recover()` (run
before every write, index and serve) finds the note: when HEAD has not
moved, the files are put back as HEAD has them, so nothing uncommitted is
served and nothing is committed in anyone's name.

Recovery holds the write lock, so a server process starting up never
"recovers" a write another process is in the middle of.

The write lock is an exclusive `flock` on `.cms/write.lock`, which every
process working in this clone takes. When the state database is on
Postgres, several servers with clones of their own share one remote, and a
write also holds a Postgres advisory lock there: one writer across servers.
That lock belongs to a connection of its own, so it goes when the write's
process dies, however it dies. Holding both, a server first catches its
clone up with the remote (`cms.repo.remote.catch_up`), so every write
starts from the remote's head whichever server takes it; when the block
leaves HEAD elsewhere (a write pushed, a webhook pulled), the new head is
announced on the state database (`NOTIFY content_head`) and the other
servers follow (`cms.delivery.follower`). A git command
killed together with the server leaves `.git/index.lock` behind, and every
later git command would refuse to run; recovery removes that file when no
live git process holds it (it waits a moment for one that still runs).
"""

from __future__ import annotations

import fcntl
import glob
import logging
import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import msgspec

from cms import localdir
from cms.database import PostgresUrl, is_postgres
from cms.errors import ConfigError, Conflict
from cms.repo import remote
from cms.repo.commits import restore_paths
from cms.repo.repository import GitRepo

log = logging.getLogger("coursebase.write")
GIT_LOCK_WAIT_SECONDS = 5.0
WRITE_LOCK = "content writes"
"""The advisory lock every server's writes take in a Postgres state database."""
HEADS_CHANNEL = "content_head"
"""The state database's NOTIFY channel: its payload is the commit a server just brought its clone to."""


class Pending(msgspec.Struct):
    head: str | None
    paths: list[str]


def journal_path(repo: GitRepo) -> Path:
    return repo.root / ".cms" / "pending-write.json"


@contextmanager
def exclusive(repo: GitRepo, state_url: str | None = None) -> Iterator[None]:
    """The write lock: this clone's file lock, then, with a Postgres `state_url`, the servers' advisory lock,
    under which the clone is caught up with the remote first and a moved HEAD announced last."""
    with _clone_lock(repo):
        if not is_postgres(state_url):
            yield
            return
        location = PostgresUrl(str(state_url), "CMS_STATE_URL")
        with _servers_lock(location):
            before = repo.head()
            recover(repo, locked=True)  # before HEAD moves: afterwards an interrupted write could not be undone
            remote.catch_up(repo)
            try:
                yield
            finally:
                _announce(location, repo, before)


def _servers_lock(location: PostgresUrl) -> AbstractContextManager[None]:
    from cms.database.postgres import advisory_lock

    return advisory_lock(location, WRITE_LOCK)


def _announce(location: PostgresUrl, repo: GitRepo, before: str | None) -> None:
    """Tell the other servers the new head, if HEAD moved while the lock was held."""
    head = repo.head()
    if head is None or head == before:
        return
    import psycopg

    from cms.database.postgres import connect

    try:
        with connect(location) as conn:
            conn.execute("SELECT pg_notify(%s, %s)", [HEADS_CHANNEL, head])
    except (ConfigError, psycopg.Error) as error:  # the write stands; the others catch up before their next write
        log.warning("could not announce the new head %s to the other servers: %s", head[:12], error)


@contextmanager
def _clone_lock(repo: GitRepo) -> Iterator[None]:
    """An exclusive `flock` on `.cms/write.lock`: the processes working in this clone, one at a time."""
    path = repo.root / ".cms" / "write.lock"
    localdir.prepare(path.parent)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def begin(repo: GitRepo, paths: list[str]) -> None:
    path = journal_path(repo)
    localdir.prepare(path.parent)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(msgspec.json.encode(Pending(head=repo.head(), paths=paths)))
    temporary.replace(path)


def end(repo: GitRepo) -> None:
    journal_path(repo).unlink(missing_ok=True)


def recover(repo: GitRepo, locked: bool = False) -> list[str]:
    """Undo an interrupted write; returns the paths put back (empty when there was nothing to do).

    Takes the write lock unless the caller holds it (`locked`): a note whose write is still running
    belongs to that write, and by the time the lock is free the note is gone. The note is this clone's,
    so this clone's file lock is enough.
    """
    if not locked:
        if not (journal_path(repo).exists() or _git_lock(repo).exists()):
            return []  # nothing to recover: no need to create the lock, or `.cms/`, just to look
        with exclusive(repo):
            return recover(repo, locked=True)
    clear_stale_git_lock(repo)
    path = journal_path(repo)
    if not path.exists():
        return []
    pending = msgspec.json.decode(path.read_bytes(), type=Pending)
    restored: list[str] = []
    if repo.head() == pending.head:
        restore_paths(repo, pending.paths)
        restored = pending.paths
    _remove_temporaries(repo, pending.paths)
    end(repo)
    return restored


def _remove_temporaries(repo: GitRepo, paths: list[str]) -> None:
    """The half-written `.<name>.<pid>.tmp` files a write killed before its rename left beside its targets."""
    for path in paths:
        target = repo.root / path
        if target.parent.is_dir():
            for temporary in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
                temporary.unlink(missing_ok=True)


def clear_stale_git_lock(repo: GitRepo) -> None:
    """Remove `.git/index.lock` when no live git process holds it; 409 if one still does after a wait."""
    lock = _git_lock(repo)
    deadline = time.monotonic() + GIT_LOCK_WAIT_SECONDS
    while lock.exists() and _git_running_in(repo.root):
        if time.monotonic() > deadline:
            raise Conflict(f"{lock} is held by a git command that is still running; try again when it is done",
                           reason="git-busy")
        time.sleep(0.05)
    lock.unlink(missing_ok=True)


def _git_lock(repo: GitRepo) -> Path:
    return repo.git_dir / "index.lock"


def _git_running_in(root: Path) -> bool:
    """Whether a git command that may hold the lock works in `root` (Linux `/proc`; elsewhere assume none does).

    GitPython's long-lived `git cat-file` readers never take the lock and are left out.
    """
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if (entry / "comm").read_text().strip() != "git":
                continue
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
            if b"cat-file" not in arguments and Path(os.readlink(entry / "cwd")).is_relative_to(root):
                return True
        except OSError:  # the process ended while we looked, or is not ours to inspect
            continue
    return False
