"""The content repository's remote: pushing admin commits and pulling on a webhook.

A rejected push is rebased once onto the remote and pushed again; if that
fails too, the admin's commit is taken back off the branch (`reset --keep`,
which never touches other uncommitted work) and the write answers 409.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac

from cms.errors import Conflict
from cms.repo.repository import GitError, GitRepo


def upstream(repo: GitRepo) -> tuple[str, str] | None:
    """(remote, branch) the current branch pushes to, or None when there is no remote."""
    remotes, branch = repo.remotes(), repo.branch()
    if not remotes or branch is None:
        return None
    return repo.tracking() or (remotes[0], branch)


def push(repo: GitRepo, commit: str) -> None:
    """Push HEAD (`commit`); on rejection rebase once and retry; else undo the commit and raise Conflict."""
    target = upstream(repo)
    if target is None:
        return
    remote, branch = target
    try:
        _push(repo, remote, branch)
        return
    except GitError:
        pass
    parent = f"{commit}^"
    try:
        repo.run("pull", "--rebase", "--quiet", remote, branch)
        _push(repo, remote, branch)
    except GitError as error:
        _abort_rebase(repo)
        repo.run("reset", "--quiet", "--keep", parent)
        raise Conflict(f"the remote rejected the push and a rebase did not resolve it: {error.detail}",
                       reason="push-rejected") from None


def _push(repo: GitRepo, remote: str, branch: str) -> None:
    repo.run("push", "--quiet", "--porcelain", remote, f"HEAD:refs/heads/{branch}")


def _abort_rebase(repo: GitRepo) -> None:
    """Leave no rebase half-done (when none was in progress this does nothing)."""
    with contextlib.suppress(GitError):
        repo.run("rebase", "--abort")


def pull(repo: GitRepo) -> str | None:
    """Fast-forward the current branch from its remote; the new HEAD."""
    target = upstream(repo)
    if target is None:
        raise Conflict("the content repository has no remote to pull from", reason="no-remote")
    try:
        repo.run("pull", "--ff-only", "--quiet", *target)
    except GitError as error:
        raise Conflict(f"cannot fast-forward from the remote: {error.detail}", reason="pull-failed") from None
    return repo.head()


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `X-Hub-Signature-256: sha256=<hex>` is the HMAC-SHA256 of `body` under `secret`."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    given = header.removeprefix("sha256=").encode("utf-8", "surrogateescape")  # bytes: any header compares
    return hmac.compare_digest(expected.encode(), given)


def push_branch(repo: GitRepo, branch: str) -> str | None:
    """Push the local `branch` to the remote under the same name, never forced; the remote's name, or None
    when there is no remote. A refusal (the branch exists there already, say) raises Conflict."""
    target = upstream(repo)
    remotes = repo.remotes()
    name = target[0] if target is not None else (remotes[0] if remotes else None)
    if name is None:
        return None
    try:
        repo.run("push", "--quiet", "--porcelain", name, f"refs/heads/{branch}:refs/heads/{branch}")
    except GitError as error:
        raise Conflict(f"the remote {name!r} refused the branch {branch}: {error.detail}",
                       reason="push-rejected") from None
    return name
