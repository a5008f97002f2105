"""Folders Coursebase keeps for itself next to the content (`.cms/`): never content, never committed."""

from __future__ import annotations

from pathlib import Path


def prepare(folder: Path) -> None:
    """Create `folder`; only a folder of our own (`.cms`, or one made here) gets a `*` .gitignore.

    Any other folder is left alone: `CMS_DATABASE_URL=sqlite:///index.db`
    in the repository root must not make git ignore the whole repository.
    """
    ours = folder.name == ".cms" or not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if ours and not ignore.exists():
        ignore.write_text("# local state and caches, never content\n*\n")
