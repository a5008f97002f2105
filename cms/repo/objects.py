"""One commit's content read from git's objects, never from the working tree or the checkout.

`resolve` turns a branch name or commit id into a commit (refusing anything that is not a plain ref
name, so it can never reach git as an option). `CommitSource` answers what the indexer asks
(`cms.index.build.BlobSource`) for that commit: blob ids from `git ls-tree -r`, dates from `git log`
at the commit, and file bytes from one long-lived `git cat-file --batch`.
"""

from __future__ import annotations

import os
import re
import subprocess
from types import TracebackType
from typing import IO

from cms.repo.repository import _PATHS_PER_CALL, _SYMLINK, C_LOCALE, GLOBAL_OPTIONS, Blobs, GitError, GitRepo
from cms.repo.repository import _commits as commits_of_log
from cms.repo.repository import _records as records_of_listing

MAX_REF_LENGTH = 255
_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.|\.lock(?:/|$)|^[-./@]|[./]$")
"""What `git check-ref-format` refuses, and a leading `-` (an option) or `@`: never passed to git."""


def valid_ref(ref: str) -> bool:
    """Whether `ref` may name a branch, tag or commit: a plain ref name, never an option or a revision expression."""
    return 0 < len(ref) <= MAX_REF_LENGTH and ref.isascii() and _BAD_REF.search(ref) is None


def resolve(repo: GitRepo, ref: str) -> str | None:
    """The commit `ref` names (a branch, tag or commit id), or None when it names none here or is not a ref name."""
    if not valid_ref(ref):
        return None
    try:
        answer = repo.run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}").strip()
    except GitError:
        return None
    return answer or None


class CommitSource:
    """The content of one commit, as the indexer reads it: every file is read from git (`held`).

    Use it as a context manager: it keeps one `git cat-file --batch` process until closed.
    """

    def __init__(self, repo: GitRepo, commit: str) -> None:
        self.repo = repo
        self.commit = commit
        self._batch: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> CommitSource:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def head(self) -> str | None:
        return self.commit

    def blobs(self, prefix: str) -> Blobs:
        """Repository-relative path → blob id of every regular file under `prefix` in the commit."""
        output = self.repo.run("--literal-pathspecs", "ls-tree", "-r", "-z", "--full-tree", self.commit, "--",
                               prefix or ".")
        ids = {path: blob for (mode, kind, blob), path in records_of_listing(output)
               if kind == "blob" and mode != _SYMLINK}
        return Blobs(ids=ids, held=frozenset(ids))

    def history(self, prefix: str, paths: list[str] | None = None) -> dict[str, tuple[str, str]]:
        """Path → (first, last) commit dates as of the commit, in one pass over its log."""
        if paths == []:
            return {}
        if paths is None:
            return self._dates(prefix or ".")
        dates: dict[str, tuple[str, str]] = {}
        for start in range(0, len(paths), _PATHS_PER_CALL):
            dates.update(self._dates(*paths[start:start + _PATHS_PER_CALL], literal=True))
        return dates

    def _dates(self, *pathspec: str, literal: bool = False) -> dict[str, tuple[str, str]]:
        options = ["--literal-pathspecs"] if literal else []
        output = self.repo.run(*options, "log", "-z", "--format=/%aI", "--name-only", "--no-renames", self.commit,
                               "--", *pathspec)
        dates: dict[str, tuple[str, str]] = {}
        for when, names in commits_of_log(output):
            for name in names:
                dates[name] = (when, dates.get(name, (when, when))[1])
        return dates

    def touched_since(self, base: str, prefix: str) -> list[str] | None:
        """Paths under `prefix` touched by a commit that only one of `base` and this commit has (their history
        differs there and nowhere else); None when `base` is unknown here."""
        try:
            output = self.repo.run("log", "-z", "--format=", "--name-only", "--no-renames",
                                   f"{base}...{self.commit}", "--", prefix or ".")
        except GitError:
            return None
        return sorted({name.strip("\n") for name in output.split("\0") if name.strip("\n")})

    def read_blob(self, blob: str) -> bytes:
        """A blob's bytes through the batch process (started on first use)."""
        process = self._process()
        stdin, stdout = _pipes(process)
        stdin.write(blob.encode("ascii") + b"\n")
        stdin.flush()
        header = stdout.readline().split()
        if len(header) != 3 or header[1] != b"blob":
            raise GitError(("git", "cat-file", "--batch"), 1, f"{blob}: not a blob in this repository")
        data = stdout.read(int(header[2]))
        stdout.read(1)  # the newline after each object
        return data

    def close(self) -> None:
        if self._batch is not None:
            stdin, _ = _pipes(self._batch)
            stdin.close()
            self._batch.wait(timeout=10)
            _pipes(self._batch)[1].close()
            self._batch = None

    def _process(self) -> subprocess.Popen[bytes]:
        if self._batch is None:
            self._batch = subprocess.Popen(("git", *GLOBAL_OPTIONS, "cat-file", "--batch"), cwd=self.repo.root,
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                           env={**os.environ, **C_LOCALE})
        return self._batch


def _pipes(process: subprocess.Popen[bytes]) -> tuple[IO[bytes], IO[bytes]]:
    assert process.stdin is not None and process.stdout is not None, "started with both pipes"
    return process.stdin, process.stdout
