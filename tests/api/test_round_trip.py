"""Reads round-trip into writes: the body a GET answers, with its `version` as `If-Match`, goes back to PUT with
one field changed, and only that field changes.

What the read adds (`slug`, `version`, `html`, totals, a lesson's `section` and `order`, …) is ignored when
it is sent unchanged and refused (422) when it differs; references may be the objects the read shows;
quiz answers, which reads never show, are kept. A stale `If-Match` is a 412 before the body is looked at.
"""

from __future__ import annotations

from typing import Any

import pytest

from cms.accounts import Role
from tests.admin_api import AdminSite, assert_problem

pytest_plugins = ["tests.admin_api"]

COURSE = "intro-to-testing"
ENTRIES = [
    ("/courses/intro-to-testing", f"courses/{COURSE}/course.md"),
    ("/courses/intro-to-testing/sections/basics", f"courses/{COURSE}/01-basics/section.md"),
    ("/courses/intro-to-testing/lessons/first-test", f"courses/{COURSE}/01-basics/02-first-test.md"),
    ("/courses/intro-to-testing/lessons/check-yourself", f"courses/{COURSE}/02-practice/02-check-yourself.md"),
    ("/projects/test-dashboard", "projects/test-dashboard.md"),
    ("/paths/testing-path", "paths/testing-path.md"),
]
CHANGING = {"updated_at", "version", "html", "toc", "created_at"}
"""What a commit may change besides the field that was changed (dates come from git)."""


def read(site: AdminSite, path: str) -> dict[str, Any]:
    response = site.read(path, Role.ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(("path", "file"), ENTRIES, ids=[path for path, _ in ENTRIES])
def test_a_read_sent_back_with_one_change_changes_only_that(admin_site: AdminSite, path: str, file: str) -> None:
    site = admin_site
    before = read(site, path)
    response = site.request("PUT", path, version=before["version"], json={**before, "title": "Renamed"})
    assert response.status_code == 200, response.text
    after = read(site, path)
    assert after["title"] == "Renamed" and after["version"] == site.blob(file) != before["version"]
    unchanged = {key: value for key, value in before.items() if key not in CHANGING | {"title"}}
    for lesson in unchanged.get("lessons", []):  # a section's lessons name it by its title
        lesson["section"]["title"] = "Renamed"
    assert {key: after[key] for key in unchanged} == unchanged
    assert response.json()["entry"] == after


def test_a_read_sent_back_unchanged_writes_nothing_new(admin_site: AdminSite) -> None:
    site, head = admin_site, admin_site.head()
    lesson = read(site, "/courses/intro-to-testing/lessons/why-test")
    response = site.request("PUT", "/courses/intro-to-testing/lessons/why-test", version=lesson["version"],
                            json=lesson)
    assert response.status_code == 200, response.text
    assert read(site, "/courses/intro-to-testing/lessons/why-test") == lesson
    assert site.head() == head, "the same file: nothing to commit"


def test_quiz_answers_survive_a_round_trip(admin_site: AdminSite) -> None:
    site, file = admin_site, f"courses/{COURSE}/02-practice/02-check-yourself.md"
    before = (site.content / file).read_text()
    assert "answer:" in before
    lesson = read(site, "/courses/intro-to-testing/lessons/check-yourself")
    assert all(set(question) == {"prompt", "choices"} for question in lesson["questions"])
    response = site.request("PUT", "/courses/intro-to-testing/lessons/check-yourself", version=lesson["version"],
                            json={**lesson, "description": "Check what you learned."})
    assert response.status_code == 200, response.text
    after = (site.content / file).read_text()
    assert after.count("answer:") == before.count("answer:")
    assert after.count("explanation:") == before.count("explanation:")


@pytest.mark.parametrize(("key", "value"), [
    ("slug", "renamed"), ("html", "<p>Mine</p>"), ("version", "0" * 40), ("video_count", 9),
    ("section", {"slug": "practice", "title": "Practice", "order": 2}), ("section", "practice"), ("order", 7),
    ("created_at", "2000-01-01T00:00:00Z"),
])
def test_a_derived_field_that_differs_is_refused(admin_site: AdminSite, key: str, value: Any) -> None:
    site, head = admin_site, admin_site.head()
    lesson = read(site, "/courses/intro-to-testing/lessons/first-test")
    response = site.request("PUT", "/courses/intro-to-testing/lessons/first-test", version=lesson["version"],
                            json={**lesson, key: value})
    problem = assert_problem(response, 422)
    assert key in problem["detail"]
    assert site.head() == head


def test_references_may_be_slugs_or_the_objects_a_read_shows(admin_site: AdminSite) -> None:
    site = admin_site
    course = read(site, "/courses/intro-to-testing")
    assert isinstance(course["instructor"], dict) and isinstance(course["image"], dict)
    as_slugs = {**course, "instructor": course["instructor"]["slug"], "image": course["image"]["id"],
                "category": course["category"]["slug"], "description": "Slugs work too."}
    response = site.request("PUT", "/courses/intro-to-testing", version=course["version"], json=as_slugs)
    assert response.status_code == 200, response.text
    after = read(site, "/courses/intro-to-testing")
    assert (after["instructor"], after["image"], after["category"]) == (
        course["instructor"], course["image"], course["category"])


def test_a_stale_if_match_is_412_before_the_body_is_looked_at(admin_site: AdminSite) -> None:
    site, head = admin_site, admin_site.head()
    stale = "0" * 40
    for path, body in (("/projects/test-dashboard", {"title": 5, "html": "x", "unknown": True}),
                       ("/courses/intro-to-testing/lessons/first-test", {"slug": "other", "section": "nowhere"}),
                       ("/courses/intro-to-testing", {"instructor": "nobody", "order": 3})):
        assert_problem(site.request("PUT", path, version=stale, json=body), 412, "stale-version")
    assert site.head() == head
