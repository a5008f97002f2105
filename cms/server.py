"""`cms serve`: the read API under granian, with the index kept current.

The index is brought up to date before the first request. With `watch`,
the serving process also runs `cms watch` in a background thread; the
workers only ever read the index, so updates never fail a request.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from granian import Granian
from granian.constants import Interfaces

from cms.corpus import ContentTree
from cms.index import IndexReport, update
from cms.watch import watch

APP_FACTORY = "api.app:create_app"
log = logging.getLogger("coursebase.server")


def serve(tree: ContentTree, db_path: Path, host: str, port: int, workers: int, keep_current: bool) -> None:
    """Index, then serve the API until interrupted."""
    os.environ["CMS_CONTENT_DIR"] = str(tree.content_dir)
    os.environ["CMS_DATABASE_URL"] = f"sqlite:///{db_path}"
    update(tree, db_path)
    if keep_current:
        threading.Thread(target=watch, args=(tree, db_path, _log_update), kwargs={"on_error": _log_error},
                         daemon=True, name="cms-watch").start()
    Granian(APP_FACTORY, factory=True, interface=Interfaces.ASGI, address=host, port=port, workers=workers,
            respawn_failed_workers=True, log_access=False).serve()


def _log_update(report: IndexReport) -> None:
    if report.changed:
        log.warning("index updated: %d read, %d deleted, %d left out, %.2fs", report.read, report.deleted,
                    report.skipped, report.seconds)


def _log_error(error: Exception) -> None:
    log.error("index update failed: %s", error)
