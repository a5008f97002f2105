"""Portfolio projects."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from api.deps import View
from api.pagination import PageNumber, PageSize, Text, paged
from api.schemas import Page, ProjectDetail, ProjectSummary, to_wire
from cms.read import queries, views


class ProjectController(Controller):
    path = "/projects"
    tags = ["projects"]

    @get("/")
    async def list_projects(self, request: Request[Any, Any, Any], view: NamedDependency[View],
                            project_type: Text = None, featured: FromQuery[bool | None] = None,
                            tech: Text = None, q: Text = None, page: PageNumber = 1,
                            page_size: PageSize = 20) -> Response[Page[ProjectSummary]]:
        """Published projects, featured first."""
        filters = queries.ProjectFilters(project_type=project_type, featured=featured, tech=tech, q=q)
        rows, total = queries.list_projects(view.conn, filters, page, page_size, view.hidden)
        return paged(request, rows, total, page, page_size, ProjectSummary)

    @get("/{project:str}")
    async def get_project(self, view: NamedDependency[View], project: FromPath[str]) -> ProjectDetail:
        """One project with its detail page rendered to HTML."""
        return to_wire(views.project_detail(view.conn, project, view.hidden), ProjectDetail)
