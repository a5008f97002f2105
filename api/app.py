"""The Litestar application: `create_app()` builds it from settings, no globals."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin

from api.auth import AuthMiddleware
from api.caching import CachingMiddleware
from api.controllers import auth, catalog, drafts, hooks, status
from api.controllers.courses import CourseController
from api.controllers.media import MediaController
from api.controllers.projects import ProjectController
from api.controllers.users import UserController
from api.controllers.writes import WRITE_CONTROLLERS
from api.deps import DEPENDENCIES, SERVICES, Services
from api.errors import EXCEPTION_HANDLERS
from api.strictness import strict_request
from cms.accounts import Accounts, check_admin_settings
from cms.lifetime import follow_parent
from cms.media import MediaSetup
from cms.read import LiveIndex
from cms.repo import GitRepo
from cms.settings import Settings
from cms.write import Workspace

API_PREFIX = "/api/v1"


def create_served_app() -> Litestar:
    """The app in a `cms serve` worker: from the environment, and ending with the server that started it."""
    follow_parent(os.getppid())
    return create_app()


def create_app(settings: Settings | None = None, index_path: Path | None = None) -> Litestar:
    """The read API over the index of `settings.content_dir`, and the admin API when CMS_SECRET_KEY is set."""
    settings = settings or Settings.from_env()
    space = Workspace.from_settings(settings, index_path)
    check_admin_settings(settings)  # a half-set or invalid FIRST_SUPERUSER stops here, not inside the server

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        """Open what a worker reads; the index is built before the workers start (`cms serve`, `cms index`)."""
        services = Services(
            settings=settings, repo=GitRepo.open(space.tree.content_dir), index=LiveIndex(space.db_path),
            workspace=space, media=MediaSetup.from_settings(settings), accounts=Accounts.open(settings, space.tree))
        app.state[SERVICES] = services
        try:
            yield
        finally:
            if services.accounts is not None:
                services.accounts.close()

    api = Router(path=API_PREFIX, route_handlers=[CourseController, ProjectController, *catalog.HANDLERS,
                                                  *status.HANDLERS, *auth.HANDLERS, UserController,
                                                  *WRITE_CONTROLLERS, hooks.receive_push, MediaController,
                                                  drafts.create_draft])
    return Litestar(
        route_handlers=[api],
        lifespan=[lifespan],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=strict_request,
        middleware=[DefineMiddleware(CachingMiddleware, max_age=settings.cache_max_age,
                                     hold_seconds=settings.response_hold_seconds), AuthMiddleware],
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins)) if settings.cors_origins else None,
        openapi_config=OpenAPIConfig(
            title="Coursebase API", version="1.0.0", path=f"{API_PREFIX}/docs",
            description="JSON API over a git-backed course content index: public reads, and admin writes "
                        "that become git commits.",
            render_plugins=[ScalarRenderPlugin()], use_handler_docstrings=True),
        debug=False,
    )
