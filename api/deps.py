"""What handlers are given: the services the lifespan opened (typed), the index to read, and the write helpers.

Dependencies are injected by name. `Services` is everything a worker opens
once at start-up; handlers reach it through the `services` dependency (and
middleware through `services_of`), never by guessing at `app.state`.
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple

from anyio import to_thread
from litestar import Litestar, Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import Parameter

from cms.accounts import STAFF, Accounts, User
from cms.delivery import Delivery
from cms.errors import Forbidden, NotAuthenticated, PreconditionRequired
from cms.media import MediaSetup
from cms.read import LiveIndex
from cms.repo import GitRepo, Identity
from cms.repo.objects import MAX_REF_LENGTH
from cms.review import links
from cms.review.previews import Previews
from cms.settings import Settings
from cms.write import Versions, Workspace

API_PREFIX = "/api/v1"
"""The base path of every route."""
SERVICES = "services"
"""The `app.state` key the lifespan keeps `Services` under."""
EDITORS = tuple(sorted(STAFF))
"""Who may write content and media: ADMIN and MODERATOR."""


@dataclass(frozen=True)
class Services:
    """What the lifespan opens in each worker: the index is built before the workers start."""

    settings: Settings
    repo: GitRepo
    index: LiveIndex
    workspace: Workspace
    media: MediaSetup
    accounts: Accounts | None
    """The admin API's state; None without CMS_SECRET_KEY (the admin routes answer 503)."""
    delivery: Delivery | None = None
    """The change log, sync and webhooks; None when the state database is not in use (their routes answer 503)."""

    @functools.cached_property
    def previews(self) -> Previews:
        """The indexes of other branches and commits (`?ref=`), opened on first use: SQLite files on this server,
        on either backend of the main index (`cms.review.previews`)."""
        return Previews(self.workspace.tree, self.workspace.db_path, self.settings.preview_cache)


Opened = NamedDependency[Services]
"""A handler parameter `services: Opened` is given the app's `Services`."""


def services_of(app: Litestar) -> Services | None:
    """The app's services, once the lifespan has opened them."""
    return app.state.get(SERVICES)


def provide_services(state: State) -> Services:
    return state[SERVICES]


def provide_index(state: State) -> sqlite3.Connection:
    """The read-only index connection opened by the lifespan."""
    return provide_services(state).index.conn


class View(NamedTuple):
    """What a read handler reads from, and whether the caller may see hidden entries (admin readers).

    One dependency rather than two: Litestar resolves sibling dependencies
    in a task group, which costs more than the lookups themselves.
    """

    conn: sqlite3.Connection
    hidden: bool
    commit: str | None = None
    """The commit a preview (`?ref=`) reads; None for the served index."""


Ref = Annotated[str | None, Parameter(
    min_length=1, max_length=MAX_REF_LENGTH,
    description="Read this branch, tag or commit of the content instead of the served one, drafts included "
                "(an ADMIN or MODERATOR token, or a preview link for it: `preview`). Never cached.")]
PreviewToken = Annotated[str | None, Parameter(
    min_length=1, max_length=1000, description="A preview link's token, opening `ref` without an account.")]


async def provide_view(request: Request[Any, Any, Any], ref: Ref = None, preview: PreviewToken = None) -> View:
    """The served index, or with `?ref=` that ref's index (built on first use, in a thread)."""
    if ref is None:
        return View(conn=provide_index(request.app.state),
                    hidden=bool(getattr(request.state, "can_see_hidden", False)))
    services = provide_services(request.app.state)
    if not getattr(request.state, "can_see_hidden", False):
        check_preview_link(services.settings.secret_key, request.scope.get("user") is not None, ref, preview)
    found = await to_thread.run_sync(services.previews.index, ref)
    return View(conn=services.previews.open(found), hidden=True, commit=found.commit)


def check_preview_link(secret_key: str | None, signed_in: bool, ref: str, token: str | None) -> None:
    """A caller who may not see hidden entries reads `ref` only with a valid preview link for it (401, 403)."""
    if token is None:
        needs = "an ADMIN or MODERATOR token or a preview link (`preview`) for it"
        if signed_in:
            raise Forbidden(f"reading another ref (`ref`) needs {needs}", reason="preview-forbidden")
        raise NotAuthenticated(f"reading another ref (`ref`) needs {needs}", reason="preview-needs-token")
    if secret_key is None:
        raise Forbidden("preview links need CMS_SECRET_KEY on the server", reason="preview-link-invalid")
    if links.verify(secret_key, token).ref != ref:
        raise Forbidden("this preview link opens another ref", reason="preview-link-invalid")


DEPENDENCIES = {"conn": Provide(provide_index, sync_to_thread=False),
                "view": Provide(provide_view),
                "services": Provide(provide_services, sync_to_thread=False)}


def if_match(request: Request[Any, Any, Any]) -> Versions | None:
    """The versions `If-Match` accepts (RFC 9110 §13.1.1): None for `*` (whatever the current one is), else
    the listed entity tags, `W/` ones too (428 without the header)."""
    header = ",".join(request.headers.getall("if-match", []))
    if not header.strip():
        raise PreconditionRequired('this write needs `If-Match: "<version>"` with the version you last read')
    tags = [tag.strip() for tag in header.split(",")]
    if tags == ["*"]:
        return None
    return frozenset(tag.removeprefix("W/").strip('"') for tag in tags if tag)


def identity(user: User) -> Identity:
    """Who a caller's commits are by."""
    return Identity(name=user.full_name or user.username, email=user.email)
