"""Commits the write path makes: exactly the given paths, as a given person, or put back as HEAD has them."""

from __future__ import annotations

import msgspec

from cms.errors import ConfigError, Conflict
from cms.repo.repository import GitError, GitRepo


class Identity(msgspec.Struct, frozen=True):
    """Who a commit is by."""

    name: str
    email: str

    def env(self) -> dict[str, str]:
        """The environment that makes git record this person as author and committer."""
        return {"GIT_AUTHOR_NAME": self.name, "GIT_AUTHOR_EMAIL": self.email,
                "GIT_COMMITTER_NAME": self.name, "GIT_COMMITTER_EMAIL": self.email}


def blob_at_head(repo: GitRepo, path: str) -> str | None:
    """The blob id of `path` in the HEAD commit, or None if it is not there."""
    if repo.head() is None:
        return None
    try:
        return repo.run("rev-parse", "--verify", "--quiet", f"HEAD:{path}").strip() or None
    except GitError:
        return None


def dirty_paths(repo: GitRepo, paths: list[str]) -> list[str]:
    """Those of `paths` (repository-relative) with uncommitted changes, staged or not, or untracked."""
    return repo.dirty(*paths) if paths else []


def commit_paths(repo: GitRepo, paths: list[str], message: str, author: Identity) -> str:
    """Commit exactly `paths` (added, changed or deleted) as `author`; other staged work is left alone."""
    try:
        repo.run("add", "--all", "--", *paths)
        repo.run("commit", "--quiet", "--no-edit", f"--message={message}", "--", *paths, env=author.env())
    except GitError as error:
        raise Conflict(f"git refused the commit: {error.detail}", reason="commit-refused") from None
    return repo.head() or ""


def restore_paths(repo: GitRepo, paths: list[str]) -> None:
    """Put `paths` back as they are in HEAD (deleting those HEAD does not have) and unstage them."""
    tracked = [p for p in paths if blob_at_head(repo, p) is not None]
    if repo.head() is not None:
        repo.run("reset", "--quiet", "--", *paths)
    if tracked:
        repo.run("checkout", "HEAD", "--", *tracked)
    for path in set(paths) - set(tracked):
        (repo.root / path).unlink(missing_ok=True)


def configured_identity(repo: GitRepo) -> Identity:
    """Who commits from the command line: git's own `user.name` and `user.email`."""
    try:
        name = repo.run("config", "--get", "user.name").strip()
        email = repo.run("config", "--get", "user.email").strip()
    except GitError:
        name = email = ""
    if not (name and email):
        raise ConfigError("git has no user.name and user.email here; set them (`git config user.name ...`, "
                          "`git config user.email ...`) so the commit says who made it")
    return Identity(name=name, email=email)
