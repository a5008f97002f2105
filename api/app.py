"""The Litestar application: `create_app()` builds it from settings, no globals."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.exceptions import MethodNotAllowedException, NotFoundException
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils import normalize_path

from api.auth import AuthMiddleware
from api.caching import CachingMiddleware
from api.controllers import auth, catalog, drafts, history, hooks, previews, redirects, status, sync
from api.controllers.courses import CourseController
from api.controllers.media import MediaController
from api.controllers.projects import ProjectController
from api.controllers.users import UserController
from api.controllers.webhooks import WebhookController
from api.controllers.writes import WRITE_CONTROLLERS
from api.deps import API_PREFIX, DEPENDENCIES, SERVICES, Services
from api.docs import DocsPage, assets_router
from api.errors import EXCEPTION_HANDLERS
from api.spec import ServedDocument
from api.strictness import strict_request
from cms.accounts import Accounts, check_admin_settings
from cms.ai import check_forge
from cms.delivery import Delivery
from cms.delivery.follower import Follower
from cms.lifetime import follow_parent
from cms.media import MediaSetup
from cms.read import live_index
from cms.repo import GitRepo
from cms.settings import Settings
from cms.write import Workspace

__all__ = ["API_PREFIX", "create_app", "create_served_app"]


def create_served_app() -> ASGIApp:
    """The app in a `cms serve` worker: from the environment, and ending with the server that started it.

    Behind load balancers named in CMS_TRUSTED_PROXIES, a request's client is the address their
    `X-Forwarded-For` gives (granian's own reading of it: the nearest address that is not a trusted one).
    """
    follow_parent(os.getppid())
    settings = Settings.from_env()
    app = create_app(settings)
    if not settings.trusted_proxies:
        return app
    from granian.utils.proxies import wrap_asgi_with_proxy_headers

    return wrap_asgi_with_proxy_headers(app, list(settings.trusted_proxies))


def create_app(settings: Settings | None = None, index_path: Path | None = None) -> Litestar:
    """The read API over the index of `settings.content_dir`, and the admin API when CMS_SECRET_KEY is set."""
    settings = settings or Settings.from_env()
    space = Workspace.from_settings(settings, index_path)
    check_admin_settings(settings)  # a half-set or invalid FIRST_SUPERUSER stops here, not inside the server
    check_forge(settings)  # likewise a half-set or invalid CMS_FORGE_*

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        """Open what a worker reads; the index is built before the workers start (`cms serve`, `cms index`)."""
        services = Services(
            settings=settings, repo=GitRepo.open(space.tree.content_dir), index=live_index(space.db_path),
            workspace=space, media=MediaSetup.from_settings(settings), accounts=Accounts.open(settings, space.tree),
            delivery=Delivery.open(settings, space.tree.repo_root, space.db_path))
        app.state[SERVICES] = services
        if services.delivery is not None:
            services.delivery.start()  # a thread of this worker: never in the `cms serve` process
        follower = Follower.open(settings, space)  # with Postgres state and a remote: other servers' heads
        if follower is not None:
            follower.start()
        try:
            yield
        finally:
            if follower is not None:
                follower.stop()
            if services.delivery is not None:
                services.delivery.close()
            if services.accounts is not None:
                services.accounts.close()

    api = Router(path=API_PREFIX, route_handlers=[CourseController, ProjectController, *catalog.HANDLERS,
                                                  *status.HANDLERS, *history.HANDLERS, *auth.HANDLERS, UserController,
                                                  *WRITE_CONTROLLERS, hooks.receive_push, MediaController,
                                                  drafts.create_draft, WebhookController, sync.sync_changes,
                                                  previews.create_preview_link, redirects.list_redirects])
    docs = f"{API_PREFIX}/docs"
    return CoursebaseApp(
        route_handlers=[api, assets_router(docs), previews.PreviewPages],
        template_config=previews.TEMPLATE_CONFIG,
        lifespan=[lifespan],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=strict_request,
        middleware=[DefineMiddleware(CachingMiddleware, max_age=settings.cache_max_age,
                                     hold_seconds=settings.response_hold_seconds), AuthMiddleware],
        cors_config=cors(settings),
        openapi_config=OpenAPIConfig(
            title="Coursebase API", version="1.0.0", path=docs,
            description="JSON API over a git-backed course content index: public reads, and admin writes "
                        "that become git commits. Errors are RFC 9457 problem details; every GET answers with "
                        "an `ETag` and honours `If-None-Match`; writes need `If-Match` with the version read.",
            render_plugins=[DocsPage(docs), ServedDocument()], use_handler_docstrings=True),
        debug=False,
    )


EXPOSED = ["ETag", "Link", "Location", "Retry-After", "WWW-Authenticate"]
"""Response headers a page on another origin may read."""


def cors(settings: Settings) -> CORSConfig | None:
    """CORS for CMS_CORS_ORIGINS: the headers clients need exposed, and credentials when CMS_CORS_CREDENTIALS."""
    if not settings.cors_origins:
        return None
    return CORSConfig(allow_origins=list(settings.cors_origins), expose_headers=EXPOSED,
                      allow_credentials=settings.cors_credentials, max_age=600)


class CoursebaseApp(Litestar):
    """The app, answering two methods the way RFC 9110 describes for every path.

    - `HEAD` is answered as `GET` without the body: the same status, `ETag` and `Content-Length`.
    - `OPTIONS` (other than a CORS preflight, which the CORS layer answers) is 204 with `Allow` listing
      every method of the path, `HEAD` included, before any guard: it never needs a token.
    """

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["method"] == "HEAD":
                scope["method"] = "GET"
                send = _without_body(send)
            elif scope["method"] == "OPTIONS" and not self._preflight(scope):
                allowed = self._allowed_methods(scope["path"])
                if allowed is not None:
                    await _allow(send, allowed)
                    return
        await super().__call__(scope, receive, send)

    def _preflight(self, scope: Scope) -> bool:
        return self.cors_config is not None and any(name == b"origin" for name, _ in scope["headers"])

    def _allowed_methods(self, path: str) -> str | None:
        """The methods of the route at `path` (None where there is none: routing answers that)."""
        try:
            *_, template = self.asgi_router.handle_routing(path=normalize_path(path), method="OPTIONS")
        except (NotFoundException, MethodNotAllowedException):
            return None
        methods = next((set(route.methods) for route in self.routes
                        if isinstance(route, HTTPRoute) and route.path_format == template), None)
        if not methods:
            return None
        return ", ".join(sorted(methods | ({"HEAD"} if "GET" in methods else set())))


def _without_body(send: Send) -> Send:
    async def bodiless(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b"", "more_body": message.get("more_body", False)}
        await send(message)
    return bodiless


async def _allow(send: Send, allowed: str) -> None:
    await send({"type": "http.response.start", "status": 204,
                "headers": [(b"allow", allowed.encode()), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
