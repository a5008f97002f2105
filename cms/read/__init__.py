"""The read side: read-only connections to the index and the entries the read API serves.

    connection   read-only connections (`connect`, `reading`), and `LiveIndex`, which follows a replaced file
                 (`live_index`: or the shared index on Postgres, `postgres.LivePostgresIndex`)
    postgres     the index on Postgres: the read queries as written, the spellings that differ rewritten
    visibility   what the public may see, as SQL conditions
    queries      every read of the index: parameterized SQL, allow-listed sorts
    search       full-text search with highlighted snippets
    views        entries as the read API serves them, put together from queries
    health       how current the index is, and what `cms stats` reports
"""

from cms.read.connection import LiveIndex, connect, live_index, reading

__all__ = ["LiveIndex", "connect", "live_index", "reading"]
