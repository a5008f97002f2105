"""`POST /ai/drafts` (ADMIN and MODERATOR): Gemini drafts a lesson onto its own branch for review.

The handler reads the body, takes one use of the caller's daily allowance
(`CMS_AI_DAILY_QUOTA`, 429 when used up) just before Gemini is asked, and
calls `cms.ai`. Nothing is published or merged, and the served
content does not change: the draft lives on `drafts/<course>/<lesson>`.
The answer carries the draft's preview link and, with a forge, its pull
request; a forge that fails answers 502 and leaves the pushed branch.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED

from api.auth import AUTH_DEPENDENCIES, admin_api_enabled, requires
from api.controllers.previews import public_url
from api.deps import EDITORS, Opened, identity
from api.spec import documented
from cms import ai
from cms.accounts import Accounts, DailyQuota, User


class DraftIn(ai.DraftRequest, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A new lesson (`section` and `title`), or `lesson` to regenerate an existing one."""


class DraftOut(msgspec.Struct, kw_only=True):
    """The draft: its branch, the lesson file on it (repository-relative), the commit and the lesson's slug; the
    signed address of its preview page (7 days), and its pull request's address when a forge is configured."""

    branch: str
    path: str
    commit: str
    lesson: str
    preview_url: str | None
    pull_request_url: str | None


@post("/ai/drafts", guards=[admin_api_enabled, requires(*EDITORS)], dependencies=AUTH_DEPENDENCIES,
      status_code=HTTP_201_CREATED, sync_to_thread=True, tags=["ai (admin)"],
      opt=documented(404, 409, 429, 502))
def create_draft(request: Request[Any, Any, Any], services: Opened, caller: NamedDependency[User],
                 auth: NamedDependency[Accounts], data: JSONBody[DraftIn]) -> Response[DraftOut]:
    """Ask Gemini for a lesson and commit it as a draft on a new branch `drafts/<course>/<lesson>`."""
    settings = services.settings
    generate = ai.gemini(settings)
    quota = DailyQuota(auth.db, "AI draft", settings.ai_daily_quota)
    done = ai.draft(services.workspace, data, identity(caller), generate, charge=lambda: quota.take(caller.id))
    done = ai.hand_off(settings, done, data.brief, public_url(services, request))
    out = DraftOut(branch=done.branch, path=done.path, commit=done.commit, lesson=done.lesson,
                   preview_url=done.preview_url, pull_request_url=done.pull_request_url)
    return Response(out, status_code=HTTP_201_CREATED, headers={"Cache-Control": "no-store"})
