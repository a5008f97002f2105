"""Preview pages and preview links through the real app: who may read them, what they show, what they never show.

The app runs over the test site in a real git repository (`tests.admin_api`); links are asked for with
`POST /preview-links` and followed as a reviewer without an account would, by their URL alone.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cms.accounts import Role
from cms.repo import GitRepo, Identity, branches
from cms.review import links
from tests.admin_api import BASE, ORIGIN, SECRET, AdminSite, Starter, assert_problem

pytest_plugins = ["tests.admin_api"]

COURSE = "/preview/courses/intro-to-testing"
LESSON = f"{COURSE}/lessons/first-test"
QUIZ = f"{COURSE}/lessons/check-yourself"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def page(site: AdminSite, path: str, role: Role | None = Role.ADMIN, **params: str) -> httpx.Response:
    headers = site.auth(role) if role else {}
    return site.client.get(path, params=params, headers=headers)


def html_of(response: httpx.Response) -> str:
    """The page, after checking it is one: HTML, no script allowed or present, never cached."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"].startswith("default-src 'none'; style-src 'self';")
    assert response.headers["cache-control"] == "private, no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "<script" not in response.text.lower() and "onerror=" not in response.text.lower()
    return response.text


def new_link(site: AdminSite, role: Role = Role.ADMIN, **body: Any) -> httpx.Response:
    return site.request("POST", "/preview-links", role, json={"ref": "main", **body})


def follow(site: AdminSite, url: str) -> httpx.Response:
    """A link as a reviewer opens it: its address alone, no token."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == ORIGIN
    return site.client.get(f"{parts.path}?{parts.query}")


@pytest.fixture
def site(start: Starter) -> Any:
    with start() as running:
        yield running


def test_the_outline_shows_sections_and_lessons_linking_to_their_pages(site: AdminSite) -> None:
    text = html_of(page(site, COURSE))
    assert "<h1>Intro to Testing" in text and "Why and how to write automated tests." in text
    assert text.index("Basics") < text.index("Why test") < text.index("Your first test") < text.index("Practice")
    assert f'href="{LESSON}"' in text and 'href="/preview/courses"' in text
    assert '<link rel="stylesheet" href="/preview/preview.css">' in text


def test_a_lesson_shows_its_body_videos_and_neighbours(site: AdminSite) -> None:
    text = html_of(page(site, LESSON))
    assert "<h1>Your first test" in text and '<h2 id="h-writing-it">Writing it</h2>' in text
    assert 'href="https://videos.example.com/first-test.mp4"' in text and "Writing the test" in text
    assert f'rel="prev" href="{COURSE}/lessons/why-test">← Why test</a>' in text
    assert f'rel="next" href="{COURSE}/lessons/cheat-sheet">Cheat sheet →</a>' in text


def test_the_first_and_last_lessons_have_one_neighbour(site: AdminSite) -> None:
    first = html_of(page(site, f"{COURSE}/lessons/why-test"))
    assert 'rel="prev"' not in first and 'rel="next"' in first
    last = html_of(page(site, QUIZ))
    assert 'rel="prev"' in last and 'rel="next"' not in last


def test_quiz_questions_show_without_answers(site: AdminSite) -> None:
    text = html_of(page(site, QUIZ))
    assert "What does a failing test tell you?" in text and "<li>Nothing</li>" in text
    assert "<li>Something changed</li>" in text
    assert "A failure means behaviour changed." not in text and "answer" not in text.lower().replace(
        "answer the questions", "")


def test_drafts_are_shown_and_marked(site: AdminSite) -> None:
    created = site.request("POST", "/courses/intro-to-testing/lessons", json={
        "slug": "secret-plan", "title": "Secret plan", "section": "basics", "status": "draft",
        "body": "Not yet public.\n"})
    assert created.status_code == 201, created.text
    text = html_of(page(site, f"{COURSE}/lessons/secret-plan"))
    assert "Not yet public." in text and '<span class="status">draft</span>' in text
    assert f'rel="prev" href="{COURSE}/lessons/first-test">' in text  # drafts are in their places
    assert f'rel="next" href="{COURSE}/lessons/secret-plan">' in html_of(page(site, LESSON))
    assert site.read("/courses/intro-to-testing/lessons/secret-plan").status_code == 404


def test_hostile_titles_and_descriptions_stay_text(site: AdminSite) -> None:
    created = site.request("POST", "/courses", json={
        "slug": "hostile", "title": f"Course {HOSTILE}", "description": f"About {HOSTILE}", "status": "published",
        "body": f"Body {HOSTILE}\n"})
    assert created.status_code == 201, created.text
    section = site.request("POST", "/courses/hostile/sections", json={"slug": "part", "title": f"Part {HOSTILE}"})
    assert section.status_code == 201, section.text
    lesson = site.request("POST", "/courses/hostile/lessons", json={
        "slug": "one", "title": f"Lesson {HOSTILE}", "description": f"Desc {HOSTILE}", "section": "part",
        "objectives": [f"Objective {HOSTILE}"], "body": "Text.\n"})
    assert lesson.status_code == 201, lesson.text
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
    for path in ("/preview/courses", "/preview/courses/hostile", "/preview/courses/hostile/lessons/one"):
        response = page(site, path)
        text = response.text
        assert "<script" not in text and "<img" not in text, text
        assert escaped in text or "&lt;script&gt;" in text, text
    assert text.count(escaped) >= 4  # title, heading, description, objective


def test_without_a_staff_token_or_a_link_pages_are_refused(site: AdminSite) -> None:
    anonymous = page(site, COURSE, role=None)
    assert_problem(anonymous, 401)
    assert_problem(page(site, COURSE, role=Role.USER), 403)
    assert page(site, COURSE, role=Role.MODERATOR).status_code == 200
    bad_token = site.client.get(COURSE, headers={"Authorization": "Bearer nonsense"})
    assert_problem(bad_token, 401)


@pytest.mark.parametrize("path", ["/preview/courses/nothing", f"{COURSE}/lessons/nothing",
                                  "/preview/courses/nothing/lessons/first-test", "/preview/courses/..%2F..%2Fetc"])
def test_unknown_courses_and_lessons_are_404(site: AdminSite, path: str) -> None:
    assert_problem(page(site, path), 404)


@pytest.mark.parametrize("ref", ["no-such-branch", "-x", "--output=/tmp/x", "main..HEAD", "HEAD@{1}", "main~1:x",
                                 "a b", "ünï", "0" * 40, "refs/heads/", "x.lock"])
def test_unknown_or_malformed_refs_are_404(site: AdminSite, ref: str) -> None:
    assert_problem(page(site, COURSE, ref=ref), 404)
    assert_problem(new_link(site, ref=ref), 404)


def test_unknown_query_parameters_are_400(site: AdminSite) -> None:
    assert_problem(page(site, COURSE, token="x"), 400)


def test_the_stylesheet_is_public_and_local(site: AdminSite) -> None:
    response = site.client.get("/preview/preview.css")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")
    assert "url(" not in response.text and "@import" not in response.text


def test_a_link_opens_its_ref_for_24_hours_by_default(site: AdminSite) -> None:
    before = time.time()
    response = new_link(site, role=Role.MODERATOR, path="/courses/intro-to-testing")
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"url", "ref", "commit", "expires_at"}
    assert body["ref"] == "main" and body["commit"] == site.head()
    expires = datetime.fromisoformat(body["expires_at"]).timestamp()
    assert before + links.DEFAULT_SECONDS - 5 <= expires <= time.time() + links.DEFAULT_SECONDS
    assert body["url"].startswith(f"{ORIGIN}{COURSE}?ref=main&preview=")
    text = html_of(follow(site, body["url"]))
    assert "<h1>Intro to Testing" in text and "link valid until" in text
    lesson_link = re.search(r'href="([^"]*first-test[^"]*)"', text)
    assert lesson_link is not None
    assert html_of(follow(site, ORIGIN + lesson_link.group(1).replace("&amp;", "&")))


def test_a_link_lasts_at_most_seven_days(site: AdminSite) -> None:
    week = new_link(site, expires_in_seconds=links.MAX_SECONDS)
    assert week.status_code == 201, week.text
    for seconds in (links.MAX_SECONDS + 1, 0, -1):
        assert_problem(new_link(site, expires_in_seconds=seconds), 422)
    assert_problem(new_link(site, expires_in_seconds="60"), 400)


def test_link_requests_are_checked(site: AdminSite) -> None:
    for path in ("/courses/../etc", "/lessons/x", "courses", "/courses/Intro", "/courses/a/lessons/"):
        assert_problem(new_link(site, path=path), 422)
    assert_problem(new_link(site, colour="red"), 400)
    assert_problem(site.request("POST", "/preview-links", None, json={"ref": "main"}), 401)
    assert_problem(new_link(site, role=Role.USER), 403)
    assert new_link(site, path="/preview/courses/intro-to-testing/lessons/first-test").json()["url"].startswith(
        f"{ORIGIN}{LESSON}?")


def test_an_expired_link_is_403(site: AdminSite) -> None:
    token = links.sign(SECRET, "main", 1, now=time.time() - 10)
    assert_problem(page(site, COURSE, role=None, ref="main", preview=token), 403, "preview-link-invalid")


def test_a_tampered_link_is_403(site: AdminSite) -> None:
    url = new_link(site).json()["url"]
    token = parse_qs(urlsplit(url).query)["preview"][0]
    ref, expires, signature = token.split(".")
    for bad in (f"{ref}.{int(expires) + 3600}.{signature}", f"{ref}.{expires}.{signature[:-2]}AA", "x"):
        assert_problem(page(site, COURSE, role=None, ref="main", preview=bad), 403, "preview-link-invalid")


def test_a_link_opens_only_its_own_ref(site: AdminSite) -> None:
    site.git("branch", "other")
    token = parse_qs(urlsplit(new_link(site).json()["url"]).query)["preview"][0]
    assert_problem(page(site, COURSE, role=None, ref="other", preview=token), 403, "preview-link-invalid")
    assert_problem(page(site, COURSE, role=None, preview=token), 401)  # a link names its ref
    assert page(site, COURSE, role=None, ref="main", preview=token).status_code == 200


def test_a_link_signed_with_another_key_is_403(site: AdminSite) -> None:
    token = links.sign(SECRET + "-other", "main")
    assert_problem(page(site, COURSE, role=None, ref="main", preview=token), 403)


def test_post_preview_links_is_in_the_document_and_the_pages_are_not(site: AdminSite) -> None:
    document = site.client.get(f"{BASE}/docs/openapi.json").json()
    assert "/api/v1/preview-links" in document["paths"] or "/preview-links" in document["paths"]
    assert not [path for path in document["paths"] if path.startswith("/preview/")]


def test_a_branch_is_previewed_as_it_is_on_that_branch(site: AdminSite) -> None:
    repo = GitRepo.open(site.repo)
    path = "content/courses/intro-to-testing/01-basics/01-why-test.md"
    text = (site.repo / path).read_text().replace("title: Why test", "title: Why we test, revised")
    commit = branches.commit_file(repo, site.head(), path, text, "Revise", Identity("Rev Iewer", "rev@example.com"))
    branches.create(repo, "review/why", commit, reason="test")
    link = new_link(site, ref="review/why", path="/courses/intro-to-testing/lessons/why-test").json()
    assert link["commit"] == commit and "ref=review/why&" in link["url"]
    assert "<h1>Why we test, revised" in html_of(follow(site, link["url"]))
    assert "<h1>Why test" in html_of(page(site, f"{COURSE}/lessons/why-test"))  # the served content is unchanged
    assert "Why we test, revised" in html_of(page(site, COURSE, ref="review/why"))


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(("headers", "params", "status"), [
    ({}, {}, 401),
    ({"Authorization": "Bearer nonsense"}, {}, 401),
    ({}, {"ref": "main", "preview": "x.1.y"}, 403),
    ({}, {"ref": "-x", "preview": "x.1.y"}, 403),
    ({}, {"colour": "red"}, 400),
])
def test_a_browser_is_told_why_on_a_page_and_a_client_in_json(site: AdminSite, headers: dict[str, str],
                                                                params: dict[str, str], status: int) -> None:
    as_page = site.client.get(COURSE, params=params, headers={**headers, "Accept": BROWSER_ACCEPT})
    assert as_page.status_code == status and as_page.headers["content-type"].startswith("text/html")
    assert as_page.headers["content-security-policy"].startswith("default-src 'none'")
    assert as_page.headers["cache-control"] == "no-store" or "no-store" in as_page.headers["cache-control"]
    assert f"<h1>{status} · " in as_page.text and "<script" not in as_page.text
    assert_problem(site.client.get(COURSE, params=params, headers=headers), status)


def test_a_missing_page_says_so_on_a_page(site: AdminSite) -> None:
    response = site.client.get("/preview/courses/nothing", headers={**site.auth(Role.ADMIN), "Accept": BROWSER_ACCEPT})
    assert response.status_code == 404 and "no course &#39;nothing&#39;" in response.text
