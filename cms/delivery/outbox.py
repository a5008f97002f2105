"""The outbox: every change to send, one row per target, in the state database before anything is sent.

A delivery is `pending` until it is `delivered` (a 2xx answer), `failed`
(an answer that retrying will not change: a 4xx other than 408 and 429, a
redirect, an address that is refused) or `dead` (still failing when
`RetryPolicy.give_up_after` has passed since its first attempt). A 5xx,
408, 429, a timeout, a refused connection or a name that does not resolve
is retried on the policy's schedule.

A worker claims due deliveries in a write transaction (serialized across
every worker and server) by giving them a lease: a random token and a time
until which no one else claims them. It sends them outside the transaction
and settles each under its lease; a worker that dies mid-send leaves a
lease that runs out, and the delivery is sent again (receivers deduplicate
by `X-Coursebase-Delivery`). Deliveries to one target go out in order: only
the oldest pending one of each target is ever claimed.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from cms.database import Connection, Database, Row

Status = Literal["pending", "delivered", "failed", "dead"]
LEASE_SECONDS = 30.0
"""How long a claim holds: longer than a send may take (its timeout), short enough to resume soon after a crash."""


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed delivery is tried again: `delays[n]` seconds after its (n+1)th attempt (the last delay
    repeats), for as long as `give_up_after` seconds have not passed since its first attempt."""

    delays: tuple[float, ...] = (10, 30, 60, 300, 900, 1800, 3600)
    give_up_after: float = 24 * 3600

    def next_attempt(self, attempts: int, first_attempt: float, now: float,
                     retry_after: float | None = None) -> float | None:
        """When to try again after `attempts` attempts, or None: give up."""
        if now - first_attempt >= self.give_up_after:
            return None
        delay = self.delays[min(attempts, len(self.delays)) - 1]
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.delays[-1]))
        return now + delay


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended: `delivered`, `retry` (try again later) or `failed` (do not)."""

    result: Literal["delivered", "retry", "failed"]
    status: int | None
    """The answer's HTTP status; None when there was no answer."""
    error: str | None
    seconds: float
    retry_after: float | None = None


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker holds the lease of, with what sending it needs."""

    id: int
    uuid: str
    lease: str
    attempts: int
    first_attempt_at: float
    url: str
    secret: str
    change_id: int
    old_commit: str | None
    new_commit: str | None
    at: str
    entries: str


def enqueue(conn: Connection, change_id: int, now: float) -> int:
    """One pending delivery of log row `change_id` per active target, in the caller's transaction; how many."""
    targets = conn.execute("SELECT id FROM webhook_targets WHERE active = 1 ORDER BY id").fetchall()
    for target in targets:
        conn.execute("INSERT INTO webhook_deliveries (uuid, target_id, change_id, status, created_at, "
                     "next_attempt_at) VALUES (:uuid, :target, :change, 'pending', :now, :now)",
                     {"uuid": str(uuid.uuid4()), "target": target["id"], "change": change_id, "now": now})
    return len(targets)


DUE = """SELECT d.id FROM webhook_deliveries d JOIN webhook_targets t ON t.id = d.target_id
    WHERE d.status = 'pending' AND t.active = 1 AND d.next_attempt_at <= :now
      AND (d.lease_until IS NULL OR d.lease_until <= :now)
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                      WHERE e.target_id = d.target_id AND e.status = 'pending' AND e.id < d.id)
    ORDER BY d.id LIMIT :limit"""
"""Deliveries that may be sent now: pending, due, not leased, the oldest pending one of an active target."""
CLAIM = f"""UPDATE webhook_deliveries SET lease = :lease, lease_until = :until, attempts = attempts + 1,
        first_attempt_at = COALESCE(first_attempt_at, :now)
    WHERE id IN ({DUE})"""
CLAIMED = """SELECT d.id, d.uuid, d.lease, d.attempts, d.first_attempt_at, t.url, t.secret, d.change_id,
        c.old_commit, c.new_commit, c.at, c.entries
    FROM webhook_deliveries d JOIN webhook_targets t ON t.id = d.target_id
    JOIN content_changes c ON c.id = d.change_id
    WHERE d.lease = :lease ORDER BY d.id"""
SETTLE = """UPDATE webhook_deliveries SET status = :status, next_attempt_at = :next, lease = NULL,
        lease_until = NULL, finished_at = :finished, last_status = :code, last_error = :error
    WHERE id = :id AND lease = :lease RETURNING id"""


class Outbox:
    def __init__(self, db: Database, policy: RetryPolicy | None = None, lease_seconds: float = LEASE_SECONDS) -> None:
        self.db = db
        self.policy = policy or RetryPolicy()
        self.lease_seconds = lease_seconds

    def due(self, now: float | None = None) -> bool:
        """Whether anything may be claimed now: one read, no write transaction."""
        return bool(self.db.rows(DUE, {"now": time.time() if now is None else now, "limit": 1}))

    def claim(self, limit: int = 8, now: float | None = None) -> list[Claimed]:
        """Lease up to `limit` due deliveries to this caller (none that someone else holds)."""
        now = time.time() if now is None else now
        lease = uuid.uuid4().hex
        with self.db.write() as conn:
            conn.execute(CLAIM, {"lease": lease, "until": now + self.lease_seconds, "now": now, "limit": limit})
            rows = conn.execute(CLAIMED, {"lease": lease}).fetchall()
        return [Claimed(**row) for row in rows]

    def settle(self, claimed: Claimed, outcome: Outcome, now: float | None = None) -> Status | None:
        """Record an attempt and what it means for the delivery; its new status (None when the lease ran out and
        another worker holds the delivery now, or its target was deleted: the attempt alone is recorded)."""
        now = time.time() if now is None else now
        status, next_attempt = self._next(claimed, outcome, now)
        with self.db.write() as conn:
            if not conn.execute("SELECT id FROM webhook_deliveries WHERE id = :id", {"id": claimed.id}).fetchone():
                return None
            conn.execute("INSERT INTO webhook_attempts (delivery_id, at, outcome, status, error, seconds) "
                         "VALUES (:id, :at, :outcome, :status, :error, :seconds)",
                         {"id": claimed.id, "at": now - outcome.seconds, "outcome": outcome.result,
                          "status": outcome.status, "error": outcome.error, "seconds": outcome.seconds})
            settled = conn.execute(SETTLE, {"status": status, "next": next_attempt, "code": outcome.status,
                                            "finished": None if status == "pending" else now, "error": outcome.error,
                                            "id": claimed.id, "lease": claimed.lease}).fetchone()
        return status if settled else None

    def _next(self, claimed: Claimed, outcome: Outcome, now: float) -> tuple[Status, float]:
        if outcome.result != "retry":
            return ("delivered" if outcome.result == "delivered" else "failed"), now
        retry = self.policy.next_attempt(claimed.attempts, claimed.first_attempt_at, now, outcome.retry_after)
        return ("dead", now) if retry is None else ("pending", retry)

    def deliveries(self, target_id: int, page: int, page_size: int) -> tuple[list[Row], int]:
        """A target's deliveries, newest first, each with its attempts (oldest first); and how many in all."""
        total = self.db.rows("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE target_id = :target",
                             {"target": target_id})[0]["n"]
        rows = self.db.rows(
            "SELECT d.id, d.uuid, d.change_id, c.old_commit, c.new_commit, d.status, d.attempts, d.created_at, "
            "d.next_attempt_at, d.finished_at, d.last_status, d.last_error FROM webhook_deliveries d "
            "JOIN content_changes c ON c.id = d.change_id WHERE d.target_id = :target "
            "ORDER BY d.id DESC LIMIT :limit OFFSET :offset",
            {"target": target_id, "limit": page_size, "offset": (page - 1) * page_size})
        attempts = self._attempts([row["id"] for row in rows])
        return [{**row, "attempt_log": attempts.get(row["id"], [])} for row in rows], total

    def _attempts(self, ids: list[int]) -> dict[int, list[Row]]:
        if not ids:
            return {}
        params: dict[str, Any] = {f"d{n}": value for n, value in enumerate(ids)}
        rows = self.db.rows("SELECT delivery_id, at, outcome, status, error, seconds FROM webhook_attempts "
                            f"WHERE delivery_id IN ({', '.join(f':{name}' for name in params)}) ORDER BY id",
                            params)
        found: dict[int, list[Row]] = {}
        for row in rows:
            found.setdefault(row.pop("delivery_id"), []).append(row)
        return found
