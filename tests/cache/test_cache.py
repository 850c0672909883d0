"""The client's download cache (``modelbay.sdk.cache``) on real files and real processes.

Concurrency tests start worker processes (``python -c WORKER``) on one cache root; they meet
at a file barrier so that the racing part starts together. The only fakes are ``os.link``
failing with EXDEV (a second filesystem cannot be made here) and a copy failing half-way
(a full disk).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelbay.cli.main import app
from modelbay.errors import DigestMismatchError, InvalidInputError
from modelbay.sdk.cache import (
    DEFAULT_MAX_BYTES,
    STALE_TMP_SECONDS,
    Cache,
)
from modelbay.sizes import format_size, parse_size

WORKER_TIMEOUT = 120.0


def blob(text: str | bytes) -> tuple[str, int, bytes]:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest(), len(data), data


def writer(data: bytes) -> Callable[[Path], None]:
    """A ``fill`` that writes ``data`` and checks its digest, as a download would."""

    def fill(tmp: Path) -> None:
        tmp.write_bytes(data)

    return fill


def add(cache: Cache, text: str | bytes) -> tuple[str, int]:
    digest, size, data = blob(text)
    cache.insert(digest, size, writer(data))
    return digest, size


def cached_digests(cache: Cache) -> set[str]:
    return {p.name for p in (cache.root / "blobs").glob("*/*")}


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Cache]:
    with Cache(tmp_path / "cache", max_bytes=None) as c:
        yield c


# -- parse_size ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("42", 42),
        ("42B", 42),
        ("10GB", 10 * 10**9),
        ("10 GB", 10 * 10**9),
        ("10gb", 10 * 10**9),
        ("1.5GB", 1_500_000_000),
        (".5KB", 500),
        ("500MiB", 500 * 2**20),
        ("1GiB", 2**30),
        ("2 TiB", 2 * 2**40),
        ("3kB", 3000),
        ("1PB", 10**15),
    ],
)
def test_parse_size_reads_decimal_and_binary_units(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "  ", "GB", "10XB", "-1GB", "1e9", "10 G B", "ten", "1,000"])
def test_parse_size_rejects_garbage_with_a_clear_error(text: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid size") as caught:
        parse_size(text)
    assert caught.value.code == "invalid_input"


@pytest.mark.parametrize(
    "text",
    ["1" + " " * 100_000 + "!", " " * 100_000 + "1 GB" + " " * 100_000],
    ids=["garbage after spaces", "padded"],
)
def test_parse_size_takes_time_linear_in_the_spaces_around_a_unit(text: str) -> None:
    """Spaces on both sides of an optional unit once made the match quadratic: 100,000 of
    them took half a minute to refuse. The bound is ~100 times what it takes."""
    start = time.monotonic()
    if text.strip().startswith("1 GB"):
        assert parse_size(text) == 10**9
    else:
        with pytest.raises(InvalidInputError, match="invalid size"):
            parse_size(text)
    assert time.monotonic() - start < 2.0


def test_format_size_uses_the_units_parse_size_reads() -> None:
    assert format_size(999) == "999 B"
    assert format_size(10 * 10**9) == "10.0 GB"
    assert format_size(999_999) == "1.0 MB"  # rounded as shown, not "1000.0 KB"
    assert format_size(None) == ""
    assert parse_size(format_size(1_500_000_000).replace(" ", "")) == 1_500_000_000


def test_from_env_reads_the_directory_and_bound(tmp_path: Path) -> None:
    env = {"MODELBAY_CACHE_DIR": str(tmp_path / "c"), "MODELBAY_CACHE_MAX_SIZE": "500MiB"}
    configured = Cache.from_env(env)
    assert configured.root == tmp_path / "c"
    assert configured.max_bytes == 500 * 2**20
    default = Cache.from_env({"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert default.root == tmp_path / "xdg" / "modelbay"
    assert default.max_bytes == DEFAULT_MAX_BYTES == 20 * 10**9
    assert Cache.from_env({}).root == Path.home() / ".cache" / "modelbay"
    with pytest.raises(InvalidInputError, match="invalid size"):
        Cache.from_env({"MODELBAY_CACHE_MAX_SIZE": "lots"})
    with pytest.raises(InvalidInputError):
        Cache(tmp_path, max_bytes=-1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("64MiB", 64 << 20), (str(5 << 20), 5 << 20), ("5GiB", 5 << 30), ("", None)],
)
def test_the_upload_part_size_is_read_as_a_size(text: str, expected: int | None) -> None:
    from modelbay.settings import Settings

    env = {"MODELBAY_DIR": "/nonexistent", "MODELBAY_UPLOAD_PART_SIZE": text}
    assert Settings.from_env(env).upload_part_size == expected


@pytest.mark.parametrize("text", ["4MiB", "6GiB", "lots", "-64MiB", "٦٤MiB", "64.5"])
def test_an_upload_part_size_outside_s3s_limits_or_garbled_is_refused(text: str) -> None:
    from modelbay.settings import Settings

    with pytest.raises(InvalidInputError, match="MODELBAY_UPLOAD_PART_SIZE"):
        Settings.from_env({"MODELBAY_DIR": "/nonexistent", "MODELBAY_UPLOAD_PART_SIZE": text})


# -- insert, lookup, materialize -------------------------------------------------------


def test_insert_then_lookup_and_materialize_as_a_hard_link(cache: Cache, tmp_path: Path) -> None:
    digest, size, data = blob("weights " * 1000)
    assert cache.lookup(digest, size) is None
    path = cache.insert(digest, size, writer(data))
    assert path == cache.root / "blobs" / digest[:2] / digest
    assert cache.lookup(digest, size) == path
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert list((cache.root / "tmp").iterdir()) == []

    dest = tmp_path / "out" / "sub" / "model.bin"
    assert cache.materialize(digest, size, dest) is True
    assert dest.read_bytes() == data
    assert dest.stat().st_ino == path.stat().st_ino
    assert dest.stat().st_nlink == 2
    # Already a link to the entry: nothing is rewritten.
    assert cache.materialize(digest, size, dest) is True
    assert dest.stat().st_nlink == 2
    assert [p.name for p in dest.parent.iterdir()] == ["model.bin"]
    assert cache.info() == {
        "root": str(cache.root),
        "entries": 1,
        "bytes": size,
        "max_bytes": None,
    }


def test_materialize_replaces_an_existing_file(cache: Cache, tmp_path: Path) -> None:
    digest, size = add(cache, "new bytes")
    dest = tmp_path / "model.bin"
    dest.write_bytes(b"old bytes, longer than the new ones")
    assert cache.materialize(digest, size, dest)
    assert dest.read_bytes() == b"new bytes"


def test_materialize_of_an_uncached_blob_changes_nothing(cache: Cache, tmp_path: Path) -> None:
    digest, size, _ = blob("never cached")
    dest = tmp_path / "out" / "model.bin"
    assert cache.materialize(digest, size, dest) is False
    assert not dest.exists()
    with pytest.raises(InvalidInputError):
        cache.lookup("../../etc/passwd", 1)


def test_insert_of_a_cached_blob_does_not_fill(cache: Cache) -> None:
    digest, size = add(cache, "once")

    def fill(tmp: Path) -> None:
        raise AssertionError("fill called for a cached blob")

    assert cache.insert(digest, size, fill) == cache.lookup(digest, size)


def test_failed_fill_leaves_nothing(cache: Cache) -> None:
    digest, size, data = blob("interrupted")

    def fill(tmp: Path) -> None:
        tmp.write_bytes(data[:3])
        raise ConnectionError("dropped")

    with pytest.raises(ConnectionError):
        cache.insert(digest, size, fill)
    with pytest.raises(DigestMismatchError, match="expected 11 bytes"):
        cache.insert(digest, size, writer(data + b"extra"))
    with pytest.raises(DigestMismatchError, match="wrote nothing"):
        cache.insert(digest, size, lambda tmp: None)
    assert cache.lookup(digest, size) is None
    assert list((cache.root / "tmp").iterdir()) == []
    assert cached_digests(cache) == set()


def test_other_filesystem_gets_a_writable_copy(
    cache: Cache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest, size, data = blob("across devices")
    path = cache.insert(digest, size, writer(data))

    def no_link(src: object, dst: object, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    dest = tmp_path / "model.bin"
    assert cache.materialize(digest, size, dest)
    assert dest.read_bytes() == data
    assert dest.stat().st_ino != path.stat().st_ino
    assert dest.stat().st_mode & stat.S_IWUSR
    dest.write_bytes(b"edited")  # a private copy: the cache is untouched
    assert cache.lookup(digest, size) == path
    assert path.read_bytes() == data


def test_a_copy_failing_half_way_leaves_the_old_destination(
    cache: Cache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest, size = add(cache, "a large file " * 100)

    def no_link(src: object, dst: object, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    def disk_full(src: Path, dst: Path) -> None:
        Path(dst).write_bytes(b"a large")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "link", no_link)
    monkeypatch.setattr(shutil, "copyfile", disk_full)
    dest = tmp_path / "model.bin"
    dest.write_bytes(b"previous download")
    with pytest.raises(OSError, match="No space"):
        cache.materialize(digest, size, dest)
    assert dest.read_bytes() == b"previous download"
    assert [p.name for p in tmp_path.iterdir() if p.name != "cache"] == ["model.bin"]


def test_materialize_from_many_threads(cache: Cache, tmp_path: Path) -> None:
    blobs = [blob(f"file {i}") for i in range(40)]
    for digest, size, data in blobs[::2]:
        cache.insert(digest, size, writer(data))

    def place(item: tuple[int, tuple[str, int, bytes]]) -> bool:
        i, (digest, size, data) = item
        dest = tmp_path / "out" / f"{i}.bin"
        if not cache.materialize(digest, size, dest, touch=False):
            cache.insert(digest, size, writer(data))
            assert cache.materialize(digest, size, dest, touch=False)
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        hits = list(pool.map(place, enumerate(blobs)))
    cache.touch_many(d for d, _, _ in blobs)
    assert hits == [i % 2 == 0 for i in range(40)]
    for i, (_, _, data) in enumerate(blobs):
        assert (tmp_path / "out" / f"{i}.bin").read_bytes() == data
    assert cache.info()["entries"] == 40


# -- tampering -------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores the read-only bit")
def test_writing_to_a_linked_download_is_refused(cache: Cache, tmp_path: Path) -> None:
    digest, size = add(cache, "precious")
    dest = tmp_path / "model.bin"
    cache.materialize(digest, size, dest)
    with pytest.raises(PermissionError):
        dest.write_bytes(b"oops")
    assert cache.lookup(digest, size) is not None


def test_an_edited_entry_is_evicted_and_the_edit_kept(cache: Cache, tmp_path: Path) -> None:
    digest, size, data = blob("original bytes")
    path = cache.insert(digest, size, writer(data))
    dest = tmp_path / "model.bin"
    cache.materialize(digest, size, dest)
    os.chmod(dest, 0o644)
    with open(dest, "ab") as f:
        f.write(b" and an edit")
    assert cache.lookup(digest, size) is None
    assert not path.exists()
    assert cache.info()["entries"] == 0
    assert dest.read_bytes() == b"original bytes and an edit"
    # The next download fetches afresh rather than hand out the edited bytes.
    assert cache.materialize(digest, size, tmp_path / "again.bin") is False


def test_a_same_size_edit_is_seen_by_its_mtime(cache: Cache) -> None:
    digest, size, data = blob("0123456789")
    path = cache.insert(digest, size, writer(data))
    os.chmod(path, 0o644)
    path.write_bytes(b"9876543210")
    before = path.stat().st_mtime_ns
    os.utime(path, ns=(before, before + 1_000_000_000))  # whatever the clock's granularity
    assert cache.lookup(digest, size) is None
    assert cached_digests(cache) == set()


def test_a_replaced_or_lost_blob_is_evicted(cache: Cache, tmp_path: Path) -> None:
    digest, size, data = blob("replaced")
    path = cache.insert(digest, size, writer(data))
    st = path.stat()
    os.link(path, tmp_path / "held")  # keeps the inode, so the new file cannot reuse it
    path.unlink()
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime, new inode
    assert cache.lookup(digest, size) is None
    lost, lost_size = add(cache, "lost")
    cache.path(lost).unlink()
    assert cache.lookup(lost, lost_size) is None
    assert cache.info()["entries"] == 0


# -- the bound -------------------------------------------------------------------------


def test_prune_evicts_least_recently_used_first(cache: Cache, tmp_path: Path) -> None:
    a, _ = add(cache, "a" * 100)
    b, _ = add(cache, "b" * 100)
    c, _ = add(cache, "c" * 100)
    assert cache.materialize(a, 100, tmp_path / "a.bin")  # a is now the most recent
    result = cache.prune(max_bytes=200)
    assert result == {"removed": 1, "freed": 100, "bytes": 200}
    assert cached_digests(cache) == {a, c}
    cache.touch_many([c])
    assert cache.prune(max_bytes=100) == {"removed": 1, "freed": 100, "bytes": 100}
    assert cached_digests(cache) == {c}
    # Eviction leaves downloads linked out intact.
    assert (tmp_path / "a.bin").read_bytes() == b"a" * 100
    assert cache.prune(max_bytes=0) == {"removed": 1, "freed": 100, "bytes": 0}


def test_enforce_keeps_the_most_recent_within_the_bound(tmp_path: Path) -> None:
    with Cache(tmp_path / "cache", max_bytes=250) as bounded:
        digests = [add(bounded, str(i) * 100)[0] for i in range(5)]
        assert bounded.info()["bytes"] == 500  # insert alone does not evict
        bounded.enforce()
        assert bounded.info() == {
            "root": str(tmp_path / "cache"),
            "entries": 2,
            "bytes": 200,
            "max_bytes": 250,
        }
        assert cached_digests(bounded) == set(digests[3:])
        bounded.enforce()  # under the bound: nothing happens
        assert cached_digests(bounded) == set(digests[3:])
        assert bounded.prune() == {"removed": 0, "freed": 0, "bytes": 200}


def test_prune_evicts_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("modelbay.sdk.cache.PRUNE_BATCH", 3)
    with Cache(tmp_path / "cache", max_bytes=None) as c:
        digests = [add(c, f"{i:04d}")[0] for i in range(10)]
        assert c.prune(max_bytes=8) == {"removed": 8, "freed": 32, "bytes": 8}
        assert cached_digests(c) == set(digests[8:])


def test_prune_removes_stray_blobs_and_stale_temporary_files(cache: Cache) -> None:
    kept, _ = add(cache, "kept")
    stray, _, data = blob("left by a crash")
    (cache.root / "blobs" / stray[:2]).mkdir(exist_ok=True)
    (cache.root / "blobs" / stray[:2] / stray).write_bytes(data)
    (cache.root / "blobs" / "zz").mkdir()
    (cache.root / "blobs" / "zz" / "README").write_text("not ours to judge")
    old = cache.root / "tmp" / "dead-download"
    old.write_bytes(b"x" * 10)
    an_hour_ago = time.time() - 3600
    long_ago = time.time() - STALE_TMP_SECONDS - 3600
    os.utime(old, (long_ago, long_ago))
    fresh = cache.root / "tmp" / "in-flight"
    fresh.write_bytes(b"y")
    os.utime(fresh, (an_hour_ago, an_hour_ago))
    result = cache.prune()
    assert result == {"removed": 2, "freed": len(data) + 10, "bytes": 4}
    assert cached_digests(cache) == {kept, "README"}
    assert not old.exists()
    assert fresh.exists()


# -- several processes -----------------------------------------------------------------

WORKER = r"""
import hashlib, json, sys, time
from pathlib import Path
from modelbay.sdk.cache import Cache

args = json.loads(sys.argv[1])
sync = Path(args["sync_dir"])

def barrier(name):
    (sync / f"{name}.{args['worker']}").touch()
    deadline = time.monotonic() + 60
    while len(list(sync.glob(f"{name}.*"))) < args["parties"]:
        if time.monotonic() > deadline:
            raise TimeoutError(name)
        time.sleep(0.002)

cache = Cache(Path(args["root"]), max_bytes=args["max_bytes"])
out = {"worker": args["worker"], "filled": 0, "placed": 0}

if args["mode"] == "same_digest":
    data = args["text"].encode()
    digest = hashlib.sha256(data).hexdigest()
    cache.info()  # open the index before the race
    barrier("start")

    def fill(tmp):
        out["filled"] += 1
        tmp.write_bytes(data)
        barrier("filled")  # every worker holds a complete temporary file: now all commit

    path = cache.insert(digest, len(data), fill)
    out["inode"] = path.stat().st_ino
    out["content_ok"] = path.read_bytes() == data

elif args["mode"] == "download":
    files = [t.encode() for t in args["texts"]]
    barrier("start")
    dest_dir = Path(args["dest"])
    for i, data in enumerate(files):
        digest = hashlib.sha256(data).hexdigest()
        dest = dest_dir / f"{i}.bin"
        for _ in range(100):  # a tiny bound: others may evict between insert and place
            if cache.materialize(digest, len(data), dest):
                out["placed"] += 1
                break
            cache.insert(digest, len(data), lambda tmp, data=data: tmp.write_bytes(data))
            out["filled"] += 1
        else:
            raise RuntimeError(f"could not place file {i}")
        assert dest.read_bytes() == data
        cache.enforce()
    cache.enforce()

print(json.dumps(out))
"""


def run_workers(
    tmp_path: Path, parties: int, make_args: Callable[[int], dict[str, Any]]
) -> list[dict[str, Any]]:
    sync_dir = tmp_path / "sync"
    sync_dir.mkdir()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                json.dumps(
                    {"worker": i, "parties": parties, "sync_dir": str(sync_dir), **make_args(i)}
                ),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(parties)
    ]
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=WORKER_TIMEOUT)
            assert proc.returncode == 0, f"worker failed:\n{err}"
            results.append(json.loads(out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def assert_consistent(root: Path) -> Cache:
    """Index and directory agree, and every entry holds the bytes of its digest."""
    check = Cache(root, max_bytes=None)
    assert check.prune() == {"removed": 0, "freed": 0, "bytes": check.info()["bytes"]}
    assert list((root / "tmp").iterdir()) == []
    with sqlite3.connect(root / "index.db") as db:
        rows = db.execute("SELECT digest, size FROM entries").fetchall()
    assert cached_digests(check) == {d for d, _ in rows}
    for digest, size in rows:
        path = check.lookup(digest, size)
        assert path is not None
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    return check


def test_four_processes_inserting_one_blob_leave_one_entry(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    text = "the same model weights " * 5000
    results = run_workers(
        tmp_path,
        4,
        lambda i: {"mode": "same_digest", "root": str(root), "max_bytes": None, "text": text},
    )
    assert all(r["content_ok"] and r["filled"] == 1 for r in results)
    check = assert_consistent(root)
    digest, size, _ = blob(text)
    assert check.info()["entries"] == 1
    path = check.lookup(digest, size)
    assert path is not None
    # The entry every worker was given is the one that stayed.
    assert {r["inode"] for r in results} == {path.stat().st_ino}


def test_processes_downloading_under_a_tight_bound_stay_consistent(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    texts = [f"shared file {i} " * 50 for i in range(12)]
    bound = 3 * len(texts[0])
    results = run_workers(
        tmp_path,
        4,
        lambda i: {
            "mode": "download",
            "root": str(root),
            "max_bytes": bound,
            # Overlapping sets, in different orders, so workers hit each other's entries.
            "texts": texts[i * 2 :] + texts[: i * 2],
            "dest": str(tmp_path / f"dest{i}"),
        },
    )
    assert all(r["placed"] == len(texts) for r in results)
    check = assert_consistent(root)
    assert 0 < check.info()["bytes"] <= bound
    for i in range(4):
        order = texts[i * 2 :] + texts[: i * 2]
        for j, text in enumerate(order):
            assert (tmp_path / f"dest{i}" / f"{j}.bin").read_text() == text


# -- the CLI ---------------------------------------------------------------------------

runner = CliRunner()


def cli(*args: str) -> Any:
    result = runner.invoke(app, ["cache", *args])
    return result


def test_cache_info_and_prune_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "cache"
    monkeypatch.setenv("MODELBAY_CACHE_DIR", str(root))
    monkeypatch.setenv("MODELBAY_CACHE_MAX_SIZE", "1KB")
    with Cache.from_env() as c:
        for i in range(3):
            add(c, str(i) * 400)

    result = cli("info", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "root": str(root),
        "entries": 3,
        "bytes": 1200,
        "max_bytes": 1000,
        "partial_files": 0,
        "partial_bytes": 0,
        "partial_dead_files": 0,
        "partial_dead_bytes": 0,
    }
    result = cli("info")
    assert result.exit_code == 0, result.output
    assert "files:   3" in result.stdout
    assert "1.2 KB (1200 bytes)" in result.stdout
    assert "bound:   1.0 KB" in result.stdout

    result = cli("prune", "--json")  # to the configured 1KB
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "removed": 1,
        "freed": 400,
        "bytes": 800,
        "max_bytes": 1000,
    }
    result = cli("prune", "--max-size", "0.4KB")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "removed 1 files, freed 400 B; the cache holds 400 B (bound 400 B)"
    )
    assert json.loads(cli("info", "--json").stdout)["entries"] == 1


def test_cache_commands_report_bad_sizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELBAY_CACHE_DIR", str(tmp_path / "cache"))
    result = cli("prune", "--max-size", "10 bananas")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid size '10 bananas'")
    assert "[invalid_input]" in result.stderr
    monkeypatch.setenv("MODELBAY_CACHE_MAX_SIZE", "huge")
    result = cli("info")
    assert result.exit_code == 2
    assert "invalid size 'huge'" in result.stderr
