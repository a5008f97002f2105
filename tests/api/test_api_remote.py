"""Admin writes and the git remote: pushed commits, a rejected push rebased once, conflicts undone; the webhook.

The remote is a bare repository beside the content repository. "Someone
else" is a second clone of it that commits and pushes as the tests'
fixed identity, so every commit on the remote says who made it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.admin_api")

from cms.accounts import Role  # noqa: E402
from tests.admin_api import (  # noqa: E402
    ADA,
    HOOK_SECRET,
    AdminSite,
    Starter,
    assert_problem,
    signature,
)
from tests.conftest import git  # noqa: E402

pytest_plugins = ["tests.admin_api"]

PROJECT_FILE = "projects/test-dashboard.md"
SOMEONE = "Test Author|author@example.com"
PUSH_EVENT = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()


def clone(site: AdminSite, name: str = "other") -> Path:
    """A second working copy of the remote, as someone else's machine."""
    other = site.repo.parent / name
    git(site.repo.parent, "clone", "--quiet", str(site.bare), str(other))
    return other


def commit_and_push(other: Path, path: str, edit: str, message: str) -> str:
    """Someone else changes `content/<path>` (appending `edit`, or replacing a title) and pushes."""
    git(other, "pull", "--quiet", "--ff-only")
    target = other / "content" / path
    if edit.startswith("title: "):
        lines = target.read_text().split("\n")
        target.write_text("\n".join(edit if line.startswith("title: ") else line for line in lines))
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((target.read_text() if target.exists() else "") + edit)
    git(other, "add", "--all")
    git(other, "commit", "--quiet", "--message", message)
    git(other, "push", "--quiet")
    return git(other, "rev-parse", "HEAD")


def remote_head(site: AdminSite) -> str:
    return git(site.bare, "rev-parse", "main")


# --- pushing ---------------------------------------------------------------------------------------------

def test_without_cms_git_push_commits_stay_local(admin_site: AdminSite) -> None:
    site, remote = admin_site, remote_head(admin_site)
    response = admin_site.request("POST", "/projects", json={"slug": "local", "title": "Local"})
    assert response.status_code == 201, response.text
    assert remote_head(site) == remote and site.head() != remote


def test_each_write_is_pushed_with_its_author(pushing_site: AdminSite) -> None:
    site = pushing_site
    response = site.request("POST", "/projects", json={"slug": "pushed", "title": "Pushed", "status": "published"})
    assert response.status_code == 201, response.text
    assert remote_head(site) == site.head() == response.json()["commit"]
    assert site.remote_log()[0] == f"{ADA.author}|Create project pushed"
    version = response.json()["version"]
    response = site.request("PATCH", "/projects/pushed/publish", version=version, json={"published": False})
    assert response.status_code == 200, response.text
    assert remote_head(site) == response.json()["commit"]
    assert site.remote_log()[:2] == [f"{ADA.author}|Unpublish project pushed", f"{ADA.author}|Create project pushed"]
    assert git(site.bare, "show", "main:content/projects/pushed.md").startswith("---\ntitle: Pushed\nstatus: draft")
    assert site.status() == ""


def test_a_rejected_push_is_rebased_onto_the_remote_and_pushed_again(pushing_site: AdminSite) -> None:
    site = pushing_site
    theirs = commit_and_push(clone(site), "paths/testing-path.md", "title: Become a tester, remotely",
                             "Their path title")
    before = site.head()
    response = site.request("PUT", "/projects/test-dashboard", version=site.blob(PROJECT_FILE),
                            json={"title": "Ours", "status": "published"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert site.remote_log()[:3] == [f"{ADA.author}|Update project test-dashboard", f"{SOMEONE}|Their path title",
                                     f"{SOMEONE}|Initial content"]
    assert body["commit"] == site.head() == remote_head(site)
    assert site.git("rev-parse", "HEAD~1") == theirs and before != site.head()
    assert body["version"] == site.blob(PROJECT_FILE) and response.headers["etag"] == f'"{body["version"]}"'
    assert site.status() == "" and not (site.repo / ".git/rebase-merge").exists()
    assert site.read("/projects/test-dashboard").json()["title"] == "Ours"
    assert site.read("/paths/testing-path").json()["title"] == "Become a tester, remotely", \
        "what the rebase brought in is indexed too"


def test_a_conflicting_remote_change_is_409_and_the_commit_is_taken_back(pushing_site: AdminSite) -> None:
    site = pushing_site
    theirs = commit_and_push(clone(site), PROJECT_FILE, "title: Their dashboard", "Their project title")
    head, version, text = site.head(), site.blob(PROJECT_FILE), (site.content / PROJECT_FILE).read_text()
    response = site.request("PUT", "/projects/test-dashboard", version=version,
                            json={"title": "Our dashboard", "status": "published"})
    body = assert_problem(response, 409, "push-rejected")
    assert "rebase" in body["detail"]
    assert site.head() == head and remote_head(site) == theirs
    assert "Update project test-dashboard" not in site.git("log", "--all", "--format=%s")
    assert site.status() == "" and not (site.repo / ".git/rebase-merge").exists()
    assert (site.content / PROJECT_FILE).read_text() == text
    assert site.read("/projects/test-dashboard").json()["title"] == "Test dashboard"
    assert site.read("/projects/test-dashboard", Role.ADMIN).json()["version"] == version

    response = site.request("POST", "/projects", json={"slug": "after", "title": "After"})
    assert response.status_code == 201, response.text
    assert remote_head(site) == site.head() and site.git("rev-parse", "HEAD~1") == theirs
    assert site.read("/projects/test-dashboard").json()["title"] == "Their dashboard"


# --- the webhook -----------------------------------------------------------------------------------------

def test_a_signed_webhook_pulls_and_reindexes(admin_site: AdminSite) -> None:
    site = admin_site
    theirs = commit_and_push(clone(site), PROJECT_FILE, "title: Pulled dashboard", "Their title")
    added = commit_and_push(site.repo.parent / "other", "projects/from-remote.md",
                            "---\ntitle: From the remote\nstatus: published\n---\nHello.\n", "Their project")
    assert site.read("/projects/test-dashboard").json()["title"] == "Test dashboard"
    response = site.client.post("/api/v1/hooks/git", content=PUSH_EVENT,
                                headers={"X-Hub-Signature-256": signature(PUSH_EVENT),
                                         "Content-Type": "application/json", "X-GitHub-Event": "push"})
    assert response.status_code == 200, response.text
    assert response.json() == {"commit": added, "files_read": 2}
    assert site.head() == added and site.git("rev-parse", "HEAD~1") == theirs and site.status() == ""
    assert site.read("/projects/test-dashboard").json()["title"] == "Pulled dashboard"
    public = site.read("/projects/from-remote")
    assert public.status_code == 200 and public.json()["html"] == "<p>Hello.</p>\n"
    assert public.json()["version"] == site.blob("projects/from-remote.md")

    again = site.client.post("/api/v1/hooks/git", content=PUSH_EVENT,
                             headers={"X-Hub-Signature-256": signature(PUSH_EVENT)})
    assert again.status_code == 200 and again.json() == {"commit": added, "files_read": 0}


BAD_SIGNATURES = {
    "missing": {},
    "empty": {"X-Hub-Signature-256": ""},
    "wrong-secret": {"X-Hub-Signature-256": signature(PUSH_EVENT, "not-the-secret")},
    "other-body": {"X-Hub-Signature-256": signature(PUSH_EVENT + b" ")},
    "no-prefix": {"X-Hub-Signature-256": signature(PUSH_EVENT).removeprefix("sha256=")},
    "sha1-prefix": {"X-Hub-Signature-256": "sha1=" + signature(PUSH_EVENT).removeprefix("sha256=")},
    "truncated": {"X-Hub-Signature-256": signature(PUSH_EVENT)[:-2]},
    "old-header-only": {"X-Hub-Signature": signature(PUSH_EVENT)},
    "not-ascii": {"X-Hub-Signature-256": b"sha256=\xe9" + signature(PUSH_EVENT).encode()[8:]},
}


def test_a_webhook_without_a_valid_signature_is_401_and_pulls_nothing(admin_site: AdminSite) -> None:
    site = admin_site
    commit_and_push(clone(site), PROJECT_FILE, "title: Never pulled", "Their title")
    head = site.head()
    for case, headers in BAD_SIGNATURES.items():
        response = site.client.post("/api/v1/hooks/git", content=PUSH_EVENT, headers=headers)
        assert response.status_code == 401, (case, response.text)
        assert_problem(response, 401)
    staff = site.client.post("/api/v1/hooks/git", content=PUSH_EVENT, headers=site.auth(Role.ADMIN))
    assert_problem(staff, 401)
    assert site.head() == head and site.status() == ""
    assert site.read("/projects/test-dashboard").json()["title"] == "Test dashboard"


def test_without_cms_webhook_secret_the_webhook_is_off(start: Starter) -> None:
    with start(webhook=None) as site:
        commit_and_push(clone(site), PROJECT_FILE, "title: Never pulled", "Their title")
        head = site.head()
        for headers in ({}, {"X-Hub-Signature-256": signature(PUSH_EVENT)},
                        {"X-Hub-Signature-256": signature(PUSH_EVENT, "")}):
            response = site.client.post("/api/v1/hooks/git", content=PUSH_EVENT, headers=headers)
            assert_problem(response, 503)
        assert site.head() == head
        assert site.read("/projects/test-dashboard").json()["title"] == "Test dashboard"


def test_a_webhook_that_cannot_fast_forward_is_409_and_changes_nothing(admin_site: AdminSite) -> None:
    """A local commit the remote lacks (CMS_GIT_PUSH off) and a remote commit on the same file: no merge."""
    site = admin_site
    commit_and_push(clone(site), PROJECT_FILE, "title: Their dashboard", "Their title")
    response = site.request("PUT", "/projects/test-dashboard", version=site.blob(PROJECT_FILE),
                            json={"title": "Our dashboard", "status": "published"})
    assert response.status_code == 200, response.text
    head = site.head()
    response = site.client.post("/api/v1/hooks/git", content=PUSH_EVENT,
                                headers={"X-Hub-Signature-256": signature(PUSH_EVENT, HOOK_SECRET)})
    assert_problem(response, 409, "pull-failed")
    assert site.head() == head and site.status() == "" and not (site.repo / ".git/MERGE_HEAD").exists()
    assert site.read("/projects/test-dashboard").json()["title"] == "Our dashboard"


KILLED_WRITE = """
import os, sys
from pathlib import Path
from cms.write import journal
from cms.repo.repository import GitRepo
root = Path(sys.argv[1])
journal.begin(GitRepo.open(root), ["content/projects/test-dashboard.md"])
(root / "content/projects/test-dashboard.md").write_text("---\\ntitle: Half written\\nstat")
os.kill(os.getpid(), 9)
"""


def test_a_webhook_after_a_killed_write_undoes_it_before_pulling(admin_site: AdminSite) -> None:
    """Recovery needs HEAD where the write left it, so the pull must not move HEAD first."""
    site = admin_site
    theirs = commit_and_push(clone(site), "paths/testing-path.md", "title: Their path", "Their path title")
    original = (site.content / PROJECT_FILE).read_text()
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(site.repo)], capture_output=True)
    assert killed.returncode == -9, killed.stderr
    response = site.client.post("/api/v1/hooks/git", content=PUSH_EVENT,
                                headers={"X-Hub-Signature-256": signature(PUSH_EVENT)})
    assert response.status_code == 200, response.text
    assert site.head() == theirs and site.status() == ""
    assert (site.content / PROJECT_FILE).read_text() == original
    assert site.read("/projects/test-dashboard").json()["title"] == "Test dashboard"
    assert site.read("/paths/testing-path").json()["title"] == "Their path"
