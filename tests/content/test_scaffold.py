"""`cms new`: scaffolded files validate, take the next order number, and never overwrite or escape."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cms.cli import main
from cms.content.frontmatter import load_markdown
from tests.conftest import SITE
from tests.defects import validate_json

COURSE = "intro-to-testing"


@pytest.fixture
def content(tmp_path: Path) -> Path:
    """A copy of the test site's content (no git needed: `cms new` only writes files)."""
    return Path(shutil.copytree(SITE / "content", tmp_path / "site" / "content"))


def new(content: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["new", *args, "--content-dir", str(content)], catch_exceptions=False)


def files(content: Path) -> list[str]:
    return sorted(path.relative_to(content).as_posix() for path in content.rglob("*"))


def assert_clean(content: Path) -> None:
    exit_code, report = validate_json(content)
    assert report["problems"] == []
    assert exit_code == 0


@pytest.mark.parametrize(("args", "created", "title"), [
    (["course", "unit-testing", "--title", "Unit testing"], "courses/unit-testing/course.md", "Unit testing"),
    (["section", COURSE, "review", "--title", "Review: what we learned"],
     f"courses/{COURSE}/03-review/section.md", "Review: what we learned"),
    (["section", "advanced-testing", "stubs", "--title", "Stubs"], "courses/advanced-testing/02-stubs/section.md",
     "Stubs"),
    (["lesson", COURSE, "practice", "wrap-up", "--title", "Wrap-up, #1 & more"],
     f"courses/{COURSE}/02-practice/03-wrap-up.md", "Wrap-up, #1 & more"),
    (["lesson", COURSE, "basics", "fixtures", "--title", "yes"], f"courses/{COURSE}/01-basics/03-fixtures.md", "yes"),
    (["project", "test-runner", "--title", "Test runner"], "projects/test-runner.md", "Test runner"),
])
def test_new_file_validates(content: Path, args: list[str], created: str, title: str) -> None:
    before = files(content)

    result = new(content, *args)

    assert result.exit_code == 0, result.output
    assert created in result.output
    added = sorted(set(files(content)) - set(before))
    assert created in added and all(created.startswith(path) for path in added)
    assert load_markdown((content / created).read_bytes(), created).data["title"] == title
    assert_clean(content)


def test_a_whole_course_scaffolded_in_order_validates(content: Path) -> None:
    assert new(content, "course", "new-course", "--title", "New course").exit_code == 0
    for slug in ("one", "two", "three"):
        assert new(content, "section", "new-course", slug, "--title", slug.title()).exit_code == 0
    for slug in ("a", "b"):
        assert new(content, "lesson", "new-course", "two", f"lesson-{slug}", "--title", slug).exit_code == 0
    assert new(content, "lesson", "new-course", "three", "lesson-c", "--title", "c").exit_code == 0

    assert [path for path in files(content) if path.startswith("courses/new-course/") and path.endswith(".md")] == [
        "courses/new-course/01-one/section.md", "courses/new-course/02-two/01-lesson-a.md",
        "courses/new-course/02-two/02-lesson-b.md", "courses/new-course/02-two/section.md",
        "courses/new-course/03-three/01-lesson-c.md", "courses/new-course/03-three/section.md",
        "courses/new-course/course.md"]
    assert_clean(content)


def test_next_order_follows_the_highest_number_and_its_width(content: Path) -> None:
    (content / "courses" / COURSE / "02-practice").rename(content / "courses" / COURSE / "009-practice")

    result = new(content, "section", COURSE, "review", "--title", "Review")

    assert result.exit_code == 0, result.output
    assert (content / "courses" / COURSE / "010-review" / "section.md").is_file()


@pytest.mark.parametrize(("args", "message"), [
    (["course", COURSE, "--title", "Again"], "already exists"),
    (["section", COURSE, "basics", "--title", "Again"], "already has a section 'basics'"),
    (["lesson", COURSE, "basics", "first-test", "--title", "Again"], "already has a lesson 'first-test'"),
    (["lesson", COURSE, "practice", "why-test", "--title", "Moved"], "already has a lesson 'why-test'"),
    (["project", "test-dashboard", "--title", "Again"], "already exists"),
])
def test_existing_slug_is_refused(content: Path, args: list[str], message: str) -> None:
    before = {path: (content / path).read_bytes() for path in files(content) if (content / path).is_file()}

    result = new(content, *args)

    assert result.exit_code == 2
    assert message in result.output
    assert {path: (content / path).read_bytes() for path in files(content) if (content / path).is_file()} == before


BAD_SLUGS = ["Bad_Slug", "../x", "x/y", "", "x-", "a--b", "a" * 81]


@pytest.mark.parametrize("slug", BAD_SLUGS)
@pytest.mark.parametrize("command", ["course", "section", "lesson", "project"])
def test_bad_slug_writes_nothing(content: Path, tmp_path: Path, command: str, slug: str) -> None:
    before = files(tmp_path)
    parents = {"course": [], "section": [COURSE], "lesson": [COURSE, "basics"], "project": []}[command]

    result = new(content, command, *parents, slug, "--title", "Title")

    assert result.exit_code == 2
    assert "not a valid slug" in result.output
    assert files(tmp_path) == before


@pytest.mark.parametrize(("args", "message"), [
    (["section", "no-such-course", "intro", "--title", "T"], "no course 'no-such-course'"),
    (["lesson", "no-such-course", "basics", "intro", "--title", "T"], "no course 'no-such-course'"),
    (["lesson", COURSE, "no-such-section", "intro", "--title", "T"], "has no section 'no-such-section'"),
])
def test_unknown_course_or_section_is_refused(content: Path, args: list[str], message: str) -> None:
    before = files(content)

    result = new(content, *args)

    assert result.exit_code == 2
    assert message in result.output
    assert files(content) == before


@pytest.mark.parametrize("title", ["", "x" * 256])
@pytest.mark.parametrize("args", [["course", "c"], ["section", COURSE, "s"], ["lesson", COURSE, "basics", "l"],
                                  ["project", "p"]])
def test_title_that_would_not_validate_is_refused(content: Path, args: list[str], title: str) -> None:
    before = files(content)

    result = new(content, *args, "--title", title)

    assert result.exit_code == 2
    assert "title" in result.output
    assert files(content) == before
