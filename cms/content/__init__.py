"""Content files and what they mean: one file → one typed entry; the whole tree and its checks.

    sources       which kind of entry a path is (`classify`), and walking a content directory
    frontmatter   bytes → text → YAML front matter and body, with line and column of every field
    models        the content model: one msgspec Struct per kind of file
    parse         one file → a `Document` (its entry and its own problems)
    links         relative links between content files
    corpus        the whole tree parsed (`ContentTree`, `Corpus`, `load`)
    validate      corpus-wide checks (`check`, `validate_dir`)
    numbering     `<NN>-<slug>` names: how sections and lessons are ordered
    reporting     problems for people, scripts and GitHub annotations
    schema        content.schema.json from the models
    scaffold      `cms new`: new files that validate
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "cms.content.corpus": ("ContentTree", "Corpus", "load"),
    "cms.content.frontmatter": ("dump_markdown", "dump_yaml", "load_data_file", "load_markdown"),
    "cms.content.parse": ("Document", "parse_bytes"),
    "cms.content.reporting": ("FORMATS",),
    "cms.content.sources": ("CONTENT_SUFFIXES", "Kind", "Source", "classify", "is_debris", "is_ignored",
                            "slug_problem", "walk"),
    "cms.content.validate": ("Report", "check", "validate_dir"),
}
_HOMES = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    """The public names, each imported from its module when first asked for, so `cms --help` imports none."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
