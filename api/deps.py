"""What handlers are given: the services the lifespan opened (typed), the index to read, and the write helpers.

Dependencies are injected by name. `Services` is everything a worker opens
once at start-up; handlers reach it through the `services` dependency (and
middleware through `services_of`), never by guessing at `app.state`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, NamedTuple

from litestar import Litestar, Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from cms.accounts import STAFF, Accounts, User
from cms.delivery import Delivery
from cms.errors import PreconditionRequired
from cms.media import MediaSetup
from cms.read import LiveIndex
from cms.repo import GitRepo, Identity
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


def provide_view(request: Request[Any, Any, Any]) -> View:
    return View(conn=provide_index(request.app.state),
                hidden=bool(getattr(request.state, "can_see_hidden", False)))


DEPENDENCIES = {"conn": Provide(provide_index, sync_to_thread=False),
                "view": Provide(provide_view, sync_to_thread=False),
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
