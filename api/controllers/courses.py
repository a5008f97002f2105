"""Courses, their sections and lessons."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from api.caching import json_answer, kept_while, stored_as
from api.deps import View
from api.pagination import PageNumber, PageSize, Text, link_header, paged_list
from api.params import CourseSlug, LessonSlug, SectionSlug
from api.schemas import CourseDetail, CoursePage, LessonDetail, LessonPage, SectionDetail, SectionPage, to_wire
from api.spec import documented
from cms.index.documents import course_key, lesson_key
from cms.read import documents, queries, views

CourseSort = Annotated[Literal["title", "-updated_at", "price", "-price"],
                       Parameter(description="Order: `title`, `-updated_at` (newest first), `price`, `-price`.")]
Difficulty = Annotated[Literal["beginner", "intermediate", "advanced"] | None,
                       Parameter(description="Only courses of this difficulty.")]
# The constraint must sit on the optional type: Litestar ignores it on `Annotated[...] | None`.
Price = Annotated[float | None, Parameter(ge=0, le=1_000_000, description="A price bound, in the course's currency.",
                                          schema_extra={"minimum": 0})]  # Litestar drops a bound of 0
Category = Annotated[str | None, Parameter(min_length=1, max_length=200, description="Only courses in this "
                                                                                     "category (its slug).")]
Tag = Annotated[str | None, Parameter(min_length=1, max_length=200, description="Only courses with this tag.")]
Instructor = Annotated[str | None, Parameter(min_length=1, max_length=200, description="Only courses by this "
                                                                                       "author (their slug).")]
SectionFilter = Annotated[str | None, Parameter(min_length=1, max_length=200, description="Only the lessons of "
                                                                                          "this section (its slug).")]


class CourseController(Controller):
    path = "/courses"
    tags = ["courses"]

    @get("/", opt=documented(paged=True) | kept_while(documents.seconds_until_published))
    async def list_courses(self, request: Request[Any, Any, Any], view: NamedDependency[View],
                           difficulty_level: Difficulty = None, category: Category = None,
                           tag: Tag = None, instructor: Instructor = None, q: Text = None,
                           min_price: Price = None, max_price: Price = None,
                           sort: CourseSort = "-updated_at", page: PageNumber = 1,
                           page_size: PageSize = 20) -> Response[CoursePage]:
        """Published courses, filtered, sorted and paged."""
        filters = queries.CourseFilters(difficulty_level=difficulty_level, category=category, tag=tag,
                                        instructor=instructor, q=q, min_price=min_price, max_price=max_price)
        body, total = documents.course_page(view.conn, filters, sort, page, page_size, view.hidden)
        return json_answer(body, headers=link_header(request, page, page_size, total))

    @get("/{course:str}", opt=documented(404) | stored_as(lambda params: course_key(params["course"])))
    async def get_course(self, view: NamedDependency[View], course: CourseSlug) -> Response[CourseDetail]:
        """One course with instructor, category, image, totals and its outline."""
        return json_answer(*documents.course(view.conn, course, view.hidden))

    @get("/{course:str}/sections", opt=documented(404, paged=True))
    async def list_sections(self, request: Request[Any, Any, Any], view: NamedDependency[View], course: CourseSlug,
                            page: PageNumber = 1, page_size: PageSize = 20) -> Response[SectionPage]:
        """The course's sections in order."""
        return paged_list(request, views.sections(view.conn, course, view.hidden), page, page_size, SectionPage)

    @get("/{course:str}/sections/{section:str}", opt=documented(404))
    async def get_section(self, view: NamedDependency[View], course: CourseSlug,
                          section: SectionSlug) -> SectionDetail:
        """One section with its lessons."""
        return to_wire(views.section_detail(view.conn, course, section, view.hidden), SectionDetail)

    @get("/{course:str}/lessons", opt=documented(404, paged=True))
    async def list_lessons(self, request: Request[Any, Any, Any], view: NamedDependency[View], course: CourseSlug,
                           section: SectionFilter = None, page: PageNumber = 1,
                           page_size: PageSize = 20) -> Response[LessonPage]:
        """The course's lessons in course order, optionally of one section."""
        rows = views.lessons(view.conn, course, section, view.hidden)
        return paged_list(request, rows, page, page_size, LessonPage)

    @get("/{course:str}/lessons/{lesson:str}",
         opt=documented(404) | stored_as(lambda params: lesson_key(params["course"], params["lesson"])))
    async def get_lesson(self, view: NamedDependency[View], course: CourseSlug,
                         lesson: LessonSlug) -> Response[LessonDetail]:
        """One lesson: fields, markdown `body`, rendered HTML, table of contents, videos, and its neighbours."""
        return json_answer(*documents.lesson(view.conn, course, lesson, view.hidden))
