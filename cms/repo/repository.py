"""The content repository as git sees it: commits, blob ids, history.

A thin seam over GitPython's command wrapper. Everything the indexer and
the write path ask of git goes through here, using plumbing commands that
answer for the whole tree in one call.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import git
import msgspec

from cms.errors import ConfigError, Conflict

_SYMLINK = "120000"
_CONFLICT = re.compile(rb"^<{7}(?: |$).*^>{7}(?: |$)", re.MULTILINE | re.DOTALL)
"""Conflict markers git leaves in a file: a `<<<<<<<` line, later a `>>>>>>>` line."""
_PATHS_PER_CALL = 500
"""Paths per git call, well under any command-line length limit."""


class GitRepo:
    """A git working tree."""

    def __init__(self, repo: git.Repo) -> None:
        self.repo = repo
        self.root = Path(repo.working_tree_dir or ".").resolve()

    @classmethod
    def open(cls, path: Path) -> GitRepo:
        try:
            return cls(git.Repo(path, search_parent_directories=True))
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise ConfigError(f"{path} is not inside a git repository (run `git init` there first)") from None

    def run(self, *args: str) -> str:
        return self.run_bytes(*args).decode("utf-8", "surrogateescape")

    def run_bytes(self, *args: str) -> bytes:
        """git's output as it wrote it: file contents, or text `run` decodes."""
        return self.repo.git.execute(["git", "-c", "core.quotePath=false", *args], strip_newline_in_stdout=False,
                                     stdout_as_string=False)

    def head(self) -> str | None:
        """The commit HEAD points at, or None in a repository with no commits yet."""
        try:
            return self.repo.head.commit.hexsha
        except ValueError:
            return None

    def commits_between(self, old: str, new: str) -> int | None:
        """How many commits `new` has that `old` lacks; None if `old` is unknown here."""
        try:
            return int(self.run("rev-list", "--count", f"{old}..{new}").strip())
        except git.GitCommandError:
            return None

    def blobs(self, prefix: str) -> Blobs:
        """Repository-relative path → git blob id of every file under `prefix` as it is on disk now.

        Tracked, unmodified files answer from git's index; modified and
        untracked ones are hashed; deleted files and symlinks are left out.
        While a merge, rebase, cherry-pick or revert is stopped on conflicts,
        a conflicted file (unmerged in git's index, or holding conflict
        markers) answers with its HEAD version, or not at all if HEAD lacks it.
        """
        blobs, unmerged = self._tracked(prefix)
        dirty = self._dirty(prefix)
        conflicted = unmerged | self._with_markers([path for path in dirty if path not in unmerged])
        for path in {*dirty, *conflicted}:
            blobs.pop(path, None)
        present = [path for path in dirty if path not in conflicted and self._is_file(path)]
        blobs.update(zip(present, self.hash_files(present), strict=True))
        at_head = self.head_blobs(sorted(conflicted))
        blobs.update(at_head)
        return Blobs(ids=blobs, held=frozenset(at_head))

    def hash_files(self, paths: list[str]) -> list[str]:
        """Blob ids of files on disk; paths go to git as arguments, so any name (a newline in it too) is safe."""
        ids: list[str] = []
        for start in range(0, len(paths), _PATHS_PER_CALL):
            ids.extend(self.run("hash-object", "--", *paths[start:start + _PATHS_PER_CALL]).split())
        return ids

    def head_blobs(self, paths: list[str]) -> dict[str, str]:
        """Path → blob id in the HEAD commit, for those of `paths` HEAD has as regular files."""
        if not paths or self.head() is None:
            return {}
        blobs: dict[str, str] = {}
        for start in range(0, len(paths), _PATHS_PER_CALL):
            chunk = paths[start:start + _PATHS_PER_CALL]
            output = self.run("--literal-pathspecs", "ls-tree", "-z", "HEAD", "--", *chunk)
            blobs.update((path, blob) for (mode, kind, blob), path in _records(output)
                         if kind == "blob" and mode != _SYMLINK)
        return blobs

    def read_blob(self, blob: str) -> bytes:
        """The content of a blob, as git stores it."""
        return self.run_bytes("cat-file", "blob", blob)

    def _is_file(self, path: str) -> bool:
        return (self.root / path).is_file() and not (self.root / path).is_symlink()

    def _tracked(self, prefix: str) -> tuple[dict[str, str], set[str]]:
        """Git's index: stage-0 blob ids of regular files, and the paths it holds unmerged (stages 1-3)."""
        blobs: dict[str, str] = {}
        unmerged: set[str] = set()
        for (mode, blob, stage), path in _records(self.run("--literal-pathspecs", "ls-files", "--stage", "-z", "--",
                                                            prefix or ".")):
            if stage != "0":
                unmerged.add(path)
            elif mode != _SYMLINK:
                blobs[path] = blob
        return blobs, unmerged

    def _dirty(self, prefix: str) -> list[str]:
        output = self.run("--literal-pathspecs", "status", "--porcelain=v1", "-z", "--untracked-files=all",
                          "--no-renames", "--", prefix or ".")
        return [record[3:] for record in output.split("\0") if len(record) > 3]

    def _with_markers(self, paths: list[str]) -> set[str]:
        """Those of `paths` holding conflict markers, looked for only while git is stopped mid-merge or rebase."""
        if busy_reason(self) is None:
            return set()
        return {path for path in paths if self._is_file(path) and _CONFLICT.search((self.root / path).read_bytes())}

    def history(self, prefix: str, paths: list[str] | None = None) -> dict[str, tuple[str, str]]:
        """Path → (first, last) commit dates of every file under `prefix`, in one pass over the log.

        With `paths` (repository-relative), only those files are looked up:
        a few files are dated without walking every file's history.
        """
        if self.head() is None or paths == []:
            return {}
        if paths is None:
            return self._dates("--", prefix or ".")
        dates: dict[str, tuple[str, str]] = {}
        for start in range(0, len(paths), _PATHS_PER_CALL):
            dates.update(self._dates("--", *paths[start:start + _PATHS_PER_CALL], literal=True))
        return dates

    def _dates(self, *pathspec: str, literal: bool = False) -> dict[str, tuple[str, str]]:
        dates: dict[str, tuple[str, str]] = {}
        options = ["--literal-pathspecs"] if literal else []
        output = self.run(*options, "log", "-z", "--format=/%aI", "--name-only", "--no-renames", *pathspec)
        for when, names in _commits(output):
            for name in names:
                last = dates.get(name, (when, when))[1]
                dates[name] = (when, last)
        return dates


class Blobs(msgspec.Struct, frozen=True):
    """The blob id of every file as the indexer should see it now."""

    ids: dict[str, str]
    """Repository-relative path → blob id."""
    held: frozenset[str]
    """Conflicted paths answering with their HEAD blob: read them from git (`cat-file`), not from disk."""


def _records(output: str) -> Iterator[tuple[list[str], str]]:
    """The `<fields> TAB <path>` records of a `-z` listing; the path may hold anything but NUL."""
    for record in output.split("\0"):
        if record:
            meta, path = record.split("\t", 1)
            yield meta.split(" "), path


def _commits(output: str) -> Iterator[tuple[str, list[str]]]:
    """(date, paths) of each commit in `git log -z --format=/%aI --name-only`, newest first.

    Each commit is `/<date>` NUL, then, if it touched any, a newline and its
    paths, each ending in NUL. A path never starts with `/`, so NUL `/`
    only ever begins a commit, whatever the names hold.
    """
    for record in ("\0" + output).split("\0/")[1:]:
        when, _, names = record.partition("\0")
        yield when, [name for name in names.removeprefix("\n").split("\0") if name]


def file_time(path: Path) -> str:
    """When a file not yet committed was last written, as RFC 3339."""
    return datetime.fromtimestamp(os.stat(path).st_mtime, UTC).isoformat(timespec="seconds")


class Identity(msgspec.Struct, frozen=True):
    """Who a commit is by."""

    name: str
    email: str


_BUSY_MARKERS = {"MERGE_HEAD": "merge-in-progress", "rebase-merge": "rebase-in-progress",
                 "rebase-apply": "rebase-in-progress", "CHERRY_PICK_HEAD": "cherry-pick-in-progress",
                 "REVERT_HEAD": "revert-in-progress"}


def busy_reason(repo: GitRepo) -> str | None:
    """Why the repository cannot take a commit now (a merge or rebase in progress), or None."""
    git_dir = Path(repo.repo.git_dir)
    for marker, reason in _BUSY_MARKERS.items():
        if (git_dir / marker).exists():
            return reason
    return None


def dirty_paths(repo: GitRepo, paths: list[str]) -> list[str]:
    """Those of `paths` (repository-relative) with uncommitted changes, staged or not, or untracked."""
    if not paths:
        return []
    output = repo.run("--literal-pathspecs", "status", "--porcelain=v1", "-z", "--untracked-files=all",
                      "--no-renames", "--", *paths)
    return [record[3:] for record in output.split("\0") if len(record) > 3]


def blob_at_head(repo: GitRepo, path: str) -> str | None:
    """The blob id of `path` in the HEAD commit, or None if it is not there."""
    if repo.head() is None:
        return None
    try:
        return repo.run("rev-parse", "--verify", "--quiet", f"HEAD:{path}").strip() or None
    except git.GitCommandError:
        return None


def commit_paths(repo: GitRepo, paths: list[str], message: str, author: Identity) -> str:
    """Commit exactly `paths` (added, changed or deleted) as `author`; other staged work is left alone."""
    env = {"GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email,
           "GIT_COMMITTER_NAME": author.name, "GIT_COMMITTER_EMAIL": author.email}
    try:
        repo.repo.git.execute(["git", "add", "--all", "--", *paths])
        repo.repo.git.execute(["git", "commit", "--quiet", "--no-edit", f"--message={message}", "--", *paths],
                              env={**os.environ, **env})
    except git.GitCommandError as error:
        detail = (error.stderr or "").strip().removeprefix("stderr:").strip(" '\n") or f"exit code {error.status}"
        raise Conflict(f"git refused the commit: {detail}", reason="commit-refused") from None
    return repo.head() or ""


def restore_paths(repo: GitRepo, paths: list[str]) -> None:
    """Put `paths` back as they are in HEAD (deleting those HEAD does not have) and unstage them."""
    tracked = [p for p in paths if blob_at_head(repo, p) is not None]
    if repo.head() is not None:
        repo.repo.git.execute(["git", "reset", "--quiet", "--", *paths])
    if tracked:
        repo.repo.git.execute(["git", "checkout", "HEAD", "--", *tracked])
    for path in set(paths) - set(tracked):
        (repo.root / path).unlink(missing_ok=True)


def configured_identity(repo: GitRepo) -> Identity:
    """Who commits from the command line: git's own `user.name` and `user.email`."""
    try:
        name = repo.run("config", "--get", "user.name").strip()
        email = repo.run("config", "--get", "user.email").strip()
    except git.GitCommandError:
        name = email = ""
    if not (name and email):
        raise ConfigError("git has no user.name and user.email here; set them (`git config user.name ...`, "
                          "`git config user.email ...`) so the commit says who made it")
    return Identity(name=name, email=email)
