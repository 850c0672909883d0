"""``modelbay agent``: run an automation's jobs on the team's own machine.

The agent leases a job of its queue, runs *its own* command (never one sent by the server)
with the event as JSON on stdin and as ``MODELBAY_EVENT_*`` environment variables, extends
the lease while the command runs, and reports the exit code, the duration and the tail of
the output. When the agent dies, the command dies with it (Linux: the parent-death signal)
and the lease expires, so the next agent of the queue runs the job again.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from modelbay.contract import jobs as ops
from modelbay.errors import ModelbayError, NotFoundError
from modelbay.sdk.transport import Transport

#: Bytes of the command's output kept for the report.
TAIL_BYTES = 16_384
#: Characters of one ``MODELBAY_EVENT_*`` value, at most (the whole event is on stdin).
MAX_ENV_VALUE = 4096


def event_environment(lease: ops.JobLease) -> dict[str, str]:
    """``MODELBAY_EVENT_*`` variables of a leased job: its type, ids, time, and the scalar
    fields of the event's data (nested objects flattened with ``_``, e.g.
    ``MODELBAY_EVENT_AFTER_ALIAS``)."""
    event = lease.event or {}
    env = {
        "MODELBAY_EVENT_TYPE": str(event.get("type", "")),
        "MODELBAY_EVENT_TIMESTAMP": str(event.get("timestamp", "")),
        "MODELBAY_EVENT_ID": str(lease.message_id or ""),
        "MODELBAY_EVENT_DELIVERY_ID": str(lease.delivery_id or ""),
        "MODELBAY_EVENT_AUTOMATION": str(lease.automation or ""),
        "MODELBAY_EVENT_QUEUE": str(lease.queue or ""),
        "MODELBAY_EVENT_ATTEMPT": str(lease.attempt or ""),
    }

    def flatten(prefix: str, value: Any, depth: int) -> None:
        if isinstance(value, dict) and depth < 3:
            for key, inner in value.items():
                flatten(
                    f"{prefix}_{re.sub(r'[^A-Za-z0-9]+', '_', str(key)).upper()}", inner, depth + 1
                )
        elif isinstance(value, (str, int, float, bool)):
            text = json.dumps(value) if isinstance(value, bool) else str(value)
            env.setdefault(prefix, text[:MAX_ENV_VALUE])
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            env.setdefault(prefix, ",".join(value)[:MAX_ENV_VALUE])

    data = event.get("data")
    if isinstance(data, dict):
        flatten("MODELBAY_EVENT", data, 0)
    return env


@dataclass
class Outcome:
    """What one run of the command came to."""

    exit_code: int | None
    duration: float
    output_tail: str
    error: str | None = None


def _die_with_parent() -> None:
    """In the child, before exec: its own process group (so that a timeout kills the whole
    tree), and SIGKILL when the agent dies (Linux), so that no orphan runs a job that the
    next agent will run again."""
    os.setsid()
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run_command(
    command: Sequence[str],
    stdin: bytes,
    env: dict[str, str],
    timeout: float,
    stop: threading.Event | None = None,
    echo: IO[str] | None = None,
) -> Outcome:
    """Run ``command`` with ``stdin``; keep the tail of its output (stdout and stderr).

    ``stop`` set (the lease was lost) kills the command as a timeout does.
    """
    tail: collections.deque[bytes] = collections.deque()
    size = [0]
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(  # noqa: S603 - the agent's own command, given on its command line
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only setsid and prctl
        )
    except OSError as exc:
        return Outcome(None, time.monotonic() - t0, "", f"cannot start {command[0]!r}: {exc}")

    def feed() -> None:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError):
            proc.stdin.write(stdin)
        with contextlib.suppress(OSError):
            proc.stdin.close()

    def drain() -> None:
        out = proc.stdout
        assert out is not None
        for chunk in iter(lambda: os.read(out.fileno(), 65536), b""):
            tail.append(chunk)
            size[0] += len(chunk)
            while size[0] - len(tail[0]) >= TAIL_BYTES:
                size[0] -= len(tail.popleft())
            if echo is not None:
                echo.write(chunk.decode(errors="replace"))
                echo.flush()

    threads = [
        threading.Thread(target=feed, daemon=True),
        threading.Thread(target=drain, daemon=True),
    ]
    for t in threads:
        t.start()
    error = _wait(proc, t0 + timeout, stop)
    if error is not None:
        error = error.format(timeout=timeout)
    for t in threads:
        t.join(timeout=5)
    output = b"".join(tail)[-TAIL_BYTES:].decode(errors="replace")
    code = proc.returncode if error is None else None
    return Outcome(code, time.monotonic() - t0, output, error)


def _wait(
    proc: subprocess.Popen[bytes], deadline: float, stop: threading.Event | None
) -> str | None:
    """Wait for the command; kill its process group at the deadline or when ``stop`` is set."""
    while True:
        try:
            proc.wait(timeout=0.2)
            return None
        except subprocess.TimeoutExpired:
            pass
        lost = stop is not None and stop.is_set()
        if lost or time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return "the lease was lost" if lost else "timed out after {timeout:g} s: killed"


@dataclass
class Agent:
    """Leases and runs the jobs of one queue with one command."""

    transport: Transport
    queue: str
    command: Sequence[str]
    timeout: float = 3600.0
    lease_seconds: float = 60.0
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True)
    echo: IO[str] | None = None

    def lease(self) -> ops.JobLease:
        request = ops.JobLeaseRequest(
            queue=self.queue, agent=self.name[:64], lease_seconds=self.lease_seconds
        )
        return self.transport.call(ops.LEASE_JOB, request)

    def run_one(self) -> ops.JobState | None:
        """Lease one due job and run it; None when the queue has nothing to run."""
        lease = self.lease()
        if not lease.leased or lease.delivery_id is None or lease.lease_token is None:
            return None
        event = lease.event or {}
        self.log(
            f"modelbay agent: job {lease.delivery_id} ({lease.automation}, "
            f"{event.get('type')}, attempt {lease.attempt}): running {' '.join(self.command)}"
        )
        lost = threading.Event()
        done = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat,
            args=(lease.delivery_id, lease.lease_token, lost, done),
            daemon=True,
        )
        beat.start()
        try:
            outcome = run_command(
                self.command,
                json.dumps(event).encode(),
                event_environment(lease),
                self.timeout,
                stop=lost,
                echo=self.echo,
            )
        finally:
            done.set()
            beat.join()
        if lost.is_set():
            self.log(f"modelbay agent: job {lease.delivery_id}: lease lost, not reported")
            return None
        state = self.transport.call(
            ops.COMPLETE_JOB,
            ops.JobComplete(
                delivery_id=lease.delivery_id,
                lease_token=lease.lease_token,
                exit_code=outcome.exit_code,
                duration=outcome.duration,
                output_tail=outcome.output_tail[-ops.MAX_OUTPUT_TAIL :],
                error=outcome.error,
            ),
        )
        self.log(
            f"modelbay agent: job {lease.delivery_id} {state.state} "
            f"(exit {outcome.exit_code}, {outcome.duration:.1f} s)"
            + (f": {outcome.error}" if outcome.error else "")
        )
        return state

    def _heartbeat(
        self, delivery_id: int, token: str, lost: threading.Event, done: threading.Event
    ) -> None:
        """Extend the lease at a third of its length until the command ends."""
        while not done.wait(self.lease_seconds / 3):
            try:
                self.transport.call(
                    ops.EXTEND_JOB,
                    ops.JobExtend(
                        delivery_id=delivery_id, lease_token=token, lease_seconds=self.lease_seconds
                    ),
                )
            except NotFoundError:
                lost.set()  # another agent holds it now: stop running it twice
                return
            except ModelbayError as exc:  # the server is away: try again, the lease may hold
                self.log(f"modelbay agent: cannot extend the lease of job {delivery_id}: {exc}")

    def run(
        self,
        *,
        poll: float = 1.0,
        once: bool = False,
        stop: threading.Event | None = None,
        idle: Callable[[], object] | None = None,
    ) -> int:
        """Run jobs until ``stop`` is set (or, with ``once``, until the queue is empty);
        ``idle`` is called between polls (the embedded agent delivers webhooks there).
        Returns the number of jobs run."""
        stop = stop or threading.Event()
        ran = 0
        while not stop.is_set():
            if idle is not None:
                idle()
            try:
                state = self.run_one()
            except ModelbayError as exc:
                self.log(f"modelbay agent: {exc}")
                state = None
                if once:
                    raise
            if state is not None:
                ran += 1
                continue
            if once:
                break
            stop.wait(poll)
        return ran
