"""The whole content tree, parsed: files found, documents by kind and slug.

`load` reads a content directory into a `Corpus` (in parallel for large
trees); `ContentTree` knows where the directory sits in its git repository,
so problems name files the way git and CI annotations do.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec.structs import replace

from cms.content.frontmatter import LazyMarks
from cms.content.parse import Document, parse_bytes
from cms.content.sources import Kind, Source, classify, walk
from cms.errors import ConfigError
from cms.problems import Problem

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

PARALLEL_THRESHOLD = 2000
"""Below this many files a process pool costs more than it saves."""
CHUNK = 250


@dataclass(frozen=True)
class ContentTree:
    """A content directory and the repository it lives in."""

    content_dir: Path
    repo_root: Path

    @classmethod
    def locate(cls, content_dir: Path) -> ContentTree:
        content_dir = content_dir.resolve()
        if not content_dir.is_dir():
            raise ConfigError(f"content directory {content_dir} does not exist (set CMS_CONTENT_DIR)")
        return cls(content_dir=content_dir, repo_root=_repository_root(content_dir))

    @functools.cached_property
    def prefix(self) -> str:
        """How content paths are written relative to the repository root (`content/`)."""
        rel = self.content_dir.relative_to(self.repo_root).as_posix()
        return "" if rel == "." else f"{rel}/"

    def label(self, path: str) -> str:
        return f"{self.prefix}{path}"

    def read(self, path: str) -> Document | Problem:
        """Parse one content-relative file."""
        source = classify(path)
        if isinstance(source, Problem):
            return _relabel(source, self.label(path))
        try:
            raw = (self.content_dir / path).read_bytes()
        except OSError as error:
            return Problem(file=self.label(path), rule="unreadable",
                           message=f"the file cannot be read: {error.strerror}")
        return self.parse(source, raw)

    def parse(self, source: Source, raw: bytes) -> Document:
        return parse_bytes(source, raw, self.label(source.path))


def _repository_root(content_dir: Path) -> Path:
    for folder in (content_dir, *content_dir.parents):
        if (folder / ".git").exists():
            return folder
    return content_dir.parent


def _relabel(problem: Problem, file: str) -> Problem:
    return replace(problem, file=file)


@dataclass
class Corpus:
    """Every parsed document, with lookups by kind and slug."""

    tree: ContentTree
    documents: dict[str, Document] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def add(self, item: Document | Problem) -> None:
        if isinstance(item, Problem):
            self.problems.append(item)
        else:
            self.documents[item.source.path] = item

    def of_kind(self, kind: Kind) -> list[Document]:
        return [doc for doc in self.documents.values() if doc.source.kind is kind]

    def slugs(self, kind: Kind) -> dict[str, Document]:
        return {doc.source.slug: doc for doc in self.of_kind(kind)}

    def all_problems(self) -> Iterable[Problem]:
        yield from self.problems
        for document in self.documents.values():
            yield from document.problems


def load(tree: ContentTree, workers: int | None = None) -> Corpus:
    """Walk and parse a whole content directory; every problem is kept, none raised."""
    listing = walk(tree.content_dir, tree.prefix)
    corpus = Corpus(tree=tree, problems=list(listing.problems))
    for item in _read_all(tree, listing.files, workers):
        corpus.add(item)
    return corpus


def _read_all(tree: ContentTree, paths: list[str], workers: int | None) -> Iterable[Document | Problem]:
    workers = workers or usable_cpus()
    if workers < 2 or len(paths) < PARALLEL_THRESHOLD:
        return [tree.read(path) for path in paths]
    chunks = [paths[start:start + CHUNK] for start in range(0, len(paths), CHUNK)]
    with worker_pool(workers, __name__) as pool:
        return [item for chunk in pool.map(_read_chunk, [tree] * len(chunks), chunks) for item in chunk]


def _read_chunk(tree: ContentTree, paths: list[str]) -> list[Document | Problem]:
    """Documents as cheap to send back as can be: no body (nothing after parsing needs it), marks as JSON."""
    items = [tree.read(path) for path in paths]
    for item in items:
        if isinstance(item, Document):
            item.body = ""
            item.marks = LazyMarks(LazyMarks.encode(item.marks))  # type: ignore[assignment]
    return items


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_pool(workers: int, preload: str) -> ProcessPoolExecutor:
    """Worker processes forked from a fork server that has imported `preload`.

    Never plain `fork`: a process with threads (the watcher, a server) can
    hand a child a lock some other thread held at the time of the fork.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([preload])
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)
