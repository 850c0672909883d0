"""What a run records about the machine: facts at ``init`` (host, Python, platform, git,
command line) and, optionally, periodic ``system/*`` metrics (CPU, memory, disk, GPU).

Metrics come from ``psutil``; GPUs from ``nvidia-smi`` when it is on the PATH. Whatever cannot be read is left out, never an error.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any


def facts_in_background() -> Callable[[], dict[str, Any]]:
    """Start gathering :func:`system_facts` on a thread; the returned callable waits for
    them. ``init`` meanwhile imports and connects its transport, so the git subprocesses
    cost it no time of their own."""
    done: list[dict[str, Any]] = []
    thread = threading.Thread(
        target=lambda: done.append(system_facts()), name="modelbay-facts", daemon=True
    )
    thread.start()

    def wait() -> dict[str, Any]:
        thread.join()
        return done[0] if done else system_facts()  # the thread failed: say why here

    return wait


def system_facts() -> dict[str, Any]:
    """Host, Python, platform, command line and git state, recorded at ``init``."""
    facts: dict[str, Any] = {
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "argv": list(sys.argv),
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        "cpu_count": os.cpu_count(),
    }
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=2, check=False
        )
        if commit.returncode == 0:
            facts["git_commit"] = commit.stdout.strip()
            status = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=2,
                check=False,
            )
            facts["git_dirty"] = bool(status.stdout.strip())
            remote = subprocess.run(
                ["git", "config", "--get", "remote.origin.url"],
                capture_output=True,
                text=True,
                timeout=2,
                check=False,
            )
            if remote.returncode == 0 and remote.stdout.strip():
                facts["git_remote"] = remote.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    gpus = _gpu_query(("name", "memory.total"))
    if gpus:
        facts["gpus"] = [{"name": g[0], "memory_total_mb": _number(g[1])} for g in gpus]
    return facts


class SystemSampler:
    """Reads one sample of ``system/*`` metrics; CPU percentages are over the time since
    the previous sample."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._process = psutil.Process()
        self._gpu = shutil.which("nvidia-smi") is not None
        self._process.cpu_percent(None)
        psutil.cpu_percent(None)

    def sample(self) -> dict[str, float]:
        ps, proc = self._psutil, self._process
        mem = ps.virtual_memory()
        out = {
            "system/cpu_percent": float(ps.cpu_percent(None)),
            "system/memory_percent": float(mem.percent),
            "system/memory_available_mb": round(mem.available / 2**20, 1),
            "system/proc_rss_mb": round(proc.memory_info().rss / 2**20, 1),
            "system/proc_cpu_percent": float(proc.cpu_percent(None)),
            "system/proc_threads": float(proc.num_threads()),
        }
        with contextlib.suppress(OSError):
            out["system/disk_percent"] = float(ps.disk_usage(os.getcwd()).percent)
        if self._gpu:
            self._sample_gpus(out)
        return out

    def _sample_gpus(self, out: dict[str, float]) -> None:
        fields = ("utilization.gpu", "memory.used", "memory.total", "temperature.gpu", "power.draw")
        names = (
            "utilization_percent",
            "memory_used_mb",
            "memory_total_mb",
            "temperature_c",
            "power_w",
        )
        rows = _gpu_query(fields)
        if rows is None:
            self._gpu = False  # nvidia-smi is there but does not work: stop asking
            return
        for index, row in enumerate(rows):
            for name, text in zip(names, row, strict=False):
                value = _number(text)
                if value is not None:
                    out[f"system/gpu/{index}/{name}"] = value


def _gpu_query(fields: tuple[str, ...]) -> list[list[str]] | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        done = subprocess.run(
            ["nvidia-smi", f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return [[c.strip() for c in line.split(",")] for line in done.stdout.splitlines() if line]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


class SystemMonitor:
    """A daemon thread that calls ``emit(sample)`` every ``interval`` seconds until stopped."""

    def __init__(self, emit: Callable[[dict[str, float]], None], interval: float) -> None:
        self.emit = emit
        self.interval = interval
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="modelbay-system", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        try:
            sampler = SystemSampler()
        except Exception:  # a broken psutil must not break the run
            return
        while not self._stop.wait(self.interval):
            try:
                sample = sampler.sample()
            except Exception:
                continue
            if sample:
                self.emit(sample)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
