"""Path parameters, each named and described once, so reads and writes on one resource share one path.

OpenAPI allows one templated path per resource: `GET /courses/{course}` and
`PUT /courses/{course}` must use the same parameter name, so every handler
takes its identifiers from here.
"""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

CourseSlug = Annotated[str, Parameter(description="The course's slug.")]
SectionSlug = Annotated[str, Parameter(description="The section's slug (unique within its course).")]
LessonSlug = Annotated[str, Parameter(description="The lesson's slug (unique within its course).")]
ProjectSlug = Annotated[str, Parameter(description="The project's slug.")]
PathSlug = Annotated[str, Parameter(description="The learning path's slug.")]
AuthorSlug = Annotated[str, Parameter(description="The author's slug.")]
MediaId = Annotated[str, Parameter(description="The media record's id (a slug, such as img-3f9c0a1b2c4d).")]
VideoIndex = Annotated[int, Parameter(description="The video snippet's position in the lesson, from 0 (any other "
                                                 "number names no snippet: 404).")]
UserId = Annotated[int, Parameter(ge=1, le=2**53, description="The user's id.")]
