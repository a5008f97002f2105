"""Authors, categories, learning paths and media records."""

from __future__ import annotations

import sqlite3

from litestar import get

from api.schemas import AuthorDetail, AuthorSummary, CategoryOut, MediaOut, PathDetail, PathSummary, to_wire
from cms import queries, reader


@get("/authors", tags=["authors"])
async def list_authors(conn: sqlite3.Connection) -> list[AuthorSummary]:
    """Public author profiles."""
    return to_wire(queries.list_authors(conn), list[AuthorSummary])


@get("/authors/{author:str}", tags=["authors"])
async def get_author(conn: sqlite3.Connection, hidden: bool, author: str) -> AuthorDetail:
    """One author's public profile with their published courses."""
    return to_wire(reader.author_detail(conn, author, hidden), AuthorDetail)


@get("/categories", tags=["categories"])
async def list_categories(conn: sqlite3.Connection, hidden: bool) -> list[CategoryOut]:
    """Categories with the number of published courses in each."""
    return to_wire(queries.list_categories(conn, hidden), list[CategoryOut])


@get("/paths", tags=["paths"])
async def list_paths(conn: sqlite3.Connection, hidden: bool) -> list[PathSummary]:
    """Published learning paths."""
    return to_wire(reader.paths(conn, hidden), list[PathSummary])


@get("/paths/{path_slug:str}", tags=["paths"])
async def get_path(conn: sqlite3.Connection, hidden: bool, path_slug: str) -> PathDetail:
    """One learning path with its courses in order."""
    return to_wire(reader.path_detail(conn, path_slug, hidden), PathDetail)


@get("/media/{media_id:str}", tags=["media"])
async def get_media(conn: sqlite3.Connection, hidden: bool, media_id: str) -> MediaOut:
    """One media record (not deleted)."""
    return to_wire(reader.media_detail(conn, media_id, hidden), MediaOut)


HANDLERS = [list_authors, get_author, list_categories, list_paths, get_path, get_media]
