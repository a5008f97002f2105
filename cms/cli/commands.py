"""The `cms` command: a thin click layer over the library.

Library errors (`CmsError`) become click errors with exit status 2 for
"could not run" and 1 for "content has problems".
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import msgspec

from cms.accounts.users import NewUser, Role, StateDB, UserStore, check_admin_settings, state_path
from cms.content import scaffold, schema
from cms.content.corpus import ContentTree
from cms.content.reporting import FORMATS, as_text
from cms.content.validate import validate_dir
from cms.errors import CmsError
from cms.settings import Settings

if TYPE_CHECKING:
    from cms.index.build import IndexReport

F = TypeVar("F", bound=Callable[..., Any])


class CommandError(click.ClickException):
    exit_code = 2


def reports_errors(command: F) -> F:
    """Turn library errors into a clean message and exit status 2."""
    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CmsError as error:
            raise CommandError(error.message) from None
    return wrapper  # type: ignore[return-value]


def content_dir_argument(command: F) -> F:
    return click.argument("content_dir", required=False, type=click.Path(path_type=Path))(command)


def _content_dir(given: Path | None) -> Path:
    return given if given is not None else Settings.from_env().content_dir


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="coursebase")
def main() -> None:
    """Coursebase: course content as files in git, served as a JSON API."""


@main.command()
@content_dir_argument
@click.option("--format", "output", type=click.Choice(sorted(FORMATS)), default="text", show_default=True,
              help="text for people, json for scripts, github for workflow annotations.")
@reports_errors
def validate(content_dir: Path | None, output: str) -> None:
    """Check every content file and the links between them; exit 1 on problems."""
    report = validate_dir(_content_dir(content_dir))
    click.echo(FORMATS[output](report.problems, report.files))
    sys.exit(1 if report.errors else 0)


@main.command("schema")
@click.option("--check", is_flag=True, help="Fail if the file is not what the models generate.")
@click.option("--output", type=click.Path(path_type=Path), default=Path("content.schema.json"), show_default=True)
def schema_command(check: bool, output: Path) -> None:
    """Write content.schema.json from the content model (or --check it)."""
    if check:
        if not schema.is_current(output):
            raise click.ClickException(f"{output} is stale: run `cms schema` and commit it")
        click.echo(f"{output} is up to date")
        return
    schema.write(output)
    click.echo(f"wrote {output}")


@main.group()
def new() -> None:
    """Start a course, section, lesson or project as a file that validates."""


def _content_dir_option(command: F) -> F:
    return click.option("--content-dir", type=click.Path(path_type=Path), default=None,
                        help="Defaults to CMS_CONTENT_DIR.")(command)


def _created(path: Path) -> None:
    click.echo(f"created {path}")


@new.command("course")
@click.argument("slug")
@click.option("--title", required=True)
@_content_dir_option
@reports_errors
def new_course(slug: str, title: str, content_dir: Path | None) -> None:
    """cms new course SLUG --title T"""
    _created(scaffold.new_course(_content_dir(content_dir), slug, title))


@new.command("section")
@click.argument("course")
@click.argument("slug")
@click.option("--title", required=True)
@_content_dir_option
@reports_errors
def new_section(course: str, slug: str, title: str, content_dir: Path | None) -> None:
    """cms new section COURSE SLUG --title T"""
    _created(scaffold.new_section(_content_dir(content_dir), course, slug, title))


@new.command("lesson")
@click.argument("course")
@click.argument("section")
@click.argument("slug")
@click.option("--title", required=True)
@_content_dir_option
@reports_errors
def new_lesson(course: str, section: str, slug: str, title: str, content_dir: Path | None) -> None:
    """cms new lesson COURSE SECTION SLUG --title T"""
    _created(scaffold.new_lesson(_content_dir(content_dir), course, section, slug, title))


@new.command("project")
@click.argument("slug")
@click.option("--title", required=True)
@_content_dir_option
@reports_errors
def new_project(slug: str, title: str, content_dir: Path | None) -> None:
    """cms new project SLUG --title T"""
    _created(scaffold.new_project(_content_dir(content_dir), slug, title))


def _tree_and_index(content_dir: Path | None) -> tuple[ContentTree, Path]:
    from cms.index.build import database_path  # the indexing commands load the indexer; `validate` stays quick
    settings = Settings.from_env()
    tree = ContentTree.locate(content_dir if content_dir is not None else settings.content_dir)
    return tree, database_path(tree, settings.database_url)


def _index_summary(report: IndexReport) -> str:
    kind = "full build" if report.full else ("no changes" if not report.changed else "incremental")
    return (f"indexed {report.files} files ({kind}): {report.read} read, {report.deleted} deleted, "
            f"{report.skipped} left out with errors, {report.seconds:.2f}s, commit {(report.commit or '-')[:12]}")


def _print_report(report: IndexReport, as_json: bool, quiet: bool) -> None:
    if as_json:
        click.echo(msgspec.json.encode(report).decode())
        return
    errors = [p for p in report.problems if p.is_error]
    if errors:
        click.echo(as_text(errors, report.files).rsplit("\n", 1)[0], err=True)
    if not quiet:
        click.echo(_index_summary(report))


@main.command()
@content_dir_argument
@click.option("--full", is_flag=True, help="Rebuild every entry, not just what changed.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's report as JSON.")
@reports_errors
def index(content_dir: Path | None, full: bool, quiet: bool, as_json: bool) -> None:
    """Bring the index up to date with the content (only what git says changed)."""
    tree, db_path = _tree_and_index(content_dir)
    from cms.cli.progress import index_progress
    from cms.index.build import update

    _recover(tree)
    with index_progress(enabled=not (quiet or as_json)) as progress:
        report = update(tree, db_path, full=full, progress=progress)
    _print_report(report, as_json, quiet)


@main.command()
@content_dir_argument
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@reports_errors
def stats(content_dir: Path | None, as_json: bool) -> None:
    """Bring the index up to date, then show what it holds: public and stored entries, totals."""
    from cms.read.health import current_stats

    figures = current_stats(*_tree_and_index(content_dir))
    if as_json:
        click.echo(msgspec.json.encode(figures).decode())
        return
    click.echo(f"commit {(figures['commit'] or '-')[:12]}, built {figures['built_at']}")
    for group in ("public", "stored", "totals"):
        click.echo(f"{group}: " + ", ".join(f"{value} {name}" for name, value in figures[group].items()))


@main.command()
@content_dir_argument
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.option("--json", "as_json", is_flag=True, help="Print each run's report as a JSON line.")
@click.option("--ready-fd", type=int, default=None, hidden=True, help="Write one byte here once the index is current.")
@click.option("--parent-pid", type=int, default=None, hidden=True, help="Stop when this process is gone.")
@reports_errors
def watch(content_dir: Path | None, quiet: bool, as_json: bool, ready_fd: int | None, parent_pid: int | None) -> None:
    """Keep the index current while files change (Ctrl-C to stop)."""
    from cms.index.watch import ready_signal
    from cms.index.watch import watch as watch_tree
    from cms.lifetime import follow_parent

    if parent_pid is not None:
        follow_parent(parent_pid)
    tree, db_path = _tree_and_index(content_dir)
    _recover(tree)
    if not (quiet or as_json):
        click.echo(f"watching {tree.content_dir} (index {db_path})")
    watch_tree(tree, db_path, ready_signal(ready_fd, lambda report: _print_report(report, as_json, quiet)),
               on_error=lambda error: click.echo(f"index update failed: {error}", err=True))


def _recover(tree: ContentTree) -> None:
    """Finish what a killed write left behind before the index reads the working tree."""
    from cms.repo.repository import GitRepo
    from cms.write import journal

    restored = journal.recover(GitRepo.open(tree.content_dir))
    if restored:
        click.echo(f"put back {len(restored)} file(s) an interrupted write had changed: {', '.join(restored)}",
                   err=True)


@main.command()
@content_dir_argument
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Server processes.")
@click.option("--watch", "keep_current", is_flag=True, help="Re-index while files change.")
@reports_errors
def serve(content_dir: Path | None, host: str, port: int, workers: int, keep_current: bool) -> None:
    """Index the content, then serve the read API (docs at /api/v1/docs)."""
    check_admin_settings(Settings.from_env())
    tree, db_path = _tree_and_index(content_dir)
    from cms.cli.server import serve as serve_api

    click.echo(f"serving {tree.content_dir} on http://{host}:{port}/api/v1/courses (docs: /api/v1/docs)")
    serve_api(tree.content_dir, db_path, host, port, workers, keep_current)


@main.group()
def users() -> None:
    """Manage the admin API's users (kept in the state database, CMS_STATE_URL)."""


@users.command("create")
@click.option("--username", required=True, help="3 to 50 of a-z, 0-9, '.', '_', '-'.")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice([role.value for role in Role]), default=Role.USER.value,
              show_default=True)
@click.option("--full-name", default=None)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input "
              "instead of prompting for it.")
@_content_dir_option
@reports_errors
def users_create(username: str, email: str, role: str, full_name: str | None, password_stdin: bool,
                 content_dir: Path | None) -> None:
    """cms users create --username U --email E --role ADMIN (asks for the password)"""
    password = _read_password() if password_stdin else click.prompt(
        "Password", hide_input=True, confirmation_prompt=True)
    settings = Settings.from_env()
    path = state_path(ContentTree.locate(_content_dir(content_dir)), settings.state_url)
    db = StateDB(path)
    try:
        user = UserStore(db).create(NewUser(username=username, email=email, password=password, role=Role(role),
                                            full_name=full_name))
    finally:
        db.close()
    click.echo(f"created {user.role} {user.username!r} (id {user.id}) in {path}")


def _read_password() -> str:
    return sys.stdin.readline().rstrip("\r\n")


@main.group("media")
def media_group() -> None:
    """Media assets at Cloudinary, recorded under content/media/ (needs CLOUDINARY_URL)."""


@media_group.command("upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--alt", default=None, help="Alt text: what the image shows (required for images).")
@click.option("--id", "media_id", default=None, help="The record's id, a slug; generated (img-…, vid-…) if left out.")
@_content_dir_option
@reports_errors
def media_upload(file: Path, alt: str | None, media_id: str | None, content_dir: Path | None) -> None:
    """cms media upload FILE --alt TEXT [--id ID]: upload, then commit media/<id>.yml as your git user."""
    from cms.media import upload_file
    from cms.write.operations import Workspace

    settings = Settings.from_env()
    tree, db_path = _tree_and_index(content_dir)
    written = upload_file(settings, Workspace(tree=tree, db_path=db_path, push=settings.git_push), file, alt,
                          media_id)
    click.echo(f"uploaded {file.name} as media {written.slug}: {tree.label(written.path)}, "
               f"commit {written.commit[:12]}")


@main.group("ai")
def ai_group() -> None:
    """Lessons drafted by Gemini onto review branches (needs GEMINI_API_KEY)."""


@ai_group.command("draft")
@click.option("--course", required=True, help="The course's slug.")
@click.option("--section", default=None, help="The section the new lesson joins, last (its slug).")
@click.option("--title", default=None, help="The new lesson's title.")
@click.option("--brief", default=None, help="What the lesson should cover, in your words.")
@click.option("--lesson", default=None, help="Regenerate this existing lesson (its slug) instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_content_dir_option
@reports_errors
def ai_draft(course: str, section: str | None, title: str | None, brief: str | None, lesson: str | None,
             as_json: bool, content_dir: Path | None) -> None:
    """cms ai draft --course C --section S --title T [--brief TEXT], or --course C --lesson L: commit Gemini's
    lesson as a draft on a new branch drafts/<course>/<lesson>, as your git user; your checkout is untouched."""
    from cms import ai
    from cms.repo.commits import configured_identity
    from cms.repo.repository import GitRepo
    from cms.write.operations import Workspace

    settings = Settings.from_env()
    tree, db_path = _tree_and_index(content_dir)
    request = ai.DraftRequest(course=course, section=section, title=title, brief=brief, lesson=lesson)
    done = ai.draft(Workspace(tree=tree, db_path=db_path, push=settings.git_push), request,
                          configured_identity(GitRepo.open(tree.content_dir)), ai.gemini(settings))
    if as_json:
        click.echo(msgspec.json.encode(done).decode())
        return
    click.echo(f"drafted {done.path} on branch {done.branch}, commit {done.commit[:12]}"
               f"{' (pushed)' if done.pushed else ''}; review it with `git switch {done.branch}`")
