"""Branches made beside the checkout: one commit on top of a base, never touching HEAD, git's index or the files.

The commit is made with plumbing (`hash-object`, a temporary index,
`write-tree`, `commit-tree`), and the branch is created with `update-ref`
only if it does not exist yet, so two writers can never share a branch.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from cms.repo.commits import Identity
from cms.repo.repository import GitRepo

_REGULAR_MODES = ("100644", "100755")


def exists(repo: GitRepo, branch: str) -> bool:
    return f"refs/heads/{branch}" in repo.run("for-each-ref", "--format=%(refname)", f"refs/heads/{branch}")


def commit_file(repo: GitRepo, base: str, path: str, text: str, message: str, author: Identity) -> str:
    """A commit on top of `base` with `text` at `path` (repository-relative), on no branch yet."""
    blob = repo.run("hash-object", "-w", "--stdin", input=text.encode()).strip()
    listed = repo.run("ls-tree", base, "--", path).split(" ", 1)[0]
    mode = listed if listed in _REGULAR_MODES else "100644"
    with tempfile.TemporaryDirectory(prefix="cms-draft-") as folder:
        index = {"GIT_INDEX_FILE": str(Path(folder) / "index")}
        repo.run("read-tree", base, env=index)
        repo.run("update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}", env=index)
        tree = repo.run("write-tree", env=index).strip()
    return repo.run("commit-tree", tree, "-p", base, "-F", "-", input=message.encode(), env=author.env()).strip()


def create(repo: GitRepo, branch: str, commit: str, reason: str) -> None:
    """Point the new `branch` at `commit`; `GitError` if the branch exists already (or git refuses)."""
    repo.run("update-ref", "-m", reason, f"refs/heads/{branch}", commit, "0" * len(commit))


def delete(repo: GitRepo, branch: str, commit: str) -> None:
    """Remove `branch`, if it still points at `commit`."""
    repo.run("update-ref", "-d", f"refs/heads/{branch}", commit)
