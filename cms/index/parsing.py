"""The per-file work of an index run: parse, render, turn into rows; in worker processes for large batches.

A worker returns what the writer stores as it is: the file's `files` row
(its entry, marks, links and problems already encoded) and the rows of its
tables, dated. The writer inserts them as they come, so a cold build never
holds the whole rendered corpus in memory.

The workers come from a fork server (`cms.content.corpus.worker_pool`): the
watcher runs threads (watchfiles), and forking a process that has threads
can copy a held lock into the child. The fork server imports this module
once; each worker is forked from it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from cms.content.corpus import ContentTree, usable_cpus, worker_pool
from cms.content.sources import Kind, Source, classify
from cms.index.rows import Rows, Stamp, render_document, rows_for
from cms.index.stored import file_record

if TYPE_CHECKING:
    from concurrent.futures import Future

PARALLEL_THRESHOLD = 200
"""Below this many files, starting worker processes costs more than it saves."""
CHUNK = 50
"""Files per task: small enough that results stream back evenly, big enough to amortise the round trip."""
IN_FLIGHT_PER_WORKER = 3
"""Tasks handed out ahead per worker, so the writer is never starved and results never pile up."""


ParseJob = tuple[str, Stamp, bytes | None]
"""A file to parse: content path, its blob id and dates, and its content when it is not read from disk."""


class Parsed(msgspec.Struct):
    """A file parsed by a worker: its `files` row and, if it parsed cleanly, the rows of its tables."""

    path: str
    record: dict[str, Any]
    rows: Rows | None


def parse_all(tree: ContentTree, files: list[ParseJob], workers: int) -> Iterator[Parsed]:
    """Every file parsed, in the order given: in this process, or in `workers` processes for large batches."""
    if workers < 2 or len(files) < PARALLEL_THRESHOLD:
        yield from (parse_one(tree, *job) for job in files)
        return
    chunks = [files[start:start + CHUNK] for start in range(0, len(files), CHUNK)]
    with worker_pool(workers, __name__) as pool:
        pending: deque[Future[list[Parsed]]] = deque()
        for chunk in chunks:
            pending.append(pool.submit(_parse_chunk, tree, chunk))
            if len(pending) >= workers * IN_FLIGHT_PER_WORKER:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


def _parse_chunk(tree: ContentTree, files: list[ParseJob]) -> list[Parsed]:
    return [parse_one(tree, *job) for job in files]


def parse_one(tree: ContentTree, path: str, stamp: Stamp, raw: bytes | None = None) -> Parsed:
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
        rows = rows_for(document, rendered, stamp)
    return Parsed(path=path, record=file_record(document, stamp, document.ok), rows=rows)


def worker_count(requested: int | None) -> int:
    """The workers a run may use: as asked, else one per usable CPU."""
    return requested or usable_cpus()
