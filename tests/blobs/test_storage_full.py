"""A blob store whose disk is full, on a real small filesystem (a tmpfs, or ext4 in a loop
image, mounted for the test, so root only): an upload fails with :class:`StorageFullError` (507 ``storage_full`` over
HTTP) and leaves nothing behind; a large one fails before its bytes are sent, because its
space is reserved when its session begins; and the store works again once there is room.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.processes import ServerProcess

import modelbay
from modelbay.errors import StorageFullError
from modelbay.sdk import transfer
from modelbay.sdk.transport import reset_transports

MIB = 1 << 20
DISK = 24 * MIB
PART = 5 * MIB


@pytest.fixture(params=["tmpfs", "ext4"])
def small_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB filesystem mounted at a new directory, unmounted afterwards: a tmpfs, or ext4
    in a loop-mounted image (no blocks reserved for root, which runs these tests). ext4 keeps
    what a failed fallocate allocated, where tmpfs gives it back."""
    where = tmp_path / "small-disk"
    where.mkdir()
    if request.param == "tmpfs":
        command = ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(where)]
    else:
        image = tmp_path / "small-disk.img"
        with open(image, "wb") as f:
            f.truncate(DISK)
        made = subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], capture_output=True, text=True
        )
        if made.returncode != 0:
            pytest.skip(f"cannot make an ext4 image here: {made.stderr.strip()}")
        command = ["mount", "-o", "loop", str(image), str(where)]
    mounted = subprocess.run(command, capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small {request.param} here (root only): {mounted.stderr}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` with one file until only about ``leave`` bytes are free (or none: ext4
    needs blocks of its own for a large file, so the last write may find the disk full)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while True:
            st = os.statvfs(disk)
            room = st.f_bavail * st.f_frsize - leave
            if room <= 0:
                break
            try:
                os.write(fd, b"\0" * min(room, MIB))
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
        os.fsync(fd)
    finally:
        os.close(fd)
    return filler


def random_file(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        for _ in range(size // MIB):
            f.write(os.urandom(MIB))
        f.write(os.urandom(size % MIB))
    return path


def leftovers(blobs: Path) -> list[str]:
    """Files left under the store's staging folders (uploads/ and tmp/)."""
    return sorted(
        str(p.relative_to(blobs))
        for sub in ("uploads", "tmp")
        if (blobs / sub).exists()
        for p in (blobs / sub).rglob("*")
    )


@pytest.fixture(params=["embedded", "http"])
def endpoint(
    request: pytest.FixtureRequest,
    small_disk: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[str, Path]]:
    """The SDK over a blob store on the small disk (its database elsewhere), embedded or
    through a server; yields (kind, the blob store's folder)."""
    blobs = small_disk / "blobs"
    for name in list(os.environ):
        if name.startswith("MODELBAY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MODELBAY_DIR", str(tmp_path / "home"))
    monkeypatch.setenv("MODELBAY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    srv = None
    if request.param == "http":
        srv = ServerProcess(
            tmp_path / "server",
            extra_env={"MODELBAY_BLOB_STORE": str(blobs), "MODELBAY_UPLOAD_PART_SIZE": str(PART)},
        )
        monkeypatch.setenv("MODELBAY_URL", srv.url)
        monkeypatch.setenv("MODELBAY_API_KEY", srv.admin_key)
    else:
        monkeypatch.setenv("MODELBAY_BLOB_STORE", str(blobs))
        monkeypatch.setenv("MODELBAY_UPLOAD_PART_SIZE", str(PART))
    reset_transports()
    modelbay.run = None
    try:
        yield request.param, blobs
    finally:
        if modelbay.run is not None:
            modelbay.run.finish()
        reset_transports()
        if srv is not None:
            srv.stop()


def log(path: Path, name: str) -> modelbay.Artifact:
    run = modelbay.init(project="full-" + uuid.uuid4().hex[:6])
    try:
        art = modelbay.Artifact(name, "model")
        art.add_file(str(path))
        run.log_artifact(art)
        return art
    finally:
        run.finish()


def test_a_blob_larger_than_the_room_left_is_refused_before_it_is_sent(
    endpoint: tuple[str, Path], tmp_path: Path
) -> None:
    _, blobs = endpoint
    big = random_file(tmp_path / "big.bin", 40 * MIB)  # sent while hashed: a provisional session
    with pytest.raises(StorageFullError) as caught:
        log(big, "big")
    assert "full" in caught.value.message
    assert caught.value.details["storage"] == "blobs"
    assert caught.value.details["size"] == 40 * MIB
    # What is really free, not what a failed allocation held meanwhile (ext4 keeps it).
    assert DISK // 2 < caught.value.details["free"] < 40 * MIB
    assert leftovers(blobs) == []  # the reserved staging file went with the refusal

    # There is room for a smaller one: the store was left as it was.
    small = random_file(tmp_path / "small.bin", 12 * MIB)
    art = log(small, "small")
    assert art.version == "v0"
    assert leftovers(blobs) == []


def test_a_known_digest_is_refused_before_its_bytes_too(small_disk: Path, tmp_path: Path) -> None:
    """A session for a digest the client names up front (a file hashed first) reserves its
    space as well; several in one call are begun together or not at all."""
    blobs = small_disk / "blobs"
    srv = ServerProcess(
        tmp_path / "server",
        extra_env={"MODELBAY_BLOB_STORE": str(blobs), "MODELBAY_UPLOAD_PART_SIZE": str(PART)},
    )
    try:
        with httpx.Client(
            base_url=srv.url + "/api/v1", headers={"Authorization": f"Bearer {srv.admin_key}"}
        ) as client:
            files = [
                {"sha256": f"{i:x}" * 64, "size": 10 * MIB} for i in range(1, 4)
            ]  # 30 MiB in all: the first two fit, the third does not
            resp = client.post("/blobs/uploads", json={"files": files})
            assert resp.status_code == 507, resp.text
            error = resp.json()["error"]
            assert error["code"] == "storage_full"
            assert error["details"]["size"] == 10 * MIB
            assert leftovers(blobs) == []  # the two begun first went too

            resp = client.post("/blobs/uploads", json={"files": files[:1]})
            assert resp.status_code == 200, resp.text
            assert len(resp.json()["uploads"]) == 1
    finally:
        srv.stop()


@pytest.mark.parametrize("size", [200_000, 3 * MIB], ids=["bundled", "whole"])
def test_a_full_disk_fails_small_uploads_with_the_typed_error(
    endpoint: tuple[str, Path], small_disk: Path, tmp_path: Path, size: int
) -> None:
    """Small files go without a session (in a bundle, or whole): the disk fills while they are
    written, and the upload fails with the same error, leaving no temporary file."""
    _, blobs = endpoint
    log(random_file(tmp_path / "first.bin", 1000), "first")  # the store's folders exist
    filler = fill(small_disk, 64 * 1024)
    with pytest.raises(StorageFullError):
        log(random_file(tmp_path / "f.bin", size), "f")
    assert leftovers(blobs) == []

    filler.unlink()
    assert log(tmp_path / "f.bin", "f").version == "v0"


def test_a_full_database_disk_is_the_same_typed_error(small_disk: Path, tmp_path: Path) -> None:
    """The server's SQLite database on the full disk: a write answers 507 ``storage_full``
    (not a bare 500) and changes nothing; once there is room again, the same call succeeds."""
    srv = ServerProcess(small_disk / "data")
    try:
        with httpx.Client(
            base_url=srv.url + "/api/v1", headers={"Authorization": f"Bearer {srv.admin_key}"}
        ) as client:
            filler = fill(small_disk, 0)
            body = {"config": {"blob": "x" * 200_000}}
            resp = client.post("/projects/p/runs", json=body)
            assert resp.status_code == 507, resp.text
            assert resp.json()["error"]["code"] == "storage_full"
            assert resp.json()["error"]["details"] == {"storage": "database"}
            assert client.get("/health").status_code == 200

            filler.unlink()
            resp = client.post("/projects/p/runs", json=body)
            assert resp.status_code == 201, resp.text
            runs = client.get("/projects/p/runs").json()
            assert len(runs["runs"]) == 1  # the refused write left nothing
    finally:
        srv.stop()


# The cache, on the same full disk, is left out with a warning; the download then fails in
# the destination's folder, as it does without a cache.
@pytest.mark.filterwarnings("ignore:.*downloading without it:UserWarning")
def test_a_download_larger_than_the_room_left_fails_before_it_is_fetched(
    endpoint: tuple[str, Path], small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client's side: a blob's room is reserved in the cache (or beside its destination)
    before its bytes are asked for, so a disk without room fails at once with ENOSPC, and
    nothing partial is left in the cache or under the destination."""
    big = random_file(tmp_path / "down.bin", 12 * MIB)
    art = log(big, "down")
    client_disk = tmp_path / "client-disk"
    client_disk.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={8 * MIB}", "tmpfs", str(client_disk)], check=True
    )
    try:
        monkeypatch.setenv("MODELBAY_CACHE_DIR", str(client_disk / "cache"))
        reset_transports()
        fetched: list[int] = []
        from modelbay.sdk import streams

        real = streams._write_verified
        monkeypatch.setattr(
            streams,
            "_write_verified",
            lambda f, digest, chunks, dest: (fetched.append(1), real(f, digest, chunks, dest)),
        )
        with pytest.raises(OSError) as caught:
            modelbay.Api().artifact(art.qualified_name).download(client_disk / "out")
        assert caught.value.errno == errno.ENOSPC
        assert fetched == []  # refused before the body was read
        left = [p for p in client_disk.rglob("*") if p.is_file() and p.stat().st_size >= MIB]
        assert left == [], left  # (the cache's small index may stay)
    finally:
        reset_transports()
        subprocess.run(["umount", "-l", str(client_disk)], check=False)


def test_bytes_stored_already_are_logged_on_a_disk_without_room_for_them(
    endpoint: tuple[str, Path], small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large file this client has not seen (a copy under a new name) is sent while it is
    hashed, in a session that reserves its whole size. With no room for that, the client
    hashes it first instead: the server has the bytes, so nothing needs room, and the
    version is logged."""
    monkeypatch.setattr(transfer, "STREAM_MIN_BYTES", MIB)  # 6 MiB files go while hashed
    first = random_file(tmp_path / "first.bin", 6 * MIB)
    log(first, "stored")
    fill(small_disk, 2 * MIB)
    copy = tmp_path / "elsewhere" / "copy.bin"
    copy.parent.mkdir()
    copy.write_bytes(first.read_bytes())
    art = log(copy, "again")
    assert art.version == "v0"
    assert [f.sha256 for f in art.files()] == [hashlib.sha256(first.read_bytes()).hexdigest()]


def test_deleting_versions_and_gc_work_on_a_full_disk(small_disk: Path, tmp_path: Path) -> None:
    """Database and bytes on one disk, full, and the server restarted (its write-ahead log
    starts empty): deleting every version and ``modelbay gc`` still work, with the room the
    server keeps for them, and free the disk; other writes meanwhile fail with 507."""
    srv = ServerProcess(small_disk / "data")
    try:
        with httpx.Client(
            base_url=srv.url + "/api/v1", headers={"Authorization": f"Bearer {srv.admin_key}"}
        ) as client:
            for i in range(4):
                data = os.urandom(2 * MIB)
                digest = hashlib.sha256(data).hexdigest()
                assert client.put(f"/blobs/{digest}", content=data).status_code == 201
                files = [{"path": "m.bin", "sha256": digest, "size": len(data)}]
                resp = client.post(
                    f"/projects/p/artifacts/m{i}/versions", json={"type": "model", "files": files}
                )
                assert resp.status_code == 201, resp.text
        srv.restart()
        filler = fill(small_disk, 0)
        with httpx.Client(
            base_url=srv.url + "/api/v1", headers={"Authorization": f"Bearer {srv.admin_key}"}
        ) as client:
            resp = client.post("/projects/p/runs", json={"config": {"x": "y" * 100_000}})
            assert resp.status_code == 507, resp.text
            for i in range(4):
                resp = client.delete(f"/projects/p/artifacts/m{i}/versions/v0")
                assert resp.status_code == 204, resp.text
            env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
            env.update(
                MODELBAY_URL=srv.url,
                MODELBAY_API_KEY=srv.admin_key,
                MODELBAY_DIR=str(tmp_path / "client"),
            )
            done = subprocess.run(
                [sys.executable, "-m", "modelbay", "gc", "--grace", "0s", "--json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            result = json.loads(done.stdout)
            assert result["removed"] == 4 and result["freed_bytes"] == 8 * MIB
            vfs = os.statvfs(small_disk)
            assert vfs.f_bfree * vfs.f_frsize > 6 * MIB  # the bytes, less the log's growth
            resp = client.post("/projects/p/runs", json={"config": {"x": "y" * 100_000}})
            assert resp.status_code == 201, resp.text
        filler.unlink()
    finally:
        srv.stop()
