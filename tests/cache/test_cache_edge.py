"""Downloads and the download cache at their edges, on a real server process: Ctrl-C and
SIGKILL in the middle of a download, partial files, caches that cannot be used, corrupt
stored blobs, progress on a terminal, identical files, and re-downloads across filesystems.

A slow link is a small TCP proxy in this module between the client and the server, which
also counts the bytes it passes back to the client: assertions are about bytes and files,
never about how long something took. The only fake is ``os.link`` failing with EXDEV (a
second filesystem cannot be made here).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import pty
import re
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.downloads import check_placed, partials, stored
from support.processes import ServerProcess
from typer.testing import CliRunner

from modelbay.cli.main import app
from modelbay.errors import DigestMismatchError, InvalidInputError
from modelbay.sdk import downloads
from modelbay.sdk.cache import Cache
from modelbay.sdk.streams import TEMP_NAME, locked_temp
from modelbay.sdk.transport import HttpTransport
from modelbay.sizes import parse_size

MiB = 1 << 20
WAIT = 60.0  # a guard against hangs, not an assertion about speed

DOWNLOAD = r"""
import json, sys
from pathlib import Path
from modelbay.sdk import downloads
from modelbay.sdk.cache import Cache
from modelbay.sdk.transport import HttpTransport

args = json.loads(sys.argv[1])
transport = HttpTransport(args["url"], args["key"])
cache = Cache.from_env() if args["cache"] else None
downloads.download(transport, args["files"], Path(args["root"]), cache=cache,
                   progress=args["progress"])
print("done", flush=True)
"""


class Proxy:
    """A TCP proxy on 127.0.0.1 in front of ``port``. It counts the bytes it passes back to
    clients (:attr:`sent`); with ``delay``, it passes them ``chunk`` bytes at a time with
    ``delay`` seconds between chunks, on each connection (a slow link)."""

    def __init__(self, port: int, *, chunk: int = 64 << 10, delay: float = 0.0) -> None:
        self.upstream = port
        self.chunk = chunk
        self.delay = delay
        self.sent = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, down: bool) -> None:
        try:
            while data := src.recv(self.chunk if down else 1 << 16):
                dst.sendall(data)
                if down:
                    with self._lock:
                        self.sent += len(data)
                    if self.delay:
                        time.sleep(self.delay)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            # Reset, not closed: a connection the proxy stopped reading would otherwise stay
            # open on the server's side, mid-response, and hold up its shutdown.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()


@pytest.fixture
def proxies(server: ServerProcess) -> Iterator[Callable[..., Proxy]]:
    made: list[Proxy] = []

    def make(**kwargs: Any) -> Proxy:
        made.append(Proxy(server.port, **kwargs))
        return made[-1]

    yield make
    for proxy in made:
        proxy.close()


@pytest.fixture(autouse=True)
def _source_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "src").mkdir()
    monkeypatch.setenv("MODELBAY_TEST_SRC", str(tmp_path / "src"))
    monkeypatch.setenv("MODELBAY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MODELBAY_CACHE_MAX_SIZE", raising=False)


def start_download(
    url: str,
    key: str,
    files: list[dict[str, Any]],
    root: Path,
    cache_dir: Path,
    *,
    cache: bool = True,
    progress: bool = False,
    **popen: Any,
) -> subprocess.Popen[bytes]:
    args = {"url": url, "key": key, "files": files, "root": str(root), "cache": cache}
    args["progress"] = progress
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
    env["MODELBAY_CACHE_DIR"] = str(cache_dir)
    env.update(popen.pop("env", {}))
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-c", DOWNLOAD, json.dumps(args)], env=env, **popen)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the download exited first: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the download never got that far")
        time.sleep(0.01)


def filling(directory: Path) -> bool:
    """Whether a partial file with some bytes in it is in ``directory``."""
    for path in partials(directory):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size > 0:
                return True
    return False


# -- 1. Ctrl-C ---------------------------------------------------------------------------


def test_ctrl_c_stops_a_download_at_the_next_chunk(
    transport: HttpTransport, server: ServerProcess, proxies: Callable[..., Proxy], tmp_path: Path
) -> None:
    files = stored(transport, {f"f{i}.bin": os.urandom(6 * MiB) for i in range(4)})
    total = sum(f["size"] for f in files)
    # 16 KiB per 50 ms on each connection: the bound below leaves the download about 8 s
    # between the signal and its stop, a margin no loaded machine should eat.
    slow = proxies(chunk=16 << 10, delay=0.05)
    root, cache_dir = tmp_path / "out", tmp_path / "cache"
    proc = start_download(slow.url, server.admin_key, files, root, cache_dir)
    wait_for(lambda: slow.sent > MiB, proc)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=WAIT)
    assert proc.returncode != 0 and b"done" not in out
    assert b"KeyboardInterrupt" in err
    # Stopped, rather than fetching every file to the end first.
    assert slow.sent < total / 2
    assert partials(root) == [] and partials(cache_dir) == []
    check_placed(root, files, all_there=False)


# -- 2. and 3. partial files of killed downloads -------------------------------------------


def test_a_download_removes_partial_files_a_killed_one_left_but_not_live_ones(
    transport: HttpTransport, server: ServerProcess, proxies: Callable[..., Proxy], tmp_path: Path
) -> None:
    files = stored(transport, {"big.bin": os.urandom(8 * MiB), "other.bin": os.urandom(3 * MiB)})
    slow = proxies(chunk=16 << 10, delay=0.01)
    root = tmp_path / "out"
    (tmp_path / "a-file").write_text("not a directory")
    no_cache = tmp_path / "a-file" / "cache"  # unusable: the download writes into root
    proc = start_download(slow.url, server.admin_key, files, root, no_cache)
    wait_for(lambda: filling(root), proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=WAIT)
    dead = partials(root)
    assert dead and all(
        TEMP_NAME.fullmatch(p.name)["name"] in {"big.bin", "other.bin"} for p in dead
    )
    with locked_temp(root / "big.bin") as live:
        live.write_bytes(b"a download in progress in another process")
        downloads.download(transport, files, root, cache=None, progress=False)
        assert partials(root) == [live]
    assert partials(root) == []
    check_placed(root, files)


def test_partial_files_in_the_cache_are_reported_and_pruned_when_dead(
    transport: HttpTransport, server: ServerProcess, proxies: Callable[..., Proxy], tmp_path: Path
) -> None:
    files = stored(transport, {"big.bin": os.urandom(8 * MiB)})
    digest = files[0]["sha256"]
    slow = proxies(chunk=16 << 10, delay=0.01)
    cache_dir = tmp_path / "cache"
    proc = start_download(slow.url, server.admin_key, files, tmp_path / "out", cache_dir)
    wait_for(lambda: filling(cache_dir / "tmp"), proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=WAIT)
    (dead,) = partials(cache_dir / "tmp")
    # One temporary name, not the cache's wrapped in the writer's.
    assert re.fullmatch(rf"\.{digest}\.[0-9a-f]{{12}}\.part", dead.name)
    runner = CliRunner()
    with locked_temp(cache_dir / "tmp" / digest) as live:
        live.write_bytes(b"x" * 100)
        shown = runner.invoke(app, ["cache", "info", "--json"])
        assert shown.exit_code == 0, shown.output
        info = json.loads(shown.output)
        assert info["partial_files"] == 2 and info["partial_dead_files"] == 1
        assert info["partial_dead_bytes"] == dead.stat().st_size > 0
        pruned = runner.invoke(app, ["cache", "prune", "--max-size", "0", "--json"])
        assert pruned.exit_code == 0, pruned.output
        assert json.loads(pruned.output)["removed"] == 1
        assert partials(cache_dir / "tmp") == [live]  # a live writer's file stays
    assert partials(cache_dir / "tmp") == []


def test_the_bound_sweeps_dead_partial_files_too(transport: HttpTransport, tmp_path: Path) -> None:
    files = stored(transport, {"a.bin": os.urandom(2 * MiB)})
    cache = Cache(tmp_path / "cache")
    cache.open()
    dead = cache.tmp / f".{files[0]['sha256']}.0123456789ab.part"
    dead.write_bytes(b"left by a killed download")
    downloads.download(transport, files, tmp_path / "out", cache=cache, progress=False)
    assert not dead.exists()


# -- 4. a cache that cannot be used ------------------------------------------------------


def unusable_dirs(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "a-file").write_text("x")
    dirs = {"under-a-file": tmp_path / "a-file" / "cache"}
    if Path("/proc/self").is_dir():
        dirs["proc"] = Path("/proc/x")
    if os.geteuid() != 0:  # root ignores the read-only bit
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o555)
        dirs["read-only"] = tmp_path / "ro" / "cache"
        (tmp_path / "ro-root").mkdir(0o555)
        dirs["read-only-root"] = tmp_path / "ro-root"
    return dirs


def test_a_cache_that_cannot_be_used_is_skipped_with_one_warning(
    transport: HttpTransport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = stored(transport, {"big.bin": os.urandom(2 * MiB), "small.txt": b"tiny"})
    for kind, directory in unusable_dirs(tmp_path).items():
        monkeypatch.setenv("MODELBAY_CACHE_DIR", str(directory))
        root = tmp_path / f"out-{kind}"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            downloads.download(transport, files, root, cache=Cache.from_env(), progress=False)
        assert len(caught) == 1, (kind, [str(w.message) for w in caught])
        assert "MODELBAY_CACHE_DIR" in str(caught[0].message)
        assert str(directory) in str(caught[0].message)
        check_placed(root, files)


def test_a_garbage_index_is_set_aside_and_rebuilt(transport: HttpTransport, tmp_path: Path) -> None:
    files = stored(transport, {"big.bin": os.urandom(2 * MiB)})
    cache_dir = tmp_path / "cache"
    with Cache(cache_dir) as cache:
        downloads.download(transport, files, tmp_path / "first", cache=cache, progress=False)
    garbage = b"this is not a database " * 100
    (cache_dir / "index.db").write_bytes(garbage)
    for suffix in ("-wal", "-shm"):
        (cache_dir / f"index.db{suffix}").unlink(missing_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with Cache(cache_dir) as cache:
            downloads.download(transport, files, tmp_path / "again", cache=cache, progress=False)
            assert cache.info()["entries"] == 1  # cached again, in a new index
    assert (cache_dir / "index.db.corrupt").read_bytes() == garbage
    check_placed(tmp_path / "again", files)
    # The CLI repairs it too, rather than failing with SQLite's words.
    (cache_dir / "index.db").write_bytes(garbage)
    runner = CliRunner()
    for command in (["cache", "prune", "--json"], ["cache", "info", "--json"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output


def test_cache_commands_say_which_cache_cannot_be_used(tmp_path: Path) -> None:
    runner = CliRunner()
    for directory in unusable_dirs(tmp_path).values():
        for command in (["cache", "info"], ["cache", "prune"]):
            result = runner.invoke(app, command, env={"MODELBAY_CACHE_DIR": str(directory)})
            assert result.exit_code == 1, (command, result.output)
            assert "MODELBAY_CACHE_DIR" in result.output and str(directory) in result.output
            assert not isinstance(result.exception, Exception) or isinstance(
                result.exception, SystemExit
            )


# -- 5. corrupt stored blobs -------------------------------------------------------------


@pytest.mark.parametrize("size", [3 * MiB, 1000], ids=["alone", "bundled"])
def test_a_corrupt_stored_blob_is_reported_by_the_file_it_belongs_to(
    transport: HttpTransport, server: ServerProcess, tmp_path: Path, size: int
) -> None:
    files = stored(transport, {"models/big.bin": os.urandom(size)})
    digest = files[0]["sha256"]
    blob = server.data_dir / "blobs" / digest[:2] / digest
    blob.chmod(0o644)
    blob.write_bytes(os.urandom(size))  # the same size: only the digest tells
    with Cache(tmp_path / "cache") as cache, pytest.raises(DigestMismatchError) as caught:
        downloads.download(transport, files, tmp_path / "out", cache=cache, progress=False)
    message = caught.value.message
    assert "models/big.bin" in message and "stored copy" in message
    assert ".part" not in message and digest[:12] in message
    assert not (tmp_path / "out" / "models" / "big.bin").exists()
    assert partials(tmp_path) == []


# -- 6. progress on a terminal -----------------------------------------------------------


def test_a_download_longer_than_a_moment_shows_progress_on_a_terminal(
    transport: HttpTransport, server: ServerProcess, proxies: Callable[..., Proxy], tmp_path: Path
) -> None:
    files = stored(transport, {"model.bin": os.urandom(3 * MiB)})  # well under 32 MiB
    slow = proxies(chunk=16 << 10, delay=0.01)
    master, slave = pty.openpty()
    env = {"TERM": "xterm-256color", "COLUMNS": "100"}
    env.update({k: "" for k in ("NO_COLOR",)})
    proc = start_download(
        slow.url,
        server.admin_key,
        files,
        tmp_path / "out",
        tmp_path / "cache",
        progress=True,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    seen = b""
    with contextlib.suppress(OSError):  # EIO once the child has closed its end
        while chunk := os.read(master, 65536):
            seen += chunk
    os.close(master)
    out, _ = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0 and b"done" in out
    assert b"downloading" in seen
    assert b"downloading" not in out  # the bar is drawn on stderr, never on stdout


# -- 7. identical files ------------------------------------------------------------------


@pytest.mark.parametrize("with_cache", [True, False], ids=["cache", "no-cache"])
def test_identical_large_files_are_fetched_once(
    transport: HttpTransport,
    server: ServerProcess,
    proxies: Callable[..., Proxy],
    tmp_path: Path,
    with_cache: bool,
) -> None:
    data = os.urandom(4 * MiB)
    files = stored(transport, {"a.bin": data, "copy/b.bin": data, "c.bin": data})
    counting = proxies()
    through = HttpTransport(counting.url, server.admin_key)
    try:
        cache = Cache(tmp_path / "cache") if with_cache else None
        downloads.download(through, files, tmp_path / "out", cache=cache, progress=False)
    finally:
        through.close()
    assert counting.sent < 1.5 * len(data)
    check_placed(tmp_path / "out", files)
    if not with_cache:  # private copies, not links to one another
        assert len({(tmp_path / "out" / f["path"]).stat().st_ino for f in files}) == 3


# -- 8. re-downloading with the cache on another filesystem ------------------------------


def test_correct_files_are_kept_when_the_cache_is_on_another_filesystem(
    transport: HttpTransport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = stored(transport, {"big.bin": os.urandom(3 * MiB), "small.txt": b"small bytes"})

    def no_link(src: object, dst: object, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    root = tmp_path / "out"

    def identities() -> dict[str, tuple[int, int]]:
        return {
            f["path"]: ((st := (root / f["path"]).stat()).st_ino, st.st_mtime_ns) for f in files
        }

    with Cache(tmp_path / "cache") as cache:
        downloads.download(transport, files, root, cache=cache, progress=False)
        first = identities()
        downloads.download(transport, files, root, cache=cache, progress=False)
        assert identities() == first  # nothing rewritten
        # A file edited in place (same size) is put right; the others are still kept.
        with open(root / "small.txt", "r+b") as f:
            f.write(b"SMALL")
        downloads.download(transport, files, root, cache=cache, progress=False)
        assert identities()["big.bin"] == first["big.bin"]
    check_placed(root, files)


# -- 9. sizes ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["١٠GB", "٣", "0.4", "0.5B", "1.1KiB", "1.0000001KB"])
def test_parse_size_refuses_non_ascii_digits_and_fractional_bytes(text: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid size"):
        parse_size(text)


def test_an_invalid_bound_names_where_it_came_from(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="MODELBAY_CACHE_MAX_SIZE"):
        Cache.from_env({"MODELBAY_CACHE_MAX_SIZE": "abc"})
    assert parse_size("0.5KB") == 500 and parse_size("1.5GB") == 1_500_000_000
    with Cache(tmp_path / "cache", max_bytes=None) as cache:
        data = b"kept"
        digest = hashlib.sha256(data).hexdigest()
        cache.insert(digest, len(data), lambda tmp: tmp.write_bytes(data))
    result = CliRunner().invoke(
        app,
        ["cache", "prune", "--max-size", "0.4"],
        env={"MODELBAY_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert result.exit_code == 2 and "--max-size" in result.output
    with Cache(tmp_path / "cache", max_bytes=None) as cache:
        assert cache.info()["entries"] == 1  # not emptied


# -- 6. tmp/ swept while bundles are staged; a damaged index; which setting to name -------


def small_blobs(count: int, tag: str) -> list[tuple[str, bytes]]:
    out = []
    for i in range(count):
        data = f"{tag}-{i}".encode()
        out.append((hashlib.sha256(data).hexdigest(), data))
    return out


def test_insert_many_survives_a_concurrent_sweep_of_dead_temps(tmp_path: Path) -> None:
    # Every download ends with enforce(), which sweeps tmp/ for dead temporary files, and
    # so does `cache prune` in another process: a bundle's staged blobs must survive it.
    from modelbay.sdk.streams import remove_dead_temps

    stop = threading.Event()
    with Cache(tmp_path / "cache", max_bytes=None) as cache:
        cache.open()

        def sweep() -> None:
            while not stop.is_set():
                remove_dead_temps(cache.tmp)

        sweeper = threading.Thread(target=sweep, daemon=True)
        sweeper.start()
        failures: list[BaseException] = []
        try:
            for round_ in range(20):
                try:
                    cache.insert_many(small_blobs(200, f"round{round_}"))
                except OSError as exc:
                    failures.append(exc)
        finally:
            stop.set()
            sweeper.join(WAIT)
        assert failures == []
        assert cache.info()["entries"] == 20 * 200
        assert cache.partial_files()["files"] == 0  # nothing staged is left behind


def test_prune_removes_stale_staged_blobs_and_blob_dirs_a_failed_repair_left(
    tmp_path: Path,
) -> None:
    with Cache(tmp_path / "cache", max_bytes=None) as cache:
        cache.open()
        digest = "ab" * 32
        stale = cache.tmp / f".{digest}.0123456789ab.staged"
        fresh = cache.tmp / f".{digest}.ba9876543210.staged"
        stale.write_bytes(b"old")
        fresh.write_bytes(b"new")
        old = time.time() - 2 * 24 * 3600
        os.utime(stale, (old, old))
        doomed = cache.tmp / ".blobs-0123456789ab" / "ab"
        doomed.mkdir(parents=True)
        (doomed / digest).write_bytes(b"x")
        cache.enforce()
        assert fresh.exists() and stale.exists()  # not dead temporary files
        cache.prune()
        assert not stale.exists() and fresh.exists()  # only once untouched long enough
        assert not (cache.tmp / ".blobs-0123456789ab").exists()


def damage_pages(index: Path) -> None:
    """Overwrite every page but the first (the header and schema) with garbage: SQLite still
    opens the file, and reports the damage only when a query reads a table."""
    data = bytearray(index.read_bytes())
    assert len(data) > 4096 * 3
    data[4096:] = b"\xa5" * (len(data) - 4096)
    index.write_bytes(bytes(data))


def filled_cache(cache_dir: Path) -> list[tuple[str, bytes]]:
    blobs = small_blobs(2000, "page")
    with Cache(cache_dir, max_bytes=None) as cache:
        cache.insert_many(blobs)  # checkpointed on close: the pages are in index.db
    return blobs


def test_page_damage_is_repaired_when_the_cache_is_opened(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    blobs = filled_cache(cache_dir)
    damage_pages(cache_dir / "index.db")
    with Cache(cache_dir, max_bytes=None) as cache:
        cache.open()  # finds the damage and repairs it, rather than let a query fail later
        assert cache.lookup(blobs[0][0], len(blobs[0][1])) is None
        assert cache.info()["entries"] == 0
    assert (cache_dir / "index.db.corrupt").exists()
    assert not any((cache_dir / "blobs").glob("*/*"))


def test_page_damage_a_query_meets_is_repaired_and_reported_as_oserror(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    blobs = filled_cache(cache_dir)
    damage_pages(cache_dir / "index.db")
    digest, data = blobs[0]
    with Cache(cache_dir, max_bytes=None) as cache:  # open() not called: a query meets it
        with pytest.raises(OSError, match="was damaged") as caught:
            cache.lookup(digest, len(data))
        assert "index.db.corrupt" in str(caught.value)
        assert cache.lookup(digest, len(data)) is None  # the new index works
        cache.insert_many([(digest, data)])
        assert cache.lookup(digest, len(data)) is not None
    assert (cache_dir / "index.db.corrupt").exists()


@pytest.mark.skipif(not Path("/proc/locks").is_file(), reason="needs /proc/locks (Linux)")
def test_a_repair_that_finds_the_index_locked_keeps_it_and_every_blob(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A process sees a damaged index and waits for index.lock; meanwhile another repairs
    # it and fills it again, and a third holds it locked. The first must not take "database
    # is locked" for damage: that would set aside a sound index and delete every blob.
    import fcntl

    from modelbay.sdk import cache_index

    monkeypatch.setattr(cache_index, "BUSY_TIMEOUT", 0.2)  # fail fast on the held lock
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    (cache_dir / "index.db").write_bytes(b"this is not a database " * 100)
    lock_file = open(cache_dir / "index.lock", "ab")  # noqa: SIM115
    fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
    victim = Cache(cache_dir, max_bytes=None)
    outcome: list[BaseException | Path | None] = []

    def look() -> None:
        try:
            outcome.append(victim.lookup("cd" * 32, 1))
        except BaseException as exc:
            outcome.append(exc)

    waiting = threading.Event()

    class SeenWaiting(cache_index.FileLock):  # type: ignore[misc]
        def acquire(self, *args: Any, **kwargs: Any) -> Any:
            waiting.set()
            return super().acquire(*args, **kwargs)

    monkeypatch.setattr(cache_index, "FileLock", SeenWaiting)
    waiter = threading.Thread(target=look, daemon=True)
    waiter.start()
    assert waiting.wait(WAIT), outcome  # the victim waits for index.lock, held here
    # Another process repaired it meanwhile, and filled it again.
    (cache_dir / "index.db").unlink()
    blobs = small_blobs(50, "kept")
    with Cache(cache_dir, max_bytes=None) as other:
        other.insert_many(blobs)
    holder = sqlite3.connect(cache_dir / "index.db", isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("UPDATE entries SET last_used = last_used")
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
        waiter.join(WAIT)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        lock_file.close()
        victim.close()
    (result,) = outcome
    assert isinstance(result, OSError) and "locked" in str(result), result
    assert not (cache_dir / "index.db.corrupt").exists()
    with Cache(cache_dir, max_bytes=None) as cache:
        assert cache.info()["entries"] == 50
        assert all(cache.lookup(d, len(data)) is not None for d, data in blobs)


def test_errors_name_modelbay_cache_dir_only_when_it_chose_the_cache(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    bad = tmp_path / "a-file" / "cache"
    for cache, named in [
        (Cache(bad), False),
        (Cache.from_env({"XDG_CACHE_HOME": str(tmp_path / "a-file")}), False),
        (Cache.from_env({"MODELBAY_CACHE_DIR": str(bad)}), True),
    ]:
        with pytest.raises(OSError) as caught:
            cache.open()
        assert str(cache.root) in str(caught.value)
        assert ("MODELBAY_CACHE_DIR" in str(caught.value)) is named, str(caught.value)
