"""The write path on real repositories: commits, versions, refusals, races and crash recovery."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cms.content import Kind
from cms.errors import Conflict, ContentError, NotFound, PreconditionFailed
from cms.repo.commits import Identity, blob_at_head
from cms.repo.repository import GitRepo
from cms.write import journal, operations
from cms.write.commit import Change, apply
from cms.write.operations import Workspace
from tests.conftest import git

ADA = Identity(name="Ada Admin", email="ada@example.com")
PROJECT = "projects/test-dashboard.md"


def version(space: Workspace, path: str) -> str:
    blob = blob_at_head(GitRepo.open(space.tree.content_dir), space.tree.label(path))
    assert blob is not None
    return blob


def commits(site: Path) -> list[str]:
    return git(site, "log", "--format=%an <%ae>|%s").splitlines()


def test_create_commits_as_the_user_and_indexes(space: Workspace, site: Path) -> None:
    written = operations.create(space, Kind.PROJECT, (), {"slug": "new-site", "title": "New site",
                                                             "status": "published", "body": "## Done"}, ADA)
    assert commits(site)[0] == "Ada Admin <ada@example.com>|Create project new-site"
    assert written.version == git(site, "hash-object", "content/projects/new-site.md")
    assert written.commit == git(site, "rev-parse", "HEAD")
    assert git(site, "status", "--porcelain") == ""
    import sqlite3
    with sqlite3.connect(space.db_path) as conn:
        assert conn.execute("SELECT title FROM projects WHERE slug = 'new-site'").fetchone() == ("New site",)


def test_invalid_change_writes_and_commits_nothing(space: Workspace, site: Path) -> None:
    before = commits(site)
    with pytest.raises(ContentError) as caught:
        operations.create(space, Kind.PROJECT, (), {"slug": "bad", "title": "Bad", "html": "<p>x</p>"}, ADA)
    assert [p.rule for p in caught.value.problems] == ["unknown-field"]
    assert not (site / "content/projects/bad.md").exists()
    assert commits(site) == before


def test_a_reference_to_nothing_is_refused(space: Workspace, site: Path) -> None:
    with pytest.raises(ContentError) as caught:
        operations.create(space, Kind.PROJECT, (), {"slug": "x", "title": "X", "thumbnail": "no-such-image"}, ADA)
    assert [p.rule for p in caught.value.problems] == ["reference"]


@pytest.mark.parametrize("slug", ["../x", "Upper", "-lead", "a" * 81, "/abs", "a/b", "%2e%2e"])
def test_bad_slugs_are_refused_before_anything_is_written(space: Workspace, site: Path, slug: str) -> None:
    before = git(site, "status", "--porcelain", "--untracked-files=all")
    with pytest.raises(ContentError):
        operations.create(space, Kind.PROJECT, (), {"slug": slug, "title": "X"}, ADA)
    assert git(site, "status", "--porcelain", "--untracked-files=all") == before


def test_replace_needs_the_current_version(space: Workspace, site: Path) -> None:
    payload = {"title": "Renamed", "status": "published", "body": "New body\n"}
    with pytest.raises(PreconditionFailed):
        operations.replace(space, Kind.PROJECT, ("test-dashboard",), payload, "0" * 40, ADA)
    written = operations.replace(space, Kind.PROJECT, ("test-dashboard",), payload, version(space, PROJECT), ADA)
    assert (site / "content" / PROJECT).read_text().startswith("---\ntitle: Renamed\n")
    with pytest.raises(PreconditionFailed):
        operations.replace(space, Kind.PROJECT, ("test-dashboard",), payload, "0" * 40, ADA)
    assert written.version == version(space, PROJECT)


def test_dirty_target_file_is_a_conflict(space: Workspace, site: Path) -> None:
    target = site / "content" / PROJECT
    target.write_text(target.read_text() + "\nsomeone else's edit\n")
    with pytest.raises(Conflict) as caught:
        operations.publish(space, Kind.PROJECT, ("test-dashboard",), False, version(space, PROJECT), ADA)
    assert caught.value.reason == "uncommitted-changes"
    assert target.read_text().endswith("someone else's edit\n")


def test_merge_in_progress_is_a_conflict(space: Workspace, site: Path) -> None:
    (site / ".git" / "MERGE_HEAD").write_text(git(site, "rev-parse", "HEAD") + "\n")
    with pytest.raises(Conflict) as caught:
        operations.create(space, Kind.PROJECT, (), {"slug": "x", "title": "X"}, ADA)
    assert caught.value.reason == "merge-in-progress"
    assert not (site / "content/projects/x.md").exists()


def test_unknown_entries_are_not_found(space: Workspace) -> None:
    with pytest.raises(NotFound):
        operations.publish(space, Kind.LESSON, ("intro-to-testing", "nope"), True, "0" * 40, ADA)
    with pytest.raises(NotFound):
        operations.create(space, Kind.LESSON, ("intro-to-testing",), {"slug": "x", "title": "X",
                                                                         "section": "nope"}, ADA)


def test_lessons_are_numbered_next_in_line_and_bulk_is_one_commit(space: Workspace, site: Path) -> None:
    lessons = [{"slug": "one", "title": "One", "section": "basics"}, {"slug": "two", "title": "Two",
                                                                       "section": "basics"}]
    written = operations.create_many(space, Kind.LESSON, ("intro-to-testing",), lessons, ADA)
    assert [w.path for w in written] == ["courses/intro-to-testing/01-basics/03-one.md",
                                         "courses/intro-to-testing/01-basics/04-two.md"]
    assert commits(site)[0].endswith("|Create 2 lessons")
    assert len({w.commit for w in written}) == 1


def test_deleting_a_section_removes_its_folder(space: Workspace, site: Path) -> None:
    section = "courses/intro-to-testing/02-practice/section.md"
    operations.delete(space, Kind.SECTION, ("intro-to-testing", "practice"), version(space, section), ADA)
    assert not (site / "content/courses/intro-to-testing/02-practice").exists()
    assert git(site, "status", "--porcelain") == ""


def test_racing_writers_on_one_version_have_exactly_one_winner(space: Workspace, site: Path) -> None:
    expected = version(space, PROJECT)
    before = len(commits(site))
    outcomes: list[str] = []

    def write(n: int) -> None:
        payload = {"title": f"Writer {n}", "status": "published"}
        try:
            operations.replace(space, Kind.PROJECT, ("test-dashboard",), payload, expected, ADA)
            outcomes.append("won")
        except PreconditionFailed:
            outcomes.append("stale")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["stale"] * 19 + ["won"]
    assert len(commits(site)) == before + 1


def test_parallel_writes_to_different_files_all_land(space: Workspace, site: Path) -> None:
    def write(n: int) -> None:
        operations.create(space, Kind.PROJECT, (), {"slug": f"p-{n}", "title": f"P {n}"}, ADA)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all((site / f"content/projects/p-{n}.md").exists() for n in range(25))
    assert sum(1 for line in commits(site) if "|Create project p-" in line) == 25
    assert git(site, "status", "--porcelain") == ""


def test_an_interrupted_write_is_undone_on_recovery(space: Workspace, site: Path) -> None:
    """A process killed after writing the file but before committing leaves nothing behind."""
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from cms.write import journal\n"
        "from cms.repo.repository import GitRepo\n"
        "repo = GitRepo.open(Path(sys.argv[1]))\n"
        "journal.begin(repo, ['content/projects/test-dashboard.md', 'content/projects/half.md'])\n"
        "Path(sys.argv[1], 'content/projects/test-dashboard.md').write_text('---\\ntitle: half\\n')\n"
        "Path(sys.argv[1], 'content/projects/half.md').write_text('---\\ntitle: Half\\n---\\n')\n"
        "os.kill(os.getpid(), 9)\n")
    head = git(site, "rev-parse", "HEAD")
    result = subprocess.run([sys.executable, "-c", script, str(site)], capture_output=True)
    assert result.returncode == -9
    assert git(site, "status", "--porcelain") != ""
    restored = journal.recover(GitRepo.open(site))
    assert sorted(restored) == ["content/projects/half.md", "content/projects/test-dashboard.md"]
    assert git(site, "status", "--porcelain") == ""
    assert git(site, "rev-parse", "HEAD") == head


def test_a_failed_commit_puts_the_files_back(space: Workspace, site: Path) -> None:
    hook = site / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(Conflict, match="git refused the commit") as caught:
        apply(space.tree, space.db_path, [Change(path="projects/x.md", text="---\ntitle: X\n---\n",
                                                 must_exist=False)], "Create project x", ADA)
    assert caught.value.reason == "commit-refused"
    assert not (site / "content/projects/x.md").exists()
    assert git(site, "status", "--porcelain") == ""


def test_a_write_that_changes_nothing_makes_no_commit(space: Workspace, site: Path) -> None:
    current = (site / "content" / PROJECT).read_text()
    before = commits(site)
    result = apply(space.tree, space.db_path, [Change(path=PROJECT, text=current, expected=version(space, PROJECT))],
                   "Update project test-dashboard", ADA)
    assert commits(site) == before
    assert result.commit == git(site, "rev-parse", "HEAD")
    assert result.versions[PROJECT] == version(space, PROJECT)
