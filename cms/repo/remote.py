"""The content repository's remote: catching up before a write, pushing admin commits, pulling on a webhook.

Several servers, each with a clone of one remote, take turns at writing
(`cms.write.journal.exclusive`): the one whose turn it is first catches
its clone up with the remote (`catch_up`: fetch, then fast-forward only),
so an `If-Match` is checked against the remote's head, not an old clone.
The fetch is bounded: git gives up on a stalled HTTP transfer
(`FETCH_BOUNDS`) and never asks for a password.

A rejected push is rebased once onto the remote and pushed again; if that
fails too, the admin's commit is taken back off the branch (`reset --keep`,
which never touches other uncommitted work) and the write answers 409.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac

from cms.errors import Conflict, UpstreamError
from cms.repo.repository import GitError, GitRepo


def upstream(repo: GitRepo) -> tuple[str, str] | None:
    """(remote, branch) the current branch pushes to, or None when there is no remote."""
    remotes, branch = repo.remotes(), repo.branch()
    if not remotes or branch is None:
        return None
    return repo.tracking() or (remotes[0], branch)


FETCH_BOUNDS = {"GIT_TERMINAL_PROMPT": "0", "GIT_HTTP_LOW_SPEED_LIMIT": "1000", "GIT_HTTP_LOW_SPEED_TIME": "10"}
"""git's own limits on a fetch over HTTP: no password prompt, and under 1 kB/s for 10 s it stops. Over SSH the
bounds are ssh's (`ConnectTimeout`, `ServerAliveInterval` in GIT_SSH_COMMAND, as docker-compose.yml sets them),
which this leaves alone, as it leaves the key and host checks."""


def catch_up(repo: GitRepo, target: tuple[str, str] | None = None) -> str | None:
    """Fetch the upstream branch (`target`, as `upstream` finds it unless given) and fast-forward to it; the
    new HEAD (unchanged without a remote).

    502 when the remote cannot be reached; 409 when the clone cannot fast-forward (it has commits the
    remote lacks, or uncommitted files in the way): nothing is changed then, and nothing lost.
    """
    target = target or upstream(repo)
    if target is None:
        return repo.head()
    remote, branch = target
    try:
        repo.run("fetch", "--quiet", "--no-tags", remote, f"refs/heads/{branch}", env=FETCH_BOUNDS)
    except GitError as error:
        raise UpstreamError(f"cannot fetch {branch} from the remote {remote!r} to catch up before writing; "
                            f"nothing was written: {error.detail}", reason="remote-unreachable") from None
    try:
        repo.run("merge", "--ff-only", "--quiet", "FETCH_HEAD")
    except GitError as error:
        raise Conflict(f"this clone cannot fast-forward to {remote}/{branch} (it has commits the remote lacks, "
                       f"or uncommitted files in the way); nothing was written: {error.detail}",
                       reason="clone-diverged") from None
    return repo.head()


def push(repo: GitRepo, commit: str) -> None:
    """Push HEAD (`commit`); on rejection rebase once and retry; else undo the commit and raise Conflict."""
    target = _push_target(repo)
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


def _push_target(repo: GitRepo) -> tuple[str, str] | None:
    """`upstream`, except that a git command that fails (killed, say) raises instead of reading as "no
    branch": a commit must never be left unpushed in silence."""
    remotes = repo.remotes()
    if not remotes:
        return None
    try:
        branch = repo.run("symbolic-ref", "--quiet", "--short", "HEAD").strip()
    except GitError as error:
        if error.status == 1:  # HEAD is detached: there is no branch to push
            return None
        raise
    return repo.tracking() or (remotes[0], branch)


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
