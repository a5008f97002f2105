"""Redirects for renamed entries, found in git history: the `redirects` table.

git says when a content file was renamed or moved (`git log -M`). Each
rename moves the entry's public path (`/courses/a/lessons/b`) when its slug,
its course or its section's slug changed; the old path then answers 301 to
the new one. The history is folded commit by commit, oldest first, along
the first-parent chain (a merge counts as one change against the branch it
joins), into one map `old file → file now`:

    rename a → b    every file that led to a now leads to b; a leads to b; b is live again
    add b           b is live again (a reused name stops redirecting)
    delete b        whatever led to b leads nowhere

So chains collapse (a → b → c: a leads to c), and a rename back (b → a)
leaves no loop. An incremental run folds only the commits since the
indexed one into the stored map, which is the same map a full run folds
from the whole history (`MAX_COMMITS` newest commits at most). A row is
`listed` (served as a redirect) when its public path changed, nothing in
the content lives at that path now (a live entry wins), its file is still
there, and no later rename claims the same old path.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cms.content.corpus import ContentTree
from cms.content.links import public_url
from cms.content.parse import Document
from cms.content.sources import CONTENT_SUFFIXES, Kind, Source, classify, is_ignored
from cms.database import PostgresUrl
from cms.errors import ConfigError
from cms.index import tables
from cms.index.stored import read_only
from cms.repo.repository import GitError, GitRepo

MAX_COMMITS = 100_000
"""The newest commits a full run reads renames from."""
_RECORD, _FIELD = "\x1e", "\x1f"


@dataclass(frozen=True)
class Move:
    """Where the entry once at some file is now, and the commit that last moved it."""

    file: str
    commit: str
    at: str


@dataclass
class Moves:
    """The fold: old content path → `Move`, with the reverse lookup that keeps each step cheap."""

    moves: dict[str, Move] = field(default_factory=dict)
    leading_to: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    known: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Content path → (kind, public path), as the table had them: not worked out again each run."""

    def set(self, old: str, move: Move) -> None:
        self.drop(old)
        if move.file != old:
            self.moves[old] = move
            self.leading_to[move.file].add(old)

    def drop(self, old: str) -> None:
        move = self.moves.pop(old, None)
        if move is not None:
            self.leading_to[move.file].discard(old)

    def rename(self, old: str, new: str, commit: str, at: str) -> None:
        for earlier in sorted(self.leading_to.pop(old, set())):
            self.set(earlier, Move(new, commit, at))
        self.set(old, Move(new, commit, at))
        self.drop(new)

    def delete(self, gone: str) -> None:
        for earlier in sorted(self.leading_to.pop(gone, set())):
            self.moves.pop(earlier, None)
        self.drop(gone)


def fold(moves: Moves, output: str, prefix: str) -> Moves:
    """Apply the changes of `git log --name-status -z` (format `RS<commit>US<date>`), oldest first."""
    for commit, at, changes in _commits(output):
        for status, paths in changes:
            _apply(moves, status, [path.removeprefix(prefix) for path in paths], commit, at)
    return moves


def _apply(moves: Moves, status: str, paths: list[str], commit: str, at: str) -> None:
    sources = [_source(path) for path in paths]
    if status == "R" and sources[0] and sources[1] and sources[0].kind is sources[1].kind:
        moves.rename(paths[0], paths[1], commit, at)
        return
    if status in ("D", "R") and sources[0]:
        moves.delete(paths[0])
    if status in ("A", "R") and sources[-1]:
        moves.drop(paths[-1])


def _source(path: str) -> Source | None:
    """The entry a content path holds, if it names one that has a public path."""
    if is_ignored(path) or not path.endswith(CONTENT_SUFFIXES):
        return None
    source = classify(path)
    return source if isinstance(source, Source) and source.kind is not Kind.CATEGORIES else None


def _commits(output: str) -> Iterator[tuple[str, str, list[tuple[str, list[str]]]]]:
    """(commit, date, [(status letter, paths)]) from `git log --format=RS%H US%aI --name-status -z`.

    Read token by token: a status is followed by one path, two for renames and copies,
    so a path is never taken for a status or a commit, whatever it holds."""
    tokens = iter(output.split("\0"))
    commit, at, changes = "", "", []
    for token in tokens:
        token = token.removeprefix("\n")
        if token.startswith(_RECORD):
            if commit:
                yield commit, at, changes
            commit, _, at = token[1:].partition(_FIELD)
            changes = []
        elif token:
            count = 2 if token[0] in "RC" else 1
            changes.append((token[0], [next(tokens, "") for _ in range(count)]))
    if commit:
        yield commit, at, changes


def history(repo: GitRepo, prefix: str, since: str | None, head: str, moves: Moves) -> Moves:
    """`moves` with the renames of the commits after `since` up to `head` folded in (every commit without `since`)."""
    revisions = [f"{since}..{head}"] if since else [f"--max-count={MAX_COMMITS}", head]
    # --first-parent shows a merge as its change to the first parent (git 2.31 and later; older ones skip it)
    output = repo.run("log", "--first-parent", "-M", "--diff-filter=ADR", "--reverse", "--name-status", "-z",
                      f"--format={_RECORD}%H{_FIELD}%aI", *revisions, "--", prefix or ".")
    return fold(moves, output, prefix)


def from_history(repo: GitRepo, prefix: str) -> Moves:
    """Every rename the history of HEAD holds, folded."""
    head = repo.head()
    return history(repo, prefix, None, head, Moves()) if head else Moves()


def moved_files(content_dir: Path) -> dict[str, str]:
    """Content path → content path now, of every file git saw renamed (`cms validate`'s link check); {} outside git."""
    tree = ContentTree.locate(content_dir)
    try:
        repo = GitRepo.open(tree.content_dir)
    except ConfigError:
        return {}
    return {old: move.file for old, move in from_history(repo, tree.prefix).moves.items()}


def moved_in_index(db_path: Path | PostgresUrl) -> dict[str, str]:
    """Content path → content path now, of every file the index knows git renamed (the write path's link check)."""
    with read_only(db_path) as conn:
        return dict(conn.execute("SELECT old_file, new_file FROM redirects").fetchall())


def refresh(conn: sqlite3.Connection, repo: object, prefix: str, live: Mapping[str, Document], since: str | None,
            head: str | None, full: bool) -> dict[str, str]:
    """Bring the `redirects` table to `head`; the files git saw renamed, for the link check.

    `live` are the content files there now (the corpus); `since` the commit the index holds. Only renames the
    history of a `GitRepo` shows count (an index built from other sources gets none).
    """
    if not isinstance(repo, GitRepo) or head is None:
        conn.execute("DELETE FROM redirects")
        return {}
    if not full and since == head:  # files changed, commits did not: which old paths are live again
        moves = stored(conn)
    elif not full and _descends(repo, since, head):
        moves = history(repo, prefix, since, head, stored(conn))
    else:
        moves = history(repo, prefix, None, head, Moves())
    write(conn, rows(moves, {path: document.source for path, document in live.items()}))
    return {old: move.file for old, move in moves.moves.items()}


def _descends(repo: GitRepo, since: str | None, head: str) -> bool:
    """Whether the history up to `since` is part of `head`'s, so the stored fold can go on from it."""
    if since is None:
        return False
    try:
        repo.run("merge-base", "--is-ancestor", since, head)
    except GitError:
        return False
    return True


def stored(conn: sqlite3.Connection) -> Moves:
    moves = Moves()
    for kind, old_path, new_path, old, new, commit, at in conn.execute(
            "SELECT kind, old_path, new_path, old_file, new_file, renamed_in, renamed_at FROM redirects"):
        moves.set(old, Move(new, commit, at))
        moves.known.update({old: (kind, old_path), new: (kind, new_path)})
    return moves


def rows(moves: Moves, live: Mapping[str, Source]) -> list[dict[str, str | int]]:
    """One row per moved file; `listed` marks the ones the API redirects (of several moves away from one
    public path, the latest). `live`: the source of every content file there now."""
    public = {public_url(source) for source in live.values() if source.kind is not Kind.CATEGORIES}
    found, claimed = [], set()
    for old, move in sorted(moves.moves.items(), key=lambda item: (item[1].at, item[0]), reverse=True):
        (kind, old_path), (_, new_path) = _public(moves, old), _public(moves, move.file)
        listed = old_path != new_path and old_path not in public and move.file in live and old_path not in claimed
        if listed:
            claimed.add(old_path)
        found.append({"kind": kind, "old_path": old_path, "new_path": new_path, "old_file": old,
                      "new_file": move.file, "renamed_in": move.commit, "renamed_at": move.at, "listed": int(listed)})
    return sorted(found, key=lambda row: str(row["old_file"]))


def _public(moves: Moves, path: str) -> tuple[str, str]:
    """(kind, public path) of a content path."""
    known = moves.known.get(path)
    if known is None:
        source = _source(path)
        known = moves.known[path] = (source.kind.value, public_url(source)) if source is not None else ("", "")
    return known


def write(conn: sqlite3.Connection, found: list[dict[str, str | int]]) -> None:
    conn.execute("DELETE FROM redirects")
    if found:
        tables.write(conn, "redirects", found)  # type: ignore[arg-type]
