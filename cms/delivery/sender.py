"""One delivery attempt: a signed POST with httpx, and what its answer means for the outbox.

The body is the same on every attempt; the headers say which delivery it is and sign it afresh:

    X-Coursebase-Event       content.changed
    X-Coursebase-Delivery    the delivery's id (the same on every attempt: receivers deduplicate by it)
    X-Coursebase-Timestamp   this attempt's time, in seconds since the epoch
    X-Coursebase-Signature   sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the target's secret>

The host is resolved and checked (`cms.delivery.addresses`) before each
attempt, and the request goes to that checked address, with the URL's host
in `Host` and, for https, in TLS's server name and certificate check.
Redirects are never followed, proxies from the environment never used.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import httpx

from cms.delivery.addresses import IPAddress, UnresolvedTarget, UnsafeTarget, resolve
from cms.delivery.events import EVENT, webhook_body
from cms.delivery.outbox import Claimed, Outcome

TIMEOUT = 10.0
ANSWER_CHARACTERS = 300
"""How much of a refusing answer's body is kept with the attempt."""
USER_AGENT = "Coursebase-Webhooks/1"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>`: the HMAC-SHA256 of `<timestamp>.<body>` with `secret`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(secret: str, delivery: str, body: bytes, now: float) -> dict[str, str]:
    timestamp = str(int(now))
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Coursebase-Event": EVENT,
            "X-Coursebase-Delivery": delivery, "X-Coursebase-Timestamp": timestamp,
            "X-Coursebase-Signature": signature(secret, timestamp, body)}


def classify(status: int, answer: str, retry_after: str | None, seconds: float) -> Outcome:
    """What an answer means: 2xx delivered; 408, 429 and 5xx retried; anything else failed for good."""
    if 200 <= status < 300:
        return Outcome("delivered", status, None, seconds)
    error = f"HTTP {status}" + (f": {answer[:ANSWER_CHARACTERS]}" if answer.strip() else "")
    if status in (408, 429) or status >= 500:
        return Outcome("retry", status, error, seconds, _seconds(retry_after))
    if 300 <= status < 400:
        error += " (redirects are not followed: give the target the URL it redirects to)"
    return Outcome("failed", status, error, seconds)


def _seconds(retry_after: str | None) -> float | None:
    """`Retry-After` given in seconds (an HTTP date is not worth trusting a receiver's clock for)."""
    if retry_after is None or not retry_after.strip().isdigit():
        return None
    return float(retry_after.strip())


class Sender:
    """Sends deliveries with one httpx client (pass `transport` to put something else at the other end)."""

    def __init__(self, allow_private: bool, timeout: float = TIMEOUT,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self.client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, transport=transport)

    def send(self, claimed: Claimed) -> Outcome:
        started = time.monotonic()
        body = webhook_body(claimed.uuid, claimed.change_id, claimed.old_commit, claimed.new_commit, claimed.at,
                            claimed.entries)
        try:
            addresses = resolve(claimed.url, self.allow_private)
        except UnresolvedTarget as error:
            return Outcome("retry", None, str(error), time.monotonic() - started)
        except UnsafeTarget as error:
            return Outcome("failed", None, str(error), time.monotonic() - started)
        headers = signed_headers(claimed.secret, claimed.uuid, body, time.time())
        return self._post(claimed.url, addresses, headers, body, started)

    def _post(self, url: str, addresses: list[IPAddress], headers: dict[str, str], body: bytes,
              started: float) -> Outcome:
        """POST to each checked address in turn until one connects."""
        error = "no address"
        for address in addresses:
            try:
                return self._answer(self._pinned(url, address, headers, body), started)
            except httpx.ConnectError as refused:
                error = f"cannot connect to {address}: {refused}"
            except httpx.TimeoutException:
                return Outcome("retry", None, f"no answer within {self.timeout:g} s", time.monotonic() - started)
            except httpx.TransportError as broken:
                return Outcome("retry", None, f"{type(broken).__name__}: {broken}", time.monotonic() - started)
        return Outcome("retry", None, error, time.monotonic() - started)

    def _answer(self, request: httpx.Request, started: float) -> Outcome:
        response = self.client.send(request, stream=True)
        try:
            answer = _start_of(response)
        finally:
            response.close()
        return classify(response.status_code, answer, response.headers.get("retry-after"),
                        time.monotonic() - started)

    def _pinned(self, url: str, address: IPAddress, headers: dict[str, str], body: bytes) -> httpx.Request:
        """A request for `url` that connects to `address`, naming the URL's host in `Host` and TLS."""
        target = httpx.URL(url)
        extensions: dict[str, Any] = {"sni_hostname": target.host} if target.scheme == "https" else {}
        return self.client.build_request("POST", target.copy_with(host=str(address)), content=body,
                                         headers={**headers, "Host": target.netloc.decode("ascii")},
                                         extensions=extensions)

    def close(self) -> None:
        self.client.close()


def _start_of(response: httpx.Response) -> str:
    """The first characters of an answer's body (a receiver may answer with much more; only this is read)."""
    received = b""
    for chunk in response.iter_bytes():
        received += chunk
        if len(received) >= ANSWER_CHARACTERS * 4:
            break
    return received.decode("utf-8", errors="replace")
