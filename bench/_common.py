"""Shared helpers for the side-by-side benchmarks in ``bench/``.

Each benchmark prints exactly one JSON line on stdout; everything else (progress, server
logs on failure) goes to stderr. Servers are started in their own process group and are
always stopped by that group's id, never by name, also on Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

_T0 = time.perf_counter()


def log(msg: str) -> None:
    """Progress to stderr, prefixed with seconds since the benchmark started."""
    print(f"[{time.perf_counter() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerError(RuntimeError):
    """A server did not come up (it exited, or never answered its health check)."""


class Server:
    """A server process in its own process group, stopped by group id.

    Args:
        name: a label for progress output.
        cmd: the command line.
        health_url: polled with GET until it answers 200.
        cwd: working directory (and where ``server.log`` goes).
        env: extra environment variables.
    """

    _live: dict[int, Server] = {}

    def __init__(
        self,
        name: str,
        cmd: Sequence[str],
        health_url: str,
        cwd: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.cmd = list(cmd)
        self.health_url = health_url
        self.cwd = cwd
        self.env = {**os.environ, **(env or {})}
        self.log_path = cwd / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None

    def start(self, timeout: float = 120.0) -> Server:
        log(f"starting {self.name}: {' '.join(self.cmd)}")
        t0 = time.perf_counter()
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                self.cmd,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: we stop the whole tree by pgid
            )
        Server._live[self.proc.pid] = self
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                code = self.proc.poll()
                if code is not None:
                    raise ServerError(f"{self.name} exited with {code}:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.health_url).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise ServerError(
                        f"{self.name} not healthy after {timeout}s:\n{self.log_tail()}"
                    )
                time.sleep(0.2)
        self.startup_s = time.perf_counter() - t0
        log(f"{self.name} healthy after {self.startup_s:.1f}s (pid {self.proc.pid})")
        self.settle()
        return self

    def group_cpu_seconds(self) -> float:
        """CPU time (user+system) used so far by every live process in the server's group."""
        if self.proc is None:
            return 0.0
        # utime and stime are fields 11 and 12 after the command name.
        total = sum(int(f[11]) + int(f[12]) for _, f in group_stats(self.proc.pid))
        return total / os.sysconf("SC_CLK_TCK")

    def settle(self, max_wait: float = 10.0, window: float = 0.5, idle: float = 0.05) -> float:
        """Wait until the server's process group is quiet (helper processes done starting).

        A server is "healthy" as soon as one worker answers; siblings and background
        consumers may still be importing, and would steal CPU from the first timed calls.
        Returns the seconds waited.
        """
        t0 = time.monotonic()
        last = self.group_cpu_seconds()
        while time.monotonic() - t0 < max_wait:
            time.sleep(window)
            now = self.group_cpu_seconds()
            if (now - last) / window < idle:
                break
            last = now
        waited = time.monotonic() - t0
        log(f"{self.name} settled after {waited:.1f}s")
        return waited

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left after a grace period."""
        proc = self.proc
        if proc is None:
            return
        Server._live.pop(proc.pid, None)
        pgid = proc.pid  # start_new_session=True makes the child its own group leader
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        # Workers of a multi-process server may outlive the leader: kill the group for sure.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        self.proc = None
        log(f"stopped {self.name}")

    @classmethod
    def stop_all(cls) -> None:
        for server in list(cls._live.values()):
            server.stop()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt so ``finally`` blocks stop the servers."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(sig) is not signal.SIG_IGN:  # respect nohup
                signal.signal(sig, handler)


@contextlib.contextmanager
def running(server: Server, timeout: float = 120.0) -> Iterator[Server]:
    """Start ``server`` and stop it on the way out, whatever happens in between."""
    try:
        server.start(timeout=timeout)
        yield server
    except Exception:
        log(f"{server.name} log tail:\n{server.log_tail()}")
        raise
    finally:
        server.stop()


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS does not say)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Time with the harness's own objects (results, references, clients, MLflow's modules)
    out of the collector's sight: collected once and frozen (``gc.freeze``) on entry,
    unfrozen on exit. The collector still runs on what the timed calls allocate, so their
    own garbage counts; a full collection over the whole harness does not. Without it, one
    such collection (30 ms in a small probe, up to ~200 ms in a full ``--roles`` run) fell
    into a random 6 of 10 listings of 10,000 versions, and the medians of two users' listings
    compared 0.7x to 1.8x on the same code."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def time_calls(
    fn: Callable[[int], object], n: int, budget_s: float | None = None, min_calls: int = 50
) -> list[float]:
    """Call ``fn(i)`` for i in range(n); return each call's wall time in milliseconds.

    With ``budget_s``, stop early once that many seconds have gone by and at least
    ``min_calls`` calls were made, so one slow server cannot blow the run's time budget;
    the caller sees how many calls were made from the length of the result.
    """
    out: list[float] = []
    clock = time.perf_counter
    start = clock()
    for i in range(n):
        t0 = clock()
        fn(i)
        t1 = clock()
        out.append((t1 - t0) * 1000.0)
        if budget_s is not None and t1 - start > budget_s and len(out) >= min_calls:
            break
    return out


def summary(ms: Sequence[float]) -> dict[str, float | int]:
    """Median, mean, p95, min and count of a list of millisecond timings."""
    s = sorted(ms)
    return {
        "median": round(statistics.median(s), 3),
        "mean": round(statistics.fmean(s), 3),
        "p95": round(s[min(len(s) - 1, int(0.95 * len(s)))], 3),
        "min": round(s[0], 3),
        "n": len(s),
    }


def ratio(reference: float | None, ours: float | None) -> float | None:
    """reference / ours (how many times faster we are), or None when either is missing."""
    if reference is None or ours is None or ours <= 0:
        return None
    return round(reference / ours, 2)


def compile_modelbay() -> None:
    """Byte-compile modelbay's sources, as pip does for an installed package (an editable
    install under PYTHONDONTWRITEBYTECODE=1 would compile them again in every client process,
    ~25 ms that no installed competitor pays)."""
    import compileall

    import modelbay

    compileall.compile_dir(Path(modelbay.__file__).parent, quiet=1)


def group_stats(pgid: int) -> list[tuple[int, list[str]]]:
    """(pid, /proc/<pid>/stat fields after the command name) of every live process whose
    process group is ``pgid`` (a server and its children)."""
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # the process group
            out.append((int(entry.name), fields))
    return out
