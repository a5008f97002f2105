"""What the commands share: library errors as click errors, the content directory argument and option."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from cms.content.corpus import ContentTree
    from cms.database import PostgresUrl
    from cms.settings import Settings
    from cms.write.operations import Workspace

F = TypeVar("F", bound=Callable[..., Any])


class CommandError(click.ClickException):
    exit_code = 2


def reports_errors(command: F) -> F:
    """Turn library errors into a clean message and exit status 2."""
    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from cms.errors import CmsError

        try:
            return command(*args, **kwargs)
        except CmsError as error:
            raise CommandError(error.message) from None
    return wrapper  # type: ignore[return-value]


def content_dir_argument(command: F) -> F:
    return click.argument("content_dir", required=False, type=click.Path(path_type=Path))(command)


def content_dir_option(command: F) -> F:
    return click.option("--content-dir", type=click.Path(path_type=Path), default=None,
                        help="Defaults to CMS_CONTENT_DIR.")(command)


def content_dir_or_setting(given: Path | None) -> Path:
    from cms.settings import Settings

    return given if given is not None else Settings.from_env().content_dir


def settings_for(content_dir: Path | None) -> Settings:
    """The settings, with CMS_CONTENT_DIR replaced by the command's own content directory if it names one."""
    from cms.settings import Settings

    return Settings.from_env(**({} if content_dir is None else {"content_dir": content_dir}))


def tree_and_location(content_dir: Path | None) -> tuple[ContentTree, Path | PostgresUrl]:
    """The content tree and its index (CMS_DATABASE_URL): a SQLite file or a Postgres database, without loading
    the write path."""
    from cms.content.corpus import ContentTree
    from cms.index.build import index_location

    settings = settings_for(content_dir)
    tree = ContentTree.locate(settings.content_dir)
    return tree, index_location(tree, settings.database_url)


def workspace(content_dir: Path | None) -> Workspace:
    """Where a command's writes go, and the index it reads."""
    from cms.write.operations import Workspace  # it loads the indexer: only the commands that need it do

    return Workspace.from_settings(settings_for(content_dir))
