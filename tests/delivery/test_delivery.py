"""Deliveries over real HTTP to receivers on 127.0.0.1, sent by a worker's delivery loop (`Delivery`, started as the
lifespan starts it) with a short retry schedule: signatures as the README verifies them, receivers that fail for a
while, refuse for good, answer slowly or redirect."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from cms.delivery import Delivery, RetryPolicy, sync_token
from cms.settings import Settings
from tests.conftest import git
from tests.delivery.conftest import BASICS_LESSON, LESSON, SECRET, VERIFY, Content, Receiver

QUICK = RetryPolicy(delays=(0.2,), give_up_after=30)


@contextmanager
def delivering(content: Content, state_url: str, *receivers: Receiver, timeout: float = 5.0,
               policy: RetryPolicy = QUICK) -> Iterator[Delivery]:
    """A worker's delivery, as the lifespan opens and starts it, with `receivers` in CMS_WEBHOOK_TARGETS."""
    settings = Settings.from_env({
        "CMS_CONTENT_DIR": str(content.content), "CMS_STATE_URL": state_url, "CMS_WEBHOOK_ALLOW_PRIVATE": "true",
        "CMS_WEBHOOK_TARGETS": ",".join(f"{receiver.url}|{receiver.secret}" for receiver in receivers)})
    delivery = Delivery.open(settings, content.repo, content.db_path, policy=policy, interval=0.05, timeout=timeout)
    assert delivery is not None
    delivery.start()
    try:
        wait_until(lambda: delivery.db.rows("SELECT id FROM content_changes"), "the baseline")
        yield delivery
    finally:
        delivery.close()


def wait_until(check: Any, what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.02)
    pytest.fail(f"no {what} within {timeout}s")


def deliveries(delivery: Delivery) -> list[dict[str, Any]]:
    return delivery.db.rows("SELECT uuid, status, attempts, last_status, last_error FROM webhook_deliveries "
                            "ORDER BY id")


def settled(delivery: Delivery, count: int = 1) -> list[dict[str, Any]]:
    """The deliveries, once `count` of them are no longer pending."""
    return wait_until(lambda: (rows := deliveries(delivery)) and
                      len([row for row in rows if row["status"] != "pending"]) >= count and rows, "settled delivery")


def change_a_lesson(content: Content, old: str = "A test catches", new: str = "A good test catches") -> str:
    content.edit(BASICS_LESSON, old, new)
    return content.commit("edit a lesson")


def test_a_delivery_is_signed_as_the_readme_tells_receivers(content: Content, state_url: str,
                                                            receiver: Receiver) -> None:
    with delivering(content, state_url, receiver) as delivery:
        before = content.head()
        after = change_a_lesson(content)
        [received] = receiver.wait_for(1)
        [row] = settled(delivery)
    assert received.verified and received.path == "/hook"
    headers, body = received.headers, received.json()
    assert headers["content-type"] == "application/json" and headers["x-coursebase-event"] == "content.changed"
    assert headers["x-coursebase-delivery"] == body["id"] == row["uuid"]
    assert abs(int(headers["x-coursebase-timestamp"]) - time.time()) < 30
    assert (body["old_commit"], body["new_commit"]) == (before, after)
    assert body["entries"] == [{"kind": "lesson", "slug": "why-test", "course": "intro-to-testing",
                                "path": "/api/v1/courses/intro-to-testing/lessons/why-test", "change": "updated",
                                "version": content_blob(content, BASICS_LESSON)}]
    assert body["sync_token"] == sync_token(after, 2)
    assert (row["status"], row["attempts"], row["last_status"]) == ("delivered", 1, 200)
    assert not VERIFY(SECRET, headers, received.body + b" "), "a changed body does not verify"
    assert not VERIFY("another-secret-0123456789", headers, received.body)
    stale = {**headers, "x-coursebase-timestamp": str(int(headers["x-coursebase-timestamp"]) - 600)}
    assert not VERIFY(SECRET, stale, received.body), "an old timestamp is a replay"


def content_blob(content: Content, path: str) -> str:
    return git(content.repo, "hash-object", str(content.content / path))


def test_a_receiver_that_fails_for_a_while_gets_it_once_it_recovers(content: Content, state_url: str) -> None:
    failing = Receiver(plan=lambda n: 503 if n < 3 else 200).start()
    down = Receiver().reserve()
    try:
        with delivering(content, state_url, failing, down) as delivery:
            change_a_lesson(content)
            received = failing.wait_for(4)
            time.sleep(0.5)
            down.start()
            down.wait_for(1)
            rows = settled(delivery, 2)
    finally:
        failing.stop()
        down.stop()
    assert [request.status for request in received] == [503, 503, 503, 200]
    assert len({request.body for request in received}) == 1, "every attempt sends the same body"
    assert len({request.headers["x-coursebase-delivery"] for request in received}) == 1
    assert all(request.verified for request in received)
    assert [(row["status"], row["last_status"]) for row in rows] == [("delivered", 200), ("delivered", 200)]
    assert rows[0]["attempts"] == 4 and rows[1]["attempts"] > 1
    assert len(failing.received) == 4 and len(down.received) == 1


@pytest.mark.parametrize(("status", "result", "requests"), [(410, "failed", 1), (400, "failed", 1),
                                                            (302, "failed", 1), (408, "delivered", 2),
                                                            (429, "delivered", 2), (500, "delivered", 2)])
def test_what_each_answer_means(content: Content, state_url: str, status: int, result: str, requests: int) -> None:
    receiver = Receiver(plan=lambda n: status if n == 0 else 200).start()
    try:
        with delivering(content, state_url, receiver) as delivery:
            change_a_lesson(content)
            [row] = settled(delivery)
            time.sleep(0.5)
    finally:
        receiver.stop()
    assert (row["status"], len(receiver.received)) == (result, requests)
    assert [request.path for request in receiver.received] == ["/hook"] * requests, "redirects are not followed"
    if result == "failed":
        assert row["last_status"] == status and row["last_error"].startswith(f"HTTP {status}")


def test_a_target_that_answers_410_gets_later_changes_still(content: Content, state_url: str) -> None:
    gone = Receiver(plan=lambda n: 410).start()
    try:
        with delivering(content, state_url, gone) as delivery:
            change_a_lesson(content)
            settled(delivery, 1)
            change_a_lesson(content, "A good test", "A fine test")
            rows = settled(delivery, 2)
            time.sleep(0.5)
    finally:
        gone.stop()
    assert [(row["status"], row["attempts"], row["last_status"]) for row in rows] == [("failed", 1, 410)] * 2
    assert len(gone.received) == 2


def test_a_slow_receiver_is_timed_out_and_tried_again(content: Content, state_url: str) -> None:
    slow = Receiver(pause=1.5).start()
    try:
        with delivering(content, state_url, slow, timeout=0.3) as delivery:
            change_a_lesson(content)
            wait_until(lambda: delivery.db.rows("SELECT id FROM webhook_attempts"), "an attempt")
            slow.pause = 0.0
            [row] = settled(delivery)
            errors = [attempt["error"] for attempt in delivery.db.rows("SELECT error FROM webhook_attempts "
                                                                        "ORDER BY id")]
    finally:
        slow.stop()
    assert row["status"] == "delivered" and row["attempts"] >= 2
    assert errors[0] == "no answer within 0.3 s" and errors[-1] is None


def test_one_post_per_target_for_a_hundred_files(content: Content, state_url: str) -> None:
    receivers = [Receiver().start(), Receiver().start()]
    try:
        with delivering(content, state_url, *receivers) as delivery:
            for n in range(100):
                content.write(f"courses/intro-to-testing/01-basics/{n + 3:03d}-bulk-{n}.md",
                              LESSON.format(title=f"Bulk {n}", extra=""))
            content.commit("a hundred lessons")
            settled(delivery, 2)
            time.sleep(1.0)
    finally:
        for receiver in receivers:
            receiver.stop()
    for receiver in receivers:
        [received] = receiver.received
        assert received.verified and len(received.json()["entries"]) == 100
