"""The outbox on both state databases: leases keep two workers off one delivery, a target's deliveries go in order,
outcomes settle as the retry policy says, and what a new worker finds after a restart."""

from __future__ import annotations

import threading

import pytest

from cms.database import Database
from cms.delivery import Outbox, RetryPolicy
from cms.delivery.outbox import Outcome, enqueue
from tests.delivery.conftest import add_target, open_state

NOW = 1_800_000_000.0
POLICY = RetryPolicy(delays=(10, 30, 60), give_up_after=3600)


def queue_change(db: Database, at: float = NOW) -> int:
    """A log row (with one entry) and a delivery of it to every active target; the row's id."""
    with db.write() as conn:
        row = conn.execute("INSERT INTO content_changes (old_commit, new_commit, at, entries) VALUES "
                           "('a', 'b', '2026-01-01T00:00:00Z', :entries) RETURNING id",
                           {"entries": '[{"kind":"course","key":"c","path":"/api/v1/courses/c","change":"created",'
                                       '"version":"v","previous":null}]'}).fetchone()
        enqueue(conn, row["id"], at)
    return row["id"]


def statuses(db: Database) -> list[tuple[str, int]]:
    return [(row["status"], row["attempts"]) for row in
            db.rows("SELECT status, attempts FROM webhook_deliveries ORDER BY id")]


def test_racing_workers_never_claim_the_same_delivery(state_url: str, state: Database) -> None:
    for n in range(12):
        add_target(state, f"http://127.0.0.1:9/{n}")
    queue_change(state)
    workers = [Outbox(open_state(state_url), POLICY) for _ in range(4)]
    claimed: list[int] = []
    start = threading.Barrier(len(workers))

    def work(outbox: Outbox) -> None:
        start.wait()
        while batch := outbox.claim(limit=2, now=NOW):
            claimed.extend(delivery.id for delivery in batch)

    threads = [threading.Thread(target=work, args=(outbox,)) for outbox in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for outbox in workers:
        outbox.db.close()
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 12


def test_a_lease_keeps_others_off_until_it_runs_out(state: Database) -> None:
    add_target(state, "http://127.0.0.1:9/hook")
    queue_change(state)
    outbox = Outbox(state, POLICY, lease_seconds=30)
    assert outbox.due(NOW)
    [first] = outbox.claim(now=NOW)
    assert not outbox.due(NOW + 29) and outbox.claim(now=NOW + 29) == []
    [again] = outbox.claim(now=NOW + 31)
    assert (again.id, again.attempts, again.first_attempt_at) == (first.id, 2, NOW)
    assert outbox.settle(first, Outcome("delivered", 200, None, 0.1), NOW + 32) is None, \
        "a holder whose lease ran out settles nothing"
    assert outbox.settle(again, Outcome("delivered", 200, None, 0.1), NOW + 32) == "delivered"
    assert statuses(state) == [("delivered", 2)]


def test_a_targets_deliveries_go_out_in_order(state: Database) -> None:
    add_target(state, "http://127.0.0.1:9/hook")
    first_change, second_change = queue_change(state), queue_change(state)
    outbox = Outbox(state, POLICY)
    [first] = outbox.claim(limit=8, now=NOW)
    assert first.change_id == first_change and outbox.claim(now=NOW) == []
    outbox.settle(first, Outcome("retry", 503, "HTTP 503", 0.1), NOW)
    assert outbox.claim(now=NOW + 5) == [], "the later one waits while the first is retried"
    outbox.settle(outbox.claim(now=NOW + 10)[0], Outcome("delivered", 200, None, 0.1), NOW + 10)
    [second] = outbox.claim(now=NOW + 10)
    assert second.change_id == second_change


def test_outcomes_follow_the_retry_policy(state: Database) -> None:
    add_target(state, "http://127.0.0.1:9/hook")
    queue_change(state)
    outbox = Outbox(state, POLICY)
    moments = []
    now = NOW
    while True:
        claimed = outbox.claim(now=now)
        if not claimed:
            break
        outbox.settle(claimed[0], Outcome("retry", None, "connection refused", 0.01), now)
        moments.append(now - NOW)
        row = state.rows("SELECT next_attempt_at FROM webhook_deliveries")[0]
        now = row["next_attempt_at"]
    assert moments[:5] == [0, 10, 40, 100, 160] and moments[-1] >= 3600 - 60
    assert statuses(state) == [("dead", len(moments))]


@pytest.mark.parametrize(("outcome", "status"), [
    (Outcome("delivered", 204, None, 0.1), "delivered"),
    (Outcome("failed", 410, "HTTP 410", 0.1), "failed"),
    (Outcome("failed", 400, "HTTP 400", 0.1), "failed"),
    (Outcome("retry", 429, "HTTP 429", 0.1, retry_after=45), "pending"),
])
def test_each_outcome_settles_as_it_says(state: Database, outcome: Outcome, status: str) -> None:
    target = add_target(state, "http://127.0.0.1:9/hook")
    queue_change(state)
    outbox = Outbox(state, POLICY)
    assert outbox.settle(outbox.claim(now=NOW)[0], outcome, NOW) == status
    [delivery], total = outbox.deliveries(target, 1, 20)
    assert total == 1 and delivery["status"] == status and delivery["last_status"] == outcome.status
    assert [(attempt["outcome"], attempt["status"]) for attempt in delivery["attempt_log"]] == \
        [(outcome.result, outcome.status)]
    if outcome.retry_after:
        assert delivery["next_attempt_at"] == NOW + 45, "Retry-After is honoured when longer than the schedule"


def test_a_new_worker_resumes_what_a_stopped_one_left(state_url: str, state: Database) -> None:
    add_target(state, "http://127.0.0.1:9/hook")
    queue_change(state)
    Outbox(state, POLICY).settle(Outbox(state, POLICY).claim(now=NOW)[0], Outcome("retry", None, "down", 0.01), NOW)
    restarted = open_state(state_url)
    try:
        later = Outbox(restarted, POLICY)
        assert not later.due(NOW + 9) and later.due(NOW + 10)
        [claimed] = later.claim(now=NOW + 10)
        assert claimed.attempts == 2 and claimed.first_attempt_at == NOW
    finally:
        restarted.close()


def test_the_default_policy_retries_for_at_least_a_day() -> None:
    policy, first, now, attempts = RetryPolicy(), NOW, NOW, 1
    waits = []
    while (retry := policy.next_attempt(attempts, first, now)) is not None:
        waits.append(retry - now)
        now, attempts = retry, attempts + 1
    assert waits[:7] == [10, 30, 60, 300, 900, 1800, 3600] and set(waits[7:]) == {3600}
    assert now - first >= 24 * 3600
