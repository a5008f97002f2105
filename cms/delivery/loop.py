"""The delivery loop of an API worker: a daemon thread that records changes when due and sends what is due.

Every `interval` seconds (half a second) it asks the recorder whether the
index changed, a `publish_at` passed or a minute went by, and only then
records (`cms.delivery.changes`); it asks the outbox, with one read, whether
a delivery is due, and only then claims and sends (`cms.delivery.outbox`).
An idle round costs a stat, a pragma and one small query; no write
transaction. Deliveries of one round go out side by side (a slow target
does not hold up the others); after a round that sent anything the next
one starts at once.

The thread is started by the worker's lifespan, never in the `cms serve`
process, which must hold no thread when granian forks its workers.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from cms.delivery.changes import Recorder
from cms.delivery.outbox import Claimed, Outbox
from cms.delivery.sender import Sender

log = logging.getLogger("coursebase.delivery")
INTERVAL = 0.5
ERROR_PAUSE = 5.0
"""How long the loop rests after a round failed (the state database unreachable, say) before trying again."""
SENDERS = 4
"""Deliveries sent at once (to different targets: one target's go out one after another)."""


class DeliveryLoop:
    def __init__(self, recorder: Recorder, outbox: Outbox, sender: Sender, interval: float = INTERVAL) -> None:
        self.recorder = recorder
        self.outbox = outbox
        self.sender = sender
        self.interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="coursebase-webhook")
        self._thread = threading.Thread(target=self._run, name="coursebase-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Ask the loop to stop and wait a little for it (it is a daemon: the process need not wait longer).
        A delivery cut off mid-send keeps its lease until the lease runs out, then is sent again."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def run_once(self) -> int:
        """One round: record what changed if that is due, then send every due delivery; how many were sent."""
        self.recorder.catch_up()
        sent = 0
        while not self._stopping.is_set() and self.outbox.due():
            claimed = self.outbox.claim(limit=SENDERS)
            if not claimed:
                break
            self._send_all(claimed)
            sent += len(claimed)
        return sent

    def _deliver(self, claimed: Claimed) -> None:
        outcome = self.sender.send(claimed)
        status = self.outbox.settle(claimed, outcome)
        if status in ("failed", "dead"):
            log.warning("webhook delivery %s to %s is %s after %d attempt(s): %s", claimed.uuid, claimed.url, status,
                        claimed.attempts, outcome.error)

    def _send_all(self, claimed: list[Claimed]) -> None:
        if self._pool is None or len(claimed) == 1:
            for delivery in claimed:
                self._deliver(delivery)
        else:
            list(self._pool.map(self._deliver, claimed))

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                busy = self.run_once() > 0
            except Exception:  # a round must never end the loop: log it, rest, try again
                log.exception("webhook delivery: a round failed; trying again in %g s", ERROR_PAUSE)
                self._stopping.wait(ERROR_PAUSE)
                continue
            if not busy:
                self._stopping.wait(self.interval)
