"""The per-file work of an index run: parse, render, turn into rows; in worker processes for large batches."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor

import msgspec

from cms.content.corpus import ContentTree
from cms.content.parse import Document
from cms.content.sources import Kind, Source, classify
from cms.index.rows import Rows, Stamp, render_document, rows_for

PARALLEL_THRESHOLD = 200


CHUNK = 100


ParseJob = tuple[str, str, bytes | None]
"""A file to parse: content path, blob id, and its content when it is not read from disk."""


class Parsed(msgspec.Struct):
    """A file parsed by a worker and, if it parsed cleanly, rendered into its rows (dated later)."""

    document: Document
    rows: Rows | None


def parse_all(tree: ContentTree, files: list[ParseJob], workers: int) -> Iterable[Parsed]:
    if workers < 2 or len(files) < PARALLEL_THRESHOLD:
        yield from (parse_one(tree, *job) for job in files)
        return
    chunks = [files[i:i + CHUNK] for i in range(0, len(files), CHUNK)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for batch in pool.map(_parse_chunk, [tree] * len(chunks), chunks):
            yield from batch


def _parse_chunk(tree: ContentTree, files: list[ParseJob]) -> list[Parsed]:
    return [parse_one(tree, *job) for job in files]


def parse_one(tree: ContentTree, path: str, blob: str, raw: bytes | None = None) -> Parsed:
    """Parse, render and turn into rows: the per-file work, done in a worker process for big runs.

    `raw` is the content when it does not come from the file on disk (a conflicted file's HEAD version).
    """
    source = classify(path)
    assert isinstance(source, Source)
    document = tree.parse(source, (tree.content_dir / path).read_bytes() if raw is None else raw)
    rows = None
    if document.ok:
        has_body = source.kind not in (Kind.MEDIA, Kind.CATEGORIES)
        rendered = render_document(document) if has_body else None
        rows = rows_for(document, rendered, Stamp(version=blob, created_at=None, updated_at=None))
    document.body = ""
    return Parsed(document=document, rows=rows)
