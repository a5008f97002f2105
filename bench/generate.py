"""Generate a large, realistic, valid content repository for benchmarks.

    python bench/generate.py OUT_DIR --courses 40 --sections 10 --lessons 25

creates a git repository at OUT_DIR whose `content/` tree validates clean
with `cms validate OUT_DIR/content`: a few authors, categories, media records
(image covers with alt text, a few videos, a PDF), `courses` × `sections` ×
`lessons` lessons of about 7 KB of markdown each (headings, varied prose,
inline links, relative links to earlier lessons, emphasis, inline code,
fenced code, lists, the odd table), two projects and a learning path, all in
one commit.

Output is deterministic: every file comes from a `random.Random` seeded by
`seed` and the file's place in the tree, and the commit has fixed dates, so
the same parameters give the same files and the same commit id. A course's
files do not depend on how many courses there are, so the first four courses
of a 40-course tree are the files of a 4-course tree.

`generate()` writes files directly (no subprocess per file) and runs git
twice (`git add -A`, `git commit`); `ensure()` reuses an earlier repository
built by the same generator with the same parameters.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

PARAMS_FILE = "bench-params.json"
"""At the repository root (outside `content/`): what generated this repository."""

MEDIA_BASE = "https://res.cloudinary.com/coursebase-bench"
FIXED_DATE = "2025-01-01T00:00:00+00:00"

# --------------------------------------------------------------------------- vocabulary

NOUNS = """
account adapter algorithm analysis answer approach archive argument array assumption attribute backup
baseline batch benchmark boundary branch browser buffer bug build cache callback change channel
checklist client cluster column command comment commit component condition config connection
constraint container context contract counter coverage dashboard database dataset deadline
decision default dependency deployment design detail diagram dictionary difference directory
document domain draft editor endpoint engine environment error estimate event example exception
experiment export expression feature field file filter flag folder format framework function
gateway graph guideline handler header history hypothesis identifier image index input instance
interface issue iteration job journal key label layer layout library limit line list log loop
machine manifest mapping measure merge message method metric migration milestone model module
network node notebook notification object option order outline output package page parameter
parser partition patch path pattern payload permission pipeline plan platform plugin pointer
policy pool port prediction preview principle priority procedure process profile project prompt
property protocol prototype query queue record reference region release replica report repository
request requirement resource response result review revision risk role rule runtime sample schedule
schema scope script section selector sequence server service session setting signal snapshot
source specification stage statement status step storage strategy stream string structure summary
table tag target task template test thread threshold timeline token tool trade-off transaction
trigger type update upload user validation value variable version view warning workflow workspace
""".split()  # noqa: SIM905 (a word list reads better as text)

VERBS = """
adjusts aggregates allows applies avoids balances breaks builds caches captures changes checks
clarifies collects combines compares compiles completes computes confirms connects contains converts
covers creates defines deletes depends describes detects determines documents duplicates enables
encodes enforces estimates evaluates exposes extends extracts filters finds fixes follows formats
generates groups handles hides highlights identifies ignores improves includes indexes inspects
isolates joins keeps labels limits links lists loads locks measures merges migrates models monitors
moves normalises orders organises parses passes prepares prevents produces protects publishes
queries raises reads records reduces refactors registers rejects releases removes renames renders
replaces reports requires resolves restores returns reuses reveals reviews rewrites runs samples
saves scales schedules selects separates serialises shares shows simplifies skips sorts splits
stores streams summarises supports syncs tests tracks transforms triggers updates uploads uses
validates verifies watches wraps writes
""".split()  # noqa: SIM905 (a word list reads better as text)

ADJECTIVES = """
accurate active atomic automatic available basic brief broken careful central clean clear common
complete complex concise concrete consistent correct critical current custom daily deep default
dependent detailed different direct distinct dynamic early easy efficient empty entire equal
essential exact existing expected explicit external familiar fast final first fixed flexible
formal frequent full general global gradual hidden honest huge idle immediate implicit important
incremental independent initial inner internal large late lazy legacy light linear local logical
long loose main manual minimal missing modern narrow native natural nested new noisy normal obvious
old open optional ordinary original outer parallel partial permanent plain portable practical
precise predictable previous primary private public quick random rare raw readable real recent
redundant regular relative reliable remote repeatable robust rough safe scalable secondary secure
separate serial shallow shared short silent simple single slow small smooth specific stable stale
static steady strict strong subtle sudden temporary thin tidy tiny typical unique unusual useful
valid visible weak whole wide
""".split()  # noqa: SIM905 (a word list reads better as text)

ADVERBS = """
actually almost always carefully clearly closely completely consistently deliberately directly
easily effectively entirely eventually exactly explicitly finally first frequently fully generally
gradually immediately implicitly largely later likely manually mostly naturally nearly never
normally often only partly practically precisely probably quickly rarely really regularly reliably
roughly safely seldom simply slowly sometimes soon strictly typically usually
""".split()  # noqa: SIM905 (a word list reads better as text)

OPENERS = """
Usually, | In practice, | At this point, | For example, | In most projects, | As a rule, | Before
long, | On a small team, | In the last lesson, | By contrast, | Over time, | In short, | Once it
works, | With a little practice, | On larger codebases, | From the start, | Later in the course, |
In this case, | Most of the time, | Surprisingly, | To be fair, | Put simply,
""".replace("\n", " ").split("|")
OPENERS = [" ".join(opener.split()) for opener in OPENERS]

CONNECTORS = ["because", "so", "while", "although", "but", "and", "until", "unless", "when", "since",
              "whereas", "before", "after", "as long as", "even though"]
PRONOUNS = ["it", "them", "everything", "nothing", "the rest"]
PREPOSITIONS = ["in", "on", "for", "with", "from", "into", "through", "across", "behind", "inside",
                "without", "around", "between", "against", "under", "over", "after", "before"]
DETERMINERS = ["the", "the", "the", "a", "each", "every", "this", "that", "your", "our", "one", "any"]
SUBJECTS = ["you", "we", "the team", "an author", "a reviewer", "the reader", "most people",
            "the maintainer", "a new contributor", "the analyst", "the tool", "the build", "nobody",
            "the instructor", "a careful engineer"]
MODALS = ["can", "should", "will", "might", "must", "could", "would", "may", "ought to", "need not"]


def _base(verb: str) -> str:
    """The infinitive of a third-person verb from the list: caches → cache, watches → watch, queries → query."""
    if verb.endswith("ies"):
        return verb[:-3] + "y"
    if verb.endswith(("sses", "shes", "xes")) or (verb.endswith("ches") and verb[-5] not in "aeiou"):
        return verb[:-2]
    return verb[:-1]


BASE_VERBS = [_base(verb) for verb in VERBS]
_ARTICLE = re.compile(r"\b([Aa]) (?=[aeiou])")

TOPICS = """
Git Python SQL pandas Docker Kubernetes Rust TypeScript React Linux Bash PostgreSQL Redis HTTP
Testing Security Accessibility Statistics Networking Terraform GraphQL Django Flask Litestar
Observability Caching Concurrency Algorithms Regex Packaging CI Markdown YAML JSON SQLite NumPy
""".split()  # noqa: SIM905 (a word list reads better as text)
COURSE_PATTERNS = ["{t} Fundamentals", "Practical {t}", "{t} for Data Work", "{t} in Production",
                   "Getting Started with {t}", "{t} from Scratch", "Advanced {t}", "{t} and {u} Together",
                   "Modern {t} Workflows", "{t} Deep Dive", "Effective {t}", "{t} for Analysts"]
HEADING_PATTERNS = ["Why {A} {n}s matter", "Working with {n}s", "How the {n} {v} the {m}", "A {a} {n}",
                    "From {n} to {m}", "Common {n} mistakes", "Choosing a {n}", "When the {n} breaks",
                    "The {a} {n} pattern", "Reading a {n}", "{N}s and {m}s", "Putting the {n} to work",
                    "Testing the {n}", "Where the {n} lives", "Cleaning up the {m}", "A closer look at {n}s",
                    "What {t} does with a {n}", "Measuring {n} {m}s", "Recap", "Try it yourself"]
EXTERNAL_LINKS = [
    "https://docs.python.org/3/library/{w}.html", "https://developer.mozilla.org/en-US/docs/Web/{W}",
    "https://git-scm.com/docs/git-{w}", "https://www.postgresql.org/docs/current/{w}.html",
    "https://en.wikipedia.org/wiki/{W}", "https://pandas.pydata.org/docs/user_guide/{w}.html",
    "https://sqlite.org/lang_{w}.html", "https://www.rfc-editor.org/rfc/rfc{d}",
    "https://github.com/coursebase-demo/{w}-examples", "https://learn.example.org/articles/{w}-{m}",
]
NAMES = [("Ada Okafor", "ada-okafor"), ("Marco Lindqvist", "marco-lindqvist"), ("Priya Raman", "priya-raman"),
         ("Tomás Herrera", "tomas-herrera"), ("Yuki Tanaka", "yuki-tanaka")]
CATEGORIES = [("version-control", "Version Control", "Track, share and undo changes to code and documents."),
              ("data", "Data & Analysis", "Load, clean, query and summarise data."),
              ("web-development", "Web Development", "Build and ship websites and HTTP APIs."),
              ("devops", "DevOps", "Containers, deployment pipelines and the machines they run on."),
              ("programming", "Programming", "Languages, algorithms and the craft of writing code."),
              ("security", "Security", "Keep systems, data and users safe.")]
LANGUAGES = ["python", "bash", "sql", "javascript", "yaml", "rust", "json"]


# --------------------------------------------------------------------------- prose


class Prose:
    """Sentences, headings and blocks of markdown from one seeded random source.

    Sentences are drawn from pools built once per seed from the vocabulary
    (`pools`), so a lesson costs a few hundred random picks rather than
    thousands; picks use `rng.random()` directly (one C call) rather than
    `rng.choice`, which is several times slower.
    """

    def __init__(self, rng: random.Random, seed: int) -> None:
        self.rng = rng
        self.random = rng.random
        self.sentences, self.shorts = pools(seed)

    def pick(self, pool: list[str] | str) -> str:
        return pool[int(self.random() * len(pool))]

    def between(self, low: int, high: int) -> int:
        """Like `randint` (both ends included), faster."""
        return low + int(self.random() * (high - low + 1))

    def words(self, pool: list[str], k: int) -> list[str]:
        return self.rng.choices(pool, k=k)

    def noun_phrase(self) -> str:
        pick = self.pick
        if self.random() < 0.45:
            return f"{pick(DETERMINERS)} {pick(ADJECTIVES)} {pick(NOUNS)}"
        return f"{pick(DETERMINERS)} {pick(NOUNS)}"

    def clause(self) -> str:
        pick, np = self.pick, self.noun_phrase
        shape = int(self.random() * 5)
        if shape == 0:
            return f"{np()} {pick(VERBS)} {np()}"
        if shape == 1:
            return f"{pick(SUBJECTS)} {pick(MODALS)} {pick(BASE_VERBS)} {np()} {pick(PREPOSITIONS)} {np()}"
        if shape == 2:
            return f"{np()} {pick(ADVERBS)} {pick(VERBS)} {np()}"
        if shape == 3:
            return f"{pick(SUBJECTS)} {pick(MODALS)} {pick(ADVERBS)} {pick(BASE_VERBS)} {np()}"
        return f"{np()} {pick(PREPOSITIONS)} {np()} {pick(VERBS)} {pick(PRONOUNS)}"

    def sentence(self) -> str:
        return self.pick(self.sentences)

    def short_sentence(self) -> str:
        return self.pick(self.shorts)

    def make_sentence(self) -> str:
        text = self.clause()
        roll = self.random()
        if roll < 0.35:
            text = f"{text} {self.pick(CONNECTORS)} {self.clause()}"
        elif roll < 0.5:
            text = f"{text}, {self.pick(CONNECTORS)} {self.clause()}"
        text = f"{self.pick(OPENERS)} {text}" if self.random() < 0.25 else text[0].upper() + text[1:]
        return _articles(text) + ("!" if self.random() < 0.03 else ".")

    def make_short_sentence(self) -> str:
        text = _articles(self.clause())
        return text[0].upper() + text[1:] + "."

    def summary(self, limit: int = 300) -> str:
        """One or two sentences, at most `limit` characters (for description fields)."""
        text = self.sentence()
        more = self.sentence()
        if len(text) + len(more) + 1 <= limit and self.random() < 0.5:
            text = f"{text} {more}"
        return text if len(text) <= limit else text[:limit - 1].rstrip(" ,") + "."

    def title(self, topic: str) -> str:
        pick = self.pick
        return _articles(pick(HEADING_PATTERNS).format(
            n=pick(NOUNS), m=pick(NOUNS), N=pick(NOUNS).capitalize(), a=pick(ADJECTIVES), A=pick(ADJECTIVES),
            v=pick(VERBS), t=topic))

    def external_link(self) -> str:
        noun, other = self.pick(NOUNS), self.pick(NOUNS)
        url = self.pick(EXTERNAL_LINKS).format(w=noun, W=noun.capitalize(), m=other, d=self.between(1000, 9999))
        label = " ".join(self.words(ADJECTIVES, 1) + self.words(NOUNS, self.between(1, 2)))
        return f"[{_articles(label)}]({url})"

    def decorate(self, words: list[str]) -> None:
        """Put one inline markup (bold, italic, inline code, an option) on a plain word, in place."""
        i = int(self.random() * len(words))
        word = words[i]
        if not (word.isalpha() and word.islower() and len(word) > 3):
            return
        kind = int(self.random() * 4)
        if kind == 0:
            words[i] = f"**{word}**"
        elif kind == 1:
            words[i] = f"*{word}*"
        elif kind == 2:
            words[i] = f"`{word}_{self.pick(NOUNS).replace('-', '_')}()`"
        else:
            words[i] = f"`--{word}`"

    def paragraph(self, sentences: int, links: list[str] | None = None) -> str:
        """A wrapped paragraph; each link is put in parentheses at a random place."""
        r = self.rng
        words = " ".join(r.choices(self.sentences, k=sentences)).split(" ")
        for _ in range(self.between(0, 3)):
            self.decorate(words)
        for link in links or ():
            words.insert(self.between(1, len(words) - 1), f"(see {link})")
        return _wrap(" ".join(words))

    def bullets(self) -> str:
        marker = self.pick("-*")
        items = []
        for _ in range(self.between(3, 6)):
            item = self.short_sentence()
            if self.random() < 0.4:
                head, _, tail = item.partition(" ")
                item = f"**{head}** {tail}"
            items.append(f"{marker} {item}")
        return "\n".join(items)

    def numbered(self) -> str:
        return "\n".join(f"{i}. {self.short_sentence()}" for i in range(1, self.between(3, 5) + 1))

    def table(self) -> str:
        headers = [self.pick(NOUNS).capitalize() for _ in range(3)]
        rows = [f"| {' | '.join(headers)} |", "|---|---|---:|"]
        for _ in range(self.between(3, 6)):
            cells = [f"`{self.pick(NOUNS)}`", f"{self.pick(ADJECTIVES)} {self.pick(NOUNS)}", str(self.between(1, 500))]
            rows.append(f"| {' | '.join(cells)} |")
        return "\n".join(rows)

    def code_block(self) -> str:
        language = self.pick(LANGUAGES)
        lines = CODE[language](self.rng)
        return "\n".join([f"```{language}", *lines, "```"])


POOL_SIZE = 20_000
_POOLS: dict[int, tuple[list[str], list[str]]] = {}


def pools(seed: int) -> tuple[list[str], list[str]]:
    """(sentences, short sentences) made from the vocabulary for this seed; built once per process."""
    if seed not in _POOLS:
        maker = Prose.__new__(Prose)
        maker.rng = _rng(seed, "pool")
        maker.random = maker.rng.random
        _POOLS[seed] = ([maker.make_sentence() for _ in range(POOL_SIZE)],
                        [maker.make_short_sentence() for _ in range(POOL_SIZE // 4)])
    return _POOLS[seed]


_WRAP = re.compile(r"(.{1,88})(?: +|$)")


def _wrap(text: str) -> str:
    """Break a paragraph into lines of at most 88 characters (longer words stay whole)."""
    return "\n".join(_WRAP.findall(text))


def _articles(text: str) -> str:
    """'a' → 'an' before a vowel."""
    return _ARTICLE.sub(r"\1n ", text)


def _ident(r: random.Random) -> str:
    return f"{r.choice(ADJECTIVES)}_{r.choice(NOUNS)}".replace("-", "_")


def _python(r: random.Random) -> list[str]:
    name, arg, other = _ident(r), r.choice(NOUNS).replace("-", "_"), _ident(r)
    lines = [f"def {name}({arg}, limit={r.randint(2, 100)}):",
             f'    """{r.choice(VERBS).capitalize()} the {arg} and return the {r.choice(NOUNS)}."""',
             f"    {other} = []"]
    for _ in range(r.randint(2, 5)):
        lines += [f"    for item in {arg}.{r.choice(NOUNS).replace('-', '_')}s:",
                  f"        if item.{r.choice(ADJECTIVES)} and len({other}) < limit:",
                  f"            {other}.append(item)"]
    lines += [f"    return {other}", "", f"print({name}(load_{arg}()))"]
    return lines


def _bash(r: random.Random) -> list[str]:
    commands = ["git status", "git diff --staged", "git log --oneline -n 5", "ls -la", "python -m pytest -q",
                "docker compose up -d", "grep -rn TODO src/", "make test", "curl -s https://api.example.org/v1/",
                "psql -c 'select 1'", "pip install -e .", "cms validate content"]
    lines = [f"# {r.choice(VERBS)} the {r.choice(NOUNS)}"]
    lines += [f"{c}{r.choice(NOUNS)}s" if c.endswith("/") else c for c in r.choices(commands, k=r.randint(3, 7))]
    return lines


def _sql(r: random.Random) -> list[str]:
    table, column = r.choice(NOUNS).replace("-", "_") + "s", r.choice(NOUNS).replace("-", "_")
    return [f"SELECT {column}, count(*) AS total",
            f"FROM {table}",
            f"WHERE {r.choice(ADJECTIVES)} = true",
            f"  AND created_at >= date('now', '-{r.randint(1, 90)} days')",
            f"GROUP BY {column}",
            "ORDER BY total DESC",
            f"LIMIT {r.randint(5, 50)};"]


def _javascript(r: random.Random) -> list[str]:
    name = r.choice(VERBS) + r.choice(NOUNS).replace("-", "").capitalize()
    return [f"async function {name}(id) {{",
            f"  const response = await fetch(`/api/{r.choice(NOUNS)}s/${{id}}`);",
            "  if (!response.ok) {",
            f"    throw new Error(`{r.choice(NOUNS)} ${{id}}: ${{response.status}}`);",
            "  }",
            "  const data = await response.json();",
            f"  return data.{r.choice(NOUNS).replace('-', '_')}s.filter((x) => x.{r.choice(ADJECTIVES)});",
            "}"]


def _yaml(r: random.Random) -> list[str]:
    lines = [f"{r.choice(NOUNS).replace('-', '_')}:"]
    for _ in range(r.randint(3, 6)):
        value = r.choice([str(r.randint(1, 99)), r.choice(ADJECTIVES), "true"])
        lines.append(f"  {r.choice(NOUNS).replace('-', '_')}: {value}")
    return lines


def _rust(r: random.Random) -> list[str]:
    name = _ident(r)
    return [f"fn {name}(items: &[u32]) -> u32 {{",
            f"    items.iter().filter(|x| **x > {r.randint(1, 50)}).sum()",
            "}", "", "fn main() {",
            f"    println!(\"{{}}\", {name}(&[{', '.join(str(r.randint(1, 99)) for _ in range(5))}]));", "}"]


def _json(r: random.Random) -> list[str]:
    fields = {r.choice(NOUNS): r.choice([r.randint(1, 999), r.choice(ADJECTIVES), True, None]) for _ in range(4)}
    return json.dumps(fields, indent=2).splitlines()


CODE: dict[str, Callable[[random.Random], list[str]]] = {
    "python": _python, "bash": _bash, "sql": _sql, "javascript": _javascript, "yaml": _yaml, "rust": _rust,
    "json": _json}


# --------------------------------------------------------------------------- YAML


def q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def front_matter(lines: list[str], body: str) -> str:
    return "---\n" + "\n".join(lines) + "\n---\n" + body.rstrip("\n") + "\n"


# --------------------------------------------------------------------------- the tree


class Layout:
    """Names and slugs of the generated tree (zero-padded to the sizes asked for)."""

    def __init__(self, courses: int, sections: int, lessons: int) -> None:
        self.courses, self.sections, self.lessons = courses, sections, lessons
        self.cw = max(3, len(str(courses)))
        self.sw = max(2, len(str(sections)))
        self.lw = max(2, len(str(lessons)))

    def course(self, c: int) -> str:
        return f"course-{c:0{self.cw}d}"

    def section_dir(self, s: int) -> str:
        return f"{s:0{self.sw}d}-section-{s:0{self.sw}d}"

    def lesson_file(self, c: int, s: int, n: int) -> str:
        return f"{n:0{self.lw}d}-lesson-{c:0{self.cw}d}-{s:0{self.sw}d}-{n:0{self.lw}d}.md"

    def previous_lesson_link(self, c: int, s: int, n: int) -> tuple[str, str] | None:
        """(label, relative link) to the lesson before (c, s, n) in the same course, if any."""
        if n > 1:
            return "the previous lesson", self.lesson_file(c, s, n - 1)
        if s > 1:
            return "the last lesson of the previous section", \
                f"../{self.section_dir(s - 1)}/{self.lesson_file(c, s - 1, self.lessons)}"
        return None


def _rng(seed: int, *where: object) -> random.Random:
    return random.Random("-".join(map(str, (seed, *where))))


VIDEO_IDS = [f"bench-video-{i:02d}" for i in range(1, 4)]


def write_globals(content: Path, layout: Layout, seed: int) -> None:
    rng = _rng(seed, "globals")
    prose = Prose(rng, seed)
    (content / "authors").mkdir(parents=True)
    (content / "media").mkdir()
    (content / "projects").mkdir()
    (content / "paths").mkdir()

    categories = "".join(f"- slug: {slug}\n  name: {q(name)}\n  description: {q(text)}\n"
                         for slug, name, text in CATEGORIES)
    _write(content / "categories.yml", categories)

    for name, slug in NAMES:
        _write(content / "media" / f"{slug}-avatar.yml", _image_record(
            f"authors/{slug}-avatar", 400, 400, f"Portrait of {name}, smiling, in front of a bookshelf"))
        bio = "\n\n".join(prose.paragraph(rng.randint(3, 5)) for _ in range(2))
        _write(content / "authors" / f"{slug}.md", front_matter([
            f"name: {q(name)}", f"email: {slug.replace('-', '.')}@coursebase.example", f"avatar: {slug}-avatar",
            "links:", "  - label: Website", f"    url: https://{slug}.example.com"], bio))

    for i, media_id in enumerate(VIDEO_IDS, start=1):
        _write(content / "media" / f"{media_id}.yml", "\n".join([
            f"public_id: coursebase-bench/videos/{media_id}", "resource_type: video",
            f"secure_url: {MEDIA_BASE}/video/upload/v1700000000/coursebase-bench/videos/{media_id}.mp4",
            "format: mp4", "width: 1920", "height: 1080", f"bytes: {40_000_000 + i * 1_234_567}",
            f"duration_ms: {1_200_000 + i * 60_000}", "uploaded_at: 2025-01-12T15:20:00Z",
            "uploaded_by: ada.okafor", ""]))
    _write(content / "media" / "bench-handout-pdf.yml", "\n".join([
        "public_id: coursebase-bench/pdfs/handout", "resource_type: raw",
        f"secure_url: {MEDIA_BASE}/raw/upload/v1700000000/coursebase-bench/pdfs/handout.pdf",
        "format: pdf", "bytes: 182734", "uploaded_at: 2025-01-14T09:30:00Z", ""]))

    for slug, title, featured in (("harbour-analytics-platform", "Harbour Analytics Platform", True),
                                  ("city-library-search", "City Library Search", False)):
        _write(content / "media" / f"{slug}-thumbnail.yml", _image_record(
            f"projects/{slug}-thumbnail", 1200, 750, f"Screenshot of the {title} home page with a chart"))
        body = "\n\n".join(f"## {prose.title('Python')}\n\n{prose.paragraph(rng.randint(3, 6))}" for _ in range(3))
        _write(content / "projects" / f"{slug}.md", front_matter([
            f"title: {q(title)}", f"description: {q(prose.summary())}", "status: published",
            "client_name: Example Client Ltd", "project_type: Web application", f"featured: {str(featured).lower()}",
            "tech_stack:", "  - Python", "  - PostgreSQL", "  - Litestar", f"thumbnail: {slug}-thumbnail",
            f"live_demo_url: https://{slug}.example.com", f"github_url: https://github.com/coursebase-demo/{slug}"],
            body))

    path_courses = [layout.course(c) for c in range(1, min(layout.courses, 5) + 1)]
    _write(content / "paths" / "bench-foundations.md", front_matter([
        "title: Foundations", f"description: {q(prose.summary())}", "status: published", "courses:",
        *(f"  - {slug}" for slug in path_courses)],
        "\n\n".join(prose.paragraph(rng.randint(3, 5)) for _ in range(3))))


def _image_record(public_id: str, width: int, height: int, alt: str) -> str:
    return "\n".join([
        f"public_id: coursebase-bench/{public_id}", "resource_type: image",
        f"secure_url: {MEDIA_BASE}/image/upload/v1700000000/coursebase-bench/{public_id}.jpg",
        "format: jpg", f"width: {width}", f"height: {height}", f"bytes: {width * height // 9}", f"alt: {q(alt)}",
        "uploaded_at: 2025-01-10T12:00:00Z", "uploaded_by: ada.okafor", ""])


def write_course(content: Path, layout: Layout, c: int, seed: int) -> int:
    """One course with its cover, sections and lessons; returns the number of files written."""
    rng = _rng(seed, "course", c)
    prose = Prose(rng, seed)
    slug = layout.course(c)
    topic, other = rng.sample(TOPICS, 2)
    title = rng.choice(COURSE_PATTERNS).format(t=topic, u=other)
    course_dir = content / "courses" / slug
    course_dir.mkdir(parents=True)

    _write(content / "media" / f"{slug}-cover.yml", _image_record(
        f"courses/{slug}-cover", 1600, 900, f"Cover illustration for {title}: a {rng.choice(ADJECTIVES)} "
        f"{rng.choice(NOUNS)} drawn on a whiteboard"))
    fields = [f"title: {q(title)}", f"description: {q(prose.summary())}",
              "status: published", f"difficulty_level: {rng.choice(['beginner', 'intermediate', 'advanced'])}",
              f"instructor: {rng.choice(NAMES)[1]}", f"category: {rng.choice(CATEGORIES)[0]}", "tags:",
              *(f"  - {tag}" for tag in sorted({topic.lower(), other.lower(), rng.choice(NOUNS)})),
              f"price: {rng.choice([0, 0, 19, 29.5, 49, 99])}", "currency: USD", f"image: {slug}-cover",
              f"publish_at: 2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T09:00:00Z"]
    if c > 1 and rng.random() < 0.3:
        fields += ["prerequisites:", f"  - {layout.course(c - 1)}"]
    body = "\n\n".join([prose.paragraph(rng.randint(3, 5)), "## What you will learn", prose.bullets(),
                        "## How the course works", prose.paragraph(rng.randint(3, 5))])
    _write(course_dir / "course.md", front_matter(fields, body))
    files = 2

    for s in range(1, layout.sections + 1):
        section_dir = course_dir / layout.section_dir(s)
        section_dir.mkdir()
        srng = _rng(seed, "section", c, s)
        sprose = Prose(srng, seed)
        body = sprose.paragraph(srng.randint(2, 4)) if srng.random() < 0.6 else ""
        _write(section_dir / "section.md", front_matter([
            f"title: {q(sprose.title(topic).capitalize())}", f"description: {q(sprose.summary())}",
            "status: published"], body))
        files += 1
        for n in range(1, layout.lessons + 1):
            _write(section_dir / layout.lesson_file(c, s, n), lesson_text(layout, c, s, n, topic, seed))
            files += 1
    return files


def lesson_text(layout: Layout, c: int, s: int, n: int, topic: str, seed: int) -> str:
    rng = _rng(seed, "lesson", c, s, n)
    prose = Prose(rng, seed)
    roll = rng.random()
    kind = "text" if roll < 0.7 else "video" if roll < 0.82 else "pdf" if roll < 0.9 else "quiz"
    title = prose.title(topic)
    title = title[0].upper() + title[1:]
    fields = [f"title: {q(title)}", f"type: {kind}",
              f"status: {'draft' if rng.random() < 0.02 else 'published'}",
              f"description: {q(prose.summary())}", f"duration_minutes: {prose.between(3, 45)}", "objectives:",
              *(f"  - {q(prose.short_sentence())}" for _ in range(prose.between(2, 4)))]
    if kind == "video":
        fields.append("videos:")
        start = prose.between(0, 30)
        for _ in range(prose.between(2, 3)):
            end = start + prose.between(45, 420)
            if rng.random() < 0.8:
                media = rng.choice(VIDEO_IDS)
                url = f"{MEDIA_BASE}/video/upload/v1700000000/coursebase-bench/videos/{media}.mp4"
                fields += [f"  - url: {url}", f"    description: {q(prose.short_sentence())}",
                           f"    start_time_seconds: {start}", f"    end_time_seconds: {end}", f"    media: {media}"]
            else:
                fields += [f"  - url: https://videos.example.org/watch/{rng.getrandbits(40):010x}",
                           f"    description: {q(prose.short_sentence())}",
                           f"    start_time_seconds: {start}", f"    end_time_seconds: {end}"]
            start = end
    elif kind == "pdf":
        fields.append(f"pdf_url: {MEDIA_BASE}/raw/upload/v1700000000/coursebase-bench/pdfs/"
                      f"handout-{c}-{s}-{n}.pdf")
    elif kind == "quiz":
        fields.append("questions:")
        for _ in range(prose.between(3, 5)):
            wanted, choices = prose.between(3, 4), []
            while len(choices) < wanted:
                choice = _articles(prose.noun_phrase())
                if choice not in choices:
                    choices.append(choice)
            prompt = _articles(f"Which {prose.pick(NOUNS)} {prose.pick(VERBS)} {prose.noun_phrase()}?")
            fields += [f"  - prompt: {q(prompt)}",
                       "    choices:", *(f"      - {q(choice)}" for choice in choices),
                       f"    answer: {rng.randrange(len(choices))}", f"    explanation: {q(prose.sentence())}"]
    return front_matter(fields, lesson_body(prose, layout, c, s, n, topic))


def lesson_body(prose: Prose, layout: Layout, c: int, s: int, n: int, topic: str) -> str:
    """Markdown for a lesson file of about 7 KB in all (front matter included; 5.5–9.5 KB)."""
    rng = prose.rng
    target = prose.between(4500, 6500)
    previous = layout.previous_lesson_link(c, s, n)
    first = f"../{layout.section_dir(1)}/{layout.lesson_file(c, 1, 1)}"
    relative = [f"[{previous[0]}]({previous[1]})"] if previous else ["[the course overview](../course.md)"]
    if (s, n) != (1, 1) and rng.random() < 0.5:
        relative.append(f"[the first lesson]({first}#{rng.choice(NOUNS)})")
    sections = prose.between(4, 6)
    features: dict[int, list[str]] = {i: [] for i in range(sections)}
    for feature in ["code", "list", "link", "link"] + ["code"] * (rng.random() < 0.6) \
            + ["table"] * (rng.random() < 0.3) + ["numbered"] * (rng.random() < 0.3) + ["link"] * prose.between(0, 2):
        features[prose.between(0, sections - 1)].append(feature)
    if len(relative) > 1:
        features[sections - 1].append("relative")

    parts = [prose.paragraph(prose.between(3, 5), links=relative[:1])]
    size = len(parts[0])
    budget = (target - size) / sections
    for i in range(sections):
        block = [f"## {prose.title(topic)}"]
        links = [prose.external_link() for f in features[i] if f == "link"]
        if "relative" in features[i]:
            links.append(relative[1])
        block.append(prose.paragraph(prose.between(2, 4), links=links))
        for feature in features[i]:
            if feature == "code":
                block.append(prose.paragraph(prose.between(1, 2)))
                block.append(prose.code_block())
            elif feature == "list":
                block.append(prose.bullets())
            elif feature == "numbered":
                block.append(prose.numbered())
            elif feature == "table":
                block.append(prose.table())
        used = sum(len(b) + 2 for b in block)
        if used < budget and rng.random() < 0.5:
            block.append(f"### {prose.title(topic)}")
        while used < budget:
            paragraph = prose.paragraph(prose.between(2, 5))
            block.append(paragraph)
            used += len(paragraph) + 2
        parts.append("\n\n".join(block))
    return "\n\n".join(parts) + "\n"


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


# --------------------------------------------------------------------------- git and entry points


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_DATE": FIXED_DATE, "GIT_COMMITTER_DATE": FIXED_DATE,
           "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "-c", "user.name=Bench", "-c", "user.email=bench@localhost", "-c", "commit.gpgsign=false",
                    "-c", "core.autocrlf=false", "-c", "gc.auto=0", *args],
                   cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)


def params(courses: int, sections: int, lessons: int, seed: int) -> dict[str, object]:
    """What identifies a generated repository: the sizes, the seed and this generator's own source."""
    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    return {"courses": courses, "sections": sections, "lessons": lessons, "seed": seed, "generator": digest}


def generate(out_dir: Path, courses: int, sections: int, lessons: int, seed: int = 7) -> Path:
    """Create a git repository at `out_dir` (missing or empty) with a valid content tree; return `content/`."""
    if courses < 1 or sections < 1 or lessons < 1:
        raise ValueError("courses, sections and lessons must each be at least 1")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} exists and is not empty")
    out_dir.mkdir(parents=True, exist_ok=True)
    content = out_dir / "content"
    layout = Layout(courses, sections, lessons)
    write_globals(content, layout, seed)
    for c in range(1, courses + 1):
        write_course(content, layout, c, seed)
    _write(out_dir / PARAMS_FILE, json.dumps(params(courses, sections, lessons, seed), indent=2) + "\n")
    _git(out_dir, "init", "-q", "-b", "main")
    _git(out_dir, "add", "-A")
    _git(out_dir, "commit", "-q", "--no-verify", "-m",
         f"Benchmark content: {courses} courses x {sections} sections x {lessons} lessons (seed {seed})")
    return content


def ensure(out_dir: Path, courses: int, sections: int, lessons: int, seed: int = 7) -> tuple[Path, float | None]:
    """The content dir of a repository with these parameters, generating it only when needed.

    Returns (content dir, seconds spent generating, or None when an existing
    repository was reused). A repository is built in a temporary folder and
    renamed into place, so an interrupted run never leaves one that looks done.
    """
    out_dir = Path(out_dir)
    marker = out_dir / PARAMS_FILE
    wanted = params(courses, sections, lessons, seed)
    if marker.is_file() and (out_dir / ".git").is_dir():
        try:
            if json.loads(marker.read_text()) == wanted:
                return out_dir / "content", None
        except ValueError:
            pass
    staging = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    started = time.perf_counter()
    generate(staging, courses, sections, lessons, seed)
    elapsed = time.perf_counter() - started
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    return out_dir / "content", elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--courses", type=int, default=40)
    parser.add_argument("--sections", type=int, default=10)
    parser.add_argument("--lessons", type=int, default=25, help="lessons per section")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--force", action="store_true", help="replace OUT_DIR if it exists")
    args = parser.parse_args(argv)
    if args.force:
        shutil.rmtree(args.out_dir, ignore_errors=True)
    started = time.perf_counter()
    try:
        content = generate(args.out_dir, args.courses, args.sections, args.lessons, args.seed)
    except (FileExistsError, ValueError) as error:
        parser.error(str(error))
    total = args.courses * args.sections * args.lessons
    print(f"generated {total} lessons in {content} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
