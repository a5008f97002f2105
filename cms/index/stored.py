"""What the index remembers of every file, so a run (or a write's validation) need not read it again.

The `files` table keeps each file's parsed entry, field positions, links
and problems. `remembered` turns a row back into a `Document`; `Memory`
keeps documents between the runs of a long-running indexer; and
`stored_corpus` is the whole corpus as the last run saw it.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from cms.content.corpus import ContentTree, Corpus
from cms.content.frontmatter import LazyMarks
from cms.content.models import Categories
from cms.content.parse import MODELS, Document, Reference
from cms.content.sources import Kind, Source
from cms.database import PostgresUrl
from cms.index import tables
from cms.index.rows import Stamp, to_json
from cms.problems import Problem

FILE_COLUMNS = ("path", "source", "entry", "marks", "links", "refs", "body_line", "problems")
"""What `remembered` needs of a `files` row, in its order."""
ENTRY_KINDS = frozenset({Kind.COURSE, Kind.MEDIA, Kind.CATEGORIES})
"""The kinds whose remembered entries are decoded: the corpus checks read their fields (prerequisites, a media
record's `deleted` and `public_id`, the category slugs). Every other entry's references are kept apart."""
REMEMBERED = ", ".join(FILE_COLUMNS).replace(
    "entry", "CASE WHEN kind IN ('course', 'media', 'categories') OR entry IS NULL THEN entry ELSE '' END")
"""`FILE_COLUMNS` as a select list that leaves out the entries nothing will decode."""


class Unread:
    """The entry of a remembered document whose fields no corpus check reads (a lesson, section, project,
    author or path): it stays in the `files` table instead of being decoded on every run."""

    def __repr__(self) -> str:
        return "UNREAD"


UNREAD: Any = Unread()


class Memory:
    """What a long-running indexer (`cms watch`) keeps between runs: remembered documents by blob.

    Without it each run decodes every unchanged file's stored document again.
    """

    def __init__(self) -> None:
        self.documents: dict[str, tuple[str, Document]] = {}

    def recall(self, path: str, blob: str) -> Document | None:
        known = self.documents.get(path)
        return known[1] if known is not None and known[0] == blob else None

    def keep(self, path: str, blob: str, document: Document) -> None:
        self.documents[path] = (blob, document)

    def forget_all_but(self, paths: set[str]) -> None:
        """Drop what is remembered of files that are gone."""
        for path in set(self.documents) - paths:
            del self.documents[path]


def remembered(tree: ContentTree, rows: Iterable[tuple[Any, ...]]) -> list[Document]:
    """Documents as the last run left them (rows of `FILE_COLUMNS`), without reading the files again.

    Each JSON column is decoded for all rows in one call. Only the entries of
    `ENTRY_KINDS` are decoded; any other is `UNREAD` (None still means the
    file had no valid entry). Bodies are not kept.
    """
    rows = list(rows)
    if not rows:
        return []
    paths, sources, entries, marks, links, refs, body_lines, problems = zip(*rows, strict=True)
    found = _decoded_all(sources, Source)
    return [Document(source=source, file=tree.label(path), body_line=body_line, entry=_entry(source, entry),
                     marks=LazyMarks(mark), links=link, references=ref, problems=problem)  # type: ignore[arg-type]
            for path, source, entry, mark, link, ref, body_line, problem in zip(
                paths, found, entries, marks, _decoded_all(links, tuple[str, int, str], many=True),
                _decoded_all(refs, Reference, many=True), body_lines, _decoded_all(problems, Problem, many=True),
                strict=True)]


def _decoded_all(texts: tuple[str, ...], kind: Any, many: bool = False) -> list[Any]:
    """Each JSON text decoded as `kind` (as a list of `kind` if `many`), in one call to the decoder."""
    return msgspec.json.decode(f"[{','.join(texts)}]", type=list[list[kind]] if many else list[kind])


def _entry(source: Source, text: str | None) -> Any:
    if text is None:
        return None
    if source.kind not in ENTRY_KINDS:
        return UNREAD
    return msgspec.json.decode(text, type=Categories if source.kind is Kind.CATEGORIES else MODELS[source.kind])


def file_record(document: Document, stamp: Stamp, ok: bool) -> dict[str, Any]:
    return {"path": document.source.path, "kind": document.source.kind.value, "source": to_json(document.source),
            "blob": stamp.version, "entry": None if document.entry is None else to_json(_canonical(document.entry)),
            "marks": LazyMarks.encode(document.marks),
            "links": to_json(document.links), "refs": to_json(document.references), "body_line": document.body_line,
            "problems": to_json(document.problems), "ok": int(ok),
            "created_at": stamp.created_at, "updated_at": stamp.updated_at}


def _canonical(value: Any) -> Any:
    """`value` with every field that equals its default set to the default object itself.

    msgspec leaves a field out (`omit_defaults`) only when it *is* the
    default object. An entry parsed in a worker process comes back pickled,
    an equal copy, and a YAML `currency: USD` is a copy too: without this
    the same file would be remembered in different forms by different runs.
    """
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if not isinstance(value, msgspec.Struct):
        return value
    changes: dict[str, Any] = {}
    for name, default in _defaults(type(value)):
        current = getattr(value, name)
        if default is not msgspec.NODEFAULT and current == default:
            changes[name] = default
        elif isinstance(current, list | msgspec.Struct):
            changes[name] = _canonical(current)
    return msgspec.structs.replace(value, **changes) if changes else value


@functools.cache
def _defaults(model: type[msgspec.Struct]) -> tuple[tuple[str, Any], ...]:
    """Each field's name and default (`NODEFAULT` if none); `msgspec.structs.fields` is slow to ask each time."""
    return tuple((field.name, field.default) for field in msgspec.structs.fields(model))


def stored_corpus(tree: ContentTree, db_path: Path | PostgresUrl, leave_out: set[str]) -> tuple[Corpus, list[Problem]]:
    """The corpus as the index last saw it, without `leave_out`, and the problems it had then.

    The write path validates a change against this instead of re-reading
    every file: bring the index up to date first, then add the changed
    documents to the corpus.
    """
    with read_only(db_path) as conn:
        corpus = Corpus(tree=tree)
        rows = conn.execute(f"SELECT {REMEMBERED} FROM files")
        for document in remembered(tree, (row for row in rows if row[0] not in leave_out)):
            corpus.add(document)
        return corpus, stored_problems(conn)


@contextlib.contextmanager
def read_only(db_path: Path | PostgresUrl) -> Iterator[Any]:
    """The index at `db_path` (a SQLite file or Postgres), read-only, with the rows an index run sees."""
    if isinstance(db_path, PostgresUrl):
        from cms.index import postgres  # psycopg costs 0.3 s to import: only when used

        with postgres.reading(db_path) as index:
            yield index
        return
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        yield conn
    finally:
        conn.close()


def stored_problems(conn: sqlite3.Connection) -> list[Problem]:
    """The problems the last run found, as it stored them."""
    columns = list(tables.TABLES["problems"])
    return [Problem(**{k: v for k, v in zip(columns, row, strict=True) if v is not None})
            for row in conn.execute(f"SELECT {', '.join(map(_quoted, columns))} FROM problems")]


def _quoted(column: str) -> str:
    """A column name as SQL, quoted: `column` is a keyword of Postgres."""
    return f'"{column}"'
