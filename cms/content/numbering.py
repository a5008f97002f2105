"""Numbered names, `<NN>-<slug>`: how sections (folders) and lessons (files) are ordered on disk.

A new entry is numbered after the highest of its siblings, zero-padded to
two digits, or as wide as the numbers its siblings already use
(`009-practice` is followed by `010-review`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

NUMBERED = re.compile(r"^(\d+)-(.*)$")
MIN_DIGITS = 2


def split_numbered(name: str) -> tuple[int, str] | None:
    """(order, slug) of a name such as `03-intro`; None when it has no order number."""
    match = NUMBERED.match(name)
    return None if match is None else (int(match.group(1)), match.group(2))


def numbered_children(folder: Path, folders: bool) -> list[tuple[int, str, Path]]:
    """The numbered sub-folders (`folders`) or `.md` files of `folder`, in order; nothing behind a link is listed."""
    found = []
    for child in folder.iterdir() if folder.is_dir() and not folder.is_symlink() else []:
        numbered = split_numbered(child.name if folders else child.name.removesuffix(".md"))
        if numbered and child.is_dir() == folders and (folders or child.suffix == ".md"):
            found.append((*numbered, child))
    return sorted(found)


def numbered_name(slug: str, siblings: Iterable[str], order: int | None = None) -> str:
    """`<order>-<slug>` among `siblings` (their names): `order`, or one after the highest sibling, zero-padded
    to two digits or as wide as the widest sibling number."""
    numbers = [match.group(1) for name in siblings if (match := NUMBERED.match(name))]
    if order is None:
        order = max((int(number) for number in numbers), default=0) + 1
    width = max([MIN_DIGITS, *(len(number) for number in numbers)])
    return f"{str(order).zfill(width)}-{slug}"
