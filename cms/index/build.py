"""The indexer: brings the index up to date with the content, by git.

One run is one transaction (`cms.index.sqlite`, `cms.index.postgres`):
readers keep seeing the last committed index until the new one is
complete, and a killed run leaves nothing behind. Git says which files
changed since the last run (blob ids of tracked, modified and untracked
files); only those are parsed and rendered, in parallel for large batches. The corpus-wide checks still see
every file: unchanged files come back from the `files` table, so an
incremental run answers exactly like a full rebuild.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import msgspec

from cms.content.corpus import ContentTree, Corpus
from cms.content.sources import CONTENT_SUFFIXES, Kind, Source, classify, is_ignored
from cms.content.validate import check
from cms.database import PostgresUrl, locate
from cms.index import derived, documents, heads, redirects, sqlite, tables
from cms.index.documents import Materialise
from cms.index.parsing import Parsed, ParseJob, parse_all, parse_one, worker_count
from cms.index.rows import Rows, Stamp, to_json
from cms.index.stored import FILE_COLUMNS, REMEMBERED, Memory, remembered, stored_problems
from cms.problems import Problem
from cms.repo.repository import Blobs, GitRepo
from cms.timestamps import file_time, utc, utc_now

Progress = Callable[[int, int], None]
DATED_TABLES = ("courses", "sections", "lessons", "projects", "authors", "paths", "media")
BATCH_FILES = 200
"""Files whose rows are inserted together: one statement per table for each batch."""


class BlobSource(Protocol):
    """Where a run learns what the content is: `GitRepo` (the working tree), or one commit's objects (previews).

    A path listed in `Blobs.held` is read with `read_blob`, every other one from the content directory.
    """

    def head(self) -> str | None: ...

    def blobs(self, prefix: str) -> Blobs: ...

    def history(self, prefix: str, paths: list[str] | None = None) -> dict[str, tuple[str, str]]: ...

    def read_blob(self, blob: str) -> bytes: ...


class Store(Protocol):
    """How rows go into the index's database: `cms.index.tables` (SQLite), `cms.index.postgres` (COPY)."""

    def insert(self, conn: Any, rows: Rows) -> None: ...

    def write(self, conn: Any, table: str, records: list[dict[str, Any]], *, replace: bool = False) -> None: ...

    def hold_search_merges(self, conn: Any) -> None: ...

    def merge_search(self, conn: Any) -> None: ...


class IndexReport(msgspec.Struct, kw_only=True):
    """What one run of the indexer did."""

    commit: str | None
    full: bool
    files: int
    read: int
    deleted: int
    skipped: int
    seconds: float
    problems: list[Problem]

    @property
    def changed(self) -> bool:
        return bool(self.read or self.deleted or self.full)


def index_location(tree: ContentTree, url: str | None) -> Path | PostgresUrl:
    """The index `CMS_DATABASE_URL` names: a SQLite file (`.cms/index.db` by default) or a Postgres database."""
    location = locate("CMS_DATABASE_URL", url, tree.repo_root, "index.db")
    return location if isinstance(location, PostgresUrl) else location.path


def update(tree: ContentTree, db_path: Path | PostgresUrl, *, full: bool = False, workers: int | None = None,
           progress: Progress | None = None, memory: Memory | None = None,
           source: BlobSource | None = None, materialise: Materialise | None = None) -> IndexReport:
    """Bring the index at `db_path` up to date with the content of `tree` (or of `source`, when given).

    `materialise` stores the public documents that are missing, in the same transaction
    (`cms.index.documents`); without it, documents that went stale are only deleted.

    An index on Postgres may be shared by several servers, each with a clone of its own. When it records
    a commit this clone lags behind (`heads.lags`: another server, ahead of this one, indexed it), a run
    leaves it as it is rather than take every server back to an older commit; `full` rebuilds it from
    this content whatever it records.
    """
    started = time.perf_counter()
    repo = source or GitRepo.open(tree.content_dir)
    run = functools.partial(_Run, tree, repo, workers=worker_count(workers), progress=progress,
                            memory=memory or Memory(), materialise=materialise)
    if isinstance(db_path, PostgresUrl):
        from cms.index import postgres  # psycopg costs 0.3 s to import: only when used

        lags = functools.partial(heads.lags, repo) if isinstance(repo, GitRepo) and not full else None
        report = postgres.update(db_path, functools.partial(run, store=postgres, lags=lags), full)
        report.seconds = round(time.perf_counter() - started, 3)
        return report
    report = sqlite.update(db_path, run, full)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


class _Run:
    """One indexing run inside the open transaction."""

    def __init__(self, tree: ContentTree, repo: BlobSource, conn: sqlite3.Connection, full: bool, *, workers: int,
                 progress: Progress | None, memory: Memory, store: Store = tables,
                 materialise: Materialise | None = None, lags: Callable[[str], bool] | None = None) -> None:
        self.tree, self.repo, self.conn, self.full = tree, repo, conn, full
        self.materialise = materialise
        self.lags = lags
        """Whether this content lags behind an index at that commit: the run leaves it as it is."""
        self.store = store
        self.memory = memory
        self.workers = workers
        self.progress = progress
        self.current: dict[str, str] = {}
        """Content path → blob id of every content file git lists now."""
        self.held: set[str] = set()
        """Content paths git has in conflict: their HEAD version is indexed, read from git, not from disk."""

    def execute(self) -> IndexReport:
        """Index what changed, then store the documents that are missing (if given the step)."""
        report = self._index()
        if self.materialise is not None:
            self.materialise(self.conn)
        return report

    def _index(self) -> IndexReport:
        head = self.repo.head()
        stored = {row[0]: (row[1], row[2]) for row in self.conn.execute("SELECT path, blob, ok FROM files")}
        misplaced = self._list_files(stored)
        indexed = _meta(self.conn, "commit")
        if self.lags is not None and indexed not in (None, head) and self.lags(indexed):
            left_out = {path for path, (_, ok) in stored.items() if not ok}
            return self._report(indexed, 0, 0, stored_problems(self.conn), left_out)
        changed = sorted(p for p, blob in self.current.items() if self.full or stored.get(p, (None,))[0] != blob)
        deleted = sorted(set(stored) - set(self.current))
        dates_moved = self.full or head != indexed
        if not (changed or deleted or dates_moved):
            known = stored_problems(self.conn)
            if self._same_misplaced(misplaced, known):
                left_out = {path for path, (_, ok) in stored.items() if not ok}
                return self._report(head, 0, 0, known, left_out)
        stamps = self._stamps(list(self.current) if dates_moved else changed, redate=True)
        tables.delete_rows(self.conn, {*changed, *deleted})
        tables.delete_paths(self.conn, "files", set(deleted))
        if self.full:
            documents.clear(self.conn)
            self.store.hold_search_merges(self.conn)
        with_rows = self._parse_and_write([(path, stamps[path], self._raw(path)) for path in changed])
        if self.full:
            self.store.merge_search(self.conn)
        corpus = self._corpus(misplaced)
        moved = redirects.refresh(self.conn, self.repo, self.tree.prefix, corpus.documents, _meta(self.conn, "commit"),
                                  head, self.full)
        problems = check(corpus, moved)
        bad = _bad_files(corpus, problems)
        rewritten = self._settle(corpus, stored, set(changed), with_rows, bad, stamps) | set(deleted)
        self._remember(corpus, stored, set(changed), bad, stamps)
        courses = {course for path in rewritten if (course := _course_of(path))}
        self._finish(head, problems, None if self.full else courses)
        return self._report(head, len(changed), len(deleted), problems, bad)

    def _same_misplaced(self, misplaced: list[Problem], known: list[Problem]) -> bool:
        """Whether the files in the wrong place are the ones the last run reported (they are not in `files`)."""
        if not known:
            return not misplaced
        labels = {self.tree.label(path) for path in self.current}
        return set(misplaced) == {problem for problem in known if problem.file not in labels}

    def _list_files(self, stored: dict[str, tuple[str, int]]) -> list[Problem]:
        """Fill in `current` and `held` from git; the files that are not where content lives.

        A file the index already has is content (it was classified when it came
        in and its `Source` is stored): only files new to the index are classified.
        """
        prefix = self.tree.prefix
        misplaced: list[Problem] = []
        blobs = self.repo.blobs(prefix)
        self.held = {path.removeprefix(prefix) for path in blobs.held}
        for repo_path, blob in blobs.ids.items():
            path = repo_path.removeprefix(prefix)
            if not repo_path.startswith(prefix) or is_ignored(path) or not path.endswith(CONTENT_SUFFIXES):
                continue
            if path in stored:
                self.current[path] = blob
                continue
            source = classify(path)
            if isinstance(source, Source):
                self.current[path] = blob
            else:
                misplaced.append(msgspec.structs.replace(source, file=self.tree.label(path)))
        return misplaced

    def _raw(self, path: str) -> bytes | None:
        """A conflicted file's HEAD content, from git; None for a file read from disk."""
        return self.repo.read_blob(self.current[path]) if path in self.held else None

    def _stamps(self, paths: list[str], redate: bool) -> dict[str, Stamp]:
        """Dates of `paths`: from git history (one pass over the log) if `redate`, else as the index has them."""
        known: dict[str, tuple[str, str]] = {}
        if not redate:
            rows = self.conn.execute("SELECT path, created_at, updated_at FROM files "
                                     "WHERE path IN (SELECT value FROM json_each(?))", [to_json(paths)])
            known = {path: (created, updated) for path, created, updated in rows if created is not None}
        looked_up = [self.tree.label(path) for path in paths if path not in known]
        every = len(paths) == len(self.current)
        history = self.repo.history(self.tree.prefix, None if every else looked_up) if looked_up else {}
        stamps, as_utc = {}, functools.cache(utc)  # most files share a few commit dates
        for path in paths:
            if path in known:
                created, updated = known[path]
            else:
                created, updated = history.get(self.tree.label(path)) or (file_time(self.tree.content_dir / path),) * 2
                created, updated = as_utc(created), as_utc(updated)
            stamps[path] = Stamp(version=self.current[path], created_at=created, updated_at=updated)
        return stamps

    def _parse_and_write(self, jobs: list[ParseJob]) -> set[str]:
        """Parse the changed files and write their rows as they come; the paths that got rows.

        Rows are written for every file that parsed cleanly; the few that the
        corpus-wide checks then leave out lose them again in `_settle`.
        """
        with_rows: set[str] = set()
        batch: list[Parsed] = []
        for done, item in enumerate(parse_all(self.tree, jobs, self.workers), start=1):
            batch.append(item)
            if len(batch) >= BATCH_FILES:
                with_rows |= self._write(batch)
                batch = []
            if self.progress:
                self.progress(done, len(jobs))
        return with_rows | self._write(batch)

    def _write(self, batch: list[Parsed]) -> set[str]:
        """Insert a batch of parsed files, and remember them as documents."""
        if not batch:
            return set()
        records = [tuple(item.record[column] for column in FILE_COLUMNS) for item in batch]
        self._keep(records)
        self.store.write(self.conn, "files", [item.record for item in batch], replace=True)
        self.store.insert(self.conn, _merged(item.rows for item in batch if item.rows is not None))
        return {item.path for item in batch if item.rows is not None}

    def _keep(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Remember documents from rows of `FILE_COLUMNS`."""
        for document in remembered(self.tree, rows):
            self.memory.keep(document.source.path, self.current[document.source.path], document)

    def _corpus(self, misplaced: list[Problem]) -> Corpus:
        """Every document in path order: as memory has it, or else as the `files` table does."""
        missing = [path for path, blob in self.current.items() if self.memory.recall(path, blob) is None]
        if len(missing) > len(self.current) // 2:  # a first run in this process: one scan, not 10,000 lookups
            wanted = set(missing)
            self._keep(row for row in self.conn.execute(f"SELECT {REMEMBERED} FROM files") if row[0] in wanted)
        elif missing:
            self._keep(self.conn.execute(f"SELECT {REMEMBERED} FROM files "
                                         "WHERE path IN (SELECT value FROM json_each(?))", [to_json(missing)]))
        self.memory.forget_all_but(set(self.current))
        corpus = Corpus(tree=self.tree, problems=misplaced)
        for path in sorted(self.current):
            corpus.add(self.memory.recall(path, self.current[path]))  # type: ignore[arg-type]
        return corpus

    def _settle(self, corpus: Corpus, stored: dict[str, tuple[str, int]], changed: set[str], with_rows: set[str],
                bad: set[str], stamps: dict[str, Stamp]) -> set[str]:
        """Rows out for files the corpus checks left out, in for unchanged files they let back in; paths touched."""
        was_ok = {path for path, (_, ok) in stored.items() if ok}
        unchanged = set(corpus.documents) - changed
        dropped = (with_rows & bad) | {path for path in unchanged if path in was_ok and path in bad}
        returned = sorted(path for path in unchanged if path not in was_ok and path not in bad)
        tables.delete_rows(self.conn, dropped)
        stamps |= self._stamps([path for path in returned if path not in stamps], redate=False)
        parsed = [parse_one(self.tree, path, stamps[path], self._raw(path)) for path in returned]
        self.store.insert(self.conn, _merged(item.rows for item in parsed if item.rows is not None))
        return changed | dropped | set(returned)

    def _remember(self, corpus: Corpus, stored: dict[str, tuple[str, int]], changed: set[str], bad: set[str],
                  stamps: dict[str, Stamp]) -> None:
        """Each file's standing and dates in `files`, and the dates of its rows, where they changed.

        A file parsed in this run was written with its dates and its own
        standing; the others are visited only if they were dated again or
        their standing changed.
        """
        documents = corpus.documents
        standing = {path: int(path not in bad) for path in documents}
        written = {path: int(documents[path].ok) for path in changed if path in documents}
        was = {path: ok for path, (_, ok) in stored.items() if path not in written} | written
        redated = self._redated(stamps, changed)
        visit = redated | {path for path, ok in standing.items() if was.get(path) != ok}
        known = {path: (stamp.created_at, stamp.updated_at) for path, stamp in stamps.items()}
        cursor = self.conn.executemany(
            "UPDATE files SET ok = :ok, created_at = COALESCE(:created, created_at), "
            "updated_at = COALESCE(:updated, updated_at) WHERE path = :path AND (ok IS NOT :ok "
            "OR created_at IS NOT COALESCE(:created, created_at) OR updated_at IS NOT COALESCE(:updated, updated_at))",
            [{"ok": standing[p], "created": known.get(p, (None, None))[0], "updated": known.get(p, (None, None))[1],
              "path": p} for p in visit if p in standing])
        if not redated or cursor.rowcount == 0:
            return
        for table in DATED_TABLES:
            self.conn.execute(f"UPDATE {table} SET created_at = f.created_at, updated_at = f.updated_at "
                              f"FROM files f WHERE f.path = {table}.path AND "
                              f"(f.created_at IS NOT {table}.created_at OR f.updated_at IS NOT {table}.updated_at) "
                              f"AND {table}.path IN (SELECT value FROM json_each(?))", [to_json(sorted(redated))])

    def _redated(self, stamps: dict[str, Stamp], changed: set[str]) -> set[str]:
        """Files not parsed in this run whose dates from git are not the ones `files` has (few, after a commit)."""
        others = set(stamps) - changed
        if not others:
            return others
        rows = self.conn.execute("SELECT path, created_at, updated_at FROM files")
        known = {path: (created, updated) for path, created, updated in rows}
        return {path for path in others if known.get(path) != (stamps[path].created_at, stamps[path].updated_at)}

    def _finish(self, head: str | None, problems: list[Problem], courses: set[str] | None) -> None:
        derived.refresh(self.conn, courses)
        self.conn.execute("DELETE FROM problems")
        if problems:
            self.store.write(self.conn, "problems", [msgspec.structs.asdict(p) for p in problems])
        meta = {"schema_version": str(tables.SCHEMA_VERSION), "commit": head or "", "built_at": utc_now(),
                "content_prefix": self.tree.prefix}
        self.store.write(self.conn, "meta", [{"key": k, "value": v} for k, v in meta.items()], replace=True)

    def _report(self, head: str | None, read: int, deleted: int, problems: list[Problem],
                left_out: set[str]) -> IndexReport:
        """`skipped` counts every file left out: with errors of its own, or under a course or section that has them."""
        skipped = len({self.tree.label(path) for path in left_out} | {p.file for p in problems if p.is_error})
        return IndexReport(commit=head, full=self.full, files=len(self.current), read=read, deleted=deleted,
                           skipped=skipped, seconds=0.0, problems=problems)


def _merged(batches: Iterable[Rows]) -> Rows:
    """Many files' rows as one batch: each table's rows together."""
    merged: Rows = {}
    for rows in batches:
        for table, records in rows.items():
            merged.setdefault(table, []).extend(records)
    return merged


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return None if row is None or row[0] == "" else row[0]


def _course_of(path: str) -> str | None:
    """The course a content path belongs to, if any."""
    parts = path.split("/")
    return parts[1] if parts[0] == "courses" and len(parts) > 2 else None


def _bad_files(corpus: Corpus, problems: list[Problem]) -> set[str]:
    """Content paths left out of the index: their own errors, or their course's or section's."""
    by_label = {doc.file: path for path, doc in corpus.documents.items()}
    bad = {by_label[p.file] for p in problems if p.is_error and p.file in by_label}
    bad |= {path for path, doc in corpus.documents.items() if doc.entry is None}
    good_courses = {d.source.slug for p, d in corpus.documents.items() if d.source.kind is Kind.COURSE and p not in bad}
    good_sections = {d.source.section_dir for p, d in corpus.documents.items()
                     if d.source.kind is Kind.SECTION and p not in bad and d.source.course in good_courses}
    for path, doc in corpus.documents.items():
        orphan_lesson = doc.source.kind is Kind.LESSON and doc.source.section_dir not in good_sections
        orphan_section = doc.source.kind is Kind.SECTION and doc.source.course not in good_courses
        if orphan_lesson or orphan_section:
            bad.add(path)
    return bad
