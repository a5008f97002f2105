"""Keeping the index current and serving it: `cms index`, `cms stats`, `cms watch`, `cms serve`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from cms.cli.options import content_dir_argument, reports_errors, settings_for, tree_and_location

if TYPE_CHECKING:
    from cms.content.corpus import ContentTree
    from cms.index.build import IndexReport
    from cms.repo.repository import GitRepo

def _index_summary(report: IndexReport) -> str:
    kind = "full build" if report.full else ("no changes" if not report.changed else "incremental")
    return (f"indexed {report.files} files ({kind}): {report.read} read, {report.deleted} deleted, "
            f"{report.skipped} left out with errors, {report.seconds:.2f}s, commit {(report.commit or '-')[:12]}")


def _print_report(report: IndexReport, as_json: bool, quiet: bool) -> None:
    import msgspec

    from cms.content.reporting import as_text

    if as_json:
        click.echo(msgspec.json.encode(report).decode())
        return
    errors = [p for p in report.problems if p.is_error]
    if errors:
        click.echo(as_text(errors, report.files).rsplit("\n", 1)[0], err=True)
    if not quiet:
        click.echo(_index_summary(report))


@click.command()
@content_dir_argument
@click.option("--full", is_flag=True, help="Rebuild every entry, not just what changed.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's report as JSON.")
@reports_errors
def index(content_dir: Path | None, full: bool, quiet: bool, as_json: bool) -> None:
    """Bring the index up to date with the content (only what git says changed)."""
    tree, db_path = tree_and_location(content_dir)
    from cms.cli.progress import index_progress
    from cms.index.build import update
    from cms.read.documents import materialise

    repo = _recover(tree)
    with index_progress(enabled=not (quiet or as_json)) as progress:
        report = update(tree, db_path, full=full, progress=progress, materialise=materialise, source=repo)
    _print_report(report, as_json, quiet)


@click.command()
@content_dir_argument
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@reports_errors
def stats(content_dir: Path | None, as_json: bool) -> None:
    """Bring the index up to date, then show what it holds: public and stored entries, totals."""
    import msgspec

    from cms.read.health import current_stats

    figures = current_stats(*tree_and_location(content_dir))
    if as_json:
        click.echo(msgspec.json.encode(figures).decode())
        return
    click.echo(f"commit {(figures['commit'] or '-')[:12]}, built {figures['built_at']}")
    for group in ("public", "stored", "totals"):
        click.echo(f"{group}: " + ", ".join(f"{value} {name}" for name, value in figures[group].items()))


@click.command()
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
    from cms.read.documents import materialise

    if parent_pid is not None:
        follow_parent(parent_pid)
    tree, db_path = tree_and_location(content_dir)
    _recover(tree)
    if not (quiet or as_json):
        click.echo(f"watching {tree.content_dir} (index {db_path})")
    watch_tree(tree, db_path, ready_signal(ready_fd, lambda report: _print_report(report, as_json, quiet)),
               on_error=lambda error: click.echo(f"index update failed: {error}", err=True), materialise=materialise)


def _recover(tree: ContentTree) -> GitRepo:
    """Finish what a killed write left behind before the index reads the working tree; the repository."""
    from cms.repo.repository import GitRepo
    from cms.write import journal

    repo = GitRepo.open(tree.content_dir)
    restored = journal.recover(repo)
    if restored:
        click.echo(f"put back {len(restored)} file(s) an interrupted write had changed: {', '.join(restored)}",
                   err=True)
    return repo


@click.command()
@content_dir_argument
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Server processes.")
@click.option("--watch", "keep_current", is_flag=True, help="Re-index while files change.")
@reports_errors
def serve(content_dir: Path | None, host: str, port: int, workers: int, keep_current: bool) -> None:
    """Index the content, then serve the read API (docs at /api/v1/docs)."""
    from cms.accounts.setup import check_server_settings
    from cms.delivery import check_delivery_settings

    settings = settings_for(content_dir)
    check_server_settings(settings)
    check_delivery_settings(settings)
    tree, db_path = tree_and_location(content_dir)
    from cms.cli.server import serve as serve_api
    from cms.database import PostgresUrl

    if isinstance(db_path, PostgresUrl):
        from cms.database.postgres import connect

        connect(db_path).close()  # unreachable, wrong password: say so now, naming CMS_DATABASE_URL

    click.echo(f"serving {tree.content_dir} on http://{host}:{port}/api/v1/courses (docs: /api/v1/docs)")
    serve_api(tree.content_dir, db_path, host, port, workers, keep_current)


COMMANDS = [index, stats, watch, serve]
