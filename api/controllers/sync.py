"""`GET /sync`: what changed publicly since a sync token (`cms.delivery.sync`)."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import get
from litestar.params import Parameter

from api.deps import Opened
from api.schemas import Wire, to_wire
from api.spec import documented
from cms.delivery import require

Since = Annotated[str | None, Parameter(
    pattern=r"^([0-9a-f]{40}|[0-9a-f]{64})(\.[0-9]{1,18})?$",
    description="The `next` token of your last sync (or a bare commit id); without it, every public entry.")]


class SyncEntry(Wire, kw_only=True):
    kind: Literal["course", "section", "lesson", "project", "path", "author", "media", "category"]
    slug: str
    course: str | None
    """The course of a section or lesson."""
    path: str
    """Where the read API serves the entry (categories: the category list)."""
    change: Literal["created", "updated", "unpublished", "deleted"]
    """`unpublished` and `deleted` both mean the public may no longer see it."""
    version: str | None
    """The entry's version now (its file's git blob id); None once it is not public."""


class SyncOut(Wire, kw_only=True):
    since: str | None
    next: str
    """Send this as `since` next time."""
    commit: str | None
    entries: list[SyncEntry]


@get("/sync", tags=["sync"], sync_to_thread=True, opt=documented(410, 503))
def sync_changes(services: Opened, since: Since = None) -> SyncOut:
    """Every public entry created, updated, unpublished or deleted since the token `since` (every public entry,
    as created, without one), up to the index as it is now, and the `next` token. A token this server's log
    does not know gets 410: sync from scratch."""
    answer = require(services.delivery).sync(since)
    return to_wire({"since": answer.since, "next": answer.next, "commit": answer.commit,
                    "entries": answer.entries}, SyncOut)
