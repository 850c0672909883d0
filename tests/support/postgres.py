"""A throwaway PostgreSQL cluster for tests.

``PostgresCluster.start()`` runs ``initdb`` into a fresh directory under /tmp and starts the
``postgres`` server binary directly (no ``pg_ctl``), so the Popen object holds the
postmaster's own pid. ``stop()`` shuts it down by that pid (then its process group and any
child left over) and removes the directory. Each instance picks its own directory and a
free TCP port, so several pytest-xdist workers can each run a cluster at the same time.

When the process runs as root (``initdb`` refuses root), the directory is owned by the
``postgres`` OS user (created if missing); ``initdb`` runs under ``runuser -u postgres --``
and the server is started with ``Popen(user=..., group=...)``: ``runuser`` forks and waits,
so starting the server through it would leave us holding runuser's pid, not postgres's.

Tests should skip only when the binaries are absent: use ``require_pg_bin()`` or the
``postgres_cluster`` fixture, which call ``pytest.skip`` with the reason (and print it).
Any other failure (initdb error, server that does not come up) is raised, not skipped.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from .processes import descendants, free_port, log_tail, process_alive, stop_process_group

PG_USER = "postgres"  # both the OS user (when we are root) and the database superuser
PG_BIN_ENV = "MODELBAY_PG_BIN"  # optional override: a directory holding initdb and postgres

_DB_NAME = re.compile(r"^[A-Za-z0-9_]{1,63}$")


def _version_key(path: str) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin/initdb -> (<version parts>)
    version = Path(path).parent.parent.name
    return tuple(int(p) for p in re.findall(r"\d+", version)) or (0,)


def find_pg_bin() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``, or None if there is none.

    Looks at ``$MODELBAY_PG_BIN``, then the newest ``/usr/lib/postgresql/*/bin``, then
    ``pg_config --bindir`` and ``initdb`` on PATH.
    """
    candidates: list[Path] = []
    if os.environ.get(PG_BIN_ENV):
        candidates.append(Path(os.environ[PG_BIN_ENV]))
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key, reverse=True)
    candidates.extend(Path(p).parent for p in found)
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(Path(out.stdout.strip()))
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for directory in candidates:
        if all(os.access(directory / exe, os.X_OK) for exe in ("initdb", "postgres")):
            return directory
    return None


def require_pg_bin() -> Path:
    """``find_pg_bin()``, or ``pytest.skip`` (with the reason printed) if it finds nothing."""
    bindir = find_pg_bin()
    if bindir is None:
        reason = (
            "PostgreSQL binaries not found (no initdb+postgres in $MODELBAY_PG_BIN, "
            "/usr/lib/postgresql/*/bin, pg_config --bindir or PATH); "
            "install the 'postgresql' package to run these tests"
        )
        print(f"SKIP: {reason}", file=sys.stderr)
        pytest.skip(reason)
    return bindir


def _ensure_os_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    # Several xdist workers may race here; useradd fails for all but one, which is fine.
    subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/bin/false", name],
        capture_output=True,
        check=False,
    )
    return pwd.getpwnam(name)


class PostgresError(RuntimeError):
    """The cluster could not be created or started (the message holds the log tail)."""


def _stop_postmaster(proc: subprocess.Popen[bytes], timeout: float) -> None:
    # SIGINT is postgres's "fast" shutdown: it disconnects clients and exits cleanly.
    # SIGTERM ("smart") would wait for every pooled client connection to close by itself.
    # After the timeout the postmaster's group gets SIGKILL. Backends call setsid(), so
    # they are not in that group: note them first and SIGKILL any that outlive it.
    children = descendants(proc.pid) if proc.poll() is None else []
    stop_process_group(proc, signal.SIGINT, timeout)
    left = [c for c in children if process_alive(*c)]
    for pid, _ in left:  # the postmaster is gone: whatever is left is an orphan
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = [c for c in left if process_alive(*c)]


def _finalize(proc: subprocess.Popen[bytes] | None, root: str | None) -> None:
    # Safety net for clusters that were never stopped (runs at garbage collection or exit).
    if proc is not None:
        with contextlib.suppress(Exception):
            _stop_postmaster(proc, 5.0)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


class PostgresCluster:
    """One throwaway PostgreSQL server on 127.0.0.1 with trust auth for user ``postgres``.

    ``with PostgresCluster() as pg: url = pg.create_database("t1")`` starts and stops it.
    """

    def __init__(
        self,
        bindir: Path | str | None = None,
        *,
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.bindir: Path | None = Path(bindir) if bindir is not None else None
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.settings = {
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        self.settings.update(settings or {})
        self.port: int | None = None
        self.root: Path | None = None  # temp dir holding data/, sock/ and postgres.log
        self.proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[..., PostgresCluster] | None = None

    # -- paths ------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "cluster not started"
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.root is not None, "cluster not started"
        return self.root / "sock"

    @property
    def log_path(self) -> Path:
        assert self.root is not None, "cluster not started"
        return self.root / "postgres.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> PostgresCluster:
        """initdb a fresh cluster and start the server; returns once it accepts connections."""
        if self.proc is not None:
            raise PostgresError("cluster already started")
        if self.bindir is None:
            self.bindir = find_pg_bin()
            if self.bindir is None:
                raise PostgresError("PostgreSQL binaries not found (see find_pg_bin())")
        as_root = os.geteuid() == 0
        owner = _ensure_os_user(PG_USER) if as_root else None

        self.root = Path(tempfile.mkdtemp(prefix="modelbay-pg-", dir="/tmp"))
        self._finalizer = weakref.finalize(self, _finalize, None, str(self.root))
        try:
            self.socket_dir.mkdir()
            self.log_path.touch()
            if owner is not None:
                for path in (self.root, self.socket_dir, self.log_path):
                    os.chown(path, owner.pw_uid, owner.pw_gid)
            self._initdb(as_root)
            self._launch(owner)
        except BaseException:
            self.stop()
            raise
        return self

    def _initdb(self, as_root: bool) -> None:
        assert self.bindir is not None and self.root is not None
        cmd = [
            str(self.bindir / "initdb"),
            "-D", str(self.data_dir),
            "-U", PG_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]  # fmt: skip
        if as_root:
            cmd = ["runuser", "-u", PG_USER, "--", *cmd]
        result = subprocess.run(
            cmd, cwd=self.root, capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            raise PostgresError(
                f"initdb failed (exit {result.returncode}): {' '.join(cmd)}\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )

    def _launch(self, owner: pwd.struct_passwd | None) -> None:
        assert self.bindir is not None and self.root is not None
        attempts = 5  # the port is free when picked, but another process may take it first
        for attempt in range(1, attempts + 1):
            port = free_port()
            cmd = [
                str(self.bindir / "postgres"),
                "-D", str(self.data_dir),
                "-k", str(self.socket_dir),
                "-h", "127.0.0.1",
                "-p", str(port),
            ]  # fmt: skip
            for key, value in self.settings.items():
                cmd += ["-c", f"{key}={value}"]
            user_kwargs: dict[str, object] = {}
            if owner is not None:
                user_kwargs = {
                    "user": owner.pw_uid,
                    "group": owner.pw_gid,
                    "extra_groups": [owner.pw_gid],
                }
            offset = self.log_path.stat().st_size
            with open(self.log_path, "ab") as log:
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.root,
                    start_new_session=True,  # own process group: backends die with it
                    **user_kwargs,  # type: ignore[call-overload]
                )
            self.proc, self.port = proc, port
            if self._finalizer is not None:
                self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _finalize, proc, str(self.root))
            if self._wait_ready(proc, port):
                return
            text = self.log_path.read_bytes()[offset:].decode(errors="replace")
            _stop_postmaster(proc, self.stop_timeout)
            self.proc = None
            bind_failed = "could not bind" in text or "already in use" in text
            if bind_failed and attempt < attempts:
                continue
            raise PostgresError(
                f"postgres did not start (exit {proc.returncode}) on port {port}: "
                f"{' '.join(cmd)}\n--- log tail ---\n{log_tail(self.log_path)}"
            )

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                with psycopg.connect(
                    host="127.0.0.1", port=port, user=PG_USER, dbname="postgres",
                    connect_timeout=2,
                ) as conn:  # fmt: skip
                    conn.execute("SELECT 1")
                return True
            except psycopg.OperationalError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Shut the server down by pid (SIGINT = fast shutdown, SIGKILL to its process
        group after ``stop_timeout``), wait until no process of it is left, remove the dir.
        Safe to call more than once."""
        if self.proc is not None:
            _stop_postmaster(self.proc, self.stop_timeout)
            self.proc = None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- databases --------------------------------------------------------------------
    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq/psycopg connection string for ``dbname``."""
        if self.port is None or not self.running:
            raise PostgresError("cluster not running")
        return f"host=127.0.0.1 port={self.port} user={PG_USER} dbname={dbname}"

    def url(self, dbname: str) -> str:
        """The SQLAlchemy URL of ``dbname`` (which must exist)."""
        if self.port is None or not self.running:
            raise PostgresError("cluster not running")
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str, *, migrated: bool = True) -> str:
        """CREATE DATABASE ``name`` and return its SQLAlchemy URL
        ``postgresql+psycopg://postgres@127.0.0.1:<port>/<name>``.

        ``migrated``: bring its schema up to date, as an operator's ``modelbay db upgrade``
        does before servers start (they refuse a shared database's schema otherwise)."""
        if not _DB_NAME.match(name):
            raise ValueError(f"database name must match {_DB_NAME.pattern}: {name!r}")
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = self.url(name)
        if migrated:
            from modelbay.store.database import Database

            Database(url).engine.dispose()  # migrates on open
        return url

    def drop_database(self, name: str) -> None:
        """DROP DATABASE ``name`` (disconnecting any remaining sessions)."""
        if not _DB_NAME.match(name):
            raise ValueError(f"database name must match {_DB_NAME.pattern}: {name!r}")
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One cluster per test session (so one per xdist worker); skips if no binaries.

    Use it from a conftest.py with ``from support.postgres import postgres_cluster``.
    """
    bindir = require_pg_bin()
    cluster = PostgresCluster(bindir).start()
    try:
        yield cluster
    finally:
        cluster.stop()
