"""The SQLite index: content rendered into rows, kept current by git.

    rendering   markdown → safe HTML, table of contents, word count
    rows        one document → the rows of its tables
    tables      the index schema
    derived     figures across files (course totals, lesson positions, neighbours)
    build       the indexer: one transaction brings the index up to date (`update`)
    watch       `cms watch`: re-index while files change
"""

from cms.index.build import IndexReport, Memory, database_path, stored_corpus, update

__all__ = ["IndexReport", "Memory", "database_path", "stored_corpus", "update"]
