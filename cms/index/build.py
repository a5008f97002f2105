"""The indexer: brings the SQLite index up to date with the content, by git.

One run is one write transaction (WAL mode): readers keep seeing the last
committed index until the new one is complete, and a killed run leaves
nothing behind. Git says which files changed since the last run (blob ids
of tracked, modified and untracked files); only those are parsed and
rendered, in parallel for large batches. The corpus-wide checks still see
every file: unchanged files come back from the `files` table, so an
incremental run answers exactly like a full rebuild.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import sqlite_utils

from cms import localdir
from cms.content.corpus import ContentTree, Corpus
from cms.content.sources import CONTENT_SUFFIXES, Kind, Source, classify, is_ignored
from cms.content.validate import check
from cms.index import derived, tables
from cms.index.parsing import Parsed, ParseJob, parse_all, parse_one
from cms.index.rows import Rows, Stamp, to_json
from cms.index.stored import FILE_COLUMNS, Memory, file_record, remembered, stored_problems
from cms.problems import Problem
from cms.repo.repository import GitRepo
from cms.timestamps import file_time, utc, utc_now

Progress = Callable[[int, int], None]
DATED_TABLES = ("courses", "sections", "lessons", "projects", "authors", "paths", "media")


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




def database_path(tree: ContentTree, url: str | None) -> Path:
    """Where the index lives: `CMS_DATABASE_URL` or `.cms/index.db` in the repository."""
    return localdir.sqlite_file(tree.repo_root, url, "CMS_DATABASE_URL", "index.db")


def connect(path: Path) -> sqlite_utils.Database:
    """The writer's connection: WAL so readers are never blocked or shown a partial state."""
    localdir.prepare(path.parent)
    conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return sqlite_utils.Database(conn)




def update(tree: ContentTree, db_path: Path, *, full: bool = False, workers: int | None = None,
           progress: Progress | None = None, memory: Memory | None = None) -> IndexReport:
    """Bring the index at `db_path` up to date with the content of `tree`."""
    started = time.perf_counter()
    repo = GitRepo.open(tree.content_dir)
    db = connect(db_path)
    try:
        db.conn.execute("BEGIN IMMEDIATE")
        full = _prepare(db) or full
        report = _Run(tree, repo, db, full, workers, progress, memory or Memory()).execute()
        db.conn.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    finally:
        db.close()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _prepare(db: sqlite_utils.Database) -> bool:
    """Create the tables, rebuilding from scratch when the schema version differs; True if rebuilt."""
    if "meta" in db.table_names():
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None and row[0] == str(tables.SCHEMA_VERSION):
            return False
    tables.drop_all(db)
    tables.create(db)
    return True


class _Run:
    """One indexing run inside the open transaction."""

    def __init__(self, tree: ContentTree, repo: GitRepo, db: sqlite_utils.Database, full: bool,
                 workers: int | None, progress: Progress | None, memory: Memory) -> None:
        self.tree, self.repo, self.db, self.full = tree, repo, db, full
        self.memory = memory
        self.workers = workers or os.cpu_count() or 1
        self.progress = progress
        self.sources: dict[str, Source] = {}
        """Content path → Source of every file git lists, classified once per run."""
        self.held: set[str] = set()
        """Content paths git has in conflict: their HEAD version is indexed, read from git, not from disk."""

    def execute(self) -> IndexReport:
        head = self.repo.head()
        current, misplaced = self._current_files()
        stored = {row[0]: (row[1], row[2]) for row in self.db.execute("SELECT path, blob, ok FROM files")}
        changed = sorted(p for p, blob in current.items() if self.full or stored.get(p, (None,))[0] != blob)
        deleted = sorted(set(stored) - set(current))
        dates_moved = self.full or head != _meta(self.db, "commit")
        if not (changed or deleted or dates_moved):
            known = stored_problems(self.db.conn)
            if self._same_misplaced(misplaced, known, current):
                left_out = {path for path, (_, ok) in stored.items() if not ok}
                return self._report(head, current, 0, 0, known, left_out)
        parsed = self._parse([(path, current[path], self._raw(path, current[path])) for path in changed])
        corpus = self._corpus(parsed, set(changed) | set(deleted), misplaced, stored)
        problems = check(corpus)
        bad = _bad_files(corpus, problems)
        stamps = self._stamps(current, changed, dates_moved)
        rewritten = self._write(corpus, parsed, stored, deleted, bad, stamps)
        courses = {course for path in rewritten if (course := _course_of(path))}
        self._finish(head, problems, None if self.full else courses)
        return self._report(head, current, len(changed), len(deleted), problems, bad)

    def _same_misplaced(self, misplaced: list[Problem], known: list[Problem], current: dict[str, str]) -> bool:
        """Whether the files in the wrong place are the ones the last run reported (they are not in `files`)."""
        labels = {self.tree.label(path) for path in current}
        return set(misplaced) == {problem for problem in known if problem.file not in labels}

    def _current_files(self) -> tuple[dict[str, str], list[Problem]]:
        prefix = self.tree.prefix
        files: dict[str, str] = {}
        misplaced: list[Problem] = []
        blobs = self.repo.blobs(prefix)
        self.held = {path.removeprefix(prefix) for path in blobs.held}
        for repo_path, blob in blobs.ids.items():
            path = repo_path.removeprefix(prefix)
            if not repo_path.startswith(prefix) or is_ignored(path) or not path.endswith(CONTENT_SUFFIXES):
                continue
            source = classify(path)
            if isinstance(source, Source):
                files[path] = blob
                self.sources[path] = source
            else:
                misplaced.append(msgspec.structs.replace(source, file=self.tree.label(path)))
        return files, misplaced

    def _raw(self, path: str, blob: str) -> bytes | None:
        """A conflicted file's HEAD content, from git; None for a file read from disk."""
        return self.repo.read_blob(blob) if path in self.held else None

    def _parse(self, files: list[ParseJob]) -> dict[str, Parsed]:
        total = len(files)
        results: dict[str, Parsed] = {}
        for item in parse_all(self.tree, files, self.workers):
            results[item.document.source.path] = item
            if self.progress:
                self.progress(len(results), total)
        return results

    def _corpus(self, parsed: dict[str, Parsed], reread: set[str], misplaced: list[Problem],
                stored: dict[str, tuple[str, int]]) -> Corpus:
        """Every document: the ones just parsed, and the rest as the `files` table (or memory) has them."""
        corpus = Corpus(tree=self.tree, problems=misplaced)
        missing = [path for path in stored if path not in reread and self.memory.recall(path, stored[path][0]) is None]
        rows = self.db.execute(f"SELECT {FILE_COLUMNS} FROM files WHERE path IN (SELECT value FROM json_each(?))",
                               [to_json(missing)])
        for row in rows:
            self.memory.keep(row[0], stored[row[0]][0], remembered(self.tree, *row, source=self.sources.get(row[0])))
        for path, (blob, _) in stored.items():
            if path not in reread:
                corpus.add(self.memory.recall(path, blob))  # type: ignore[arg-type]
        for item in parsed.values():
            corpus.add(item.document)
        return corpus

    def _stamps(self, current: dict[str, str], changed: list[str], dates_moved: bool) -> dict[str, Stamp]:
        """Dates from git history; when HEAD has not moved, only the changed files are looked up again."""
        known = {row[0]: (row[1], row[2]) for row in self.db.execute("SELECT path, created_at, updated_at FROM files")}
        redated = set(current) if dates_moved else set(changed)
        history = self.repo.history(self.tree.prefix, None if dates_moved else [self.tree.label(p) for p in changed])
        stamps = {}
        for path, blob in current.items():
            if path not in redated and known.get(path, (None,))[0] is not None:
                created, updated = known[path]
            else:
                created, updated = history.get(self.tree.label(path)) or (file_time(self.tree.content_dir / path),) * 2
                created, updated = utc(created), utc(updated)
            stamps[path] = Stamp(version=blob, created_at=created, updated_at=updated)
        return stamps

    def _write(self, corpus: Corpus, parsed: dict[str, Parsed], stored: dict[str, tuple[str, int]],
               deleted: list[str], bad: set[str], stamps: dict[str, Stamp]) -> set[str]:
        """Replace the rows of every file that changed or came in or out of the index; the paths rewritten."""
        was_ok = {path for path, (_, ok) in stored.items() if ok}
        now_ok = {path for path in corpus.documents if path not in bad}
        rewrite = set(parsed) | set(deleted) | (was_ok ^ now_ok)
        tables.delete_rows(self.db, rewrite)
        batch: Rows = {}
        for path in sorted(rewrite & now_ok):
            blob = stamps[path].version
            item = parsed.get(path) or parse_one(self.tree, path, blob, self._raw(path, blob))
            for table, records in (item.rows or {}).items():
                batch.setdefault(table, []).extend(records)
        tables.insert(self.db, batch)
        self._remember(corpus, parsed, deleted, bad, stamps)
        return rewrite

    def _remember(self, corpus: Corpus, parsed: dict[str, Parsed], deleted: list[str], bad: set[str],
                  stamps: dict[str, Stamp]) -> None:
        tables.delete_paths(self.db, "files", set(deleted))
        records = [file_record(item.document, stamps[path], path not in bad) for path, item in parsed.items()]
        self.db["files"].upsert_all(records, pk="path")  # type: ignore[union-attr]
        self.db.conn.executemany("UPDATE files SET ok = :ok, created_at = :created, updated_at = :updated "
                                 "WHERE path = :path AND (ok IS NOT :ok OR created_at IS NOT :created "
                                 "OR updated_at IS NOT :updated)",
                                 [{"ok": int(p not in bad), "created": s.created_at, "updated": s.updated_at,
                                   "path": p} for p, s in stamps.items() if p in corpus.documents])
        for table in DATED_TABLES:
            self.db.execute(f"UPDATE {table} SET created_at = f.created_at, updated_at = f.updated_at "
                            f"FROM files f WHERE f.path = {table}.path AND "
                            f"(f.created_at IS NOT {table}.created_at OR f.updated_at IS NOT {table}.updated_at)")

    def _finish(self, head: str | None, problems: list[Problem], courses: set[str] | None) -> None:
        derived.refresh(self.db.conn, courses)
        self.db.execute("DELETE FROM problems")
        self.db["problems"].insert_all(msgspec.structs.asdict(p) for p in problems)  # type: ignore[union-attr]
        built = utc_now()
        meta = {"schema_version": str(tables.SCHEMA_VERSION), "commit": head or "", "built_at": built,
                "content_prefix": self.tree.prefix}
        self.db["meta"].upsert_all([{"key": k, "value": v} for k, v in meta.items()], pk="key")  # type: ignore[union-attr]

    def _report(self, head: str | None, current: dict[str, str], read: int, deleted: int,
                problems: list[Problem], left_out: set[str]) -> IndexReport:
        """`skipped` counts every file left out: with errors of its own, or under a course or section that has them."""
        skipped = len({self.tree.label(path) for path in left_out} | {p.file for p in problems if p.is_error})
        return IndexReport(commit=head, full=self.full, files=len(current), read=read, deleted=deleted,
                           skipped=skipped, seconds=0.0, problems=problems)


def _meta(db: sqlite_utils.Database, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
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
