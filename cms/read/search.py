"""Full-text search over courses, lessons and projects: user words → an FTS5 query → ranked, highlighted hits."""

from __future__ import annotations

import html
import re
import sqlite3
from typing import Any

from cms.read.visibility import NOW, visible

_WORD = re.compile(r"\w+", re.UNICODE)


MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"
"""Highlight sentinels (private-use characters): snippets are escaped first, then marked up."""


def matching(kind: str, column: str) -> str:
    """`column` is the slug of an entry of `kind` whose text matches the search `:q`."""
    return (f"{column} IN (SELECT d.slug FROM search JOIN search_docs d ON d.id = search.rowid "
            f"WHERE search MATCH :q AND d.kind = '{kind}')")


def fts_or_nothing(text: str | None) -> str | None:
    """A search filter's FTS query; words that leave nothing to search for match nothing."""
    return None if text is None else (fts_query(text) or '""')


def fts_query(text: str) -> str | None:
    """User words as an FTS5 query: every word must appear (prefix match on the last). None if no words."""
    words = _WORD.findall(text)
    if not words:
        return None
    quoted = [f'"{word}"' for word in words]
    quoted[-1] += "*"
    return " ".join(quoted)


HITS = ("SELECT d.id, d.kind, d.course, c.title AS course_title, d.slug, search.title, "
        f"snippet(search, 1, '{MARK_OPEN}', '{MARK_CLOSE}', '…', 16) AS snippet "
        "FROM search JOIN search_docs d ON d.id = search.rowid LEFT JOIN courses c ON c.slug = d.course "
        "WHERE search MATCH ? AND search.rowid IN ({ids})")
"""A page's hits with their snippets, by rowid (their rank comes from the ranking query: bm25 is not computed
again, and FTS5 sets the query up once for the page)."""


def search(conn: sqlite3.Connection, text: str, kind: str | None, course_slug: str | None, page: int,
           page_size: int, hidden: bool = False) -> tuple[list[dict[str, Any]], int]:
    """Ranked hits over courses, lessons and projects, visible ones only, with highlighted snippets."""
    query = fts_query(text)
    if query is None:
        return [], 0
    shown = visible(f"d.listed = 1 AND (d.publish_at IS NULL OR d.publish_at <= {NOW})", hidden)
    where = f"search MATCH :q AND ({shown})"
    params: dict[str, Any] = {"q": query, "kind": kind, "course": course_slug}
    if kind is not None:
        where += " AND d.kind = :kind"
    if course_slug is not None:
        where += " AND d.course = :course"
    hits = "FROM search JOIN search_docs d ON d.id = search.rowid WHERE " + where
    total = conn.execute(f"SELECT COUNT(*) AS n {hits}", params).fetchone()["n"]
    ranked = {row["id"]: row["rank"] for row in conn.execute(
        f"SELECT d.id, bm25(search, 10.0, 1.0) AS rank {hits} ORDER BY rank, d.slug LIMIT :limit OFFSET :offset",
        {**params, "limit": page_size, "offset": (page - 1) * page_size})}
    if not ranked:
        return [], total
    rows = {row["id"]: row for row in conn.execute(HITS.format(ids=", ".join("?" * len(ranked))), [query, *ranked])}
    return [_hit({**rows[page_id], "rank": rank}) for page_id, rank in ranked.items()], total


def _hit(row: dict[str, Any]) -> dict[str, Any]:
    """A hit as served: its public path, and a score where higher is better (bm25 ranks lower as better)."""
    course = None if row["kind"] == "course" or row["course"] is None else \
        {"slug": row["course"], "title": row["course_title"]}
    return {"kind": row["kind"], "slug": row["slug"], "course": course, "title": row["title"],
            "path": public_path(row["kind"], row["slug"], row["course"]), "snippet": _marked(row["snippet"] or ""),
            "score": -row["rank"]}


def public_path(kind: str, slug: str, course: str | None) -> str:
    """Where an entry lives on the public site, as rewritten links point to it (`/courses/<c>/lessons/<l>`)."""
    if kind == "lesson":
        return f"/courses/{course}/lessons/{slug}"
    return f"/{kind}s/{slug}"


def _marked(snippet: str) -> str:
    """A snippet as safe HTML: the indexed text is plain (markup in it is literal), so escape it, then mark."""
    return html.escape(snippet).replace(MARK_OPEN, "<mark>").replace(MARK_CLOSE, "</mark>")
