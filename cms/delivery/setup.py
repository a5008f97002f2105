"""Delivery opened from settings for an API worker (`Delivery`), and what `cms serve` checks before its workers.

Delivery keeps its log and outbox in the state database, which a server
opens only when something needs it: the admin API (CMS_SECRET_KEY) or
webhook targets (CMS_WEBHOOK_TARGETS). Without either, `Delivery.open`
answers None and the sync and webhook routes answer 503.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import httpx

from cms.content.corpus import ContentTree
from cms.database import Database, PostgresUrl, open_database
from cms.delivery import sync
from cms.delivery.addresses import UnresolvedTarget, UnsafeTarget, resolve
from cms.delivery.changes import Recorder
from cms.delivery.loop import INTERVAL, DeliveryLoop
from cms.delivery.outbox import Outbox, RetryPolicy
from cms.delivery.sender import TIMEOUT, Sender
from cms.delivery.sync import SyncAnswer
from cms.delivery.tables import SCHEMA, state_location
from cms.delivery.targets import Targets
from cms.errors import ConfigError, NotConfigured
from cms.read import live_index
from cms.settings import Settings

log = logging.getLogger("coursebase.delivery")
DISABLED = ("sync and webhooks keep their log in the state database, which this server does not open: set "
            "CMS_SECRET_KEY (the admin API) or CMS_WEBHOOK_TARGETS")


def delivery_enabled(settings: Settings) -> bool:
    return settings.admin_enabled or bool(settings.webhook_targets)


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(delays=settings.webhook_retry_seconds, give_up_after=settings.webhook_retry_hours * 3600)


@dataclass
class Delivery:
    """A worker's delivery: the state database's delivery tables, the targets, the outbox, and the loop."""

    db: Database
    targets: Targets
    outbox: Outbox
    recorder: Recorder
    loop: DeliveryLoop
    sender: Sender

    @classmethod
    def open(cls, settings: Settings, repo_root: Path, index_path: Path | PostgresUrl, *,
             policy: RetryPolicy | None = None, interval: float = INTERVAL, timeout: float = TIMEOUT,
             transport: httpx.BaseTransport | None = None) -> Delivery | None:
        """Open the delivery tables and bring the `env` targets up to date; None when delivery is off.
        The loop starts with `start()`."""
        if not delivery_enabled(settings):
            return None
        db = open_database(state_location(settings, repo_root), SCHEMA)
        targets = Targets(db, settings.webhook_allow_private)
        targets.configure(settings.webhook_targets)
        outbox = Outbox(db, policy or retry_policy(settings))
        recorder = Recorder(live_index(index_path), db)
        sender = Sender(settings.webhook_allow_private, timeout=timeout, transport=transport)
        return cls(db=db, targets=targets, outbox=outbox, recorder=recorder, sender=sender,
                   loop=DeliveryLoop(recorder, outbox, sender, interval=interval))

    def start(self) -> None:
        self.loop.start()

    def sync(self, since: str | None) -> SyncAnswer:
        """What changed publicly since the token `since` (everything without one), up to the index as it is now."""
        self.recorder.catch_up()
        return sync.everything(self.db) if since is None else sync.since(self.db, since)

    def close(self) -> None:
        self.loop.stop()
        self.sender.close()
        self.db.close()


def require(delivery: Delivery | None) -> Delivery:
    """`delivery`, or 503 saying what turns it on."""
    if delivery is None:
        raise NotConfigured(DISABLED)
    return delivery


def check_delivery_settings(settings: Settings) -> None:
    """What `cms serve` checks before any worker starts: every CMS_WEBHOOK_TARGETS URL resolves to public
    addresses (unless CMS_WEBHOOK_ALLOW_PRIVATE), and the delivery tables are at this code's migrations."""
    for url, _ in settings.webhook_targets:
        try:
            resolve(url, settings.webhook_allow_private)
        except UnsafeTarget as error:
            raise ConfigError(f"CMS_WEBHOOK_TARGETS is not valid: {error}") from None
        except UnresolvedTarget as error:
            log.warning("CMS_WEBHOOK_TARGETS: %s; its deliveries wait until it does", error)
    if delivery_enabled(settings):
        tree = ContentTree.locate(settings.content_dir)
        db = open_database(state_location(settings, tree.repo_root), SCHEMA)
        try:
            Targets(db, settings.webhook_allow_private).configure(settings.webhook_targets)
        finally:
            db.close()
