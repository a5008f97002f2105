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
write first takes a Postgres advisory lock there: one writer across servers.
That lock belongs to a connection of its own, so it goes when the write's
process dies, however it dies. Holding both, a server first catches its
clone up with the remote (`cms.repo.remote.catch_up`), so every write
starts from the remote's head whichever server takes it (without a fetch
when the head recorded in the state database is the clone's:
`cms.index.heads`); the head the block leaves is recorded there, and
announced when it moved (`NOTIFY content_head`), and the other servers
follow (`cms.delivery.follower`). Inside that block the remote's head it
started from is noted (`.cms/write-base`); a server that died there had
answered nobody, so recovery takes back to that head whatever it committed
(a pushed commit comes back with the next catch-up). A git command
killed together with the server leaves `.git/index.lock` behind, and every
later git command would refuse to run; recovery removes that file when no
live git process holds it (it waits a moment for one that still runs).
"""

from __future__ import annotations

import fcntl
import glob
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import msgspec

from cms import localdir
from cms.database import PostgresUrl, is_postgres
from cms.errors import CmsError, ConfigError, Conflict, PreconditionFailed, Unavailable
from cms.index import heads
from cms.repo import remote
from cms.repo.commits import restore_paths
from cms.repo.repository import GitRepo

log = logging.getLogger("coursebase.write")
GIT_LOCK_WAIT_SECONDS = 5.0
WRITE_LOCK = "content writes"
"""The advisory lock every server's writes take in a Postgres state database."""


_TURN = threading.Lock()
"""A process's writes queue here for the servers' lock, one connection waiting at a time. They wait for the
clone's file lock only once they hold the servers' lock, so meanwhile the follower (`cms.delivery.follower`)
can bring the clone and the index to each new head, and the waiting writers' clients read what is current."""


_BLOCK = threading.local()
"""`note`: the base note of the servers' write block this thread is in (None outside one)."""


class Pending(msgspec.Struct):
    head: str | None
    paths: list[str]


def journal_path(repo: GitRepo) -> Path:
    return repo.root / ".cms" / "pending-write.json"


@contextmanager
def exclusive(repo: GitRepo, state_url: str | None = None,
              caught_up: Callable[[], None] | None = None) -> Iterator[None]:
    """The write lock: this clone's file lock; with a Postgres `state_url`, first the servers' advisory lock,
    under which the clone is caught up with the remote (then `caught_up` runs if HEAD moved: the index
    follows) and the new head recorded and announced last."""
    if not is_postgres(state_url):
        with _clone_lock(repo):
            yield
        return
    with _TURN, _servers_lock(PostgresUrl(str(state_url), "CMS_STATE_URL")) as conn, _clone_lock(repo):
        before = repo.head()
        base = _catch_up(repo, conn)
        if base != before and caught_up is not None:
            caught_up()
        completed = False
        try:
            yield
            completed = True
        finally:
            _settle(repo, conn, base, completed)


@contextmanager
def _servers_lock(location: PostgresUrl) -> Iterator[heads.Conn]:
    """The servers' advisory lock and its connection; 503 when the state database cannot be reached."""
    from cms.database.postgres import advisory_lock

    held = ExitStack()
    try:
        conn = held.enter_context(advisory_lock(location, WRITE_LOCK))
    except ConfigError as error:
        raise Unavailable(f"the servers' write lock is in the state database, which cannot be reached: "
                          f"{error.message}; nothing was written", reason="state-unavailable") from None
    with held:
        yield conn


def _catch_up(repo: GitRepo, conn: heads.Conn) -> str | None:
    """Finish what an interrupted write left, bring the clone to the remote's head (no fetch when the state
    database says it is there and no write was cut off), note that head, and mark a write under way."""
    recover(repo, locked=True)  # before HEAD moves: afterwards an interrupted write could not be undone
    base = repo.head()
    if base is None or heads.recorded(conn) != heads.Recorded(base, writing=False):
        before, base = base, remote.catch_up(repo)
        if base is not None and base != before:  # e.g. a push from outside, seen here first: tell the others now
            heads.announce(conn, base)
    if base is not None:
        _note_base(repo, base)
        heads.begin(conn, base)
    return base


def _settle(repo: GitRepo, conn: heads.Conn, base: str | None, completed: bool) -> None:
    """Record the head this write leaves (unknown when it failed after moving HEAD: its push may not have gone
    as planned; a write refused before its commit, a 412 say, leaves the head it found) and announce it when it
    moved."""
    head = repo.head()
    try:
        heads.record(conn, head if completed or head == base else None)
        if head is not None and head != base:
            heads.announce(conn, head)
    except Exception as error:  # the write stands; the others fetch before their next write
        log.warning("could not record the new head %s for the other servers: %s", head, error)
    _BLOCK.note = None
    if completed or head == base:  # else a commit may be left unpushed: the next recovery takes it back
        base_path(repo).unlink(missing_ok=True)


def refuse_early(repo: GitRepo, state_url: str | None, plan: Callable[[], object]) -> None:
    """Run `plan` before the servers' lock (under this clone's own), when this clone is at the head the state
    database records: its 412 (a stale If-Match) is then as true as under the servers' lock, and costs no turn
    at it. Anything else it raises is left for the run under the servers' lock, which decides.

    A new head is recorded before any other server is told of it, so at the recorded head this clone has
    the newest version a client can have read, with one exception: the server of a write still finishing
    serves its result a moment before it is recorded, and a client quick enough to send that version
    elsewhere in that moment gets a 412 it can retry. No write is ever let through on a stale version.
    The clone's lock keeps what the plan reads (the index it brings up to date) away from a write of this
    clone that is half done; when that lock is busy, the check is left to the servers' lock.
    """
    recorded = _recorded(state_url)
    if recorded is None:
        return
    with _clone_lock(repo, wait=False) as held:
        if not held or recorded.head != repo.head():
            return  # busy with a write or a catch-up: the servers' lock will decide
        try:
            plan()
        except PreconditionFailed:
            raise
        except CmsError:
            return


def _recorded(state_url: str | None) -> heads.Recorded | None:
    """The head the state database records, or None (SQLite state, nothing recorded, or out of reach)."""
    if not is_postgres(state_url):
        return None
    import psycopg

    from cms.database.postgres import connect

    try:
        with connect(PostgresUrl(str(state_url), "CMS_STATE_URL")) as conn:
            return heads.recorded(conn)
    except (ConfigError, psycopg.Error):
        return None  # the servers' lock will tell, with its own answer if the state database is down


def base_path(repo: GitRepo) -> Path:
    """The remote's head when a server's write began; left behind only when the process died holding the lock."""
    return repo.root / ".cms" / "write-base"


def _note_base(repo: GitRepo, base: str | None) -> None:
    """Note `base` for this block; the note names the block (`_BLOCK`), so the block's own recovery passes it by."""
    if base is not None:
        _BLOCK.note = f"{base} {uuid.uuid4().hex}"
        temporary = base_path(repo).with_suffix(".tmp")
        temporary.write_text(_BLOCK.note)
        temporary.replace(base_path(repo))


def _take_back_unanswered(repo: GitRepo) -> None:
    """After a server died holding the write lock: back to the remote's head as it was when the lock was taken.

    A commit made since then was never answered (the answer goes out after the lock is let go). If it
    was pushed, the next catch-up fast-forwards to it again; if not, it is taken back, as a rejected
    push is (`reset --keep`: uncommitted work elsewhere stays).
    """
    path = base_path(repo)
    if not path.exists():
        return
    note = path.read_text().strip()
    if note == getattr(_BLOCK, "note", None):
        return  # this thread's own block, still running (the write path recovers inside the lock)
    base = note.split()[0]
    if repo.head() != base:
        repo.run("reset", "--quiet", "--keep", base)
    path.unlink()


@contextmanager
def _clone_lock(repo: GitRepo, wait: bool = True) -> Iterator[bool]:
    """An exclusive `flock` on `.cms/write.lock`: the processes working in this clone, one at a time. Without
    `wait`, the block is told False (and holds nothing) when someone else has it."""
    path = repo.root / ".cms" / "write.lock"
    localdir.prepare(path.parent)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
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
        if not any(path.exists() for path in (journal_path(repo), _git_lock(repo), base_path(repo))):
            return []  # nothing to recover: no need to create the lock, or `.cms/`, just to look
        with exclusive(repo):
            return recover(repo, locked=True)
    clear_stale_git_lock(repo)
    restored = _restore_pending(repo)
    _take_back_unanswered(repo)
    return restored


def _restore_pending(repo: GitRepo) -> list[str]:
    """Put back the files of a write interrupted before its commit (when HEAD has not moved since)."""
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
