"""Materialised documents: each public entry's JSON body, stored by key, and kept from going stale.

The `documents` table maps a key (`course/<course>/detail`,
`course/<course>/summary`, `course/<course>/lesson/<lesson>`) to the exact
bytes the read API answers for it and their ETag, so serving one is a
primary-key read. What goes in is decided above the index (the
read side shapes entries; `update(..., materialise=...)` runs its
`Materialise` step inside the index transaction). What must come out is
decided here, by triggers: any change to a row a body is made from deletes
the bodies that embed it, whoever changes it (a parsed file, derived
figures, new git dates). A missing document is a hole that readers fill by
shaping from rows, and that the next materialising run stores again; a
stored document is never out of step with the rows it was made from.

    a row of   deletes the documents of
    courses    every document of that course, and the detail of courses naming it as a prerequisite
    sections   every document of its course
    lessons    that lesson's, and its course's detail (the outline)
    authors    detail and summary of the courses it is the instructor of
    categories detail and summary of the courses in it
    media      detail and summary of the courses showing it (image, instructor's avatar), and lessons
               whose videos show it

On Postgres the same statements run in statement-level triggers (plpgsql), once per statement (a COPY,
a DELETE) over the transition table of the rows it inserted, deleted or updated: `postgres_triggers`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable

from cms.index.rows import to_json

Materialise = Callable[[sqlite3.Connection], None]
"""Stores the documents that are missing, in the index transaction it is given."""


def course_key(course: str, part: str = "detail") -> str:
    """A course's documents: its `detail`, and its `summary` (an item of the course list)."""
    return f"course/{course}/{part}"


def lesson_key(course: str, lesson: str) -> str:
    return f"course/{course}/lesson/{lesson}"


_EVERY_DOCUMENT_OF = ("DELETE FROM documents WHERE key >= 'course/' || {course} || '/' "
                      "AND key < 'course/' || {course} || '0'")
"""Every document of a course (detail, summary, lessons): one range of the key."""
_COURSES_WHERE = ("DELETE FROM documents WHERE key IN (SELECT 'course/' || slug || '/' || part FROM courses, "
                  "(SELECT 'detail' AS part UNION ALL SELECT 'summary') AS parts WHERE {condition})")
_STALE: dict[str, list[str]] = {
    "courses": [_EVERY_DOCUMENT_OF.format(course="R.slug"),
                "DELETE FROM documents WHERE key IN (SELECT 'course/' || c.slug || '/detail' FROM courses c, "
                "json_each(c.prerequisites) p WHERE p.value = R.slug)"],
    "sections": [_EVERY_DOCUMENT_OF.format(course="R.course")],
    "lessons": ["DELETE FROM documents WHERE key IN ('course/' || R.course || '/detail', "
                "'course/' || R.course || '/lesson/' || R.slug)"],
    "authors": [_COURSES_WHERE.format(condition="instructor = R.slug")],
    "categories": [_COURSES_WHERE.format(condition="category = R.slug")],
    "media": [_COURSES_WHERE.format(condition="image = R.id OR instructor IN (SELECT slug FROM authors "
                                              "WHERE avatar = R.id)"),
              "DELETE FROM documents WHERE key IN (SELECT DISTINCT 'course/' || course || '/lesson/' || lesson "
              "FROM video_snippets WHERE media = R.id)"],
}
"""Per table, what a changed row `R` makes stale."""


def create_triggers(conn: sqlite3.Connection) -> None:
    """Triggers that delete the documents a row change makes stale (the old row's and the new row's).

    They do nothing while there are no documents, as in a full build before its materialising step.
    """
    for table, statements in _STALE.items():
        for event, rows in (("INSERT", ("NEW",)), ("DELETE", ("OLD",)), ("UPDATE", ("OLD", "NEW"))):
            body = " ".join(f"{statement.replace('R.', f'{row}.')};" for row in rows for statement in statements)
            conn.execute(f"CREATE TRIGGER IF NOT EXISTS [stale_documents_{table}_{event.lower()}] "
                         f"AFTER {event} ON [{table}] WHEN EXISTS (SELECT 1 FROM documents) BEGIN {body} END")


_ON_POSTGRES = [(re.compile(r"\bkey\b"), "documents.key"),
                (re.compile(r"json_each\(([\w.]+)\) (\w+)"), r"jsonb_array_elements_text((\1)::jsonb) AS \2(value)"),
                (re.compile(r"^DELETE FROM documents WHERE (.*)$", re.S),
                 r"DELETE FROM documents WHERE EXISTS (SELECT 1 FROM {rows} R WHERE \1)")]


def postgres_triggers(schema: str) -> list[str]:
    """The DDL of the Postgres triggers of `_STALE`, for the tables of `schema` (the index's)."""
    statements = []
    for table, stale in _STALE.items():
        for pattern, replacement in _ON_POSTGRES:
            stale = [pattern.sub(replacement, statement) for statement in stale]
        body = " ".join(f"IF TG_OP <> '{skip}' THEN {' '.join(s.format(rows=rows) + ';' for s in stale)} END IF;"
                        for skip, rows in (("INSERT", "old_rows"), ("DELETE", "new_rows")))
        function = f"{schema}.stale_documents_{table}"
        statements.append(f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql SET search_path = {schema} "
                          f"AS $$ BEGIN {body} RETURN NULL; END $$")
        for event, tables in (("INSERT", "NEW TABLE AS new_rows"), ("DELETE", "OLD TABLE AS old_rows"),
                              ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows")):
            statements.append(f"CREATE TRIGGER stale_documents_{event.lower()} AFTER {event} ON {schema}.{table} "
                              f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
    return statements


def clear(conn: sqlite3.Connection) -> None:
    """Forget every document (a full build makes them all again)."""
    conn.execute("DELETE FROM documents")


def store(conn: sqlite3.Connection, documents: list[tuple[str, bytes, str]]) -> None:
    """Store (key, body, etag) documents, replacing any under the same key (in SQL both engines speak).

    The old ones go in one statement: on Postgres one DELETE per key cost a round trip and a scan each."""
    conn.execute("DELETE FROM documents WHERE key IN (SELECT value FROM json_each(?))",
                 [to_json([key for key, _, _ in documents])])
    conn.executemany("INSERT INTO documents (key, body, etag) VALUES (?, ?, ?)", documents)
