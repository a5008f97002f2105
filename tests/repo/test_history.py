"""An entry's history from git: newest first, across renames and moves, names without emails."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from cms.repo.history import file_history
from cms.repo.repository import GitRepo
from tests.conftest import GIT_ENV, SITE, make_repo

LESSON = "content/courses/intro-to-testing/01-basics/01-why-test.md"
MOVED = "content/courses/intro-to-testing/02-practice/03-why-test-at-all.md"


def commit_as(repo: Path, name: str, email: str, message: str, *args: str) -> None:
    env = {**os.environ, **GIT_ENV, "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email}
    if args:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "--quiet", "--all", "--message", message], check=True,
                   capture_output=True, env=env)


def test_history_follows_a_lesson_through_an_edit_and_a_move(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "site", SITE)
    (repo / LESSON).write_text((repo / LESSON).read_text() + "\nOne more line.\n")
    commit_as(repo, "Grace Hopper", "grace@example.com", "Say more about tests ✓ <b>")
    commit_as(repo, "Ada Lovelace", "ada@example.com", "Move the lesson to practice", "mv", LESSON, MOVED)
    history = file_history(GitRepo.open(repo), MOVED)
    assert [(c.author, c.message, c.path) for c in history] == [
        ("Ada Lovelace", "Move the lesson to practice", MOVED),
        ("Grace Hopper", "Say more about tests ✓ <b>", LESSON),
        ("Test Author", "Initial content", LESSON)]
    assert all(len(c.commit) == 40 and c.date.endswith("Z") for c in history)
    assert "example.com" not in repr(history)


def test_history_of_a_ref_and_of_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "site", SITE)
    subprocess.run(["git", "-C", str(repo), "switch", "--quiet", "-c", "drafts/x"], check=True)
    (repo / LESSON).write_text((repo / LESSON).read_text() + "\nDraft line.\n")
    commit_as(repo, "Drafter", "d@example.com", "Draft a change")
    subprocess.run(["git", "-C", str(repo), "switch", "--quiet", "main"], check=True)
    git_repo = GitRepo.open(repo)
    assert [c.message for c in file_history(git_repo, LESSON)] == ["Initial content"]
    assert [c.message for c in file_history(git_repo, LESSON, "drafts/x")] == ["Draft a change", "Initial content"]
    assert file_history(git_repo, "content/projects/nothing-here.md") == []
    assert file_history(git_repo, LESSON, "no-such-branch") == []
