"""Each entry's history: the commits that touched its file, newest first, following renames (`git log --follow`).

Public for the entries the caller may read (a hidden one answers 404, as its detail route does; ADMIN and
MODERATOR tokens see every entry's). With `?ref=` the history is the one that ref has, from its index.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency

from api.deps import Opened, Services, View
from api.pagination import PageNumber, PageSize, paged
from api.params import AuthorSlug, CourseSlug, LessonSlug, PathSlug, ProjectSlug
from api.schemas import HistoryPage
from api.spec import documented
from cms.review.history import Entry, entry_history

HISTORY = documented(404, paged=True)


def _history(request: Request[Any, Any, Any], services: Services, view: View, entry: Entry, page: int,
             page_size: int) -> Response[HistoryPage]:
    changes = entry_history(view.conn, services.repo, entry, view.hidden, view.commit)
    start = (page - 1) * page_size
    rows = [{"commit": c.commit, "author": c.author, "date": c.date, "message": c.message}
            for c in changes[start:start + page_size]]
    return paged(request, rows, len(changes), page, page_size, HistoryPage)


@get("/courses/{course:str}/history", tags=["courses"], opt=HISTORY, sync_to_thread=True)
def course_history(request: Request[Any, Any, Any], services: Opened, view: NamedDependency[View],
                   course: CourseSlug, page: PageNumber = 1, page_size: PageSize = 20) -> Response[HistoryPage]:
    """The commits that touched the course's file (`course.md`), newest first, across renames."""
    return _history(request, services, view, Entry("course", (course,)), page, page_size)


@get("/courses/{course:str}/lessons/{lesson:str}/history", tags=["courses"], opt=HISTORY, sync_to_thread=True)
def lesson_history(request: Request[Any, Any, Any], services: Opened, view: NamedDependency[View],
                   course: CourseSlug, lesson: LessonSlug, page: PageNumber = 1,
                   page_size: PageSize = 20) -> Response[HistoryPage]:
    """The commits that touched the lesson's file, newest first, across renames and moves between sections."""
    return _history(request, services, view, Entry("lesson", (course, lesson)), page, page_size)


@get("/projects/{project:str}/history", tags=["projects"], opt=HISTORY, sync_to_thread=True)
def project_history(request: Request[Any, Any, Any], services: Opened, view: NamedDependency[View],
                    project: ProjectSlug, page: PageNumber = 1, page_size: PageSize = 20) -> Response[HistoryPage]:
    """The commits that touched the project's file, newest first, across renames."""
    return _history(request, services, view, Entry("project", (project,)), page, page_size)


@get("/authors/{author:str}/history", tags=["authors"], opt=HISTORY, sync_to_thread=True)
def author_history(request: Request[Any, Any, Any], services: Opened, view: NamedDependency[View],
                   author: AuthorSlug, page: PageNumber = 1, page_size: PageSize = 20) -> Response[HistoryPage]:
    """The commits that touched the author's profile, newest first, across renames."""
    return _history(request, services, view, Entry("author", (author,)), page, page_size)


@get("/paths/{path:str}/history", tags=["paths"], opt=HISTORY, sync_to_thread=True)
def path_history(request: Request[Any, Any, Any], services: Opened, view: NamedDependency[View],
                 path: PathSlug, page: PageNumber = 1, page_size: PageSize = 20) -> Response[HistoryPage]:
    """The commits that touched the learning path's file, newest first, across renames."""
    return _history(request, services, view, Entry("path", (path,)), page, page_size)


HANDLERS = [course_history, lesson_history, project_history, author_history, path_history]
