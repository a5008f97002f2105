"""A draft handed to its reviewers: its preview link, and its pull request on GitHub, GitLab or Gitea.

The app runs over the test site with a bare remote (the draft's branch is pushed to it), Gemini is the local
fake of `test_drafts`, and each forge is `tests.repo.fake_forges.FakeForge`, a local server speaking that
forge's REST API: what it received is read back, nothing in the code under test is patched.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from api.app import create_app
from cms.ai.answer import prompt_sha256
from cms.cli import main
from cms.errors import ConfigError
from cms.review import links
from cms.settings import Settings
from tests.admin_api import make_remote
from tests.ai import test_drafts
from tests.ai.test_drafts import (
    BRANCH,
    COURSE,
    DRAFT_BODY,
    GOOD,
    KEY,
    MODEL,
    NEW_PATH,
    SECRET,
    FakeGemini,
    api,
    bearer,
    file_on,
)
from tests.conftest import git
from tests.repo.fake_forges import TOKEN, FakeForge

fake = test_drafts.fake
cheap_hashing = test_drafts.cheap_hashing
PUBLIC = "https://cms.example.test"
KINDS = ["github", "gitlab", "gitea"]


def forge_env(forge: FakeForge) -> dict[str, str]:
    return {"CMS_GIT_PUSH": "true", "CMS_FORGE_URL": forge.url, "CMS_FORGE_TOKEN": TOKEN,
            "CMS_FORGE_KIND": forge.kind, "CMS_PUBLIC_URL": PUBLIC}


def prompt_hash_on_branch(site: Path) -> str:
    lesson = file_on(site, BRANCH, NEW_PATH)
    return next(line.split(":", 1)[1].strip() for line in lesson.splitlines() if "prompt_sha256" in line)


@pytest.mark.parametrize("kind", KINDS)
def test_a_pushed_draft_opens_a_pull_request_with_provenance_brief_and_preview(
        kind: str, site: Path, tmp_path: Path, fake: FakeGemini, cheap_hashing: None,
        caplog: pytest.LogCaptureFixture) -> None:
    fake.will(GOOD)
    bare = make_remote(site)
    forge = FakeForge(kind, branches={"main", BRANCH})
    caplog.set_level(logging.DEBUG)
    with forge.running(), api(site, tmp_path, **forge_env(forge)) as (client, tokens):
        response = client.post("/api/v1/ai/drafts", json=DRAFT_BODY, headers=bearer(tokens["ADMIN"]))
        assert response.status_code == 201, response.text
    answer = response.json()
    [pull] = forge.pulls
    assert answer["pull_request_url"] == forge.web_url(pull)
    assert (pull.head, pull.base, pull.title) == (BRANCH, "main", "Lesson draft: Testing with fixtures")
    assert git(bare, "rev-parse", f"refs/heads/{BRANCH}") == answer["commit"]
    assert answer["preview_url"].startswith(f"{PUBLIC}/preview/courses/{COURSE}/lessons/testing-with-fixtures?")
    assert answer["preview_url"].replace("_", "\\_") in pull.body or answer["preview_url"] in pull.body
    assert MODEL in pull.body and prompt_hash_on_branch(site) in pull.body and "Fixtures." in pull.body
    assert TOKEN not in response.text and TOKEN not in caplog.text


@pytest.mark.parametrize("kind", KINDS)
def test_a_forge_error_is_a_502_with_its_message_and_the_pushed_branch_stays(
        kind: str, site: Path, tmp_path: Path, fake: FakeGemini, cheap_hashing: None,
        caplog: pytest.LogCaptureFixture) -> None:
    fake.will(GOOD)
    bare = make_remote(site)
    forge = FakeForge(kind, branches={"main", BRANCH})
    forge.fail(403, "Resource not accessible by integration", times=3, echo_credentials=True)
    caplog.set_level(logging.DEBUG)
    with forge.running(), api(site, tmp_path, **forge_env(forge)) as (client, tokens):
        response = client.post("/api/v1/ai/drafts", json=DRAFT_BODY, headers=bearer(tokens["ADMIN"]))
    assert response.status_code == 502, response.text
    problem = response.json()
    assert problem["type"] == "urn:coursebase:problem:forge-refused"
    assert "Resource not accessible by integration" in problem["detail"] and "403" in problem["detail"]
    assert TOKEN not in response.text and TOKEN not in caplog.text
    assert git(site, "rev-parse", f"refs/heads/{BRANCH}") == git(bare, "rev-parse", f"refs/heads/{BRANCH}")
    assert not forge.pulls


def test_an_unreachable_forge_is_a_502_and_the_branch_stays(site: Path, tmp_path: Path, fake: FakeGemini,
                                                            cheap_hashing: None) -> None:
    fake.will(GOOD)
    bare = make_remote(site)
    forge = FakeForge("gitea", branches={"main", BRANCH})
    with forge.running():
        env = forge_env(forge)
    with api(site, tmp_path, **env) as (client, tokens):  # the forge has stopped: nothing answers there
        response = client.post("/api/v1/ai/drafts", json=DRAFT_BODY, headers=bearer(tokens["ADMIN"]))
    assert response.status_code == 502 and response.json()["type"] == "urn:coursebase:problem:forge-unreachable"
    assert TOKEN not in response.text
    assert git(bare, "rev-parse", f"refs/heads/{BRANCH}")


def test_without_a_remote_no_pull_request_is_opened(site: Path, tmp_path: Path, fake: FakeGemini,
                                                    cheap_hashing: None) -> None:
    fake.will(GOOD)
    forge = FakeForge("github", branches={"main", BRANCH})
    with forge.running(), api(site, tmp_path, **forge_env(forge)) as (client, tokens):
        response = client.post("/api/v1/ai/drafts", json=DRAFT_BODY, headers=bearer(tokens["ADMIN"]))
    assert response.status_code == 201, response.text
    assert response.json()["pull_request_url"] is None and not forge.requests


def test_the_preview_link_opens_the_draft_branch_for_seven_days(site: Path, tmp_path: Path, fake: FakeGemini,
                                                                 cheap_hashing: None) -> None:
    fake.will(GOOD)
    with api(site, tmp_path, CMS_PUBLIC_URL=PUBLIC) as (client, tokens):
        response = client.post("/api/v1/ai/drafts", json=DRAFT_BODY, headers=bearer(tokens["ADMIN"]))
        assert response.status_code == 201, response.text
        query = parse_qs(urlsplit(response.json()["preview_url"]).query)
        assert query["ref"] == [BRANCH]
        grant = links.verify(SECRET, query["preview"][0])
        assert grant.ref == BRANCH
        assert links.MAX_SECONDS - 60 < grant.expires - int(links.time.time()) <= links.MAX_SECONDS


def test_the_cli_prints_the_preview_link_and_the_pull_request(site: Path, fake: FakeGemini,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    fake.will(GOOD)
    make_remote(site)
    git(site, "config", "user.name", "Cli Author")
    git(site, "config", "user.email", "cli@example.com")
    forge = FakeForge("gitlab", branches={"main", BRANCH})
    with forge.running():
        for name, value in {"CMS_CONTENT_DIR": str(site / "content"), "GEMINI_API_KEY": KEY, "GEMINI_MODEL": MODEL,
                            "CMS_SECRET_KEY": SECRET, **forge_env(forge)}.items():
            monkeypatch.setenv(name, value)
        result = CliRunner().invoke(main, ["ai", "draft", "--course", COURSE, "--section", "practice", "--title",
                                           "Testing with fixtures", "--brief", "Fixtures."], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [pull] = forge.pulls
    assert f"pull request: {forge.web_url(pull)}" in result.output
    assert f"preview: {PUBLIC}/preview/courses/{COURSE}/lessons/testing-with-fixtures?ref={BRANCH}&preview=" \
        in result.output
    assert TOKEN not in result.output


def test_the_cli_without_a_public_address_says_how_to_get_a_link(site: Path, fake: FakeGemini,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fake.will(GOOD)
    git(site, "config", "user.name", "Cli Author")
    git(site, "config", "user.email", "cli@example.com")
    for name, value in {"CMS_CONTENT_DIR": str(site / "content"), "GEMINI_API_KEY": KEY,
                        "GEMINI_MODEL": MODEL}.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["ai", "draft", "--course", COURSE, "--section", "practice", "--title",
                                       "Testing with fixtures"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "preview: set CMS_PUBLIC_URL and CMS_SECRET_KEY for a preview link" in result.output
    assert "pull request" not in result.output


def test_prompt_sha256_is_the_provenance_fingerprint() -> None:
    assert prompt_sha256("x") == "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"


@pytest.mark.parametrize("env", [{"CMS_FORGE_URL": "https://github.com/acme/content"},
                                 {"CMS_FORGE_TOKEN": TOKEN, "CMS_GIT_PUSH": "true"},
                                 {"CMS_FORGE_URL": "https://github.com/acme/content", "CMS_FORGE_TOKEN": TOKEN},
                                 {"CMS_FORGE_URL": "https://forge.example/acme/content", "CMS_FORGE_TOKEN": TOKEN,
                                  "CMS_GIT_PUSH": "true"}])
def test_a_half_set_or_unusable_forge_stops_start_up_and_the_cli_before_gemini(
        env: dict[str, str], site: Path, fake: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.from_env({"CMS_CONTENT_DIR": str(site / "content"), **env})
    with pytest.raises(ConfigError) as stopped:
        create_app(settings)
    assert "CMS_FORGE" in stopped.value.message and TOKEN not in stopped.value.message
    fake.will(GOOD)
    for name, value in {"CMS_CONTENT_DIR": str(site / "content"), "GEMINI_API_KEY": KEY, **env}.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["ai", "draft", "--course", COURSE, "--section", "practice", "--title",
                                       "Testing with fixtures"])
    assert result.exit_code != 0 and "CMS_FORGE" in result.output and TOKEN not in result.output
    assert not fake.requests and git(site, "branch", "--list", "drafts/*") == ""
