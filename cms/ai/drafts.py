"""The AI step, end to end: Gemini drafts a lesson, and the draft waits on its own branch for a person.

    request → where the lesson goes (HEAD) → prompt (from the index) → Gemini → answer checked
            → lesson file (status: draft, `ai` provenance) → validated → one commit on drafts/<course>/<lesson>
            → pushed (with CMS_GIT_PUSH and a remote)

The commit is made beside the checkout (`cms.repo.branches`), so the
checked-out branch, HEAD, git's index and the working tree stay exactly as
they were. Nothing is published or merged here: an author reviews the
branch, sets `status: published` and merges it. Any failure, an unusable
answer included, leaves no file, no branch and no commit behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import msgspec

from cms.ai.answer import lesson_text, prompt_sha256, usable_body
from cms.ai.client import Generate, gemini
from cms.ai.prompt import build_prompt, outline
from cms.ai.target import DraftRequest, Target, check_request, locate
from cms.errors import Conflict, ContentError
from cms.index.build import update
from cms.repo import branches, remote
from cms.repo.commits import Identity, configured_identity
from cms.repo.repository import GitError, GitRepo
from cms.settings import Settings
from cms.write.commit import Change, new_errors
from cms.write.operations import Workspace


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    """What the AI step made: the branch, the lesson file on it (repository-relative) and the commit, and how
    (the model and the prompt's SHA-256); then, once handed off (`cms.ai.handoff`), where to review it."""

    branch: str
    path: str
    commit: str
    course: str
    lesson: str
    title: str
    base: str
    pushed: bool
    model: str
    prompt_sha256: str
    preview_url: str | None = None
    pull_request_url: str | None = None


def draft(space: Workspace, request: DraftRequest, author: Identity, generate: Generate,
          charge: Callable[[], None] | None = None) -> Draft:
    """Ask `generate` for a lesson and commit it, as a draft, on a new branch `drafts/<course>/<lesson>`.

    `charge` runs once the request is known to be good, just before Gemini is asked (a quota, say);
    if it raises, nothing is asked and nothing is written.
    """
    check_request(request)
    repo = GitRepo.open(space.tree.content_dir)
    base = _base(repo)
    update(space.tree, space.db_path)
    target = locate(repo, space.tree, request)
    branch = f"drafts/{target.course}/{target.slug}"
    if branches.exists(repo, branch):
        raise _draft_exists(branch)
    prompt = build_prompt(outline(space.db_path, target.course), target, request.brief)
    if charge is not None:
        charge()
    text = lesson_text(target, usable_body(generate(prompt)), generate.model, prompt)
    _validate(space, target.path, text)
    path = space.tree.label(target.path)
    commit = branches.commit_file(repo, base, path, text, _message(target, generate.model), author)
    _create_branch(repo, branch, commit)
    pushed = space.push and _push(repo, branch, commit)
    return Draft(branch=branch, path=path, commit=commit, course=target.course, lesson=target.slug,
                 title=target.title, base=base, pushed=pushed, model=generate.model,
                 prompt_sha256=prompt_sha256(prompt))


def draft_as_git_user(settings: Settings, space: Workspace, request: DraftRequest) -> Draft:
    """The command line's draft: Gemini from the settings, committed as git's configured user."""
    author = configured_identity(GitRepo.open(space.tree.content_dir))
    return draft(space, request, author, gemini(settings))


def _base(repo: GitRepo) -> str:
    head = repo.head()
    if head is None:
        raise Conflict("the content repository has no commits yet: commit the content first", reason="no-commits")
    return head


def _validate(space: Workspace, path: str, text: str) -> None:
    """Like the write path: the lesson must parse and add no error to the tree the index knows."""
    new = new_errors(space.tree, space.db_path, [Change(path=path, text=text)])
    if new:
        shown = "; ".join(f"{problem.location()}: {problem.describe()}" for problem in new[:3])
        raise ContentError(f"the drafted lesson does not validate, so nothing was written: {shown}", new)


def _draft_exists(branch: str) -> Conflict:
    return Conflict(f"the branch {branch} already exists: review and merge or delete it first "
                    f"(git branch -D {branch}), or draft under another title", reason="draft-exists")


def _create_branch(repo: GitRepo, branch: str, commit: str) -> None:
    """The new branch at `commit`; 409 if it exists by now (another draft was quicker) or git refuses."""
    try:
        branches.create(repo, branch, commit, reason="cms ai draft")
    except GitError as error:
        if branches.exists(repo, branch):
            raise _draft_exists(branch) from None
        raise Conflict(f"git refused to create the branch {branch}: {error.detail}", reason="branch-refused") from None


def _message(target: Target, model: str) -> str:
    verb = "Regenerate" if target.existing else "Draft"
    return (f"{verb} lesson {target.course}/{target.slug} with {model}\n\n"
            "Written by `cms ai draft` as a draft for review: nothing is published until an author\n"
            "sets `status: published` and merges this branch.\n")


def _push(repo: GitRepo, branch: str, commit: str) -> bool:
    """Push the new branch; if the remote refuses, the local branch goes too (no half-made draft)."""
    try:
        return remote.push_branch(repo, branch) is not None
    except Conflict:
        with contextlib.suppress(GitError):
            branches.delete(repo, branch, commit)
        raise
