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
    watch       `cms watch`: re-index while files change
"""

from cms.index.build import IndexReport, Progress, database_path, update
from cms.index.stored import Memory, stored_corpus

__all__ = ["IndexReport", "Memory", "Progress", "database_path", "stored_corpus", "update"]
