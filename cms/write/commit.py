"""The write path: a change to content files becomes one git commit, then the index follows.

    changes → lock → repository checks (no symlinks) → If-Match → validate the resulting tree
            → journal → write files atomically → commit as the user → index → result

Writes are serialized by an exclusive lock on `.cms/write.lock`, which
holds across processes, so server workers never interleave. Nothing is
written unless the resulting tree validates with no new errors; a failure
after the files are written puts them back as HEAD has them. A write
never goes through a symbolic link: a link in a target's path (the file or
a folder above it) refuses the write before anything is read or written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from cms.content.corpus import ContentTree
from cms.content.sources import Source, classify
from cms.content.validate import check
from cms.errors import Conflict, ContentError, NotFound, PreconditionFailed
from cms.index.build import update
from cms.index.redirects import moved_in_index
from cms.index.stored import stored_corpus
from cms.problems import Problem
from cms.repo import remote
from cms.repo.commits import Identity, blob_at_head, commit_paths, dirty_paths, restore_paths
from cms.repo.repository import GitRepo
from cms.write import journal

Versions = str | frozenset[str]
"""The versions (git blob ids) a write accepts the file at (If-Match): one, or any of several."""


class Change(msgspec.Struct, frozen=True):
    """One file to write (`text`) or delete (`text=None`), content-relative.

    `expected` is what the file must be at now (If-Match; None accepts any version);
    `must_exist` False means the file must not exist yet (a create).
    """

    path: str
    text: str | None
    expected: Versions | None = None
    must_exist: bool = True


class WriteResult(msgspec.Struct):
    commit: str
    versions: dict[str, str | None]
    """Each change's path → its new blob id (None once deleted), in the order of the changes."""


Plan = Callable[[], list[Change]]
"""Works out the changes under the write lock, so what it reads (the next order number, a file's front
matter) is what earlier writes left, not what was there when the request arrived."""


@contextmanager
def write_lock(repo: GitRepo, state_url: str | None = None,
               caught_up: Callable[[], None] | None = None) -> Iterator[None]:
    """Writes are serialized, across processes too, and across servers with Postgres state (`journal.exclusive`;
    `caught_up` runs when the clone was brought to the remote's head)."""
    with journal.exclusive(repo, state_url, caught_up):
        yield


def apply(tree: ContentTree, db_path: Path, changes: list[Change] | Plan,
          message: str | Callable[[list[Change]], str], author: Identity, push: bool = False,
          before_write: Callable[[], None] | None = None, state_url: str | None = None) -> WriteResult:
    """Validate, write and commit `changes` in one commit; the index is current when this returns.

    `changes` may be a `Plan`, and `message` a function of the planned changes.

    With `push`, the commit is pushed to the remote; if the remote refuses even after one rebase,
    the commit is taken back and `Conflict` raised. `before_write` runs under the lock once the
    change is known to be valid, before any file is touched (deleting an asset at Cloudinary, say);
    if it raises, nothing is written.
    """
    repo = GitRepo.open(tree.content_dir)
    if callable(changes):
        journal.refuse_early(repo, state_url, changes)  # several servers: a stale If-Match waits for no lock
    with write_lock(repo, state_url, caught_up=lambda: update(tree, db_path)):  # plans read the index
        journal.recover(repo, locked=True)
        if callable(changes):
            _check_idle(repo)
            changes = changes()
        if callable(message):
            message = message(changes)
        _check_repository(repo, tree, changes)
        update(tree, db_path)
        _validate(tree, db_path, changes)
        if all(_unchanged(tree, change) for change in changes):
            return _result(repo, tree, changes)
        if before_write is not None:
            before_write()
        commit = _write_and_commit(repo, tree, changes, message, author)
        try:
            if push:
                remote.push(repo, commit)
        finally:
            update(tree, db_path)
        return _result(repo, tree, changes)


def _unchanged(tree: ContentTree, change: Change) -> bool:
    """Whether a change would leave its file exactly as it is (nothing to commit)."""
    target = tree.content_dir / change.path
    return change.text is not None and target.is_file() and target.read_bytes() == change.text.encode()


def _write_and_commit(repo: GitRepo, tree: ContentTree, changes: list[Change], message: str,
                      author: Identity) -> str:
    """Journal, write and commit; on any failure the files are put back as HEAD has them."""
    paths = [tree.label(change.path) for change in changes]
    journal.begin(repo, paths)
    try:
        _write_files(tree, changes)
        commit = commit_paths(repo, paths, message, author)
    except BaseException:
        restore_paths(repo, paths)
        raise
    finally:
        journal.end(repo)
    return commit


def _result(repo: GitRepo, tree: ContentTree, changes: list[Change]) -> WriteResult:
    return WriteResult(commit=repo.head() or "",
                       versions={c.path: blob_at_head(repo, tree.label(c.path)) for c in changes})


def _check_idle(repo: GitRepo) -> None:
    reason = repo.busy_reason()
    if reason is not None:
        raise Conflict(f"the content repository is busy ({reason.replace('-', ' ')}); try again when it is done",
                       reason=reason)


def checked_path(tree: ContentTree, path: str) -> Path:
    """The file at content-relative `path`; 409 if it, or a folder above it in the content directory, is a link.

    Each part is checked with lstat, so nothing is read through a link, and a write never reaches or
    reveals a file outside the tree.
    """
    target = tree.content_dir
    for part in path.split("/"):
        target = target / part
        if target.is_symlink():
            raise _linked(tree, path, target.relative_to(tree.content_dir).as_posix())
    return target


def _linked(tree: ContentTree, path: str, link: str) -> Conflict:
    where = "is a symbolic link" if link == path else f"is inside {tree.label(link)}, a symbolic link"
    problem = Problem(file=tree.label(path), rule="symlink", message=f"{tree.label(path)} {where}",
                      expected="a regular file in regular folders", found="a symbolic link")
    return Conflict(f"{tree.label(path)} {where}; writes never follow links (replace it with the real file in git)",
                    [problem], reason="symlink")


def read_target(tree: ContentTree, path: str) -> bytes:
    """The bytes of the file at `path`, which is never read through a link (see `checked_path`)."""
    descriptor = os.open(checked_path(tree, path), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(descriptor, "rb") as handle:
        return handle.read()


def _check_repository(repo: GitRepo, tree: ContentTree, changes: list[Change]) -> None:
    for change in changes:
        checked_path(tree, change.path)
    _check_idle(repo)
    dirty = dirty_paths(repo, [tree.label(change.path) for change in changes])
    if dirty:
        raise Conflict(f"{', '.join(dirty)} has uncommitted changes in the repository; commit or discard them first",
                       reason="uncommitted-changes")
    for change in changes:
        _check_version(repo, tree, change)


def check_version(tree: ContentTree, path: str, expected: Versions | None) -> None:
    """412 unless the entry at `path` is at a version `expected` accepts (checked before an edit reads the file)."""
    _check_version(GitRepo.open(tree.content_dir), tree, Change(path=path, text=None, expected=expected))


def _check_version(repo: GitRepo, tree: ContentTree, change: Change) -> None:
    current = blob_at_head(repo, tree.label(change.path))
    if not change.must_exist:
        if current is not None or (tree.content_dir / change.path).exists():
            raise Conflict(f"{change.path} already exists", reason="already-exists")
        return
    if current is None:
        raise NotFound(f"{change.path} does not exist")
    if change.expected is not None and not _accepts(change.expected, current):
        raise PreconditionFailed(f"{change.path} has changed since version {_shown(change.expected)}; "
                                 f"the current version is {current}")


def _accepts(expected: Versions, current: str) -> bool:
    return current == expected if isinstance(expected, str) else current in expected


def _shown(expected: Versions) -> str:
    return expected if isinstance(expected, str) else " or ".join(sorted(expected)) or "(none)"


def _validate(tree: ContentTree, db_path: Path, changes: list[Change]) -> None:
    """Refuse a change that adds errors to the tree (errors already there are not the writer's)."""
    new = new_errors(tree, db_path, changes)
    if new:
        raise ContentError(f"the change does not validate ({len(new)} problem{'s' * (len(new) != 1)})", new)


def new_errors(tree: ContentTree, db_path: Path, changes: list[Change]) -> list[Problem]:
    """The errors the tree as the index knows it would have after `changes` and does not have now.

    The index must be current; only the changed files are parsed, the rest of the corpus comes from
    the index (`stored_corpus`).
    """
    corpus, before = stored_corpus(tree, db_path, {change.path for change in changes})
    for change in changes:
        if change.text is not None:
            source = classify(change.path)
            if not isinstance(source, Source):
                raise ContentError("the entry cannot be stored there", [source])
            corpus.add(tree.parse(source, change.text.encode()))
    known = {_identity(problem) for problem in before}
    moved = moved_in_index(db_path)  # a link to a renamed file's old path is a warning (`cms.index.redirects`)
    return [problem for problem in check(corpus, moved) if problem.is_error and _identity(problem) not in known]


def _identity(problem: Problem) -> tuple[str, str, str | None, str]:
    return (problem.file, problem.rule, problem.field, problem.message)


def _write_files(tree: ContentTree, changes: list[Change]) -> None:
    for change in changes:
        target = tree.content_dir / change.path
        if change.text is None:
            target.unlink()
            _prune_empty(target.parent, tree.content_dir)
        else:
            _write_atomically(target, change.text)


def _write_atomically(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(target)


def _prune_empty(folder: Path, stop: Path) -> None:
    while folder != stop and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
