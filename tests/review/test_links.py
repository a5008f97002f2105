"""Preview links: what a token opens, and every way a token stops opening anything."""

from __future__ import annotations

import pytest

from cms.errors import Forbidden, InvalidInput
from cms.review import links

KEY = "a-test-secret-key-long-enough-for-hs256-0123456789"
NOW = 1_800_000_000.0


def test_a_token_opens_its_ref_until_it_expires() -> None:
    token = links.sign(KEY, "drafts/git-basics/stashing", now=NOW)
    grant = links.verify(KEY, token, now=NOW + links.DEFAULT_SECONDS - 1)
    assert grant == links.PreviewGrant(ref="drafts/git-basics/stashing", expires=int(NOW) + 24 * 3600)
    with pytest.raises(Forbidden):
        links.verify(KEY, token, now=NOW + links.DEFAULT_SECONDS)


@pytest.mark.parametrize("ref", ["main", "0123456789abcdef0123456789abcdef01234567", "drafts/a.b/c-d_e", "ünï/ç"])
def test_any_ref_name_survives_the_token(ref: str) -> None:
    assert links.verify(KEY, links.sign(KEY, ref, now=NOW), now=NOW).ref == ref


@pytest.mark.parametrize("seconds", [0, -5, links.MAX_SECONDS + 1])
def test_a_link_lasts_one_second_to_seven_days(seconds: int) -> None:
    with pytest.raises(InvalidInput):
        links.sign(KEY, "main", seconds, now=NOW)
    assert links.verify(KEY, links.sign(KEY, "main", links.MAX_SECONDS, now=NOW), now=NOW).expires == \
        int(NOW) + 7 * 24 * 3600


def _tampered(token: str) -> list[str]:
    ref, expires, signature = token.split(".")
    other_ref = links.sign(KEY, "main", now=NOW).split(".")[0]
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    return [f"{other_ref}.{expires}.{signature}", f"{ref}.{int(expires) + 3600}.{signature}",
            f"{ref}.{expires}.{flipped}", f"{ref}.{expires}", f"{ref}.{expires}.{signature}.x", "", "...",
            f"{ref}.soon.{signature}", f"{ref}=.{expires}.{signature}", token.upper()]


def test_a_tampered_or_malformed_token_is_refused_without_saying_how() -> None:
    token = links.sign(KEY, "drafts/course/lesson", now=NOW)
    messages = set()
    for bad in _tampered(token):
        with pytest.raises(Forbidden) as refused:
            links.verify(KEY, bad, now=NOW)
        assert refused.value.status == 403 and refused.value.reason == "preview-link-invalid"
        messages.add(refused.value.message)
    assert len(messages) == 1


def test_another_key_opens_nothing() -> None:
    token = links.sign(KEY, "main", now=NOW)
    with pytest.raises(Forbidden):
        links.verify(KEY + "-rotated", token, now=NOW)
