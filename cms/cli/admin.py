"""The admin side from the command line: `cms users`, `cms media`, `cms ai`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cms.cli.options import content_dir_option, reports_errors, settings_for, workspace

ROLES = ("ADMIN", "MODERATOR", "USER")
"""The values of `cms.accounts.users.Role`, written out so that `cms --help` need not import the accounts
(a test checks that they agree)."""


@click.group()
def users() -> None:
    """Manage the admin API's users (kept in the state database, CMS_STATE_URL)."""


@users.command("create")
@click.option("--username", required=True, help="3 to 50 of a-z, 0-9, '.', '_', '-'.")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(ROLES), default="USER", show_default=True)
@click.option("--full-name", default=None)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input "
              "instead of prompting for it.")
@content_dir_option
@reports_errors
def users_create(username: str, email: str, role: str, full_name: str | None, password_stdin: bool,
                 content_dir: Path | None) -> None:
    """cms users create --username U --email E --role ADMIN (asks for the password)"""
    from cms.accounts.state import StateDB
    from cms.accounts.users import NewUser, Role, UserStore
    from cms.content.corpus import ContentTree

    password = _read_password() if password_stdin else click.prompt(
        "Password", hide_input=True, confirmation_prompt=True)
    settings = settings_for(content_dir)
    with StateDB.from_settings(settings, ContentTree.locate(settings.content_dir)) as db:
        user = UserStore(db).create(NewUser(username=username, email=email, password=password, role=Role(role),
                                            full_name=full_name))
    click.echo(f"created {user.role} {user.username!r} (id {user.id}) in {db.location}")


def _read_password() -> str:
    return sys.stdin.readline().rstrip("\r\n")


@click.group("media")
def media_group() -> None:
    """Media assets at Cloudinary, recorded under content/media/ (needs CLOUDINARY_URL)."""


@media_group.command("upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--alt", default=None, help="Alt text: what the image shows (required for images).")
@click.option("--id", "media_id", default=None, help="The record's id, a slug; generated (img-…, vid-…) if left out.")
@content_dir_option
@reports_errors
def media_upload(file: Path, alt: str | None, media_id: str | None, content_dir: Path | None) -> None:
    """cms media upload FILE --alt TEXT [--id ID]: upload, then commit media/<id>.yml as your git user."""
    from cms.media import upload_file

    settings = settings_for(content_dir)
    space = workspace(content_dir)
    written = upload_file(settings, space, file, alt, media_id)
    click.echo(f"uploaded {file.name} as media {written.slug}: {space.tree.label(written.path)}, "
               f"commit {written.commit[:12]}")


@click.group("ai")
def ai_group() -> None:
    """Lessons drafted by Gemini onto review branches (needs GEMINI_API_KEY)."""


@ai_group.command("draft")
@click.option("--course", required=True, help="The course's slug.")
@click.option("--section", default=None, help="The section the new lesson joins, last (its slug).")
@click.option("--title", default=None, help="The new lesson's title.")
@click.option("--brief", default=None, help="What the lesson should cover, in your words.")
@click.option("--lesson", default=None, help="Regenerate this existing lesson (its slug) instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@content_dir_option
@reports_errors
def ai_draft(course: str, section: str | None, title: str | None, brief: str | None, lesson: str | None,
             as_json: bool, content_dir: Path | None) -> None:
    """cms ai draft --course C --section S --title T [--brief TEXT], or --course C --lesson L: commit Gemini's
    lesson as a draft on a new branch drafts/<course>/<lesson>, as your git user; your checkout is untouched.
    Prints its preview link (with CMS_PUBLIC_URL) and opens its pull request (with CMS_FORGE_URL)."""
    import msgspec

    from cms import ai

    settings = settings_for(content_dir)
    ai.check_forge(settings)
    request = ai.DraftRequest(course=course, section=section, title=title, brief=brief, lesson=lesson)
    done = ai.draft_as_git_user(settings, workspace(content_dir), request)
    done = ai.hand_off(settings, done, brief, settings.public_url)
    if as_json:
        click.echo(msgspec.json.encode(done).decode())
        return
    click.echo(f"drafted {done.path} on branch {done.branch}, commit {done.commit[:12]}"
               f"{' (pushed)' if done.pushed else ''}; review it with `git switch {done.branch}`")
    click.echo(f"preview: {done.preview_url}" if done.preview_url else
               "preview: set CMS_PUBLIC_URL and CMS_SECRET_KEY for a preview link")
    if done.pull_request_url:
        click.echo(f"pull request: {done.pull_request_url}")


COMMANDS = [users, media_group, ai_group]
