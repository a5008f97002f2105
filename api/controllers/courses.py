"""Courses, their sections and lessons."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, Parameter

from api.deps import View
from api.pagination import PageNumber, PageSize, Text, paged
from api.schemas import (
    CourseDetail,
    CourseSummary,
    LessonDetail,
    LessonSummary,
    Page,
    SectionDetail,
    SectionSummary,
    to_wire,
)
from cms.read import queries, views

CourseSort = Literal["title", "-updated_at", "price", "-price"]
Difficulty = Literal["beginner", "intermediate", "advanced"]
# The constraint must sit on the optional type: Litestar ignores it on `Annotated[...] | None`.
Price = Annotated[float | None, Parameter(ge=0, le=1_000_000)]


class CourseController(Controller):
    path = "/courses"
    tags = ["courses"]

    @get("/")
    async def list_courses(self, request: Request[Any, Any, Any], view: NamedDependency[View],
                           difficulty_level: FromQuery[Difficulty | None] = None, category: Text = None,
                           tag: Text = None, instructor: Text = None, q: Text = None,
                           min_price: Price = None, max_price: Price = None,
                           sort: FromQuery[CourseSort] = "-updated_at", page: PageNumber = 1,
                           page_size: PageSize = 20) -> Response[Page[CourseSummary]]:
        """Published courses, filtered, sorted and paged."""
        filters = queries.CourseFilters(difficulty_level=difficulty_level, category=category, tag=tag,
                                        instructor=instructor, q=q, min_price=min_price, max_price=max_price)
        rows, total = queries.list_courses(view.conn, filters, sort, page, page_size, view.hidden)
        return paged(request, rows, total, page, page_size, CourseSummary)

    @get("/{course:str}")
    async def get_course(self, view: NamedDependency[View], course: FromPath[str]) -> CourseDetail:
        """One course with instructor, category, image, totals and its outline."""
        return to_wire(views.course_detail(view.conn, course, view.hidden), CourseDetail)

    @get("/{course:str}/sections")
    async def list_sections(self, view: NamedDependency[View], course: FromPath[str]) -> list[SectionSummary]:
        """The course's sections in order."""
        return to_wire(views.sections(view.conn, course, view.hidden), list[SectionSummary])

    @get("/{course:str}/sections/{section:str}")
    async def get_section(self, view: NamedDependency[View], course: FromPath[str],
                          section: FromPath[str]) -> SectionDetail:
        """One section with its lessons."""
        return to_wire(views.section_detail(view.conn, course, section, view.hidden), SectionDetail)

    @get("/{course:str}/lessons")
    async def list_lessons(self, view: NamedDependency[View], course: FromPath[str],
                           section: Text = None) -> list[LessonSummary]:
        """The course's lessons in course order, optionally of one section."""
        return to_wire(views.lessons(view.conn, course, section, view.hidden), list[LessonSummary])

    @get("/{course:str}/lessons/{lesson:str}")
    async def get_lesson(self, view: NamedDependency[View], course: FromPath[str],
                         lesson: FromPath[str]) -> LessonDetail:
        """One lesson: fields, rendered HTML, table of contents, videos, and its neighbours."""
        return to_wire(views.lesson_detail(view.conn, course, lesson, view.hidden), LessonDetail)
