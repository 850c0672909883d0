"""Child-process helpers for tests: free ports, HTTP readiness, and a modelbay server.

``ServerProcess`` starts ``python -m modelbay server`` on a free loopback port in its own
process group, waits for ``GET /api/v1/health`` to answer 200, and stops the whole group by
pid. The server's stdout and stderr go to a log file whose tail is put into the exception
if startup fails.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

HEALTH_PATH = "/api/v1/health"
DEFAULT_COMMAND: tuple[str, ...] = (sys.executable, "-m", "modelbay", "server")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now (the kernel picks it).

    Another process may take it before the caller binds it; callers that start servers
    retry with a new port when the bind fails (PostgresCluster and ServerProcess do).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path | str, lines: int = 60) -> str:
    """The last ``lines`` lines of a text file ('' if it does not exist)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def wait_http_ok(
    url: str,
    timeout: float = 30.0,
    *,
    process: subprocess.Popen[bytes] | None = None,
    interval: float = 0.05,
) -> httpx.Response:
    """Poll ``GET url`` until it answers 200 and return that response.

    Raises TimeoutError after ``timeout`` seconds, or RuntimeError at once if ``process``
    is given and exits first. Proxy settings from the environment are ignored.
    """
    deadline = time.monotonic() + timeout
    last: str = "no attempt made"
    with httpx.Client(trust_env=False, timeout=min(5.0, max(timeout, 0.1))) as client:
        while True:
            if process is not None and process.poll() is not None:
                raise RuntimeError(
                    f"process {process.pid} exited with code {process.returncode} "
                    f"before {url} answered 200 (last: {last})"
                )
            try:
                response = client.get(url)
                if response.status_code == 200:
                    return response
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{url} did not answer 200 within {timeout}s (last: {last})")
            time.sleep(interval)


def _proc_stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, ppid, pgid, starttime) of a process from Linux /proc, or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the fields after "pid (comm) "
    return fields[0], int(fields[1]), int(fields[2]), int(fields[19])


def _all_stats() -> dict[int, tuple[str, int, int, int]]:
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None:
                stats[int(entry)] = stat
    return stats


def process_alive(pid: int, starttime: int | None = None) -> bool:
    """Whether ``pid`` exists and is not a zombie (an exited process nobody has reaped
    yet, e.g. an orphan waiting for PID 1). With ``starttime`` (from ``descendants``), a
    reused pid does not count."""
    stat = _proc_stat(pid)
    if stat is None:
        if os.path.isdir("/proc/self"):
            return False
        try:  # no /proc: fall back to kill(0), which counts zombies as alive
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat[0] != "Z" and (starttime is None or stat[3] == starttime)


def group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is in process group ``pgid``."""
    if not os.path.isdir("/proc/self"):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    return any(st[2] == pgid and st[0] != "Z" for st in _all_stats().values())


def descendants(pid: int) -> list[tuple[int, int]]:
    """(pid, starttime) of every live descendant of ``pid`` (Linux /proc; [] without it).

    Needed where children leave the process group: PostgreSQL backends call setsid()."""
    if not os.path.isdir("/proc/self"):
        return []
    stats = _all_stats()
    found: list[tuple[int, int]] = []
    frontier = {pid}
    while frontier:
        children = {p for p, st in stats.items() if st[1] in frontier and st[0] != "Z"}
        found.extend((p, stats[p][3]) for p in sorted(children))
        frontier = children
    return found


def stop_process_group(
    proc: subprocess.Popen[bytes],
    first_signal: int = signal.SIGTERM,
    timeout: float = 10.0,
) -> None:
    """Stop a child started with ``start_new_session=True`` (its pgid is its pid).

    Sends ``first_signal`` to the group, waits up to ``timeout`` for the leader, then
    SIGKILLs the group; returns only when no process of the group is left (the leader
    is reaped). Safe to call on a process that has already exited.
    """
    pgid = proc.pid
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, first_signal)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            proc.wait(timeout)
    # Children of the leader (e.g. server workers) share the group; let none outlive it.
    # Zombies count as gone: orphans are reaped by PID 1, which may take a while.
    deadline = time.monotonic() + timeout
    while group_alive(pgid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            deadline = time.monotonic() + timeout
        time.sleep(0.02)


def _abandoned(proc: subprocess.Popen[bytes], log: Path | None) -> None:
    with contextlib.suppress(Exception):
        stop_process_group(proc, signal.SIGKILL, 5.0)
    if log is not None:
        with contextlib.suppress(OSError):
            log.unlink()


class ServerStartError(RuntimeError):
    """The server exited or did not become healthy; the message holds the log tail."""


_BIND_ERRORS = ("address already in use", "errno 98", "could not bind")


class ServerProcess:
    """``python -m modelbay server`` on 127.0.0.1:<free port>, started on construction.

    The command line is ``[*command, "--host", "127.0.0.1", "--port", P, "--data-dir", D,
    ("--db", URL), *args]``; ``command`` defaults to ``sys.executable -m modelbay server``
    and can be replaced by a stand-in. The environment is the caller's minus any
    ``MODELBAY_*`` variables, plus ``MODELBAY_ADMIN_KEY=<admin_key>``,
    ``PYTHONUNBUFFERED=1`` and ``extra_env``.
    """

    def __init__(
        self,
        data_dir: Path | str,
        db_url: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        *,
        command: Sequence[str] | None = None,
        log_path: Path | str | None = None,
        keep_log: bool = False,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        health_path: str = HEALTH_PATH,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.db_url = db_url
        self.extra_env = dict(extra_env or {})
        self.args = list(args)
        self.command = list(command) if command is not None else list(DEFAULT_COMMAND)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.health_path = health_path
        self.admin_key = secrets.token_urlsafe(32)
        self.host = "127.0.0.1"
        self.port: int = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.argv: list[str] = []
        self._finalizer: weakref.finalize[..., ServerProcess] | None = None
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="modelbay-server-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
            self._own_log = not keep_log
        else:
            self.log_path = Path(log_path)
            self._own_log = False
        self._start(port=None)

    # -- properties -------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("server not running")
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc is not None else None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return log_tail(self.log_path, lines)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
        env["MODELBAY_ADMIN_KEY"] = self.admin_key
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        return env

    # -- lifecycle --------------------------------------------------------------------
    def _argv(self, port: int) -> list[str]:
        argv = [*self.command, "--host", self.host, "--port", str(port)]
        argv += ["--data-dir", str(self.data_dir)]
        if self.db_url is not None:
            argv += ["--db", self.db_url]
        return argv + self.args

    def _start(self, port: int | None) -> None:
        attempts = 4
        for attempt in range(1, attempts + 1):
            use_port = port if (port is not None and attempt == 1) else free_port(self.host)
            argv = self._argv(use_port)
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            with open(self.log_path, "ab") as log:
                log.write(f"$ {' '.join(argv)}\n".encode())
                log.flush()
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env(),
                    start_new_session=True,  # own process group, stopped as a whole
                )
            self.proc, self.port, self.argv = proc, use_port, argv
            self._guard(proc)
            try:
                wait_http_ok(self.url + self.health_path, self.startup_timeout, process=proc)
                return
            except (TimeoutError, RuntimeError) as exc:
                stop_process_group(proc, signal.SIGTERM, self.stop_timeout)
                self.proc = None
                self._guard(None)
                text = self.log_path.read_bytes()[offset:].decode(errors="replace").lower()
                if attempt < attempts and any(e in text for e in _BIND_ERRORS):
                    continue
                tail = self.log_tail(100)
                where = "removed" if self._own_log else str(self.log_path)
                if self._own_log:
                    with contextlib.suppress(OSError):
                        self.log_path.unlink()
                raise ServerStartError(
                    f"server did not become healthy: {exc}\n"
                    f"command: {' '.join(argv)}\n"
                    f"--- log tail (log file {where}) ---\n{tail}"
                ) from exc

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM the process group, SIGKILL it after ``timeout`` (default
        ``stop_timeout``); returns the exit code. Safe to call more than once."""
        code = None
        if self.proc is not None:
            stop_process_group(self.proc, signal.SIGTERM, timeout or self.stop_timeout)
            code = self.proc.returncode
            self.proc = None
            self._guard(None)
        if self._own_log:
            with contextlib.suppress(OSError):
                self.log_path.unlink()
        return code

    def kill(self) -> int | None:
        """SIGKILL the process group at once (a crash); returns the exit code."""
        code = None
        if self.proc is not None:
            stop_process_group(self.proc, signal.SIGKILL, self.stop_timeout)
            code = self.proc.returncode
            self.proc = None
            self._guard(None)
        return code

    def restart(self) -> None:
        """Stop (if running) and start again with the same data dir, key and, if it is
        still free, the same port."""
        if self.proc is not None:
            stop_process_group(self.proc, signal.SIGTERM, self.stop_timeout)
            self.proc = None
            self._guard(None)
        self._start(port=self.port)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _guard(self, proc: subprocess.Popen[bytes] | None) -> None:
        # Safety net: kill a server nobody stopped when this object is collected or the
        # interpreter exits. The fixtures should call stop() themselves.
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if proc is not None:
            log = self.log_path if self._own_log else None
            self._finalizer = weakref.finalize(self, _abandoned, proc, log)
