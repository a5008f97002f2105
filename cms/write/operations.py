"""Admin operations on entries, each one commit through `cms.write.commit`; and the webhook's pull.

The API's write handlers call these and nothing else. Each returns what
was written: the entry's path, its new version (git blob id) and the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from cms.content.corpus import ContentTree
from cms.content.sources import Kind, Source, classify
from cms.database import PostgresUrl
from cms.errors import ContentError, TooLarge
from cms.index.build import index_location, update
from cms.problems import Problem, sort_key
from cms.repo import remote
from cms.repo.commits import Identity
from cms.repo.repository import GitRepo
from cms.settings import Settings
from cms.write import changes, journal
from cms.write.commit import Change, Plan, Versions, apply, write_lock

MAX_BULK = 100


class Written(msgspec.Struct):
    """The outcome of a write: which file, its new version (None once deleted), the commit."""

    path: str
    slug: str
    version: str | None
    commit: str


class Workspace(msgspec.Struct, frozen=True):
    """Where writes go: the content tree and the index that follows it.

    `max_markdown_bytes` caps the markdown `body` of a create or replace (CMS_MAX_MARKDOWN_MB; None: no cap);
    a Postgres `state_url` (CMS_STATE_URL) makes the write lock hold across servers.
    """

    tree: ContentTree
    db_path: Any
    """The index: a `Path` (SQLite) or a `PostgresUrl` (msgspec, which Litestar checks services with, takes no
    union of two classes)."""
    push: bool = False
    max_markdown_bytes: int | None = None
    state_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, db_path: Path | PostgresUrl | None = None) -> Workspace:
        """CMS_CONTENT_DIR and its index (CMS_DATABASE_URL, unless `db_path` is given), with CMS_GIT_PUSH and
        CMS_MAX_MARKDOWN_MB."""
        tree = ContentTree.locate(settings.content_dir)
        return cls(tree=tree, db_path=db_path or index_location(tree, settings.database_url), push=settings.git_push,
                   max_markdown_bytes=settings.max_markdown_bytes, state_url=settings.state_url)


def commit(space: Workspace, changes: list[Change] | Plan, message: str | Callable[[list[Change]], str],
           author: Identity, before_write: Callable[[], None] | None = None) -> list[Written]:
    """Commit `changes` (planned under the write lock, so concurrent requests see each other's results):
    what was written, in the order of the changes. See `cms.write.commit.apply`."""
    result = apply(space.tree, space.db_path, changes, message, author, push=space.push, before_write=before_write,
                   state_url=space.state_url)
    return [Written(path=path, slug=_slug(path), version=version, commit=result.commit)
            for path, version in result.versions.items()]


def _slug(path: str) -> str:
    source = classify(path)
    return source.slug if isinstance(source, Source) else path


def _name(kind: Kind, ids: tuple[str, ...]) -> str:
    return f"{kind.value} {'/'.join(ids)}"


def _check_size(space: Workspace, payloads: list[Any]) -> None:
    """413 for a markdown body over the cap, before anything is parsed or the write lock taken."""
    limit = space.max_markdown_bytes
    if limit is None:
        return
    for payload in payloads:
        body = payload.get("body") if isinstance(payload, dict) else None
        size = len(body.encode()) if isinstance(body, str) else 0
        if size > limit:
            message = f"the markdown body is {size:,} bytes; a write may carry at most {limit:,} (CMS_MAX_MARKDOWN_MB)"
            raise TooLarge(message, [Problem(file="(request)", rule="too-large", field="body", message=message)])


def _refuse_broken(space: Workspace, planned: list[Change]) -> None:
    """New files with errors of their own can never validate: 422 at once, before the write lock or any git
    command (what depends on the rest of the tree is still checked under the lock)."""
    problems = []
    for change in planned:
        source = classify(change.path)
        if isinstance(source, Source) and change.text is not None:
            problems += [p for p in space.tree.parse(source, change.text.encode()).problems if p.is_error]
    if problems:
        problems.sort(key=sort_key)
        raise ContentError(f"the change does not validate ({len(problems)} problem{'s' * (len(problems) != 1)})",
                           problems)


def create(space: Workspace, kind: Kind, parents: tuple[str, ...], payload: Any, author: Identity) -> Written:
    _check_size(space, [payload])
    _refuse_broken(space, [changes.create(space.tree, kind, parents, payload)])
    return commit(space, lambda: [changes.create(space.tree, kind, parents, payload)],
                   lambda planned: f"Create {_name(kind, (*parents, _slug(planned[0].path)))}", author)[0]


def create_many(space: Workspace, kind: Kind, parents: tuple[str, ...], payloads: Any,
                author: Identity) -> list[Written]:
    """Several new entries in one commit."""
    if not isinstance(payloads, list) or not 1 <= len(payloads) <= MAX_BULK:
        problem = Problem(file="(request)", rule="request", field="(body)",
                          message=f"a bulk request is a JSON list of 1 to {MAX_BULK} entries")
        raise ContentError(problem.message, [problem])
    _check_size(space, payloads)
    _refuse_broken(space, _placed(space, kind, parents, payloads))
    return commit(space, lambda: _placed(space, kind, parents, payloads), f"Create {len(payloads)} {kind.value}s",
                   author)


def _placed(space: Workspace, kind: Kind, parents: tuple[str, ...], payloads: list[Any]) -> list[Change]:
    """Bulk entries without an order go last, one after another."""
    placed: list[Change] = []
    for payload in payloads:
        placed.append(changes.create(space.tree, kind, parents, payload, pending=placed))
    return placed


def replace(space: Workspace, kind: Kind, ids: tuple[str, ...], payload: Any, expected: Versions | None,
            author: Identity, served: changes.Served | None = None) -> Written:
    """PUT: the entry rewritten from `payload`; `served` gives the entry as read, so a read sent back with
    changes is taken (see `changes.replace`)."""
    _check_size(space, [payload])
    return commit(space, lambda: [changes.replace(space.tree, kind, ids, payload, expected, served)],
                   f"Update {_name(kind, ids)}", author)[0]


def refresh(space: Workspace) -> None:
    """Bring the index up to date with the repository (under the write lock, before reading what is served)."""
    update(space.tree, space.db_path)


def publish(space: Workspace, kind: Kind, ids: tuple[str, ...], published: bool, expected: Versions | None,
            author: Identity) -> Written:
    verb = "Publish" if published else "Unpublish"
    return commit(space, lambda: [changes.publish(space.tree, kind, ids, published, expected)],
                   f"{verb} {_name(kind, ids)}", author)[0]


def delete(space: Workspace, kind: Kind, ids: tuple[str, ...], expected: Versions | None,
           author: Identity) -> Written:
    return commit(space, lambda: changes.delete(space.tree, kind, ids, expected), f"Delete {_name(kind, ids)}",
                   author)[0]


def add_video(space: Workspace, course: str, lesson: str, snippet: Any, expected: Versions | None,
              author: Identity) -> Written:
    return commit(space, lambda: [changes.add_video(space.tree, course, lesson, snippet, expected)],
                   f"Add a video to lesson {course}/{lesson}", author)[0]


def change_video(space: Workspace, course: str, lesson: str, index: int, snippet: Any | None,
                 expected: Versions | None, author: Identity) -> Written:
    verb = "Remove" if snippet is None else "Update"
    return commit(space, lambda: [changes.replace_video(space.tree, course, lesson, index, snippet, expected)],
                   f"{verb} video {index} of lesson {course}/{lesson}", author)[0]


class Pulled(msgspec.Struct):
    """What a pull brought: the new HEAD and how many files the index read again."""

    commit: str | None
    files_read: int


def pull(space: Workspace) -> Pulled:
    """Fast-forward from the remote and re-index (the push webhook), under the write lock.

    An interrupted write is undone first, before HEAD moves: afterwards it could never be undone.
    """
    repo = GitRepo.open(space.tree.content_dir)
    with write_lock(repo, space.state_url):
        journal.recover(repo, locked=True)
        commit = remote.pull(repo)
        report = update(space.tree, space.db_path)
    return Pulled(commit=commit, files_read=report.read)
