"""The content repository as git sees it: the one seam every git command goes through.

`GitRepo.run` (text), `GitRepo.run_bytes` (bytes) and `GitRepo.run_all` (several at once) are the only ways
Coursebase calls git: with the same global options every time
(`--no-optional-locks`, so a read such as `git status` never takes
`.git/index.lock` and collides with a write's commit; `core.quotePath=false`),
an environment and standard input when a command needs them, and one
error, `GitError`. The indexer's questions are answered here with plumbing
commands that answer for the whole tree in one call.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import msgspec

from cms.errors import ConfigError

GLOBAL_OPTIONS = ("--no-optional-locks", "-c", "core.quotePath=false")
C_LOCALE = {"LANGUAGE": "C", "LC_ALL": "C"}
"""git's messages in English, as they are quoted in our errors."""
_SYMLINK = "120000"
_CONFLICT = re.compile(rb"^<{7}(?: |$).*^>{7}(?: |$)", re.MULTILINE | re.DOTALL)
"""Conflict markers git leaves in a file: a `<<<<<<<` line, later a `>>>>>>>` line."""
_LS_FILES = ("--literal-pathspecs", "ls-files", "--stage", "-z", "--")
_STATUS = ("--literal-pathspecs", "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--")
_PATHS_PER_CALL = 500
"""Paths per git call, well under any command-line length limit."""
_BUSY_MARKERS = {"MERGE_HEAD": "merge-in-progress", "rebase-merge": "rebase-in-progress",
                 "rebase-apply": "rebase-in-progress", "CHERRY_PICK_HEAD": "cherry-pick-in-progress",
                 "REVERT_HEAD": "revert-in-progress"}


class GitError(Exception):
    """A git command that exited with an error."""

    def __init__(self, command: tuple[str, ...], status: int, stderr: str) -> None:
        self.command = command
        self.status = status
        self.stderr = stderr
        super().__init__(self.detail)

    @property
    def detail(self) -> str:
        """What git said on stderr, or its exit code when it said nothing."""
        return self.stderr.strip() or f"exit code {self.status}"


class GitRepo:
    """A git working tree."""

    def __init__(self, root: Path, git_dir: Path) -> None:
        self.root = root
        self.git_dir = git_dir

    @classmethod
    def open(cls, path: Path) -> GitRepo:
        """The working tree `path` is in (or is), found the way git finds it."""
        where = path if path.is_dir() else path.parent
        try:
            found = subprocess.run(["git", "rev-parse", "--show-toplevel", "--absolute-git-dir"], cwd=where,
                                   capture_output=True, check=False, env={**os.environ, **C_LOCALE})
        except OSError:
            found = None
        lines = found.stdout.decode("utf-8", "surrogateescape").splitlines() if found and not found.returncode else []
        if len(lines) != 2:
            raise ConfigError(f"{path} is not inside a git repository (run `git init` there first)")
        return cls(Path(lines[0]).resolve(), Path(lines[1]))

    def run(self, *args: str, env: Mapping[str, str] | None = None, input: bytes | None = None) -> str:
        """git's output as text (undecodable bytes kept as surrogates, so any file name round-trips)."""
        return self.run_bytes(*args, env=env, input=input).decode("utf-8", "surrogateescape")

    def run_bytes(self, *args: str, env: Mapping[str, str] | None = None, input: bytes | None = None) -> bytes:
        """Run `git <args>` in the working tree: its output as it wrote it, or `GitError`.

        `env` is added to this process's environment (a temporary index, a commit's author);
        `input` goes to git's standard input.
        """
        command = ("git", *GLOBAL_OPTIONS, *args)
        result = subprocess.run(command, cwd=self.root, input=input, capture_output=True, check=False,
                                env={**os.environ, **C_LOCALE, **(env or {})})
        if result.returncode != 0:
            raise GitError(command, result.returncode, result.stderr.decode("utf-8", "replace"))
        return result.stdout

    def run_all(self, *commands: tuple[str, ...]) -> list[str]:
        """Several git commands that only read, run side by side: each one's output as text, or `GitError`."""
        environment = {**os.environ, **C_LOCALE}
        started = [(command, subprocess.Popen(command, cwd=self.root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, env=environment))
                   for command in (("git", *GLOBAL_OPTIONS, *args) for args in commands)]
        outputs = []
        for command, process in started:
            out, err = process.communicate()
            if process.returncode != 0:
                raise GitError(command, process.returncode, err.decode("utf-8", "replace"))
            outputs.append(out.decode("utf-8", "surrogateescape"))
        return outputs

    def head(self) -> str | None:
        """The commit HEAD points at, or None in a repository with no commits yet."""
        return self._answer("rev-parse", "--quiet", "--verify", "HEAD^{commit}")

    def branch(self) -> str | None:
        """The checked-out branch, or None when HEAD is detached."""
        return self._answer("symbolic-ref", "--quiet", "--short", "HEAD")

    def remotes(self) -> list[str]:
        """The names of the configured remotes, in git's order."""
        return self.run("remote").split()

    def tracking(self) -> tuple[str, str] | None:
        """(remote, branch) the checked-out branch tracks, if it tracks one."""
        branch = self.branch()
        if branch is None:
            return None
        upstream = self.run("for-each-ref", "--format=%(upstream:remotename)%00%(upstream:remoteref)",
                            f"refs/heads/{branch}").strip()
        remote, _, ref = upstream.partition("\0")
        return (remote, ref.removeprefix("refs/heads/")) if remote and ref else None

    def _answer(self, *args: str) -> str | None:
        """git's one-line answer, or None when it has none (exits non-zero)."""
        try:
            return self.run(*args).strip() or None
        except GitError:
            return None

    def commits_between(self, old: str, new: str) -> int | None:
        """How many commits `new` has that `old` lacks; None if `old` is unknown here."""
        try:
            return int(self.run("rev-list", "--count", f"{old}..{new}").strip())
        except GitError:
            return None

    def busy_reason(self) -> str | None:
        """Why the repository cannot take a commit now (a merge or rebase in progress), or None."""
        return next((reason for marker, reason in _BUSY_MARKERS.items() if (self.git_dir / marker).exists()), None)

    def dirty(self, *pathspec: str) -> list[str]:
        """Paths under `pathspec` with uncommitted changes, staged or not, or untracked (`status --porcelain`)."""
        return _changed(self.run(*_STATUS, *pathspec))

    def blobs(self, prefix: str) -> Blobs:
        """Repository-relative path → git blob id of every file under `prefix` as it is on disk now.

        Tracked, unmodified files answer from git's index; modified and
        untracked ones are hashed; deleted files and symlinks are left out.
        While a merge, rebase, cherry-pick or revert is stopped on conflicts,
        a conflicted file (unmerged in git's index, or holding conflict
        markers) answers with its HEAD version, or not at all if HEAD lacks it.
        """
        listing, status = self.run_all((*_LS_FILES, prefix or "."), (*_STATUS, prefix or "."))
        blobs, unmerged = _tracked(listing)
        dirty = _changed(status)
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

    def _with_markers(self, paths: list[str]) -> set[str]:
        """Those of `paths` holding conflict markers, looked for only while git is stopped mid-merge or rebase."""
        if self.busy_reason() is None:
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


def _tracked(listing: str) -> tuple[dict[str, str], set[str]]:
    """From `ls-files --stage -z`: stage-0 blob ids of regular files, and the paths held unmerged (stages 1-3)."""
    blobs: dict[str, str] = {}
    unmerged: set[str] = set()
    for (mode, blob, stage), path in _records(listing):
        if stage != "0":
            unmerged.add(path)
        elif mode != _SYMLINK:
            blobs[path] = blob
    return blobs, unmerged


def _changed(status: str) -> list[str]:
    """The paths in `status --porcelain=v1 -z`."""
    return [record[3:] for record in status.split("\0") if len(record) > 3]


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
