"""Branch previews: the read index of any branch or commit, built on demand from git objects, cached per commit.

    previews = Previews(tree, main_index, keep)   one per process (the API keeps it in `Services.previews`)
    previews.commit(ref)        → the commit a branch, tag or commit id names (404 problem when none; a ref
                                  that is not a plain ref name never reaches git)
    previews.index(ref)         → Preview(ref, commit, path): that commit's index file, built or reused
    previews.open(preview)      → a read-only connection to it: what a `?ref=` request reads (`api.deps`:
                                  `View` for every public GET; the build runs in a thread)

A commit's index is a SQLite file `<folder>/<commit>.db`, whatever the main index is: the folder is
`previews/` beside a SQLite main index, and `.cms/previews/` in the content repository when the main index
is on Postgres (each server keeps its own). A preview starts as a copy of a base (a consistent snapshot
even while the indexer writes) and is brought to the commit by the ordinary incremental run, with a
source (`cms.repo.objects.CommitSource`) that lists blob ids with `git ls-tree` and reads bytes with
`git cat-file --batch`: only the files whose blob differs from the base's are parsed, and neither the
working tree, the checkout nor the main index is touched. The base is the main SQLite index when there
is one, else the most recently built preview (any commit will do: the run compares blob ids, and dates
are redone where the two commits' histories differ), else nothing: the first preview on Postgres is
built from the commit alone. Drafts are in it as in any index; readers of a preview see hidden entries.
At most `keep` commits stay cached: the least recently opened (by access time) are removed first; one of
an older index schema (kept from before an upgrade) is built again. Builds are serialized by a lock file,
across processes too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import msgspec

from cms import localdir
from cms.content.corpus import ContentTree
from cms.database import PostgresUrl
from cms.errors import NotFound
from cms.index import tables
from cms.index.build import update
from cms.read.connection import connect
from cms.repo.objects import CommitSource, resolve, valid_ref
from cms.repo.repository import GitRepo

DEFAULT_KEEP = 8
_COMMIT = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
FOLDER = "previews"
_LEFTOVERS = ("", "-wal", "-shm", "-journal", ".building", ".lock")
"""What a killed build may leave beside `<commit>.db.building` (a build from nothing: `.building` and `.lock`)."""


class Preview(msgspec.Struct, frozen=True):
    """The index of one ref: the commit it named when asked, and the index file of that commit."""

    ref: str
    commit: str
    path: Path


class Previews:
    """Preview indexes of the content of `tree`, beside its main index (a SQLite file) or, when the main index
    is on Postgres, in the repository's `.cms/`."""

    def __init__(self, tree: ContentTree, main_index: Path | PostgresUrl, keep: int = DEFAULT_KEEP) -> None:
        self.tree = tree
        self.repo = GitRepo.open(tree.content_dir)
        self.main_index = None if isinstance(main_index, PostgresUrl) else main_index
        self.folder = (tree.repo_root / ".cms" if self.main_index is None else self.main_index.parent) / FOLDER
        self.keep = max(keep, 1)
        self._open: OrderedDict[str, sqlite3.Connection] = OrderedDict()
        self._checked: set[Path] = set()

    def commit(self, ref: str) -> str:
        """The commit `ref` names now; `NotFound` for anything else."""
        if not valid_ref(ref):
            raise NotFound(f"{ref!r} is not a branch, tag or commit name", reason="invalid-ref")
        commit = resolve(self.repo, ref)
        if commit is None:
            raise NotFound(f"there is no branch, tag or commit {ref!r} in the content repository",
                           reason="unknown-ref")
        return commit

    def index(self, ref: str) -> Preview:
        """The index of `ref`'s commit: reused when cached, else built (and the least recently used evicted)."""
        commit = self.commit(ref)
        path = self.folder / f"{commit}.db"
        if not self._cached(path):
            with self._locked():
                if not self._cached(path):
                    self._build(commit, path)
                    self._evict(keep=path)
        return Preview(ref=ref, commit=commit, path=path)

    def _cached(self, path: Path) -> bool:
        """Whether `path` is cached, as an index of this version's schema (a preview kept from before an upgrade
        is built again; checked once per file in this process), marked as just opened."""
        if not _touch(path):
            return False
        if path not in self._checked:
            if not _current(path):
                return False
            self._checked.add(path)
        return True

    def open(self, preview: Preview) -> sqlite3.Connection:
        """A read-only connection to a preview's index, kept open for the next request of that commit.

        Call it from one thread (a server's event loop): connections past `keep` are closed here.
        """
        conn = self._open.pop(preview.commit, None)
        if conn is None:
            try:
                conn = connect(preview.path)
            except sqlite3.OperationalError:  # evicted by another process since `index`: build it again
                conn = connect(self.index(preview.ref).path)
        self._open[preview.commit] = conn
        while len(self._open) > self.keep:
            self._open.popitem(last=False)[1].close()
        return conn

    def _build(self, commit: str, path: Path) -> None:
        building = path.with_name(f"{path.name}.building")
        for leftover in _LEFTOVERS:  # of a build that was killed: never to meet a new copy
            building.with_name(building.name + leftover).unlink(missing_ok=True)
        base = self._base()
        with CommitSource(self.repo, commit) as source:
            if base is None:
                _build_from_nothing(self.tree, source, building)
            else:
                _build_from(base, self.tree, source, building)
        os.replace(building, path)

    def _base(self) -> Path | None:
        """What a new preview starts from: the main SQLite index, else the preview built last (if it is an index
        of this version's schema: one kept from before an upgrade, or damaged, is not), else nothing."""
        if self.main_index is not None and self.main_index.is_file():
            return self.main_index
        built = sorted(self.folder.glob("*.db"), key=_built_at)
        return built[-1] if built and _current(built[-1]) else None

    def _evict(self, keep: Path) -> None:
        cached = sorted(self.folder.glob("*.db"), key=_last_opened, reverse=True)
        for stale in [path for path in cached if path != keep][self.keep - 1:]:
            stale.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        localdir.prepare(self.folder.parent)  # `.cms/` gets its .gitignore; another index folder stays as it is
        self.folder.mkdir(exist_ok=True)
        with (self.folder / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _build_from(base: Path, tree: ContentTree, source: CommitSource, building: Path) -> None:
    """The commit's index in `building`: a copy of the index `base`, brought to the commit by an incremental run."""
    _snapshot(base, building)
    with _kept_open(building) as conn:
        _date_as_of(conn, source, tree.prefix)
        update(tree, building, source=source)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, readable without -wal or -shm


def _build_from_nothing(tree: ContentTree, source: CommitSource, building: Path) -> None:
    """The commit's full index in `building`, built as a first `cms index` is: in a file of its own, without a
    journal (about half the time of a run in a journalled file on 10,000 lessons), then made one file."""
    update(tree, building, source=source)
    conn = sqlite3.connect(building, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()
    building.with_name(f"{building.name}.lock").unlink(missing_ok=True)  # the first build's (`cms.index.sqlite`)


def _snapshot(source: Path, target: Path) -> None:
    """A consistent copy of the index at `source` (and its write-ahead log), never changing it.

    A read transaction holds a snapshot: while it is open no checkpoint may write pages newer than it into
    the file, nor restart the log, so the file copied first and the log copied next hold every commit up
    to it at least; opening the copy replays the log's complete commits. A read-only connection never
    checkpoints, even when it is the last one to close.
    """
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True, isolation_level=None, timeout=60)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
        shutil.copyfile(source, target)
        log = source.with_name(f"{source.name}-wal")
        with contextlib.suppress(FileNotFoundError):
            shutil.copyfile(log, target.with_name(f"{target.name}-wal"))
        reader.execute("COMMIT")
    finally:
        reader.close()


@contextlib.contextmanager
def _kept_open(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection to an index being built, open while the run writes to it, that never syncs to disk.

    A preview is a cache, rebuilt if lost. While this connection is open the run's own connection is not
    the last one and does not checkpoint (with a sync) when it closes: this one checkpoints, without.
    It is in WAL mode from the start, as the run leaves the file: opened on a copy of a cached preview (one
    file, without a write-ahead log) it would otherwise go on taking the file for that, and its switch back
    to one self-contained file would change nothing.
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA journal_mode = WAL")
        yield conn
    finally:
        conn.close()


def _date_as_of(conn: sqlite3.Connection, source: CommitSource, prefix: str) -> None:
    """Make a copy of a base index need new dates only where the commit's history differs from the base's.

    A file's first and last commit dates differ between two commits only if a commit that one of them has
    and the other lacks touched it. Those files are marked unread (their blob id cleared), so the run reads
    and dates them again; the copy is then said to be of the commit already, so no other file is redated.
    """
    row = conn.execute("SELECT value FROM meta WHERE key = 'commit'").fetchone()
    touched = source.touched_since(row[0], prefix) if row and _COMMIT.fullmatch(row[0]) else None
    if touched is None:
        return
    paths = [name.removeprefix(prefix) for name in touched]
    conn.execute("BEGIN")
    conn.execute("UPDATE files SET blob = '' WHERE path IN (SELECT value FROM json_each(?))", [json.dumps(paths)])
    conn.execute("UPDATE meta SET value = ? WHERE key = 'commit'", [source.commit])
    conn.execute("COMMIT")


def _current(index: Path) -> bool:
    """Whether the file `index` is an index of this version's schema."""
    try:
        conn = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return row == (str(tables.SCHEMA_VERSION),)


def _touch(path: Path) -> bool:
    """Mark a cached index as just opened (its access time; the modification time stays its build time)."""
    try:
        os.utime(path, ns=(time.time_ns(), path.stat().st_mtime_ns))
    except FileNotFoundError:
        return False
    return True


def _last_opened(path: Path) -> float:
    try:
        return path.stat().st_atime
    except FileNotFoundError:
        return 0.0


def _built_at(path: Path) -> float:
    """When a cached index was built (its modification time: opening it changes only its access time)."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
