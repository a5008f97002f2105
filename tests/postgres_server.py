"""A throwaway Postgres server for the test session: a pytest plugin (`pytest_plugins` in tests/conftest.py).

Fixtures:

- `postgres_server` (session): a `PostgresServer` of this session (one per xdist worker), started on first
  use in a temporary directory, listening on 127.0.0.1 at a free port and on a unix socket in that
  directory, with fsync off. It is stopped and its directory removed at session end, failures or not.
- `postgres_database` (function): the URL of a fresh empty database of its own, dropped after the test.

The app role `cms` logs in with a password (scram-sha-256) and is no superuser; it owns the databases.
The superuser is reachable only through the unix socket, in a directory only the server's user can enter.

The binaries are Debian's (`/usr/lib/postgresql/<version>/bin`, newest first; `.ci/run` installs them),
else `initdb` on PATH; `COURSEBASE_PG_BINDIR` overrides both. initdb and postgres refuse to run as root,
so under root the server runs as the `postgres` OS user (Debian's package creates it), else `nobody`.

Measured on the 2-core machine: a cluster is ready in about 1.5 s on tmpfs (almost all of it initdb);
a database copied from a template takes about 25 ms, and with its first connection and its drop about
100 ms. Each xdist worker starts its own cluster: nothing is shared, locked or handed over between them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

APP_USER = "cms"
TEMPLATE = "cms_template"
"""An empty database owned by the app role, which `create_database` copies by default."""
START_TIMEOUT = 60.0
SERVER_SETTINGS = {
    # Throwaway data: never wait for the disk. A crash loses the cluster, which is deleted anyway.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "listen_addresses": "127.0.0.1",
    "max_connections": "200",
    "log_min_messages": "warning",
}
DIR_PREFIX = "cms-pg-"
STALE_SECONDS = 600
_PR_SET_PDEATHSIG = 1


def find_bindir() -> Path:
    """The directory with initdb and postgres: COURSEBASE_PG_BINDIR, Debian's newest, or PATH's."""
    if configured := os.environ.get("COURSEBASE_PG_BINDIR"):
        return Path(configured)
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                    key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if debian:
        return debian[-1].parent
    if on_path := shutil.which("initdb"):
        return Path(on_path).resolve().parent
    raise RuntimeError("Postgres server binaries not found (no /usr/lib/postgresql/*/bin/initdb, no initdb on "
                       "PATH): install them (`apt-get install postgresql`, as .ci/run does) or set "
                       "COURSEBASE_PG_BINDIR")


def _server_account() -> pwd.struct_passwd | None:
    """The unprivileged OS user to run the server as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root, but there is no `postgres` or `nobody` user to run Postgres as")


def _base_dir() -> str:
    """COURSEBASE_PG_TMPDIR, else /dev/shm when it has room (initdb 1.7x faster than on disk), else TMPDIR."""
    if configured := os.environ.get("COURSEBASE_PG_TMPDIR"):
        return configured
    with contextlib.suppress(OSError):
        stat = os.statvfs("/dev/shm")
        if stat.f_bavail * stat.f_frsize >= 2 << 30 and os.access("/dev/shm", os.W_OK | os.X_OK):
            return "/dev/shm"
    return tempfile.gettempdir()


def _free_port() -> int:
    """A port free right now; another process may take it before the server binds, hence the retries."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _libc_prctl() -> Callable[..., int] | None:
    with contextlib.suppress(OSError, AttributeError):
        return ctypes.CDLL(None, use_errno=True).prctl
    return None


_PRCTL = _libc_prctl()
"""Looked up here, in the parent: the child between fork and exec should do as little as possible."""


def _die_with_parent() -> None:
    """In the server's child process: SIGQUIT (immediate shutdown) when the test process dies, even by SIGKILL.
    Runs after the switch to the server's user, which would reset it. (Linux sends it when the *thread* that
    started the server ends: pytest runs session fixtures in the main thread, xdist workers too.)"""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGQUIT)


def _sweep_stale(base: Path) -> None:
    """Remove clusters of killed test runs (their servers died with them): no postmaster.pid, idle 10 min."""
    for root in base.glob(f"{DIR_PREFIX}*"):
        with contextlib.suppress(OSError):
            data = root / "data"
            idle = time.time() - root.stat().st_mtime > STALE_SECONDS
            if idle and (data / "PG_VERSION").exists() and not (data / "postmaster.pid").exists():
                shutil.rmtree(root)


@dataclass
class PostgresServer:
    """One running throwaway cluster: `PostgresServer.start()`, then `stop()` (or use it in a `with`)."""

    bindir: Path
    root: Path
    """The temporary directory: data/, server.log and the unix socket."""
    account: pwd.struct_passwd | None
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    templates: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls) -> PostgresServer:
        account, base = _server_account(), _base_dir()
        _sweep_stale(Path(base))
        server = cls(bindir=find_bindir(), root=Path(tempfile.mkdtemp(prefix=DIR_PREFIX, dir=base)), account=account)
        try:
            if account is not None:
                os.chown(server.root, account.pw_uid, account.pw_gid)
            server._initdb()
            server._launch()
            server._create_app_role()
        except BaseException:
            server.stop()
            raise
        return server

    def _as_server_user(self) -> dict[str, object]:
        """Popen's user, group and extra_groups for the server's OS user (root's groups dropped)."""
        if self.account is None:
            return {}
        return {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}

    def _initdb(self) -> None:
        result = subprocess.run(
            [str(self.bindir / "initdb"), "--pgdata", str(self.root / "data"), "--username", "postgres",
             "--auth-local", "trust", "--auth-host", "scram-sha-256", "--encoding", "UTF8", "--locale", "C.UTF-8",
             "--no-sync", "--no-instructions"],
            capture_output=True, text=True, check=False, cwd=self.root, **self._as_server_user())  # type: ignore[call-overload]
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed ({result.returncode}):\n{result.stdout}{result.stderr}")

    def _launch(self, attempts: int = 5) -> None:
        """Start postgres on a free port, again on another port if that one was taken meanwhile."""
        options = [f"-c{name}={value}" for name, value in SERVER_SETTINGS.items()]
        for attempt in range(attempts):
            self.port = _free_port()
            with (self.root / "server.log").open("ab") as log:
                # postgres itself, not `pg_ctl start`: it stays our child, so it can be told to die with us;
                # its own session keeps a Ctrl-C for pytest, which then stops it in order.
                self.process = subprocess.Popen(  # type: ignore[call-overload]
                    [str(self.bindir / "postgres"), "-D", str(self.root / "data"), "-p", str(self.port),
                     "-k", str(self.root), *options],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.root,
                    start_new_session=True, preexec_fn=_die_with_parent, **self._as_server_user())
            if self._wait_until_ready():
                return
            taken = "could not bind" in self.log_tail() or "Address already in use" in self.log_tail()
            if not taken or attempt == attempts - 1:
                raise RuntimeError(f"Postgres did not start; {self.root / 'server.log'} ends:\n{self.log_tail()}")

    def _wait_until_ready(self) -> bool:
        """True once the superuser can connect; False if the server exited first."""
        deadline = time.monotonic() + START_TIMEOUT
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                psycopg.connect(self._admin_conninfo("postgres"), connect_timeout=2).close()
                return True
            except psycopg.OperationalError:
                time.sleep(0.02)
        raise RuntimeError(f"Postgres was not ready after {START_TIMEOUT} s:\n{self.log_tail()}")

    def _create_app_role(self) -> None:
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                sql.Identifier(APP_USER), sql.Literal(self.password)))
            for name in (APP_USER, TEMPLATE):
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(APP_USER)))

    def stop(self) -> None:
        """Fast shutdown (clients are disconnected), then remove the directory. Safe to call twice."""
        if self.process is not None and self.process.poll() is None:
            for sig, wait in ((signal.SIGINT, 15), (signal.SIGQUIT, 5), (signal.SIGKILL, 5)):
                self.process.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(wait)
                    break
        self.process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.root / "server.log").read_text(errors="replace").splitlines()[-lines:])
        return ""

    # -- connecting ------------------------------------------------------------------------------------------

    def url(self, dbname: str = APP_USER, *, password: str | None = None) -> str:
        """A TCP URL for `dbname` as the app role (with its password, or the one given)."""
        secret = self.password if password is None else password
        return f"postgresql://{APP_USER}:{quote(secret, safe='')}@127.0.0.1:{self.port}/{quote(dbname, safe='')}"

    def _admin_conninfo(self, dbname: str) -> str:
        return psycopg.conninfo.make_conninfo(host=str(self.root), port=self.port, user="postgres", dbname=dbname)

    @contextlib.contextmanager
    def admin(self, dbname: str = "postgres") -> Iterator[psycopg.Connection]:
        """A superuser connection (unix socket, autocommit): for what the app role may not do."""
        with psycopg.connect(self._admin_conninfo(dbname), autocommit=True) as conn:
            yield conn

    # -- databases -------------------------------------------------------------------------------------------

    def create_database(self, name: str | None = None, template: str = TEMPLATE) -> str:
        """A new database owned by the app role, copied from `template` (nobody may be connected to it); its
        URL. FILE_COPY copies the template's files instead of writing them through the WAL: with fsync off
        its checkpoint costs nothing, and it is the faster of the two here."""
        name = name or f"t_{secrets.token_hex(6)}"
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"not a plain database name: {name!r}")
        with self.admin() as conn:
            strategy = sql.SQL(" STRATEGY FILE_COPY") if conn.info.server_version >= 150000 else sql.SQL("")
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(template), sql.Identifier(APP_USER)) + strategy)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever is still connected to it."""
        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def template(self, name: str, prepare: Callable[[str], None]) -> str:
        """A template database `name`, made once per session by `prepare(url)` (which must close every
        connection it opens): copying it gives each test a prepared database for the price of an empty one."""
        if name not in self.templates:
            self.templates[name] = self.create_database(name)
            prepare(self.templates[name])
        return name


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """This session's (this xdist worker's) Postgres server, started on first use."""
    with PostgresServer.start() as server:
        yield server


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, empty database of its own for one test; dropped after it."""
    name = f"t_{secrets.token_hex(6)}"
    yield postgres_server.create_database(name)
    postgres_server.drop_database(name)
