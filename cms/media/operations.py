"""What editors do with media: upload, change alt text, soft-delete, restore, delete; each one commit.

    upload:  bytes → type from the first bytes → size limit → alt text → Cloudinary (chunked when large)
             → check what Cloudinary answered → record → one commit through `cms.write.commit.apply`
    delete:  references from the index (409 unless forced) → validate the removal → Cloudinary destroy
             under the write lock → one commit

Whatever goes wrong at Cloudinary becomes an `UpstreamError` (502) and
nothing is committed; an asset uploaded for a commit that then fails is
destroyed again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cms.content.frontmatter import dump_yaml, load_data_file
from cms.content.sources import slug_problem
from cms.errors import (
    Conflict,
    ContentError,
    InUse,
    InvalidInput,
    NotFound,
)
from cms.index import build
from cms.media.cloud import Cloudinary, MediaSetup
from cms.media.limits import Limits, Received, examine
from cms.media.records import build_record, checked_alt, new_id, record_path
from cms.problems import Problem
from cms.read import queries
from cms.read.connection import reading
from cms.repo.commits import Identity, blob_at_head, configured_identity
from cms.repo.repository import GitRepo
from cms.settings import Settings
from cms.write.changes import edit_front_matter
from cms.write.commit import Change, Plan, Versions, check_version, checked_path, read_target
from cms.write.operations import Workspace, Written, commit


def upload(space: Workspace, cloud: Cloudinary, limits: Limits, received: Received, alt: str | None,
           wanted_id: str | None, author: Identity, uploaded_by: str) -> Written:
    """Upload a checked file to Cloudinary and commit its record; nothing is committed if anything fails."""
    kind = received.sniffed.kind
    alt = checked_alt(kind, alt)
    media_id = new_id(space, kind, wanted_id)
    chunked = kind == "video" and received.size > limits.chunked_over
    result = cloud.upload(received, media_id, limits.chunk_size if chunked else None)
    try:
        record = build_record(result, received, cloud, media_id, alt, uploaded_by, datetime.now(UTC))
        change = Change(path=record_path(media_id), text=dump_yaml(record), must_exist=False)
        return _commit(space, [change], f"Upload {kind} {media_id}", author)
    except BaseException:
        cloud.discard(media_id, kind)
        raise


def upload_file(settings: Settings, space: Workspace, path: Path, alt: str | None, wanted_id: str | None) -> Written:
    """The command line's upload: a file on disk, committed as git's configured user."""
    setup = MediaSetup.from_settings(settings)
    cloud = setup.cloud()
    received = examine(path, setup.limits)
    author = configured_identity(GitRepo.open(space.tree.content_dir))
    return upload(space, cloud, setup.limits, received, alt, wanted_id, author, author.name)


def update(space: Workspace, media_id: str, changes: Any, expected: Versions | None, author: Identity) -> Written:
    """Change what a person may change about a record: its alt text."""
    if not isinstance(changes, dict) or not changes:
        raise InvalidInput({"(body)": "send a JSON object such as {\"alt\": \"...\"}"})
    refused = {key: "cannot be changed here; only alt can" for key in changes if key != "alt"}
    if refused:
        raise InvalidInput(refused)
    alt = changes["alt"]
    if alt is not None and not isinstance(alt, str):
        raise InvalidInput({"alt": "alt text is a string"})
    _existing(space, media_id)
    return _commit(space, lambda: [_edit_record(space, media_id, expected,
                                                lambda fields: _set(fields, "alt", (alt or "").strip() or None))],
                   f"Update media {media_id}", author)


def soft_delete(space: Workspace, media_id: str, expected: Versions | None, author: Identity, force: bool) -> Written:
    """Mark a record deleted (the public no longer sees it); refused while content uses it, unless forced."""
    _existing(space, media_id)

    def plan() -> list[Change]:
        change = _edit_record(space, media_id, expected, lambda fields: _flag_deleted(fields, media_id, True))
        return [change, *detach(space, media_id, force)]
    return _commit(space, plan, lambda changes: _message("Soft-delete", media_id, changes[1:]), author)


def restore(space: Workspace, media_id: str, expected: Versions | None, author: Identity) -> Written:
    _existing(space, media_id)
    return _commit(space, lambda: [_edit_record(space, media_id, expected,
                                                lambda fields: _flag_deleted(fields, media_id, False))],
                   f"Restore media {media_id}", author)


class _Removal:
    """A record's removal, planned under the write lock, and the Cloudinary destroy that goes with it."""

    def __init__(self, space: Workspace, cloud: Cloudinary, media_id: str, expected: Versions | None,
                 force: bool) -> None:
        self.space, self.cloud, self.media_id, self.expected, self.force = space, cloud, media_id, expected, force
        self.asset: tuple[str, str] | None = None

    def plan(self) -> list[Change]:
        path = _existing(self.space, self.media_id)
        check_version(self.space.tree, path, self.expected)
        self.asset = _asset_of(self.space, path)
        return [Change(path=path, text=None, expected=self.expected), *detach(self.space, self.media_id, self.force)]

    def destroy(self) -> None:
        assert self.asset is not None, "planned first"
        self.cloud.destroy(*self.asset)


def destroy(space: Workspace, cloud: Cloudinary, media_id: str, expected: Versions | None, author: Identity,
            force: bool) -> Written:
    """Delete the asset at Cloudinary, then its record, in one commit.

    The destroy runs under the write lock once the removal is known to
    validate, so a refused write never deletes the asset.
    """
    _existing(space, media_id)
    removal = _Removal(space, cloud, media_id, expected, force)
    return _commit(space, removal.plan, lambda changes: _message("Delete", media_id, changes[1:]), author,
                   before_write=removal.destroy)


def references(space: Workspace, media_id: str) -> list[tuple[str, str]]:
    """The content files (content-relative) that use media `media_id` and the field.

    The index is brought up to date first (a quick no-op when nothing changed), so files committed
    or edited since the last write count too.
    """
    build.update(space.tree, space.db_path)
    with reading(space.db_path) as conn:
        return [(row["path"], row["field"]) for row in queries.media_references(conn, media_id)]


def detach(space: Workspace, media_id: str, force: bool) -> list[Change]:
    """Nothing when no content uses the media; with `force`, those files without the reference; else 409."""
    used = references(space, media_id)
    if not used:
        return []
    paths = sorted({path for path, _ in used})
    if not force:
        problems = [Problem(file=space.tree.label(path), field=field, rule="media-in-use",
                            message=f"uses media {media_id!r}") for path, field in used]
        raise InUse(f"media {media_id!r} is used by {', '.join(space.tree.label(p) for p in paths)}; remove it "
                    "there first, or force it (ADMIN) to remove it from those files in the same commit", problems)
    return [_without_reference(space, path, media_id) for path in paths]


def _without_reference(space: Workspace, path: str, media_id: str) -> Change:
    version = blob_at_head(GitRepo.open(space.tree.content_dir), space.tree.label(path))
    if version is None:
        raise Conflict(f"{space.tree.label(path)} uses media {media_id!r} but is not committed yet; commit it first",
                       reason="uncommitted-changes")
    return edit_front_matter(space.tree, path, version, lambda fields: _unreference(fields, media_id))


def _unreference(fields: dict[str, Any], media_id: str) -> None:
    for key in ("image", "avatar", "thumbnail"):
        if fields.get(key) == media_id:
            del fields[key]
    for video in fields.get("videos") or []:
        if isinstance(video, dict) and video.get("media") == media_id:
            del video["media"]


def _message(verb: str, media_id: str, detached: list[Change]) -> str:
    if not detached:
        return f"{verb} media {media_id}"
    return f"{verb} media {media_id} and remove it from {len(detached)} file{'s' * (len(detached) != 1)}"


def _existing(space: Workspace, media_id: str) -> str:
    if slug_problem(media_id, "", "media") is not None:
        raise NotFound(f"no media {media_id[:80]!r}")
    path = record_path(media_id)
    if not checked_path(space.tree, path).is_file():
        raise NotFound(f"no media {media_id!r}")
    return path


def _fields(space: Workspace, path: str) -> dict[str, Any]:
    loaded = load_data_file(read_target(space.tree, path), space.tree.label(path))
    if not isinstance(loaded.data, dict):
        raise ContentError(f"{space.tree.label(path)} cannot be changed until it is fixed", loaded.problems)
    return dict(loaded.data)


def _asset_of(space: Workspace, path: str) -> tuple[str, str]:
    fields = _fields(space, path)
    public_id, resource_type = fields.get("public_id"), fields.get("resource_type")
    if not isinstance(public_id, str) or resource_type not in ("image", "video", "raw"):
        raise ContentError(f"{space.tree.label(path)} names no asset to delete (public_id, resource_type)", [])
    return public_id, resource_type


def _edit_record(space: Workspace, media_id: str, expected: Versions | None,
                 edit: Callable[[dict[str, Any]], None]) -> Change:
    """The record with `edit` applied (under the write lock: what earlier writes left is what is edited)."""
    path = _existing(space, media_id)
    if expected is not None:
        check_version(space.tree, path, expected)
    fields = _fields(space, path)
    edit(fields)
    return Change(path=path, text=dump_yaml(fields), expected=expected)


def _set(fields: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        fields.pop(key, None)
    else:
        fields[key] = value


def _flag_deleted(fields: dict[str, Any], media_id: str, deleted: bool) -> None:
    if bool(fields.get("deleted")) == deleted:
        state = "already deleted" if deleted else "not deleted"
        raise Conflict(f"media {media_id!r} is {state}", reason="already-deleted" if deleted else "not-deleted")
    _set(fields, "deleted", True if deleted else None)


def _commit(space: Workspace, changes: list[Change] | Plan, message: str | Callable[[list[Change]], str],
            author: Identity, before_write: Callable[[], None] | None = None) -> Written:
    """One commit; the answer is about the first change, the media record."""
    return commit(space, changes, message, author, before_write)[0]
