"""Redirects found in git history by the indexer (`cms.index.redirects`), on real repositories.

Each test renames files with `git mv` and commits, as authors do, then
brings the index up to date after every commit (incremental runs) and
compares the `redirects` table with a full rebuild and with a first build
of a fresh clone: the three must agree row for row.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from cms.content.corpus import ContentTree
from cms.index.build import update
from cms.index.redirects import MAX_COMMITS, Moves, fold, moved_files
from cms.index.sqlite import database_path
from tests.conftest import SITE, git, make_repo

INTRO = "courses/intro-to-testing"
WHY = f"{INTRO}/01-basics/01-why-test.md"
FIRST = f"{INTRO}/01-basics/02-first-test.md"
Row = tuple[str, str, str, str, str, int]


class Repo:
    """The test site in git, indexed after every commit."""

    def __init__(self, root: Path) -> None:
        self.root = make_repo(root, SITE)
        self.tree = ContentTree.locate(root / "content")
        self.db = database_path(self.tree, None)
        update(self.tree, self.db)

    def move(self, old: str, new: str, message: str = "Rename") -> None:
        (self.tree.content_dir / new).parent.mkdir(parents=True, exist_ok=True)
        git(self.root, "mv", f"content/{old}", f"content/{new}")
        self.commit(message)

    def commit(self, message: str) -> None:
        git(self.root, "add", "--all")
        git(self.root, "commit", "--quiet", "--message", message)
        update(self.tree, self.db)

    def write(self, path: str, text: str) -> None:
        target = self.tree.content_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def rows(self, db: Path | None = None) -> list[Row]:
        with sqlite3.connect(db or self.db) as conn:
            return conn.execute("SELECT kind, old_path, new_path, old_file, new_file, listed FROM redirects "
                                "ORDER BY old_file").fetchall()

    def listed(self) -> dict[str, str]:
        return {old: new for _, old, new, _, _, listed in self.rows() if listed}

    def head(self) -> str:
        return git(self.root, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "site")


def assert_same_after_rebuilds(repo: Repo, tmp_path: Path) -> None:
    """A full rebuild, and the first build of a fresh clone, find what the incremental runs did."""
    incremental = repo.rows()
    with sqlite3.connect(repo.db) as conn:
        renamed_in = conn.execute("SELECT old_file, renamed_in, renamed_at FROM redirects ORDER BY old_file").fetchall()
    assert update(repo.tree, repo.db, full=True).full
    assert repo.rows() == incremental
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(repo.root), str(clone))
    tree = ContentTree.locate(clone / "content")
    update(tree, database_path(tree, None))
    assert repo.rows(database_path(tree, None)) == incremental
    with sqlite3.connect(database_path(tree, None)) as conn:
        assert conn.execute("SELECT old_file, renamed_in, renamed_at FROM redirects ORDER BY old_file").fetchall() \
            == renamed_in


def test_a_lesson_slug_rename_redirects_its_old_path(repo: Repo, tmp_path: Path) -> None:
    repo.move(WHY, f"{INTRO}/01-basics/01-why-we-test.md")
    assert repo.listed() == {f"/{INTRO}/lessons/why-test": f"/{INTRO}/lessons/why-we-test"}
    [(kind, *_, listed)] = repo.rows()
    assert (kind, listed) == ("lesson", 1)
    with sqlite3.connect(repo.db) as conn:
        assert conn.execute("SELECT renamed_in FROM redirects").fetchone()[0] == repo.head()
    assert_same_after_rebuilds(repo, tmp_path)


def test_a_lesson_moved_to_another_section_keeps_its_path(repo: Repo, tmp_path: Path) -> None:
    """The lesson's public path names its course and slug, not its section: nothing to redirect, but the file
    move is remembered (for links to the old file)."""
    repo.move(WHY, f"{INTRO}/02-practice/03-why-test.md")
    assert repo.listed() == {}
    assert repo.rows() == [("lesson", f"/{INTRO}/lessons/why-test", f"/{INTRO}/lessons/why-test", WHY,
                            f"{INTRO}/02-practice/03-why-test.md", 0)]
    assert_same_after_rebuilds(repo, tmp_path)


def test_a_renumbered_lesson_has_no_redirect(repo: Repo) -> None:
    repo.move(WHY, f"{INTRO}/01-basics/07-why-test.md")
    assert repo.listed() == {}


def test_a_lesson_moved_to_another_course_redirects(repo: Repo, tmp_path: Path) -> None:
    repo.move(WHY, "courses/advanced-testing/01-mocking/02-why-test.md")
    assert repo.listed() == {f"/{INTRO}/lessons/why-test": "/courses/advanced-testing/lessons/why-test"}
    assert_same_after_rebuilds(repo, tmp_path)


def test_a_course_folder_rename_moves_every_path_under_it(repo: Repo, tmp_path: Path) -> None:
    repo.move(INTRO, "courses/testing-101")
    new = "/courses/testing-101"
    assert repo.listed() == {
        f"/{INTRO}": new,
        f"/{INTRO}/sections/basics": f"{new}/sections/basics",
        f"/{INTRO}/sections/practice": f"{new}/sections/practice",
        f"/{INTRO}/lessons/why-test": f"{new}/lessons/why-test",
        f"/{INTRO}/lessons/first-test": f"{new}/lessons/first-test",
        f"/{INTRO}/lessons/cheat-sheet": f"{new}/lessons/cheat-sheet",
        f"/{INTRO}/lessons/check-yourself": f"{new}/lessons/check-yourself",
    }
    kinds = sorted(kind for kind, *_ in repo.rows())
    assert kinds == ["course", "lesson", "lesson", "lesson", "lesson", "section", "section"]
    assert_same_after_rebuilds(repo, tmp_path)


def test_a_section_rename_redirects_the_section(repo: Repo) -> None:
    repo.move(f"{INTRO}/02-practice", f"{INTRO}/02-exercises")
    assert repo.listed() == {f"/{INTRO}/sections/practice": f"/{INTRO}/sections/exercises"}


def test_projects_authors_and_paths_redirect(repo: Repo, tmp_path: Path) -> None:
    repo.move("projects/test-dashboard.md", "projects/flaky-test-dashboard.md")
    repo.move("paths/testing-path.md", "paths/testing-track.md")
    assert repo.listed() == {"/projects/test-dashboard": "/projects/flaky-test-dashboard",
                             "/paths/testing-path": "/paths/testing-track"}
    assert_same_after_rebuilds(repo, tmp_path)


def test_a_chain_collapses(repo: Repo, tmp_path: Path) -> None:
    repo.move(WHY, f"{INTRO}/01-basics/01-why-tests.md")
    repo.move(f"{INTRO}/01-basics/01-why-tests.md", f"{INTRO}/01-basics/01-testing-why.md")
    repo.move(INTRO, "courses/testing-101")
    final = "/courses/testing-101/lessons/testing-why"
    listed = repo.listed()
    assert listed[f"/{INTRO}/lessons/why-test"] == final
    assert listed[f"/{INTRO}/lessons/why-tests"] == final
    assert listed[f"/{INTRO}/lessons/testing-why"] == final
    assert final not in listed and set(listed.values()) <= {new for _, _, new, *_ in repo.rows()}
    assert_same_after_rebuilds(repo, tmp_path)


def test_a_reused_path_stops_redirecting(repo: Repo, tmp_path: Path) -> None:
    repo.move(WHY, f"{INTRO}/01-basics/01-why-we-test.md")
    repo.write(f"{INTRO}/01-basics/05-why-test.md", "---\ntitle: A new lesson with the old slug\n---\nNew.\n")
    repo.commit("A new lesson takes the old slug")
    assert repo.listed() == {}
    [(_, old_path, _, _, _, listed)] = repo.rows()  # the file move is kept (links to the old file), not served
    assert (old_path, listed) == (f"/{INTRO}/lessons/why-test", 0)
    assert_same_after_rebuilds(repo, tmp_path)


def test_a_new_file_at_the_old_name_ends_the_move(repo: Repo, tmp_path: Path) -> None:
    repo.move(WHY, f"{INTRO}/01-basics/01-why-we-test.md")
    repo.write(WHY, "---\ntitle: Back at the old name\n---\nNew.\n")
    repo.commit("A new file where the old one was")
    assert repo.rows() == []
    assert_same_after_rebuilds(repo, tmp_path)


def test_a_reused_path_returns_to_redirecting_once_it_is_gone(repo: Repo) -> None:
    """The old path names the new entry while it lives; deleted, the old path leads to the renamed entry again."""
    repo.move(WHY, f"{INTRO}/01-basics/01-why-we-test.md")
    repo.write(f"{INTRO}/01-basics/05-why-test.md", "---\ntitle: Reused\n---\nNew.\n")
    repo.commit("Reuse the slug")
    assert repo.listed() == {}
    git(repo.root, "rm", "--quiet", f"content/{INTRO}/01-basics/05-why-test.md")
    repo.commit("Remove it again")
    assert repo.listed() == {f"/{INTRO}/lessons/why-test": f"/{INTRO}/lessons/why-we-test"}


def test_a_reused_path_wins_even_before_it_is_committed(repo: Repo) -> None:
    repo.move(WHY, f"{INTRO}/01-basics/01-why-we-test.md")
    repo.write(f"{INTRO}/01-basics/05-why-test.md", "---\ntitle: Not committed yet\n---\nNew.\n")
    update(repo.tree, repo.db)
    assert repo.listed() == {}
    (repo.tree.content_dir / f"{INTRO}/01-basics/05-why-test.md").unlink()
    update(repo.tree, repo.db)
    assert repo.listed() == {f"/{INTRO}/lessons/why-test": f"/{INTRO}/lessons/why-we-test"}


def test_a_rename_back_leaves_no_loop(repo: Repo, tmp_path: Path) -> None:
    repo.move(WHY, f"{INTRO}/01-basics/01-why-we-test.md")
    repo.move(f"{INTRO}/01-basics/01-why-we-test.md", WHY)
    assert repo.listed() == {f"/{INTRO}/lessons/why-we-test": f"/{INTRO}/lessons/why-test"}
    repo.move(INTRO, "courses/testing-101")
    repo.move("courses/testing-101", INTRO)
    listed = repo.listed()
    assert not set(listed) & set(listed.values()), listed
    assert f"/{INTRO}" not in listed and listed["/courses/testing-101"] == f"/{INTRO}"
    assert listed[f"/{INTRO}/lessons/why-we-test"] == f"/{INTRO}/lessons/why-test"
    assert_same_after_rebuilds(repo, tmp_path)


def test_a_deleted_target_leads_nowhere(repo: Repo, tmp_path: Path) -> None:
    repo.move(WHY, f"{INTRO}/01-basics/01-why-we-test.md")
    git(repo.root, "rm", "--quiet", f"content/{INTRO}/01-basics/01-why-we-test.md")
    repo.commit("Delete the lesson")
    assert repo.rows() == []
    assert_same_after_rebuilds(repo, tmp_path)


def test_a_file_moved_out_of_content_is_a_deletion(repo: Repo) -> None:
    """Renamed to editor debris, a misplaced name or out of the content folder: the entry is gone."""
    repo.move(WHY, f"{INTRO}/01-basics/_01-why-test.md")
    repo.move(FIRST, "notes/first-test.md")
    repo.move("projects/test-dashboard.md", "projects/Test Dashboard.md")
    assert repo.rows() == []


def test_an_uncommitted_rename_is_not_a_redirect(repo: Repo) -> None:
    """Only what git history shows counts: a rename in the working tree is a new file and a missing one."""
    source = repo.tree.content_dir / WHY
    source.rename(source.with_name("01-why-we-test.md"))
    update(repo.tree, repo.db)
    assert repo.rows() == []


def test_a_merged_branch_brings_its_renames(repo: Repo, tmp_path: Path) -> None:
    git(repo.root, "checkout", "--quiet", "-b", "rename")
    repo.move(WHY, f"{INTRO}/01-basics/01-why-tests.md")
    repo.move(f"{INTRO}/01-basics/01-why-tests.md", f"{INTRO}/01-basics/01-why-we-test.md")
    git(repo.root, "checkout", "--quiet", "main")
    update(repo.tree, repo.db)
    assert repo.rows() == []  # the branch's renames are not on main
    repo.write("projects/another.md", "---\ntitle: Another\nstatus: published\nproject_type: web\n---\nBody.\n")
    repo.commit("Meanwhile on main")
    git(repo.root, "merge", "--quiet", "--no-ff", "--no-edit", "rename")
    update(repo.tree, repo.db)
    assert repo.listed() == {f"/{INTRO}/lessons/why-test": f"/{INTRO}/lessons/why-we-test"}
    assert_same_after_rebuilds(repo, tmp_path)


def test_history_rewritten_under_the_index_is_read_again(repo: Repo) -> None:
    """An indexed commit that is no longer in HEAD's history (a reset, a force-pushed branch): the fold
    starts over from the history as it is."""
    repo.move(WHY, f"{INTRO}/01-basics/01-why-we-test.md")
    git(repo.root, "reset", "--quiet", "--hard", "HEAD~1")
    repo.move(FIRST, f"{INTRO}/01-basics/02-a-first-test.md")
    assert repo.listed() == {f"/{INTRO}/lessons/first-test": f"/{INTRO}/lessons/a-first-test"}


def test_a_shallow_clone_knows_only_the_renames_of_its_history(repo: Repo, tmp_path: Path) -> None:
    repo.move(WHY, f"{INTRO}/01-basics/01-why-we-test.md")
    repo.move(FIRST, f"{INTRO}/01-basics/02-a-first-test.md")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "--quiet", "--depth", "2", f"file://{repo.root}", str(shallow))
    tree = ContentTree.locate(shallow / "content")
    problems = update(tree, database_path(tree, None)).problems  # the first rename is the shallow root: unseen
    assert sorted(p.rule for p in problems) == ["broken-link", "renamed-link"]  # why-test unseen, first-test seen
    assert [row[1] for row in repo.rows(database_path(tree, None))] == [f"/{INTRO}/lessons/first-test"]


def test_moved_files_for_validate(repo: Repo, tmp_path: Path) -> None:
    repo.move(WHY, f"{INTRO}/01-basics/01-why-we-test.md")
    assert moved_files(repo.tree.content_dir) == {WHY: f"{INTRO}/01-basics/01-why-we-test.md"}
    plain = tmp_path / "plain"
    shutil.copytree(SITE / "content", plain / "content")
    assert moved_files(plain / "content") == {}


def test_the_log_is_read_token_by_token() -> None:
    """A path may hold anything but NUL: one that looks like a status letter or a commit marker is a path."""
    output = ("\x1eaaa\x1f2026-01-01T00:00:00Z\0\nR100\0p/R.md\0p/A.md\0"
              "\x1ebbb\x1f2026-01-02T00:00:00Z\0\nR090\0projects/x.md\0projects/\x1ey.md\0"
              "\x1eccc\x1f2026-01-03T00:00:00Z\0\nR100\0projects/a.md\0projects/b.md\0")
    moves = fold(Moves(), output, "")
    assert {old: move.file for old, move in moves.moves.items()} == {"projects/a.md": "projects/b.md"}
    assert moves.moves["projects/a.md"].commit == "ccc"
    assert MAX_COMMITS >= 10_000
