"""The SQLite index: content rendered into rows, kept current by git.

    sanitizer   URL safety and the HTML allow-list (the renderer's second wall)
    markup      comrak's HTML → ours: heading ids and table of contents, plain text, a few rewrites
    rendering   markdown → safe HTML, table of contents, word count (comrak)
    rows        one document → the rows of its tables
    tables      the index schema; batches of rows in and out
    derived     figures across files (course totals, lesson positions, neighbours)
    parsing     the per-file work of a run, in worker processes for large batches
    stored      what the index remembers of every file (`Memory`, `stored_corpus`)
    build       the indexer: one transaction brings the index up to date (`update`)
    sqlite      the index in a SQLite file: where it lives, a run as one transaction (postgres: the same)
    watch       `cms watch`: re-index while files change
    heads       the head every server follows, in a Postgres state database (several servers)
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {"IndexReport": "cms.index.build", "Progress": "cms.index.build", "database_path": "cms.index.sqlite",
          "update": "cms.index.build", "Memory": "cms.index.stored", "stored_corpus": "cms.index.stored"}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    """The public names, each imported from its module when first asked for."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
