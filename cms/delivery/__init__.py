"""Telling the outside world what changed publicly: the change log, sync, and outgoing webhooks.

    tables      the delivery tables of the state database (numbered migrations of the component `delivery`)
    snapshot    the public entries of the index at a moment, by SQL with the read side's visibility rules
    events      an entry's change as logged and sent, sync tokens, the webhook body
    outbox      deliveries: queued with the change, claimed under a lease, retried on a schedule, attempts kept
    changes     `record_changes`: a snapshot against the last one recorded → one log row, one delivery per
                target, in one transaction; `Recorder` says when that is worth doing
    sync        what changed since a sync token (the log collapsed per entry), or everything
    addresses   a target must resolve to public addresses (no loopback, private, link-local: SSRF)
    targets     webhook targets from CMS_WEBHOOK_TARGETS and the admin API, and their secrets
    sender      one signed POST with httpx to the checked address, and what its answer means
    loop        each API worker's daemon thread: record when due, send what is due
    setup       all of it opened from settings (`Delivery`), and the start-up check of `cms serve`
    follower    with several servers: each worker follows the heads the others announce (clone and index)
"""

from cms.delivery.addresses import TargetError, UnresolvedTarget, UnsafeTarget, is_global, resolve
from cms.delivery.changes import Recorded, Recorder, record_changes
from cms.delivery.events import EntryChange, sync_token
from cms.delivery.outbox import Outbox, RetryPolicy
from cms.delivery.sender import Sender, signature
from cms.delivery.setup import Delivery, check_delivery_settings, delivery_enabled, require
from cms.delivery.sync import SyncAnswer
from cms.delivery.targets import Target, Targets

__all__ = ["Delivery", "EntryChange", "Outbox", "Recorded", "Recorder", "RetryPolicy", "Sender", "SyncAnswer",
           "Target", "TargetError", "Targets", "UnresolvedTarget", "UnsafeTarget", "check_delivery_settings",
           "delivery_enabled", "is_global", "record_changes", "require", "resolve", "signature", "sync_token"]
