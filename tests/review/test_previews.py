"""Branch previews on real repositories: a preview index equals a full index of the ref, and touches nothing else."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from cms.content.corpus import ContentTree
from cms.errors import NotFound
from cms.index.build import update
from cms.index.sqlite import database_path
from cms.repo.objects import CommitSource, valid_ref
from cms.repo.repository import GitRepo
from cms.review.previews import Previews
from tests.conftest import GIT_ENV, SITE, git, make_repo

WHY = "content/courses/intro-to-testing/01-basics/01-why-test.md"
FIRST = "content/courses/intro-to-testing/01-basics/02-first-test.md"
PROJECT = "content/projects/test-dashboard.md"
TABLES = ("courses", "sections", "lessons", "video_snippets", "projects", "authors", "paths", "path_courses", "media",
          "categories", "problems")


def commit_all(repo: Path, message: str, date: str) -> str:
    """Commit everything as of `date` (author and committer), and return the commit."""
    env = {**os.environ, **GIT_ENV, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run(["git", "-C", str(repo), "add", "--all"], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "--quiet", "-m", message], check=True, env=env)
    return git(repo, "rev-parse", "HEAD")


def retitle(repo: Path, path: str, title: str) -> None:
    file = repo / path
    lines = file.read_text().splitlines(keepends=True)
    file.write_text("".join(f"title: {title}\n" if line.startswith("title:") else line for line in lines))


def make_site(tmp_path: Path) -> Path:
    """The test site with a branch `drafts/review` (two lessons changed, one added as a draft, the project
    deleted), and on main, after the fork, a change to the path and its revert (same blob, new dates)."""
    repo = make_repo(tmp_path / "site", SITE)
    git(repo, "checkout", "--quiet", "-b", "drafts/review")
    retitle(repo, WHY, "Why test, reviewed")
    retitle(repo, FIRST, "First test, reviewed")
    draft = repo / "content/courses/intro-to-testing/01-basics/03-draft-only.md"
    draft.write_text("---\ntitle: Draft only on the branch\nstatus: draft\n---\nA draft body.\n")
    (repo / PROJECT).unlink()
    commit_all(repo, "Review two lessons", "2031-02-03T04:05:06Z")
    git(repo, "checkout", "--quiet", "main")
    before = (repo / "content/paths/testing-path.md").read_text()
    (repo / "content/paths/testing-path.md").write_text(before + "\nMore.\n")
    commit_all(repo, "Touch the path", "2032-01-01T00:00:00Z")
    (repo / "content/paths/testing-path.md").write_text(before)
    commit_all(repo, "Revert the path", "2032-01-02T00:00:00Z")
    return repo


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """`make_site`, its index in `.cms/index.db`."""
    repo = make_site(tmp_path)
    tree = ContentTree.locate(repo / "content")
    update(tree, database_path(tree, None))
    return repo


def previews_of(repo: Path, keep: int = 8) -> Previews:
    tree = ContentTree.locate(repo / "content")
    return Previews(tree, database_path(tree, None), keep)


def rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr) for table in TABLES}
    finally:
        conn.close()


def full_index_of(repo: Path, ref: str, where: Path) -> Path:
    """A full index of `ref` built from a clone checked out at it: what a preview must equal."""
    git(repo.parent, "clone", "--quiet", "--branch", ref, str(repo), str(where))
    tree = ContentTree.locate(where / "content")
    update(tree, where / "full.db", full=True)
    return where / "full.db"


def fingerprint(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def files_beside(index: Path) -> list[str]:
    """The files next to the index, but for previews and the -wal and -shm that any reader of it may open."""
    names = [p.name for p in index.parent.iterdir()]
    return sorted(name for name in names if name != "previews" and not name.endswith(("-wal", "-shm")))


def test_a_preview_equals_a_full_index_of_the_branch(site: Path, tmp_path: Path) -> None:
    preview = previews_of(site).index("drafts/review")
    assert preview.commit == git(site, "rev-parse", "drafts/review")
    assert rows(preview.path) == rows(full_index_of(site, "drafts/review", tmp_path / "clone"))
    conn = sqlite3.connect(preview.path)
    titles = dict(conn.execute("SELECT slug, title FROM lessons"))
    assert titles["why-test"] == "Why test, reviewed" and titles["draft-only"] == "Draft only on the branch"
    assert conn.execute("SELECT status FROM lessons WHERE slug = 'draft-only'").fetchone() == ("draft",)
    assert conn.execute("SELECT count(*) FROM projects").fetchone() == (0,)
    updated = conn.execute("SELECT updated_at FROM paths WHERE slug = 'testing-path'").fetchone()[0]
    assert not updated.startswith("2032"), "the branch never had main's later commits to the path"
    assert conn.execute("SELECT value FROM meta WHERE key = 'commit'").fetchone() == (preview.commit,)


def test_main_advanced_after_the_fork_is_previewed_as_main_has_it(site: Path, tmp_path: Path) -> None:
    preview = previews_of(site).index("main")
    assert rows(preview.path) == rows(full_index_of(site, "main", tmp_path / "clone"))


def test_the_main_index_the_checkout_and_the_working_tree_are_untouched(site: Path) -> None:
    main_index = database_path(ContentTree.locate(site / "content"), None)
    (site / WHY).write_text((site / WHY).read_text() + "\nAn edit not committed.\n")
    before = (fingerprint(main_index), git(site, "rev-parse", "HEAD"), git(site, "status", "--porcelain"),
              (site / WHY).read_bytes(), files_beside(main_index))
    previews = previews_of(site)
    previews.index("drafts/review")
    previews.index(git(site, "rev-parse", "HEAD~2"))
    after = (fingerprint(main_index), git(site, "rev-parse", "HEAD"), git(site, "status", "--porcelain"),
             (site / WHY).read_bytes(), files_beside(main_index))
    assert after == before
    assert git(site, "branch", "--show-current") == "main"


def test_a_commit_is_built_once_and_then_reused(site: Path) -> None:
    previews = previews_of(site)
    first = previews.index("drafts/review")
    built = first.path.stat().st_mtime_ns
    again = previews.index("drafts/review")
    assert again.path == first.path and again.path.stat().st_mtime_ns == built
    assert previews_of(site).index(first.commit).path.stat().st_mtime_ns == built, "another process reuses it"
    git(site, "branch", "--force", "drafts/review", "main")
    moved = previews.index("drafts/review")
    assert moved.commit == git(site, "rev-parse", "main") and moved.path != first.path


def test_at_most_keep_commits_stay_cached_the_least_recently_read_go_first(site: Path) -> None:
    previews = previews_of(site, keep=2)
    commits = git(site, "rev-list", "--all").split()
    assert len(commits) >= 3
    a = previews.index(commits[0])
    b = previews.index(commits[1])
    previews.index(commits[0])  # read again: b is now the least recently read
    c = previews.index(commits[2])
    assert sorted(p.name for p in previews.folder.glob("*.db")) == sorted([a.path.name, c.path.name])
    assert not b.path.exists()
    assert not list(previews.folder.glob("*.building*")) and not list(previews.folder.glob("*-wal"))


def test_what_a_killed_build_left_behind_is_never_used(site: Path) -> None:
    previews = previews_of(site)
    commit = previews.commit("drafts/review")
    previews.folder.mkdir(parents=True)
    for leftover in (".building", ".building-wal", ".building-shm"):
        (previews.folder / f"{commit}.db{leftover}").write_bytes(b"half-written " * 100)
    conn = previews.open(previews.index("drafts/review"))
    assert conn.execute("SELECT title FROM lessons WHERE slug = 'why-test'").fetchone()["title"] == \
        "Why test, reviewed"
    assert sorted(p.name for p in previews.folder.iterdir()) == [".lock", f"{commit}.db"]


def test_a_preview_kept_from_before_an_upgrade_is_built_again(site: Path) -> None:
    preview = previews_of(site).index("drafts/review")
    conn = sqlite3.connect(preview.path)
    with conn:
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        conn.execute("UPDATE lessons SET title = 'Stale' WHERE slug = 'why-test'")
    conn.close()
    previews = previews_of(site)  # the server started again, on a version whose index schema is newer
    again = previews.open(previews.index("drafts/review"))
    assert again.execute("SELECT title FROM lessons WHERE slug = 'why-test'").fetchone()["title"] == \
        "Why test, reviewed"
    assert again.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()["value"] != "1"


def test_a_preview_evicted_before_it_is_opened_is_built_again(site: Path) -> None:
    previews = previews_of(site)
    preview = previews.index("drafts/review")
    preview.path.unlink()  # another server process evicted it meanwhile
    conn = previews.open(preview)
    assert conn.execute("SELECT value FROM meta WHERE key = 'commit'").fetchone()["value"] == preview.commit


def test_a_connection_is_read_only_and_shows_the_branch(site: Path) -> None:
    previews = previews_of(site)
    conn = previews.open(previews.index("drafts/review"))
    assert conn.execute("SELECT title FROM lessons WHERE slug = 'first-test'").fetchone()["title"] == \
        "First test, reviewed"
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("DELETE FROM lessons")


@pytest.mark.parametrize("ref", ["..", "a..b", "-x", "--output=leak", "--all", "a b", "a\x01b", "a\tb", "HEAD~1",
                                 "main^", "a:b", "@{1}", "@", "x.lock", "a/", "/a", ".hidden", "a//b", "a*", "a?",
                                 "a[1]", "a\\b", "é", "", "x" * 256])
def test_a_ref_that_is_not_a_ref_name_never_reaches_git(site: Path, ref: str) -> None:
    assert not valid_ref(ref)
    with pytest.raises(NotFound) as caught:
        previews_of(site).index(ref)
    assert caught.value.reason == "invalid-ref"
    assert not (site / "leak").exists()


@pytest.mark.parametrize("ref", ["nope", "drafts/nope", "0" * 40, "deadbeef"])
def test_an_unknown_ref_is_not_found(site: Path, ref: str) -> None:
    with pytest.raises(NotFound) as caught:
        previews_of(site).index(ref)
    assert caught.value.reason == "unknown-ref"


def test_branches_tags_and_commit_ids_all_name_commits(site: Path) -> None:
    git(site, "tag", "v1", "drafts/review")
    commit = git(site, "rev-parse", "drafts/review")
    previews = previews_of(site)
    assert {previews.commit(ref) for ref in ("drafts/review", "v1", commit, commit[:10])} == {commit}


def test_commit_source_lists_blobs_and_reads_them_from_git_only(site: Path) -> None:
    os.symlink("course.md", site / "content/courses/intro-to-testing/linked.md")
    git(site, "add", "--all")
    git(site, "commit", "--quiet", "-m", "A symlink")
    head = git(site, "rev-parse", "HEAD")
    (site / PROJECT).write_text("changed on disk only")
    with CommitSource(GitRepo.open(site), head) as source:
        blobs = source.blobs("content/")
        assert "content/courses/intro-to-testing/linked.md" not in blobs.ids
        assert blobs.held == frozenset(blobs.ids)
        assert source.read_blob(blobs.ids[PROJECT]) == git(site, "show", f"HEAD:{PROJECT}").encode() + b"\n"
        with pytest.raises(Exception, match="not a blob"):
            source.read_blob("0" * 40)
