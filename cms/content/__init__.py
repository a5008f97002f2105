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

from cms.content.corpus import ContentTree, Corpus, load
from cms.content.frontmatter import dump_markdown, dump_yaml, load_data_file, load_markdown
from cms.content.parse import Document, parse_bytes
from cms.content.reporting import FORMATS
from cms.content.sources import CONTENT_SUFFIXES, Kind, Source, classify, is_debris, is_ignored, slug_problem, walk
from cms.content.validate import Report, check, validate_dir

__all__ = ["CONTENT_SUFFIXES", "FORMATS", "ContentTree", "Corpus", "Document", "Kind", "Report", "Source", "check",
           "classify", "dump_markdown", "dump_yaml", "is_debris", "is_ignored", "load", "load_data_file",
           "load_markdown", "parse_bytes", "slug_problem", "validate_dir", "walk"]
