"""Numbered migrations of a database's tables, recorded in the table `schema_migrations`.

Each part of Coursebase that keeps tables declares a `Schema`: a name (`state`; the index will add
its own) and its migrations, numbered from 1, never edited once released. Opening a database
(`open_database`) applies the migrations it lacks, all in one transaction under the database's
write lock, so servers starting together apply each one once and a failure leaves nothing half done.
A database holding a migration this code does not know was upgraded by a newer Coursebase: it is
refused at start, with what to do, before anything reads or writes it.

Several schemas may share one database (one Postgres for the state and the index): their rows in
`schema_migrations` are kept apart by `component`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cms.errors import ConfigError
from cms.timestamps import utc_now

if TYPE_CHECKING:
    from cms.database.connection import Connection, Database, Dialect

log = logging.getLogger("coursebase.database")

MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    component TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (component, version)
)"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: tuple[str, ...]
    """The statements, for both databases."""
    postgres: tuple[str, ...] | None = None
    """Postgres's own statements, where its DDL differs from SQLite's (identity columns, expression indexes)."""

    def statements(self, dialect: Dialect) -> tuple[str, ...]:
        return self.postgres if dialect == "postgres" and self.postgres is not None else self.sql


@dataclass(frozen=True)
class Schema:
    name: str
    """The component whose tables these are (`state`): its rows in `schema_migrations`, its write lock."""
    what: str
    """What the database is called in messages (`the state database`)."""
    migrations: tuple[Migration, ...]

    def __post_init__(self) -> None:
        numbers = [migration.version for migration in self.migrations]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"the migrations of {self.name!r} must be numbered 1, 2, 3, … in order, not {numbers}")


def migrate(db: Database, schema: Schema) -> list[Migration]:
    """Apply the migrations `db` lacks, in order, in one transaction; the ones applied.

    ConfigError, with nothing changed, if `db` has migrations `schema` does not know.
    """
    with db.write() as conn:
        conn.execute(MIGRATIONS_TABLE)
        applied = _applied(conn, schema)
        _refuse_newer(db, schema, applied)
        pending = [migration for migration in schema.migrations if migration.version not in applied]
        for migration in pending:
            _apply(db, conn, schema, migration)
            conn.execute("INSERT INTO schema_migrations (component, version, name, applied_at) "
                         "VALUES (:component, :version, :name, :now)",
                         {"component": schema.name, "version": migration.version, "name": migration.name,
                          "now": utc_now()})
    if applied and pending:
        log.warning("%s=%s: upgraded %s from migration %d to %d", db.location.setting, db.location, schema.what,
                    max(applied), pending[-1].version)
    return pending


def _apply(db: Database, conn: Connection, schema: Schema, migration: Migration) -> None:
    for statement in migration.statements(db.dialect):
        try:
            conn.execute(statement)
        except Exception as error:  # the database's own error class; the whole upgrade rolls back
            raise ConfigError(f"{db.location.setting}={db.location}: {schema.what} cannot be upgraded: migration "
                              f"{migration.version} {migration.name!r} failed: {error}; nothing was changed") from error


def _applied(conn: Connection, schema: Schema) -> dict[int, str]:
    rows = conn.execute("SELECT version, name FROM schema_migrations WHERE component = :component ORDER BY version",
                        {"component": schema.name}).fetchall()
    return {row["version"]: row["name"] for row in rows}


def _refuse_newer(db: Database, schema: Schema, applied: dict[int, str]) -> None:
    known = {migration.version for migration in schema.migrations}
    unknown = [f"{version} {name!r}" for version, name in applied.items() if version not in known]
    if unknown:
        raise ConfigError(
            f"{db.location.setting}={db.location}: {schema.what} has migrations this version of Coursebase does "
            f"not know ({', '.join(unknown)}; this one knows 1 to {len(known)}): a newer Coursebase upgraded it. "
            "Run that newer version (upgrade this installation to it), or point "
            f"{db.location.setting} at a database this version made; nothing was changed")
