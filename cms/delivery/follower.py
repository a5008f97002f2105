"""Following the other servers: each API worker's thread that keeps this clone and its index at the new head.

Servers with clones of one remote and one Postgres state database announce
every head they move to (`NOTIFY content_head`, sent under the write lock
by `cms.write.journal.exclusive`: after a write's push, after a webhook's
fetch; see `cms.index.heads`). The follower `LISTEN`s on a connection of its own and, for a head
this clone does not have, catches the clone up with the remote, and brings
the index up to date, under this clone's lock only: it never waits for another
server's write. The index update ends the response hold too
(`api.caching`: the index version changes).

When the listening connection starts, and again after it was lost, the
follower catches up once, so a head announced while it was not listening
is never missed. A head this clone has already costs no fetch.

With one index on Postgres for all servers, each commit is indexed once:
the first server's run records it, and the others' runs find the index at
their commit and do nothing; a run on a clone that lags behind the index
leaves it as it is (`cms.index.heads.lags`). Failures are logged and
retried after a pause.
"""

from __future__ import annotations

import logging
import threading

from cms.database import PostgresUrl, is_postgres
from cms.errors import ConfigError, Conflict
from cms.index import heads
from cms.index.build import update
from cms.repo import remote
from cms.repo.repository import GitError, GitRepo
from cms.settings import Settings
from cms.write import Workspace, journal

log = logging.getLogger("coursebase.follower")
WAIT_SECONDS = 0.5
"""How long one wait for a notification lasts: also how soon the thread notices it should stop."""
ERROR_PAUSE = 2.0
"""How long the follower rests after a failure (the state database or the remote unreachable)."""


def follow(space: Workspace, head: str | None = None, target: tuple[str, str] | None = None) -> None:
    """Under this clone's lock: catch the clone up with the remote (`target`: remote and branch, found when not
    given) unless HEAD has `head` already, then bring the index up to date with HEAD."""
    repo = GitRepo.open(space.tree.content_dir)
    with journal.exclusive(repo):
        journal.recover(repo, locked=True)
        if head is None or not _contains(repo, head):
            remote.catch_up(repo, target)
        update(space.tree, space.db_path)


def pull(space: Workspace, location: PostgresUrl) -> tuple[str | None, int]:
    """The push webhook on one of several servers: catch this clone up with the remote and announce the new head
    at once, so the others fetch while this one re-indexes; (the new HEAD, files the index read again).

    Only this clone's lock is taken: a pull makes no commit, so it need not wait for another server's write.
    """
    repo = GitRepo.open(space.tree.content_dir)
    target = remote.upstream(repo)
    if target is None:
        raise Conflict("the content repository has no remote to pull from", reason="no-remote")
    with journal.exclusive(repo):
        journal.recover(repo, locked=True)
        before = repo.head()
        head = remote.catch_up(repo, target)
        if head is not None and head != before:
            _announce(location, head)
        report = update(space.tree, space.db_path)
    return head, report.read


def _announce(location: PostgresUrl, head: str) -> None:
    import psycopg

    from cms.database.postgres import connect

    try:
        with connect(location) as conn:
            heads.announce(conn, head)
    except (ConfigError, psycopg.Error) as error:  # the others catch up before their next write anyway
        log.warning("could not announce the new head %s to the other servers: %s", head, error)


def _contains(repo: GitRepo, head: str) -> bool:
    """Whether HEAD is at `head` or past it (an announcement this clone has overtaken); False for anything
    that is not a commit id."""
    if not heads.COMMIT_ID.fullmatch(head):
        return False
    try:
        repo.run("merge-base", "--is-ancestor", head, "HEAD")
    except GitError:  # not an ancestor (exit 1), or a commit this clone has not fetched yet
        return False
    return True


class Follower:
    """The thread: listen for announced heads on the state database, follow each one."""

    def __init__(self, space: Workspace, location: PostgresUrl, target: tuple[str, str]) -> None:
        self.space = space
        self.location = location
        self.target = target
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def open(cls, settings: Settings, space: Workspace) -> Follower | None:
        """A follower for this server, or None when it has no one to follow: its state database is not Postgres,
        or its branch has no remote."""
        if not is_postgres(settings.state_url):
            return None
        target = remote.upstream(GitRepo.open(space.tree.content_dir))
        if target is None:
            return None
        location = PostgresUrl(str(settings.state_url), "CMS_STATE_URL")
        heads.prepare(location)
        return cls(space, location, target)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="coursebase-follower", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except Exception as error:  # any failure: log it, rest, listen again
                log.warning("following the other servers failed (trying again in %.0f s): %s", ERROR_PAUSE, error)
                self._stopping.wait(ERROR_PAUSE)

    def _listen(self) -> None:
        from cms.database.postgres import KEEPALIVES, connect

        with connect(self.location, options=KEEPALIVES) as conn:
            conn.execute(f"LISTEN {heads.CHANNEL}")
            follow(self.space, target=self.target)  # whatever was announced while nobody listened
            while not self._stopping.is_set():
                announced = [note.payload for note in conn.notifies(timeout=WAIT_SECONDS, stop_after=1)]
                if announced:
                    follow(self.space, announced[-1], self.target)
