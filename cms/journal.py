"""A write-ahead note for the write path, so a crash never leaves a stray file.

Before the write path touches the working tree it records which files it
is about to change and the commit HEAD pointed at. The note is removed
once the commit exists. If the process dies in between, `recover()` (run
before every write, index and serve) finds the note: when HEAD has not
moved, the files are put back as HEAD has them, so nothing uncommitted is
served and nothing is committed in anyone's name.

Recovery holds the write lock, so a server process starting up never
"recovers" a write another process is in the middle of.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from cms import localdir
from cms.gitrepo import GitRepo, restore_paths


class Pending(msgspec.Struct):
    head: str | None
    paths: list[str]


def journal_path(repo: GitRepo) -> Path:
    return repo.root / ".cms" / "pending-write.json"


@contextmanager
def exclusive(repo: GitRepo) -> Iterator[None]:
    """The write lock: an exclusive `flock` on `.cms/write.lock`, which holds across processes."""
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
    belongs to that write, and by the time the lock is free the note is gone.
    """
    if not locked:
        with exclusive(repo):
            return recover(repo, locked=True)
    path = journal_path(repo)
    if not path.exists():
        return []
    pending = msgspec.json.decode(path.read_bytes(), type=Pending)
    restored: list[str] = []
    if repo.head() == pending.head:
        restore_paths(repo, pending.paths)
        restored = pending.paths
    end(repo)
    return restored
