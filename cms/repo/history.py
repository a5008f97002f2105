"""An entry's history: the commits that touched its file, newest first, following renames.

One `git log --follow` per question. Authors are named, never their emails; a commit's message is its
subject line (the body may carry trailers with addresses). Histories are read whole and paged here, so
the total is exact; `MAX_COMMITS` bounds what one file's history may cost.
"""

from __future__ import annotations

import msgspec

from cms.repo.repository import GitError, GitRepo
from cms.timestamps import utc

MAX_COMMITS = 10_000
_FIELD, _RECORD = "\x1f", "\x1e"


class Change(msgspec.Struct, frozen=True):
    """One commit that touched the file: its id, who wrote it, when, what it says, and the path it had then."""

    commit: str
    author: str
    date: str
    message: str
    path: str


def file_history(repo: GitRepo, path: str, ref: str = "HEAD") -> list[Change]:
    """The commits on `ref` that touched `path` (repository-relative), newest first, across renames."""
    if repo.head() is None:
        return []
    try:
        output = repo.run("log", "--follow", f"--max-count={MAX_COMMITS}", "--name-only",
                          f"--format={_RECORD}%H{_FIELD}%an{_FIELD}%aI{_FIELD}%s", "-z", ref, "--", path)
    except GitError:
        return []
    return [change for record in output.split(_RECORD) if (change := _change(record)) is not None]


def _change(record: str) -> Change | None:
    head, _, names = record.partition("\0")
    fields = head.split(_FIELD)
    if len(fields) != 4:
        return None
    commit, author, date, message = fields
    path = next((name for name in names.strip("\n\0").split("\0") if name), "")
    return Change(commit=commit, author=author, date=utc(date) or date, message=message, path=path)
