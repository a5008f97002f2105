"""Authors, categories, learning paths and media records."""

from __future__ import annotations

import sqlite3

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath

from api.deps import View
from api.schemas import AuthorDetail, AuthorSummary, CategoryOut, MediaOut, PathDetail, PathSummary, to_wire
from cms.read import queries, views


@get("/authors", tags=["authors"])
async def list_authors(conn: NamedDependency[sqlite3.Connection]) -> list[AuthorSummary]:
    """Public author profiles."""
    return to_wire(queries.list_authors(conn), list[AuthorSummary])


@get("/authors/{author:str}", tags=["authors"])
async def get_author(view: NamedDependency[View], author: FromPath[str]) -> AuthorDetail:
    """One author's public profile with their published courses."""
    return to_wire(views.author_detail(view.conn, author, view.hidden), AuthorDetail)


@get("/categories", tags=["categories"])
async def list_categories(view: NamedDependency[View]) -> list[CategoryOut]:
    """Categories with the number of published courses in each."""
    return to_wire(queries.list_categories(view.conn, view.hidden), list[CategoryOut])


@get("/paths", tags=["paths"])
async def list_paths(view: NamedDependency[View]) -> list[PathSummary]:
    """Published learning paths."""
    return to_wire(views.paths(view.conn, view.hidden), list[PathSummary])


@get("/paths/{path_slug:str}", tags=["paths"])
async def get_path(view: NamedDependency[View], path_slug: FromPath[str]) -> PathDetail:
    """One learning path with its courses in order."""
    return to_wire(views.path_detail(view.conn, path_slug, view.hidden), PathDetail)


@get("/media/{media_id:str}", tags=["media"])
async def get_media(view: NamedDependency[View], media_id: FromPath[str]) -> MediaOut:
    """One media record (not deleted)."""
    return to_wire(views.media_detail(view.conn, media_id, view.hidden), MediaOut)


HANDLERS = [list_authors, get_author, list_categories, list_paths, get_path, get_media]
