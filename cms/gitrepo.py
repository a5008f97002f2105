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

from cms.errors import ConfigError

_RECORD = "\x1e"


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

    def history(self, prefix: str) -> dict[str, tuple[str, str]]:
        """Path → (first, last) commit dates of every file under `prefix`, in one pass over the log."""
        dates: dict[str, tuple[str, str]] = {}
        if self.head() is None:
            return dates
        output = self.run("log", f"--format={_RECORD}%aI", "--name-only", "--no-renames", "--", prefix or ".")
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
