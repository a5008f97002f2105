"""Databases named by URL: a SQLite file (the embedded default) or Postgres, behind one interface.

    urls         which database a setting names (`locate`), checked by scheme; `redacted` for messages
    migrations   numbered migrations per component (`Schema`), applied at open, newer databases refused
    connection   `open_database` → a `Database`: `write()` (one writer at a time, across processes) and `rows()`;
                 SQLite's implementation
    postgres     psycopg 3: checked connections, a pool per process, `advisory_lock` (imported only when used)

Queries are written once, with `:name` parameters, in the SQL both databases understand; a
migration may give Postgres its own DDL where the two differ.
"""

from cms.database.connection import Connection, Database, Dialect, Params, Row, open_database
from cms.database.migrations import Migration, Schema, migrate
from cms.database.urls import Location, PostgresUrl, SqliteFile, check_url, is_postgres, locate, parse, redacted

__all__ = ["Connection", "Database", "Dialect", "Location", "Migration", "Params", "PostgresUrl", "Row", "Schema",
           "SqliteFile", "check_url", "is_postgres", "locate", "migrate", "open_database", "parse", "redacted"]
