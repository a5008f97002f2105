"""Reading content files safely: bytes → text → front matter + body → plain data.

Every field of the loaded data keeps the line and column it came from (see
`Marks`), so later checks can point an author at the exact spot. YAML is
loaded by walking the composed node tree ourselves: only plain scalars,
sequences and mappings are accepted; tags, anchors, aliases, merge keys,
duplicate keys and non-string keys are errors. Aliases are refused before
anything is constructed, so an alias bomb costs one linear scan.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from cms.problems import Problem

if TYPE_CHECKING:
    import yaml  # loaded by the first file parsed: a run with nothing to parse never pays for it

PathKey = tuple[str | int, ...]
Marks = dict[PathKey, tuple[int, int]]

_PLAIN_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_PLAIN_TAG}{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")}
_STR_TAG = f"{_PLAIN_TAG}str"
_SEQ_TAG = f"{_PLAIN_TAG}seq"
_MAP_TAG = f"{_PLAIN_TAG}map"
_SUSPICIOUS = re.compile(r"[&*!]")
_FENCE = re.compile(r"^---[ \t]*\r?$", re.MULTILINE)


class LazyMarks(Mapping[PathKey, tuple[int, int]]):
    """Marks kept as JSON, decoded only when a problem first needs a line number (most documents have none).

    What the index stores of a file's marks, and what a worker process sends
    back: far cheaper to move between processes than thousands of tuples.
    """

    def __init__(self, raw: str) -> None:
        self._raw = raw
        self._marks: Marks | None = None

    @staticmethod
    def encode(marks: Mapping[PathKey, tuple[int, int]]) -> str:
        if isinstance(marks, LazyMarks):
            return marks._raw
        return msgspec.json.encode([[list(key), line, column] for key, (line, column) in marks.items()]).decode()

    def _decoded(self) -> Marks:
        if self._marks is None:
            self._marks = {tuple(key): (line, column) for key, line, column in msgspec.json.decode(self._raw)}
        return self._marks

    def __getitem__(self, key: PathKey) -> tuple[int, int]:
        return self._decoded()[key]

    def __iter__(self) -> Iterator[PathKey]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())

    def __reduce__(self) -> tuple[type[LazyMarks], tuple[str]]:
        return LazyMarks, (self._raw,)


class Loaded(msgspec.Struct):
    """What a file holds: its data (None when unreadable), body and where things are."""

    data: Any
    body: str = ""
    body_line: int = 1
    marks: Marks = {}
    problems: list[Problem] = []


class _YamlRefused(Exception):
    def __init__(self, rule: str, message: str, mark: yaml.Mark | None) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.mark = mark


def decode(raw: bytes, file: str) -> tuple[str | None, list[Problem]]:
    """UTF-8 text without NUL bytes, or a problem naming the line of the first bad byte."""
    if b"\x00" in raw:
        line = raw.count(b"\n", 0, raw.index(b"\x00")) + 1
        return None, [Problem(file=file, line=line, rule="encoding", message="file contains a NUL byte",
                              expected="UTF-8 text", found="NUL (0x00)")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        found = f"byte 0x{raw[error.start]:02x}"
        return None, [Problem(file=file, line=line, rule="encoding", message="file is not valid UTF-8",
                              expected="UTF-8 text", found=found)]
    return text.removeprefix("\ufeff"), []


def load_markdown(raw: bytes, file: str) -> Loaded:
    """Split a front-matter markdown file and load its YAML header."""
    text, problems = decode(raw, file)
    if text is None:
        return Loaded(data=None, problems=problems)
    refusal = _refuse_other_front_matter(text, file)
    if refusal is not None:
        return Loaded(data=None, body=text, problems=[refusal])
    opening = _FENCE.match(text)
    if opening is None:
        return Loaded(data=None, body=text, problems=[Problem(
            file=file, line=1, column=1, rule="frontmatter-missing",
            message="front matter is missing", expected="a first line '---' starting a YAML header",
            found=repr(text.split("\n", 1)[0][:40]))])
    closing = _FENCE.search(text, opening.end())
    if closing is None:
        return Loaded(data=None, body=text, problems=[Problem(
            file=file, line=1, column=1, rule="frontmatter-unclosed",
            message="front matter is not closed", expected="a line '---' after the YAML header",
            found="end of file")])
    header = text[opening.end() + 1:closing.start()]
    body_start = closing.end() + 1
    body_line = text.count("\n", 0, min(body_start, len(text))) + 1
    loaded = load_yaml(header, file, line_offset=1)
    loaded.body = text[body_start:]
    loaded.body_line = body_line
    if loaded.data is None and not loaded.problems:
        loaded.data = {}
    return loaded


def load_data_file(raw: bytes, file: str) -> Loaded:
    """Load a whole `.yml` file."""
    text, problems = decode(raw, file)
    if text is None:
        return Loaded(data=None, problems=problems)
    return load_yaml(text, file, line_offset=0)


def load_yaml(text: str, file: str, line_offset: int) -> Loaded:
    """Parse YAML text into plain data with marks, refusing anything but plain YAML."""
    import yaml

    try:
        if _SUSPICIOUS.search(text):
            _scan_events(text)
        node = yaml.compose(text, Loader=_loader())
        marks: Marks = {}
        data = None if node is None else _build(node, (), marks, line_offset)
    except _YamlRefused as refused:
        return Loaded(data=None, problems=[_problem(file, refused.rule, refused.message, refused.mark, line_offset)])
    except yaml.MarkedYAMLError as error:
        message = f"YAML syntax error: {error.problem or error.context}"
        return Loaded(data=None, problems=[_problem(file, "yaml-syntax", message, error.problem_mark, line_offset)])
    except yaml.YAMLError as error:
        return Loaded(data=None, problems=[Problem(file=file, rule="yaml-syntax", message=f"YAML error: {error}")])
    return Loaded(data=data, marks=marks)


def _refuse_other_front_matter(text: str, file: str) -> Problem | None:
    first = text.split("\n", 1)[0].strip()
    if first == "+++":
        return Problem(file=file, line=1, column=1, rule="frontmatter-format",
                       message="TOML front matter is not supported", expected="YAML front matter between '---' lines",
                       found="'+++' (TOML)")
    if first.startswith("{"):
        return Problem(file=file, line=1, column=1, rule="frontmatter-format",
                       message="JSON front matter is not supported", expected="YAML front matter between '---' lines",
                       found="'{' (JSON)")
    return None


def _scan_events(text: str) -> None:
    """Refuse anchors, aliases and explicit tags before any node is built."""
    import yaml

    for event in yaml.parse(text, Loader=_loader()):
        if isinstance(event, yaml.AliasEvent):
            raise _YamlRefused("yaml-alias", "YAML aliases (*name) are not allowed", event.start_mark)
        if getattr(event, "anchor", None):
            raise _YamlRefused("yaml-anchor", "YAML anchors (&name) are not allowed", event.start_mark)
        tag = getattr(event, "tag", None)
        if tag and not _implicit(event):
            raise _YamlRefused("yaml-tag", f"YAML tags are not allowed (found {tag})", event.start_mark)


def _implicit(event: yaml.Event) -> bool:
    implicit = getattr(event, "implicit", True)
    return any(implicit) if isinstance(implicit, tuple) else bool(implicit)


def _build(node: yaml.Node, path: PathKey, marks: Marks, offset: int) -> Any:
    if node.id == "scalar":
        if node.tag == _STR_TAG:  # most values: a string is its node's value, no constructor needed
            return node.value
        if node.tag not in _SCALAR_TAGS:
            raise _YamlRefused("yaml-tag", f"YAML tag {node.tag} is not allowed", node.start_mark)
        constructor = _constructor()
        return constructor.yaml_constructors[node.tag](constructor, node)
    if node.id == "sequence" and node.tag == _SEQ_TAG:
        items = []
        for index, item in enumerate(node.value):
            marks[(*path, index)] = _where(item.start_mark, offset)
            items.append(_build(item, (*path, index), marks, offset))
        return items
    if node.id == "mapping" and node.tag == _MAP_TAG:
        return _build_mapping(node, path, marks, offset)
    raise _YamlRefused("yaml-tag", f"YAML tag {node.tag} is not allowed", node.start_mark)


def _build_mapping(node: yaml.MappingNode, path: PathKey, marks: Marks, offset: int) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if key_node.id == "scalar" and key_node.value == "<<":
            raise _YamlRefused("yaml-merge", "YAML merge keys (<<) are not allowed", key_node.start_mark)
        if key_node.id != "scalar" or key_node.tag != _STR_TAG:
            key_text = repr(key_node.value) if key_node.id == "scalar" else _node_kind(key_node)
            raise _YamlRefused("yaml-key", f"keys must be plain strings, found {key_text} "
                               "(quote it if it is meant as text)", key_node.start_mark)
        key = key_node.value
        if key in mapping:
            raise _YamlRefused("yaml-duplicate-key", f"duplicate key {key!r}", key_node.start_mark)
        marks[(*path, key)] = _where(key_node.start_mark, offset)
        mapping[key] = _build(value_node, (*path, key), marks, offset)
    return mapping


def _node_kind(node: yaml.Node) -> str:
    return "a list" if node.id == "sequence" else "a mapping"


def _where(mark: yaml.Mark, offset: int) -> tuple[int, int]:
    return mark.line + 1 + offset, mark.column + 1


def _problem(file: str, rule: str, message: str, mark: yaml.Mark | None, offset: int) -> Problem:
    if mark is None:
        return Problem(file=file, rule=rule, message=message)
    line, column = _where(mark, offset)
    return Problem(file=file, rule=rule, message=message, line=line, column=column)


def dump_markdown(data: dict[str, Any], body: str) -> str:
    """The text of a front-matter markdown file; the inverse of `load_markdown`."""
    return f"---\n{dump_yaml(data)}---\n{body}"


def dump_yaml(data: Any) -> str:
    import yaml

    return yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False, allow_unicode=True,
                     width=100)


@functools.cache
def _loader() -> type:
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _constructor() -> yaml.constructor.SafeConstructor:
    import yaml

    return yaml.constructor.SafeConstructor()
