"""Outgoing webhook targets and their deliveries (ADMIN only); the work is `cms.delivery`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_201_CREATED

from api.auth import admin_api_enabled, requires
from api.deps import API_PREFIX, Opened
from api.pagination import PageNumber, PageSize, paged
from api.schemas import Page, Wire
from api.spec import documented
from cms.accounts import Role
from cms.delivery import Delivery, Target, require

TargetId = Annotated[int, Parameter(ge=1, le=2**53, description="The webhook target's id.")]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2000, description=(
    "An http:// or https:// URL whose host resolves to public addresses only (unless "
    "CMS_WEBHOOK_ALLOW_PRIVATE), without a user name or password."))]


class TargetIn(Wire, kw_only=True, forbid_unknown_fields=True):
    url: Url


class TargetOut(Wire, kw_only=True):
    id: int
    url: str
    source: Literal["env", "api"]
    """`env`: from CMS_WEBHOOK_TARGETS (deleted only once the setting no longer names it); `api`: added here."""
    active: bool
    created_at: str


class CreatedTargetOut(TargetOut, kw_only=True):
    secret: str
    """Signs this target's deliveries (`X-Coursebase-Signature`); shown only in this answer."""


def _page(name: str, item: type[Wire]) -> type[Page]:
    """The page of `item`s, built as `api.schemas` builds its pages (items first)."""
    fields = [("items", list[item]), ("total", int), ("page", int), ("page_size", int)]  # type: ignore[valid-type]
    page = msgspec.defstruct(name, fields, bases=(Page,), kw_only=True, module=__name__)
    page.__doc__ = f"One page of {item.__name__} items, with how many there are in all."
    return page


TargetPage = _page("TargetPage", TargetOut)


class AttemptOut(Wire, kw_only=True):
    at: str
    outcome: Literal["delivered", "retry", "failed"]
    status: int | None
    error: str | None
    seconds: float


class DeliveryOut(Wire, kw_only=True):
    id: str
    """The delivery id a receiver sees in `X-Coursebase-Delivery` (the same on every attempt)."""
    change: int
    old_commit: str | None
    new_commit: str | None
    status: Literal["pending", "delivered", "failed", "dead"]
    attempts: int
    created_at: str
    next_attempt_at: str | None
    """When a pending delivery is tried next."""
    finished_at: str | None
    last_status: int | None
    last_error: str | None
    attempt_log: list[AttemptOut]


DeliveryPage = _page("DeliveryPage", DeliveryOut)


def provide_delivery(services: Opened) -> Delivery:
    return require(services.delivery)


def target_out(target: Target) -> TargetOut:
    return TargetOut(id=target.id, url=target.url, source=target.source, active=target.active,
                     created_at=target.created_at)


def moment(seconds: float | None) -> str | None:
    """Epoch seconds as RFC 3339 in UTC, to the millisecond."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def delivery_out(row: dict[str, Any]) -> DeliveryOut:
    attempts = [AttemptOut(at=moment(attempt["at"]) or "", outcome=attempt["outcome"], status=attempt["status"],
                           error=attempt["error"], seconds=round(attempt["seconds"], 3))
                for attempt in row["attempt_log"]]
    return DeliveryOut(id=row["uuid"], change=row["change_id"], old_commit=row["old_commit"],
                       new_commit=row["new_commit"], status=row["status"], attempts=row["attempts"],
                       created_at=moment(row["created_at"]) or "",
                       next_attempt_at=moment(row["next_attempt_at"]) if row["status"] == "pending" else None,
                       finished_at=moment(row["finished_at"]), last_status=row["last_status"],
                       last_error=row["last_error"], attempt_log=attempts)


class WebhookController(Controller):
    path = "/webhooks"
    tags = ["webhooks"]
    guards = [admin_api_enabled, requires(Role.ADMIN)]
    dependencies = {"delivery": Provide(provide_delivery, sync_to_thread=False)}
    cache_control = CacheControlHeader(no_store=True)

    @get("/", sync_to_thread=True, opt=documented(paged=True))
    def list_targets(self, request: Request[Any, Any, Any], delivery: NamedDependency[Delivery],
                     page: PageNumber = 1, page_size: PageSize = 20) -> Response[TargetPage]:
        """Every webhook target, oldest first (secrets are never shown again)."""
        targets, total = delivery.targets.list(page, page_size)
        return paged(request, [msgspec.structs.asdict(target_out(t)) for t in targets], total, page, page_size,
                     TargetPage)

    @post("/", status_code=HTTP_201_CREATED, sync_to_thread=True, opt=documented(creates=True))
    def create_target(self, delivery: NamedDependency[Delivery],
                      data: JSONBody[TargetIn]) -> Response[CreatedTargetOut]:
        """Add a target: every later change of public content is POSTed to it, signed with the `secret` of
        this answer, which is shown only here. A URL resolving to a loopback, private or link-local address
        gets 422 (unless CMS_WEBHOOK_ALLOW_PRIVATE)."""
        target, secret = delivery.targets.create(data.url)
        body = CreatedTargetOut(**msgspec.structs.asdict(target_out(target)), secret=secret)
        return Response(body, headers={"Location": f"{API_PREFIX}/webhooks/{target.id}"})

    @get("/{target_id:int}", sync_to_thread=True, opt=documented(404))
    def get_target(self, delivery: NamedDependency[Delivery], target_id: TargetId) -> TargetOut:
        """One webhook target."""
        return target_out(delivery.targets.get(target_id))

    @delete("/{target_id:int}", sync_to_thread=True, opt=documented(404, 409))
    def delete_target(self, delivery: NamedDependency[Delivery], target_id: TargetId) -> None:
        """Delete a target and its deliveries; one that CMS_WEBHOOK_TARGETS names gets 409."""
        delivery.targets.delete(target_id)

    @get("/{target_id:int}/deliveries", sync_to_thread=True, opt=documented(404, paged=True))
    def list_deliveries(self, request: Request[Any, Any, Any], delivery: NamedDependency[Delivery],
                        target_id: TargetId, page: PageNumber = 1,
                        page_size: PageSize = 20) -> Response[DeliveryPage]:
        """A target's deliveries, newest first: status (`pending`, `delivered`, `failed`, `dead`), every
        attempt with its answer's status or error, and when a pending one is tried next."""
        delivery.targets.get(target_id)
        rows, total = delivery.outbox.deliveries(target_id, page, page_size)
        return paged(request, [msgspec.structs.asdict(delivery_out(row)) for row in rows], total, page,
                     page_size, DeliveryPage)
