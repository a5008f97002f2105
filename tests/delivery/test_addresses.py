"""Webhook targets on loopback, private, link-local or other non-global addresses are refused without
CMS_WEBHOOK_ALLOW_PRIVATE: when added, when `cms serve` starts, and again before each delivery."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from cms.database import Database
from cms.delivery import Outbox, Sender, UnsafeTarget, resolve
from tests.api_server import CMS, free_port, server_env
from tests.delivery.conftest import Content, Receiver, add_target
from tests.delivery.test_outbox import queue_change

REFUSED = [
    "http://127.0.0.1/hook", "http://127.8.9.10:8080/hook", "http://10.1.2.3/hook", "http://172.16.0.1/hook",
    "http://172.31.255.254/hook", "http://192.168.1.20/hook", "http://169.254.169.254/latest/meta-data",
    "http://[::1]/hook", "http://[fc00::1]/hook", "http://[fd12:3456::1]/hook", "http://[fe80::1]/hook",
    "http://0.0.0.0/hook", "http://[::ffff:127.0.0.1]/hook", "http://100.64.0.1/hook", "http://localhost:8000/hook",
    "https://LOCALHOST/hook", "http://2130706433/hook",
]
"""Loopback, 10/8, 172.16/12, 192.168/16, 169.254/16 (cloud metadata), ::1, fc00::/7, fe80::/10, unspecified,
IPv4-mapped loopback, shared address space, and names that resolve to 127.0.0.1."""
PUBLIC = ["https://8.8.8.8/hook", "http://[2001:4860:4860::8888]:8443/hook", "https://1.1.1.1"]
MALFORMED = ["ftp://example.com/hook", "http:///hook", "https://user:pw@8.8.8.8/hook", "http://8.8.8.8:99999/x",
             "javascript:alert(1)"]


@pytest.mark.parametrize("url", REFUSED)
def test_non_global_addresses_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(UnsafeTarget, match="not a public address"):
        resolve(url, allow_private=False)
    assert resolve(url, allow_private=True)


@pytest.mark.parametrize("url", PUBLIC)
def test_public_addresses_are_accepted(url: str) -> None:
    assert resolve(url, allow_private=False)


@pytest.mark.parametrize("url", MALFORMED)
def test_urls_that_are_not_plain_http_are_refused(url: str) -> None:
    with pytest.raises(UnsafeTarget):
        resolve(url, allow_private=True)


def test_cms_serve_will_not_start_with_a_private_target(content: Content, tmp_path: Path) -> None:
    env = server_env(CMS_WEBHOOK_TARGETS="http://10.0.0.7/hook|a-secret-of-sixteen-chars")
    done = subprocess.run([str(CMS), "serve", str(content.content), "--port", str(free_port())], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "CMS_WEBHOOK_TARGETS is not valid: 10.0.0.7 resolves to 10.0.0.7" in done.stderr
    assert "a-secret-of-sixteen-chars" not in done.stderr + done.stdout


def test_a_target_is_checked_again_before_each_delivery(state: Database, receiver: Receiver) -> None:
    """A target accepted once (its name may have resolved elsewhere then) is not sent to a private address now."""
    add_target(state, receiver.url)
    queue_change(state, at=time.time())
    outbox = Outbox(state)
    [claimed] = outbox.claim()
    sender = Sender(allow_private=False)
    try:
        outcome = sender.send(claimed)
    finally:
        sender.close()
    assert outcome.result == "failed" and "127.0.0.1 resolves to 127.0.0.1" in (outcome.error or "")
    assert outbox.settle(claimed, outcome) == "failed"
    assert receiver.received == []
