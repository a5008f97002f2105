"""Progress display for long runs, on the terminal only."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cms.index.build import Progress as ProgressCallback

SHOW_FROM = 200
"""Runs that read fewer files than this finish before a bar is worth drawing."""


@contextmanager
def index_progress(enabled: bool) -> Iterator[ProgressCallback | None]:
    """A callback that draws a bar on stderr when it is a terminal and the run is long."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=True, console=None) as bar:
        task = bar.add_task("indexing", total=None)

        def advance(done: int, total: int) -> None:
            if total >= SHOW_FROM:
                bar.update(task, completed=done, total=total)
        yield advance
