"""Dependencies injected by name into handlers."""

from __future__ import annotations

import sqlite3
from typing import Any, NamedTuple

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide


def provide_index(state: State) -> sqlite3.Connection:
    """The read-only index connection opened by the lifespan."""
    return state.index.conn


class View(NamedTuple):
    """What a read handler reads from, and whether the caller may see hidden entries (admin readers).

    One dependency rather than two: Litestar resolves sibling dependencies
    in a task group, which costs more than the lookups themselves.
    """

    conn: sqlite3.Connection
    hidden: bool


def provide_view(request: Request[Any, Any, Any]) -> View:
    return View(conn=request.app.state.index.conn, hidden=bool(getattr(request.state, "can_see_hidden", False)))


DEPENDENCIES = {"conn": Provide(provide_index, sync_to_thread=False),
                "view": Provide(provide_view, sync_to_thread=False)}
