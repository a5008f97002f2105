"""`cms watch`: keep the index current while authors edit.

File events are debounced into batches by watchfiles; each batch that
touches real content (not editor debris) runs one incremental index
update, which asks git what changed and re-reads only that. A `git
checkout` that rewrites thousands of files arrives as one batch and so
costs one update. Commits are noticed through `.git/logs/HEAD`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import watchfiles

from cms.content.corpus import ContentTree
from cms.content.sources import CONTENT_SUFFIXES, is_debris
from cms.database import PostgresUrl
from cms.index.build import IndexReport, Memory, update
from cms.index.documents import Materialise

DEBOUNCE_MS = 1000
STEP_MS = 50
"""A batch ends once files have been quiet this long (or after DEBOUNCE_MS at most)."""


def relevant(changes: Iterable[tuple[watchfiles.Change, str]], tree: ContentTree) -> bool:
    """Whether a batch of file events can change the index."""
    head_log = tree.repo_root / ".git" / "logs" / "HEAD"
    for _, raw in changes:
        path = Path(raw)
        if path == head_log:
            return True
        if path.is_relative_to(tree.content_dir):
            parts = path.relative_to(tree.content_dir).parts
            if parts and not any(is_debris(part) for part in parts) and _may_be_content(path):
                return True
    return False


def _may_be_content(path: Path) -> bool:
    """Files with a content suffix, and folders (a deleted or renamed folder has no suffix)."""
    return path.suffix in CONTENT_SUFFIXES or path.suffix == ""


def watch(tree: ContentTree, db_path: Path | PostgresUrl, on_update: Callable[[IndexReport], None],
          stop: threading.Event | None = None, on_error: Callable[[Exception], None] | None = None,
          materialise: Materialise | None = None) -> None:
    """Index once, then re-index after every relevant batch of changes until `stop` is set."""
    memory = Memory()
    on_update(update(tree, db_path, memory=memory, materialise=materialise))
    targets = [tree.content_dir]
    git_dir = tree.repo_root / ".git"
    if (git_dir / "logs").is_dir():
        targets.append(git_dir / "logs")
    for changes in watchfiles.watch(*targets, debounce=DEBOUNCE_MS, step=STEP_MS, stop_event=stop,
                                    watch_filter=None, raise_interrupt=False):
        if not relevant(changes, tree):
            continue
        try:
            on_update(update(tree, db_path, memory=memory, materialise=materialise))
        except Exception as error:  # a failed run keeps the last index; report and keep watching
            if on_error is None:
                raise
            on_error(error)


def ready_signal(fd: int | None, on_update: Callable[[IndexReport], None]) -> Callable[[IndexReport], None]:
    """`on_update`, also writing one byte to `fd` after the first run: how `cms serve` learns the index is current."""
    if fd is None:
        return on_update

    def first_then(report: IndexReport) -> None:
        nonlocal fd
        on_update(report)
        if fd is not None:
            os.write(fd, b"1")
            os.close(fd)
            fd = None
    return first_then

