"""The read side: read-only connections to the index and the entries the read API serves.

    queries   every read of the index: parameterized SQL, allow-listed sorts, visibility
    views     entries as the read API serves them, put together from queries
    health    how current the index is, and what `cms stats` reports
"""

from cms.read.queries import LiveIndex, connect

__all__ = ["LiveIndex", "connect"]
