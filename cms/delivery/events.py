"""What a change looks like to the outside: an entry's change as the log keeps it and as it is sent, the sync
token of a place in the log, and the body of a webhook delivery.

An entry is sent as `{kind, slug, course, path, change, version}`: `course`
names the course of a section or lesson (None for the other kinds), `path`
is where the read API serves it, and `version` is its new version (None once
it is no longer public).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from cms.delivery.snapshot import KIND_ORDER, Key

ChangeKind = Literal["created", "updated", "unpublished", "deleted"]
EVENT = "content.changed"


class EntryChange(msgspec.Struct, frozen=True):
    """One entry of a log row: its version when it was last public (`previous`) and now (`version`)."""

    kind: str
    key: str
    path: str
    change: ChangeKind
    version: str | None
    """Its version now; None when it is no longer public."""
    previous: str | None
    """Its version when it was last public; None when it was not public before."""

    @property
    def entry_key(self) -> Key:
        return Key(self.kind, self.key)

    def sent(self) -> dict[str, Any]:
        """The entry as a webhook or a sync answer shows it."""
        course, _, slug = self.key.rpartition("/")
        return {"kind": self.kind, "slug": slug, "course": course or None, "path": self.path,
                "change": self.change, "version": self.version}


def order(change: EntryChange) -> tuple[int, str]:
    """Courses, sections, lessons, projects, paths, authors, media, categories; by key within a kind."""
    return KIND_ORDER.get(change.kind, len(KIND_ORDER)), change.key


def encode_entries(changes: list[EntryChange]) -> str:
    return msgspec.json.encode(changes).decode()


def decode_entries(text: str) -> list[EntryChange]:
    return msgspec.json.decode(text, type=list[EntryChange])


def sync_token(commit: str | None, position: int) -> str:
    """The sync token of the log's row `position`: `<commit>.<position>` (opaque to clients)."""
    return f"{commit or ''}.{position}"


def webhook_body(delivery: str, change_id: int, old_commit: str | None, new_commit: str | None, at: str,
                 entries: str) -> bytes:
    """The JSON a target is sent for one log row: the same bytes on every attempt (only the headers change)."""
    return msgspec.json.encode({
        "id": delivery, "event": EVENT, "old_commit": old_commit, "new_commit": new_commit, "changed_at": at,
        "sync_token": sync_token(new_commit, change_id),
        "entries": [change.sent() for change in decode_entries(entries)]})
