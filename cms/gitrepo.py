"""The content repository as git sees it: commits, blob ids, history.

A thin seam over GitPython's command wrapper. Everything the indexer and
the write path ask of git goes through here, using plumbing commands that
answer for the whole tree in one call.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import git
import msgspec

from cms.errors import ConfigError, Conflict

_RECORD = "\x1e"
_PATHS_PER_CALL = 500
"""Pathspecs per `git log` call, well under any command-line length limit."""


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
        return self.repo.git.execute(["git", "-c", "core.quotePath=false", *args], strip_newline_in_stdout=False)

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

    def blobs(self, prefix: str) -> dict[str, str]:
        """Repository-relative path → git blob id of the file as it is on disk now.

        Tracked, unmodified files answer from git's index; modified and
        untracked ones are hashed in one `git hash-object` call; deleted
        files and symlinks are left out.
        """
        blobs = self._tracked(prefix)
        dirty = self._dirty(prefix)
        for path in dirty:
            blobs.pop(path, None)
        present = [path for path in dirty if (self.root / path).is_file() and not (self.root / path).is_symlink()]
        blobs.update(zip(present, self.hash_files(present), strict=True))
        return blobs

    def hash_files(self, paths: list[str]) -> list[str]:
        """Blob ids of files on disk, in one `git hash-object --stdin-paths` call."""
        if not paths:
            return []
        result = subprocess.run(["git", "hash-object", "--stdin-paths"], cwd=self.root, check=True,
                                input="\n".join(paths) + "\n", capture_output=True, text=True)
        return result.stdout.split()

    def _tracked(self, prefix: str) -> dict[str, str]:
        blobs: dict[str, str] = {}
        for record in self.run("ls-files", "--stage", "-z", "--", prefix or ".").split("\0"):
            if not record:
                continue
            meta, path = record.split("\t", 1)
            mode, blob, _stage = meta.split(" ")
            if mode != "120000":
                blobs[path] = blob
        return blobs

    def _dirty(self, prefix: str) -> list[str]:
        output = self.run("status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames",
                          "--", prefix or ".")
        return [record[3:] for record in output.split("\0") if len(record) > 3]

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
        output = self.run(*options, "log", f"--format={_RECORD}%aI", "--name-only", "--no-renames", *pathspec)
        for record in output.split(_RECORD):
            when, _, names = record.partition("\n")
            for name in names.split("\n"):
                if name:
                    last = dates.get(name, (when, when))[1]
                    dates[name] = (when, last)
        return dates


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
    output = repo.run("status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--", *paths)
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
