"""Portfolio projects."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from api.deps import View
from api.pagination import PageNumber, PageSize, Text, paged, text_filter
from api.params import ProjectSlug
from api.schemas import ProjectDetail, ProjectPage, to_wire
from api.spec import documented
from cms.read import queries, views

ProjectType = text_filter("Only projects of this type.")
Tech = text_filter("Only projects using this technology (any case).")
Featured = Annotated[bool | None, Parameter(description="Only featured projects (true) or the others (false).")]


class ProjectController(Controller):
    path = "/projects"
    tags = ["projects"]

    @get("/", opt=documented(paged=True))
    async def list_projects(self, request: Request[Any, Any, Any], view: NamedDependency[View],
                            project_type: ProjectType = None, featured: Featured = None,
                            tech: Tech = None, q: Text = None, page: PageNumber = 1,
                            page_size: PageSize = 20) -> Response[ProjectPage]:
        """Published projects, featured first."""
        filters = queries.ProjectFilters(project_type=project_type, featured=featured, tech=tech, q=q)
        rows, total = queries.list_projects(view.conn, filters, page, page_size, view.hidden)
        return paged(request, views.project_summaries(view.conn, rows, view.hidden), total, page, page_size,
                     ProjectPage)

    @get("/{project:str}", opt=documented(404))
    async def get_project(self, view: NamedDependency[View], project: ProjectSlug) -> ProjectDetail:
        """One project with its detail page rendered to HTML."""
        return to_wire(views.project_detail(view.conn, project, view.hidden), ProjectDetail)
