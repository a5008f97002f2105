"""The delivery settings: read strictly, documented in the README, and never echoing a secret."""

from __future__ import annotations

import pytest

from cms.errors import ConfigError
from cms.settings import SETTINGS, Setting, Settings
from tests.delivery.conftest import README

DELIVERY_SETTINGS = [setting for setting in SETTINGS if setting.name.startswith("CMS_WEBHOOK_")
                     and setting.name != "CMS_WEBHOOK_SECRET"]


@pytest.mark.parametrize("setting", DELIVERY_SETTINGS, ids=lambda setting: setting.name)
def test_each_delivery_setting_is_in_the_readme(setting: Setting) -> None:
    assert f"| `{setting.name}` |" in README.read_text()


def test_targets_are_url_and_secret_pairs() -> None:
    settings = Settings.from_env({"CMS_WEBHOOK_TARGETS": " https://a.example/x?q=1%7C2|0123456789abcdef , "
                                                         "http://b.example:8080/|fedcba9876543210,"})
    assert settings.webhook_targets == (("https://a.example/x?q=1%7C2", "0123456789abcdef"),
                                        ("http://b.example:8080/", "fedcba9876543210"))
    assert Settings.from_env({}).webhook_targets == ()
    assert Settings.from_env({}).webhook_retry_seconds == (10, 30, 60, 300, 900, 1800, 3600)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("CMS_WEBHOOK_TARGETS", "https://a.example/x", "expected `https://host/path|SECRET` pairs"),
    ("CMS_WEBHOOK_TARGETS", "https://a.example/x|short-secret", "at least 16 characters"),
    ("CMS_WEBHOOK_TARGETS", "ftp://a.example/x|0123456789abcdef", "expected `https://host/path|SECRET` pairs"),
    ("CMS_WEBHOOK_RETRY_SECONDS", "10,0", "each more than 0"),
    ("CMS_WEBHOOK_RETRY_HOURS", "0", "more than 0"),
    ("CMS_WEBHOOK_ALLOW_PRIVATE", "maybe", "expected true or false"),
])
def test_a_malformed_value_names_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=name) as raised:
        Settings.from_env({name: value})
    assert message in raised.value.message
    assert "short-secret" not in raised.value.message
