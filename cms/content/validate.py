"""Corpus-wide checks: what no single file can tell about itself.

Each check is a small function over the `Corpus` returning problems; the
validator runs them all and never stops at the first finding.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import msgspec

from cms.content.corpus import ContentTree, Corpus, load
from cms.content.links import fragment
from cms.content.models import Course, Media
from cms.content.parse import Document
from cms.content.sources import Kind
from cms.problems import Problem, sort_key

Check = Callable[[Corpus], Iterable[Problem]]


class Report(msgspec.Struct):
    """The outcome of validating a tree."""

    files: int
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]


def validate_dir(content_dir: Path, moved: Mapping[str, str] | None = None) -> Report:
    """Validate a content directory: every file, then the corpus (`moved`: see `check`)."""
    corpus = load(ContentTree.locate(content_dir))
    return Report(files=len(corpus.documents), problems=check(corpus, moved))


def check(corpus: Corpus, moved: Mapping[str, str] | None = None) -> list[Problem]:
    """Every problem of the corpus: per file and across files, sorted by place.

    `moved` maps content paths git saw renamed to where their files are now (`cms.index.redirects`):
    a link to an old path is then a warning, since the old address redirects, not a broken link.
    """
    problems = list(corpus.all_problems())
    for run in CHECKS:
        problems.extend(run(corpus))
    problems.extend(check_links(corpus, moved or {}))
    return sorted(problems, key=sort_key)


def check_parents(corpus: Corpus) -> Iterable[Problem]:
    """Every section lives in a course; every lesson in a section."""
    courses = corpus.slugs(Kind.COURSE)
    section_dirs = {doc.source.section_dir for doc in corpus.of_kind(Kind.SECTION)}
    for doc in corpus.documents.values():
        if doc.source.course is not None and doc.source.course not in courses:
            yield Problem(file=doc.file, rule="missing-parent", message="this folder has no course.md",
                          expected=f"courses/{doc.source.course}/course.md", found="nothing")
        elif doc.source.kind is Kind.LESSON and doc.source.section_dir not in section_dirs:
            yield Problem(file=doc.file, rule="missing-parent", message="this lesson's folder has no section.md",
                          expected=f"{doc.source.section_dir}/section.md", found="nothing")


def check_orders_and_slugs(corpus: Corpus) -> Iterable[Problem]:
    """Order numbers unique among siblings; section and lesson slugs unique within a course."""
    groups: dict[tuple[str, ...], list[Document]] = defaultdict(list)
    for doc in corpus.documents.values():
        source = doc.source
        if source.kind is Kind.SECTION:
            groups[("section-order", source.course or "")].append(doc)
            groups[("section-slug", source.course or "")].append(doc)
        elif source.kind is Kind.LESSON:
            groups[("lesson-order", source.section_dir or "")].append(doc)
            groups[("lesson-slug", source.course or "")].append(doc)
    for (what, _), docs in groups.items():
        key = (lambda d: d.source.order) if what.endswith("order") else (lambda d: d.source.slug)
        yield from _duplicates(docs, key, what)


def _duplicates(docs: list[Document], key: Callable[[Document], object], what: str) -> Iterable[Problem]:
    seen: dict[object, Document] = {}
    for doc in sorted(docs, key=lambda d: d.source.path):
        value = key(doc)
        if value in seen:
            noun = "order number" if what.endswith("order") else "slug"
            rule = "duplicate-order" if noun == "order number" else "duplicate-slug"
            yield Problem(file=doc.file, rule=rule, field="order" if noun == "order number" else "slug",
                          message=f"{what.split('-')[0]} {noun} {value!r} is already used by {seen[value].file}",
                          expected=f"a {noun} unique among its siblings", found=repr(value))
        else:
            seen[value] = doc


def check_references(corpus: Corpus) -> Iterable[Problem]:
    """Instructor, category, media, prerequisites and path courses name things that exist."""
    known = _known(corpus)
    for doc in corpus.documents.values():
        for kind, value, path in doc.references:
            yield from _check_reference(doc, kind, value, path, known)


def _known(corpus: Corpus) -> dict[str, dict[str, Document | None]]:
    categories: dict[str, Document | None] = {}
    for doc in corpus.of_kind(Kind.CATEGORIES):
        categories.update({category.slug: None for category in doc.entry or []})
    return {"author": dict(corpus.slugs(Kind.AUTHOR)), "category": categories,
            "media": dict(corpus.slugs(Kind.MEDIA)), "course": dict(corpus.slugs(Kind.COURSE))}


def _check_reference(doc: Document, kind: str, value: str, path: tuple[str | int, ...],
                     known: dict[str, dict[str, Document | None]]) -> Iterable[Problem]:
    if value not in known[kind]:
        where = {"author": "authors/", "category": "categories.yml", "media": "media/", "course": "courses/"}[kind]
        yield doc.problem("reference", f"{kind} {value!r} does not exist", *path,
                          expected=f"a {kind} defined in {where}", found=repr(value))
        return
    target = known[kind][value]
    if target is not None and isinstance(target.entry, Media) and target.entry.deleted:
        yield doc.problem("reference-deleted", f"media {value!r} is deleted", *path,
                          expected="a media record that is not deleted", found=f"{target.file} (deleted: true)")


def check_prerequisite_cycles(corpus: Corpus) -> Iterable[Problem]:
    """Prerequisites form no loop (a → b → a)."""
    graph = {slug: [p for p in doc.entry.prerequisites if p != slug]
             for slug, doc in corpus.slugs(Kind.COURSE).items() if isinstance(doc.entry, Course)}
    courses = corpus.slugs(Kind.COURSE)
    for cycle in _cycles(graph):
        doc = courses[cycle[0]]
        yield doc.problem("prerequisite-cycle", "prerequisites form a cycle", "prerequisites",
                          expected="no course requiring itself through others", found=" → ".join(cycle))


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """One cycle per strongly tangled group, found by depth-first search (iterative)."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []
    for start in sorted(graph):
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        trail: list[str] = []
        while stack:
            node, index = stack.pop()
            if index == 0:
                state[node] = 1
                trail.append(node)
            children = [c for c in graph.get(node, []) if c in graph]
            if index < len(children):
                stack.append((node, index + 1))
                child = children[index]
                if state.get(child) == 1:
                    cycles.append([*trail[trail.index(child):], child])
                elif not state.get(child):
                    stack.append((child, 0))
            else:
                state[node] = 2
                trail.pop()
    return cycles


def check_unique_records(corpus: Corpus) -> Iterable[Problem]:
    """Category slugs and media public ids are unique."""
    for doc in corpus.of_kind(Kind.CATEGORIES):
        seen: set[str] = set()
        for index, category in enumerate(doc.entry or []):
            if category.slug in seen:
                yield doc.problem("duplicate-slug", f"category {category.slug!r} is listed twice", index, "slug",
                                  expected="unique category slugs", found=repr(category.slug))
            seen.add(category.slug)
    owners: dict[str, Document] = {}
    for doc in corpus.of_kind(Kind.MEDIA):
        if isinstance(doc.entry, Media):
            first = owners.setdefault(doc.entry.public_id, doc)
            if first is not doc:
                yield doc.problem("duplicate-public-id", f"public_id is already used by {first.file}", "public_id",
                                  expected="a public_id unique among media records", found=repr(doc.entry.public_id))


def check_links(corpus: Corpus, moved: Mapping[str, str]) -> Iterable[Problem]:
    """Relative links from one content file to another point at a file that exists, or at the old path of one
    git saw renamed (a warning: the old address redirects, but the link should name the file as it is now)."""
    for doc in corpus.documents.values():
        for target, line, path in doc.links:
            if path in corpus.documents:
                continue
            now = moved.get(path)
            if now in corpus.documents:
                yield _renamed_link(corpus, doc, target, doc.body_line + line, path, now)  # type: ignore[arg-type]
            else:
                yield Problem(file=doc.file, line=doc.body_line + line, rule="broken-link",
                              message=f"link {target!r} points to no content file",
                              expected="a relative path to an existing .md file", found=corpus.tree.label(path))


def _renamed_link(corpus: Corpus, doc: Document, target: str, line: int, old: str, now: str) -> Problem:
    label = corpus.tree.label
    relative = posixpath.relpath(now, posixpath.dirname(doc.source.path)) + fragment(target)
    return Problem(file=doc.file, line=line, rule="renamed-link", severity="warning",
                   message=f"link {target!r} points to {label(old)}, which git saw renamed to {label(now)}: "
                           f"the old address redirects, but link to {relative!r}",
                   expected=relative, found=target)


CHECKS: list[Check] = [check_parents, check_orders_and_slugs, check_references, check_prerequisite_cycles,
                       check_unique_records]
"""The checks over the corpus alone; `check_links` also takes what git saw renamed."""
