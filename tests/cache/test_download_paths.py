"""The download path's use of the cache: one pass over it, fallbacks when it fails, and the
partial files of references. Against the real server (the ``server`` fixture)."""

from __future__ import annotations

import errno
import hashlib
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.downloads import check_placed, partials, stored

from modelbay.sdk import downloads
from modelbay.sdk.cache import Cache
from modelbay.sdk.transport import HttpTransport

MiB = 1 << 20


@pytest.fixture(autouse=True)
def _source_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "src").mkdir()
    monkeypatch.setenv("MODELBAY_TEST_SRC", str(tmp_path / "src"))


def inode(path: Path) -> int:
    return path.stat().st_ino


def test_a_correct_private_copy_is_relinked_to_the_cache_and_a_wrong_one_replaced(
    transport: HttpTransport, tmp_path: Path
) -> None:
    data = {"a.bin": os.urandom(MiB), "b.txt": b"bee", "c.txt": b"sea"}
    files = stored(transport, data)
    with Cache(tmp_path / "cache") as cache:
        downloads.download(transport, files, tmp_path / "first", cache=cache, progress=False)
        out = tmp_path / "out"
        out.mkdir()
        (out / "a.bin").write_bytes(data["a.bin"])  # right, but not the cache's inode
        (out / "b.txt").write_bytes(b"BEE")  # the right size, the wrong bytes
        (out / "c.txt").symlink_to(tmp_path / "first" / "c.txt")
        fetched = downloads.download(transport, files, out, cache=cache, progress=False)
        assert fetched == 0  # everything came from the cache
        for f in files:
            path = out / f["path"]
            assert not path.is_symlink()
            assert inode(path) == inode(cache.path(f["sha256"]))
    check_placed(out, files)


class _FullCache(Cache):
    """A cache whose disk fills up while a large blob is written into it."""

    def insert(self, digest: str, size: int, fill: Callable[[Path], None]) -> Path:
        def fill_then_fail(tmp: Path) -> None:
            fill(tmp)
            raise OSError(errno.ENOSPC, "No space left on device")

        return super().insert(digest, size, fill_then_fail)


def test_a_cache_failing_mid_download_is_left_out_with_one_warning_and_no_partials(
    transport: HttpTransport, tmp_path: Path
) -> None:
    named = {f"big{i}.bin": os.urandom(2 * MiB) for i in range(3)}
    named |= {f"small{i}.txt": f"small {i}".encode() for i in range(20)}
    files = stored(transport, named)
    with _FullCache(tmp_path / "cache") as cache, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fetched = downloads.download(
            transport, files, tmp_path / "out", cache=cache, progress=False
        )
    assert [str(w.message) for w in caught if "downloading without it" in str(w.message)]
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert "No space left on device" in str(caught[0].message)
    assert caught[0].filename == __file__  # the caller's line, not one in modelbay
    assert fetched == sum(len(b) for b in named.values())
    check_placed(tmp_path / "out", files)
    assert partials(tmp_path / "out") == [] and partials(tmp_path / "cache") == []


def test_a_cache_whose_blobs_cannot_be_read_is_left_out_with_one_warning(
    transport: HttpTransport, tmp_path: Path
) -> None:
    files = stored(transport, {"big.bin": os.urandom(2 * MiB), "small.txt": b"tiny"})
    with Cache(tmp_path / "cache") as cache:
        downloads.download(transport, files, tmp_path / "first", cache=cache, progress=False)
        os.replace(cache.blobs, tmp_path / "moved")
        cache.blobs.write_bytes(b"not a directory")  # every stat in it fails
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            downloads.download(transport, files, tmp_path / "out", cache=cache, progress=False)
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert caught[0].filename == __file__
    check_placed(tmp_path / "out", files)


def test_partial_files_of_a_killed_reference_download_are_removed(
    transport: HttpTransport, tmp_path: Path
) -> None:
    source = tmp_path / "elsewhere.bin"
    source.write_bytes(b"referenced bytes")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    entry: dict[str, Any] = {
        "path": "ref.bin",
        "ref": source.as_uri(),
        "sha256": digest,
        "size": source.stat().st_size,
    }
    out = tmp_path / "out"
    out.mkdir()
    dead = out / ".ref.bin.0123456789ab.part"  # a killed writer's: no one holds its lock
    dead.write_bytes(b"refer")
    downloads.download(transport, [entry], out, progress=False)
    assert not dead.exists()
    assert (out / "ref.bin").read_bytes() == b"referenced bytes"
    assert partials(out) == []


@pytest.mark.parametrize("use_cache", [True, False])
def test_a_stored_version_with_a_file_under_a_file_is_refused_before_anything_is_fetched(
    transport: HttpTransport, tmp_path: Path, use_cache: bool
) -> None:
    """Versions committed before the clash was refused at commit can hold both ``m`` and
    ``m/inner``: no download can place both, and it says so with a typed error."""
    from modelbay.errors import InvalidPathError

    files = stored(transport, {"a.txt": b"a", "m": b"file m", "m/inner": b"inner"})
    out = tmp_path / "out"
    cache = Cache(tmp_path / "cache") if use_cache else None
    with pytest.raises(InvalidPathError, match="'m'.*'m/inner'") as caught:
        downloads.download(transport, files, out, cache=cache, progress=False)
    assert caught.value.details == {"path": "m/inner", "file": "m"}
    assert not out.exists() or list(out.rglob("*")) == []


@pytest.mark.parametrize("local", ["folder", "file"])
def test_a_local_folder_where_a_file_goes_or_a_file_where_a_folder_goes_is_a_typed_error(
    transport: HttpTransport, tmp_path: Path, local: str
) -> None:
    """What is already under the target is the user's: a folder where the version has a
    file (or a file where it has a folder) is neither removed nor a raw OSError."""
    from modelbay.errors import InvalidPathError

    files = stored(transport, {"a.txt": b"a", "w": b"weights", "cfg/x.json": b"{}"})
    out = tmp_path / "out"
    out.mkdir()
    if local == "folder":
        (out / "w").mkdir()
        (out / "w" / "mine.txt").write_text("keep me")
        clash = "w"
    else:
        (out / "cfg").write_text("keep me")
        clash = "cfg/x.json"
    with pytest.raises(InvalidPathError, match=clash):
        downloads.download(transport, files, out, cache=Cache(tmp_path / "cache"), progress=False)
    if local == "folder":
        assert (out / "w" / "mine.txt").read_text() == "keep me"
    else:
        assert (out / "cfg").read_text() == "keep me"
    assert partials(out) == []


@pytest.mark.parametrize("kind", ["file", "under a file", "deep under a file", "dangling link"])
def test_a_root_that_is_or_lies_under_a_file_is_a_typed_error_before_anything_is_fetched(
    transport: HttpTransport, tmp_path: Path, kind: str
) -> None:
    """Not mkdir's NotADirectoryError half-way: the walk up from each folder goes on above a
    root that does not exist yet, to the first thing that does."""
    from modelbay.errors import InvalidPathError

    files = stored(transport, {"a.txt": b"a", "sub/b.txt": b"b"})
    mine = tmp_path / "mine"
    if kind == "dangling link":
        mine.symlink_to(tmp_path / "nowhere")
    else:
        mine.write_text("keep me")
    root = {"file": mine, "under a file": mine / "out", "deep under a file": mine / "x" / "y"}
    cache = tmp_path / "cache"
    what = "a link to no folder" if kind == "dangling link" else "a file"
    with pytest.raises(InvalidPathError, match=f"{mine} is {what} already") as caught:
        downloads.download(
            transport, files, root.get(kind, mine), cache=Cache(cache), progress=False
        )
    assert caught.value.details["in_the_way"] == str(mine)
    assert mine.is_symlink() or mine.read_text() == "keep me"
    assert not (tmp_path / "nowhere").exists()
    assert not (cache / "blobs").exists() or list((cache / "blobs").rglob("*.*")) == []


@pytest.mark.parametrize("with_cache", [True, False])
@pytest.mark.parametrize("racer", ["a folder where a file goes", "a file where a folder goes"])
def test_something_put_in_the_way_during_the_download_is_a_typed_error(
    transport: HttpTransport,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    racer: str,
    with_cache: bool,
) -> None:
    """Another download into the same folder can put things in the way after the checks:
    the error is the checks' own kind, naming what is in the way, not a raw OSError."""
    from modelbay.errors import InvalidPathError

    files = stored(transport, {"a.txt": b"a" * 100, "sub/b.txt": b"b"})
    root = tmp_path / "out"
    there = root / ("a.txt" if racer.startswith("a folder") else "sub")
    fetch_all = downloads._fetch_all

    def raced(*args: Any) -> None:
        if racer.startswith("a folder"):
            there.mkdir(parents=True)
        else:
            there.parent.mkdir(parents=True, exist_ok=True)
            there.write_text("the other download's")
        fetch_all(*args)

    monkeypatch.setattr(downloads, "_fetch_all", raced)
    cache = Cache(tmp_path / "cache") if with_cache else None
    with pytest.raises(InvalidPathError, match="something else changed it meanwhile") as caught:
        downloads.download(transport, files, root, cache=cache, progress=False)
    assert caught.value.details["path"] == str(root)
    assert str(there) in caught.value.details["in_the_way"]
    assert partials(root) == []
