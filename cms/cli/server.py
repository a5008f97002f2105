"""`cms serve`: the read API under granian, with one child process keeping the index current.

    cms serve ─┬─ indexer: `cms index` (once), or `cms watch` with --watch (for as long as it serves)
               └─ granian ─── worker × N: open the index read-only, never build it

The serving process starts the indexer first and waits until it has brought
the index up to date (recovering an interrupted write on the way), then
starts granian. It holds no thread, SQLite connection or git subprocess of
its own when granian forks the workers, so a worker can never inherit a lock
held by something that does not exist in it. When granian stops (SIGTERM,
Ctrl-C), the indexer is stopped too; the indexer and the workers also end
by themselves when the serving process dies (`cms.lifetime.follow_parent`), so a killed
server leaves nothing holding its port or its index.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from granian import Granian
from granian.constants import Interfaces

from cms.database import PostgresUrl
from cms.errors import ConfigError

APP_FACTORY = "api.app:create_served_app"
WORKER_STOP_SECONDS = 1.5
"""How long a stopping worker may take to finish its requests before it is killed."""
INDEXER_STOP_SECONDS = 1.0


def serve(content_dir: Path, db_path: Path | PostgresUrl, host: str, port: int, workers: int,
          keep_current: bool) -> None:
    """Index, then serve the API until interrupted; with `keep_current`, re-index while files change."""
    os.environ["CMS_CONTENT_DIR"] = str(content_dir)
    os.environ["CMS_DATABASE_URL"] = db_path.url if isinstance(db_path, PostgresUrl) else f"sqlite:///{db_path}"
    indexer = start_indexer(content_dir, keep_current)
    try:
        Granian(APP_FACTORY, factory=True, interface=Interfaces.ASGI, address=host, port=port, workers=workers,
                respawn_failed_workers=True, workers_kill_timeout=WORKER_STOP_SECONDS, log_access=False).serve()
    finally:
        stop_indexer(indexer)


def start_indexer(content_dir: Path, keep_current: bool) -> subprocess.Popen[bytes] | None:
    """Bring the index up to date in a child process; with `keep_current`, leave it watching.

    Returns the watching child (None without `keep_current`). Raises `ConfigError` when the first
    run fails; content problems are printed by the child and do not stop the server.
    """
    command = [sys.executable, "-m", "cms", *(("watch",) if keep_current else ("index",))]
    if not keep_current:
        _check_run(subprocess.run([*command, str(content_dir)], check=False).returncode)
        return None
    ready, signal = os.pipe()
    try:
        child = subprocess.Popen([*command, "--ready-fd", str(signal), "--parent-pid", str(os.getpid()),
                                  str(content_dir)], pass_fds=(signal,))
    finally:
        os.close(signal)
    with os.fdopen(ready, "rb") as answer:
        started = answer.read(1) == b"1"
    if not started:
        _check_run(child.wait())
    return child


def _check_run(code: int) -> None:
    if code != 0:
        raise ConfigError(f"the index could not be brought up to date (the indexer exited with status {code}); "
                          "the message above says why")


def stop_indexer(child: subprocess.Popen[bytes] | None) -> None:
    if child is None or child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(timeout=INDEXER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
