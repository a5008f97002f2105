"""How a child process of `cms serve` (the indexer, a granian worker) ends together with the server."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def follow_parent(parent_pid: int) -> None:
    """End this process (SIGTERM) when `parent_pid`, the process that started it, ends (Linux; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:
        sys.exit(0)
