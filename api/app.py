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

from api.auth import AuthMiddleware, auth_lifespan
from api.caching import CachingMiddleware
from api.controllers import auth, catalog, drafts, hooks, status
from api.controllers.courses import CourseController
from api.controllers.media import MediaController
from api.controllers.projects import ProjectController
from api.controllers.users import UserController
from api.controllers.writes import WRITE_CONTROLLERS
from api.deps import DEPENDENCIES
from api.errors import EXCEPTION_HANDLERS
from api.strictness import strict_request
from cms.content.corpus import ContentTree
from cms.index.build import database_path
from cms.lifetime import follow_parent
from cms.media import MediaSetup
from cms.read import LiveIndex
from cms.repo.repository import GitRepo
from cms.settings import Settings
from cms.write.operations import Workspace

API_PREFIX = "/api/v1"


def create_served_app() -> Litestar:
    """The app in a `cms serve` worker: from the environment, and ending with the server that started it."""
    follow_parent(os.getppid())
    return create_app()


def create_app(settings: Settings | None = None, index_path: Path | None = None) -> Litestar:
    """The read API over the index of `settings.content_dir`, and the admin API when CMS_SECRET_KEY is set."""
    settings = settings or Settings.from_env()
    tree = ContentTree.locate(settings.content_dir)
    db_path = index_path or database_path(tree, settings.database_url)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        """Open what a worker reads; the index is built before the workers start (`cms serve`, `cms index`)."""
        app.state.repo = GitRepo.open(tree.content_dir)
        app.state.index = LiveIndex(db_path)
        app.state.workspace = Workspace(tree=tree, db_path=db_path, push=settings.git_push)
        app.state.webhook_secret = settings.webhook_secret
        app.state.settings = settings
        app.state.media = MediaSetup.from_settings(settings)
        yield

    api = Router(path=API_PREFIX, route_handlers=[CourseController, ProjectController, *catalog.HANDLERS,
                                                  *status.HANDLERS, *auth.HANDLERS, UserController,
                                                  *WRITE_CONTROLLERS, hooks.receive_push, MediaController,
                                                  drafts.create_draft])
    return Litestar(
        route_handlers=[api],
        lifespan=[lifespan, auth_lifespan(settings, tree)],
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
