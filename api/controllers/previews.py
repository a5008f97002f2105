"""Preview pages for people (`/preview/…`, HTML) and the links that open them (`POST /preview-links`).

The pages show one ref of the content, drafts included, as a site would: the course list, a course's
outline, a lesson. They are rendered by Jinja2 through Litestar's templating (autoescape on), send no
script and forbid any (`Content-Security-Policy`), load one local stylesheet, and are never cached or
held (`private, no-store`), never sent as a referrer (the address may hold a preview token).

Who may read them: an ADMIN or MODERATOR bearer token (any ref), or a preview link
(`?ref=<ref>&preview=<token>`, signed for that ref and valid until its expiry). Errors are the API's
problem details: 401 without either, 403 for a link that is expired, changed or for another ref (or a
USER token), 404 for an unknown course, lesson or ref, 503 without CMS_SECRET_KEY; as JSON, or as a page
saying the same to a client that asks for HTML (a browser). The pages are left out of the OpenAPI
document; `POST /preview-links` is in it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.status_codes import HTTP_201_CREATED
from litestar.template.config import TemplateConfig

from api.auth import AUTH_DEPENDENCIES, admin_api_enabled, requires
from api.caching import NOT_CACHED
from api.deps import EDITORS, SERVICES, Opened, Services, View
from api.errors import EXCEPTION_HANDLERS
from api.params import CourseSlug, LessonSlug
from api.spec import documented
from cms.errors import Forbidden, NotAuthenticated
from cms.repo.objects import MAX_REF_LENGTH
from cms.review import links, pages

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE_CONFIG = TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine)
STYLESHEET = f"{pages.PAGES_PREFIX}/preview.css"
CSP = ("default-src 'none'; style-src 'self'; img-src https: data:; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
PAGE_HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff", "X-Robots-Tag": "noindex"}


class LinkIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A preview link to ask for: the ref it opens, for how long (1 s to 7 days), and the page it opens at."""

    ref: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_REF_LENGTH)]
    expires_in_seconds: int = links.DEFAULT_SECONDS
    path: Annotated[str, msgspec.Meta(max_length=300)] | None = None


@post("/preview-links", guards=[admin_api_enabled, requires(*EDITORS)], dependencies=AUTH_DEPENDENCIES,
      status_code=HTTP_201_CREATED, sync_to_thread=True, tags=["previews (admin)"], opt=documented(404))
def create_preview_link(request: Request[Any, Any, Any], services: Opened,
                        data: JSONBody[LinkIn]) -> Response[pages.PreviewLink]:
    """A signed address of a preview page of one ref, valid for `expires_in_seconds` (default 24 h, at most
    7 days). Anyone holding it may read that ref's pages, drafts included, until then."""
    settings = services.settings
    assert settings.secret_key is not None, "admin_api_enabled guards this route"
    link = pages.make_link(settings.secret_key, public_url(services, request), data.ref,
                           services.previews.commit(data.ref), data.path, data.expires_in_seconds)
    return Response(link, status_code=HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


def public_url(services: Services, request: Request[Any, Any, Any]) -> str:
    """Where people reach this server: CMS_PUBLIC_URL, or else the address this request came to."""
    return services.settings.public_url or str(request.base_url).rstrip("/")


def problem_page(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """The API's problem details for `error`, as a page when the client asks for HTML (a browser does)."""
    handler = next(EXCEPTION_HANDLERS[kind] for kind in type(error).__mro__ if kind in EXCEPTION_HANDLERS)
    answer = handler(request, error)
    if request.accept.best_match(["application/json", "text/html"]) != "text/html":
        return answer
    context = {"ref": None, "base": pages.PAGES_PREFIX, "query": "", "stylesheet": STYLESHEET, "expires_at": None,
               "problem": answer.content}
    return Template(template_name="preview/problem.html", context=context, status_code=answer.status_code,
                    headers={**answer.headers, **PAGE_HEADERS}, media_type="text/html; charset=utf-8")


class PreviewPages(Controller):
    path = pages.PAGES_PREFIX
    include_in_schema = False
    guards = [admin_api_enabled]
    opt = NOT_CACHED
    exception_handlers = dict.fromkeys(EXCEPTION_HANDLERS, problem_page)

    @get("/courses", sync_to_thread=True)
    def course_list(self, request: Request[Any, Any, Any], view: NamedDependency[View]) -> Template:
        """Every course of the ref."""
        return _page("courses.html", _visit(request, view), courses=pages.courses_page(view.conn))

    @get("/courses/{course:str}", sync_to_thread=True)
    def course(self, request: Request[Any, Any, Any], view: NamedDependency[View], course: CourseSlug) -> Template:
        """A course's outline."""
        return _page("course.html", _visit(request, view), page=pages.course_page(view.conn, course))

    @get("/courses/{course:str}/lessons/{lesson:str}", sync_to_thread=True)
    def lesson(self, request: Request[Any, Any, Any], view: NamedDependency[View], course: CourseSlug,
               lesson: LessonSlug) -> Template:
        """A lesson as a site would show it."""
        return _page("lesson.html", _visit(request, view), page=pages.lesson_page(view.conn, course, lesson))

    @get("/preview.css", sync_to_thread=False)
    def stylesheet(self) -> Response[bytes]:
        """The pages' one stylesheet."""
        return Response((TEMPLATES / "preview" / "preview.css").read_bytes(), media_type="text/css",
                        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})


def _visit(request: Request[Any, Any, Any], view: View) -> dict[str, Any]:
    """What every page shows of the visit, once the caller may read it: the index `view` is the served one
    or, with `?ref=`, that ref's (`api.deps.provide_view` has checked the token or the preview link)."""
    ref, token = request.query_params.get("ref"), request.query_params.get(pages.PREVIEW_PARAM)
    if view.commit is None and not view.hidden:
        _refuse(request)
    expires = None
    if token is not None:
        grant = links.verify(request.app.state[SERVICES].settings.secret_key, token)
        expires = datetime.fromtimestamp(grant.expires, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return {"ref": ref, "base": pages.PAGES_PREFIX, "query": pages.page_query(ref, token),
            "stylesheet": STYLESHEET, "expires_at": expires}


def _refuse(request: Request[Any, Any, Any]) -> None:
    """The served content's pages without a staff token: 403 for a signed-in USER, else 401."""
    if request.scope.get("user") is not None:
        raise Forbidden("a preview page needs the role ADMIN or MODERATOR, or a preview link")
    raise NotAuthenticated("a preview page needs a preview link (POST /api/v1/preview-links, which names the ref) "
                           "or `Authorization: Bearer <access token>` of an ADMIN or MODERATOR")


def _page(name: str, context: dict[str, Any], **values: Any) -> Template:
    return Template(template_name=f"preview/{name}", context={**context, **values}, headers=PAGE_HEADERS,
                    media_type="text/html; charset=utf-8")
