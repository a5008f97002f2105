"""Dependencies injected by name into handlers."""

from __future__ import annotations

import sqlite3
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide


def provide_index(state: State) -> sqlite3.Connection:
    """The read-only index connection opened by the lifespan."""
    return state.index


def provide_hidden(request: Request[Any, Any, Any]) -> bool:
    """Whether the caller may see drafts and other hidden entries (admin readers)."""
    return bool(getattr(request.state, "can_see_hidden", False))


DEPENDENCIES = {"conn": Provide(provide_index, sync_to_thread=False),
                "hidden": Provide(provide_hidden, sync_to_thread=False)}
