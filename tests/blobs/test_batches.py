"""Many small blobs per request (bundles), over a real server and on the disk store, and the
disk store's in-order hashing of upload parts, which must never let changed bytes through."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelbay.blobs import UploadSession
from modelbay.blobs.bundle import (
    HEADER,
    MAX_BUNDLED_BLOB,
    Unbundler,
    bundle_size,
    frame_header,
)
from modelbay.blobs.local import LocalBlobStore
from modelbay.errors import DigestMismatchError, InvalidInputError, PayloadTooLargeError
from modelbay.sdk import downloads, transfer
from modelbay.sdk.cache import Cache


def blob(data: bytes) -> tuple[str, bytes]:
    return hashlib.sha256(data).hexdigest(), data


def bundle(blobs: list[tuple[str, bytes]]) -> bytes:
    return b"".join(frame_header(d, len(data)) + data for d, data in blobs)


@pytest.fixture
def client(server) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url + "/api/v1", headers={"Authorization": f"Bearer {server.admin_key}"}
    ) as c:
        yield c


def assert_error(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code


# -- the format ------------------------------------------------------------------------


@pytest.mark.parametrize("piece", [1, 7, 40, 4096, 1 << 20])
def test_a_bundle_splits_back_into_its_blobs_whatever_the_chunking(piece: int) -> None:
    blobs = [blob(os.urandom(n)) for n in (0, 1, 39, 40, 41, 5000)]
    body = bundle(blobs)
    assert len(body) == bundle_size([len(d) for _, d in blobs])
    unbundler = Unbundler()
    out = []
    for start in range(0, len(body), piece):
        out += unbundler.feed(body[start : start + piece])
    unbundler.close()
    assert out == blobs


def test_a_truncated_bundle_or_an_oversized_frame_is_refused() -> None:
    body = bundle([blob(b"weights")])
    unbundler = Unbundler()
    unbundler.feed(body[:-1])
    with pytest.raises(InvalidInputError, match="ends inside"):
        unbundler.close()
    huge = HEADER.pack(b"\0" * 32, MAX_BUNDLED_BLOB + 1)
    with pytest.raises(InvalidInputError, match="at most"):
        Unbundler().feed(huge)
    with pytest.raises(PayloadTooLargeError):
        Unbundler(max_bytes=10).feed(body)


# -- the REST API ----------------------------------------------------------------------


def test_bundle_up_and_down_over_the_api(client: httpx.Client) -> None:
    blobs = [blob(os.urandom(100) + bytes([i])) for i in range(50)] + [blob(b"")]
    resp = client.put("/blobs/bundle", content=bundle(blobs))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"blobs": 51, "stored": 51}
    digests = [d for d, _ in blobs]
    assert client.post("/blobs/missing", json={"digests": digests}).json()["missing"] == []
    # Sent again: nothing new is stored.
    assert client.put("/blobs/bundle", content=bundle(blobs[:3])).json()["stored"] == 0
    fetched = client.post("/blobs/bundle/fetch", json={"digests": digests[::-1]})
    assert fetched.status_code == 200, fetched.text
    unbundler = Unbundler()
    assert unbundler.feed(fetched.content) == blobs[::-1]
    unbundler.close()


def test_a_bundle_with_one_wrong_blob_stores_none(client: httpx.Client) -> None:
    good = blob(os.urandom(64))
    wrong = (hashlib.sha256(b"promised").hexdigest(), b"something else")
    assert_error(client.put("/blobs/bundle", content=bundle([good, wrong])), 400, "digest_mismatch")
    missing = client.post("/blobs/missing", json={"digests": [good[0], wrong[0]]}).json()
    assert missing["missing"] == [good[0], wrong[0]]


def test_bad_bundles_and_unknown_blobs_get_typed_errors(client: httpx.Client) -> None:
    body = bundle([blob(os.urandom(64))])
    assert_error(client.put("/blobs/bundle", content=body[:-5]), 400, "invalid_input")
    unknown = hashlib.sha256(os.urandom(16)).hexdigest()
    assert_error(client.post("/blobs/bundle/fetch", json={"digests": [unknown]}), 404, "not_found")
    assert_error(
        client.post("/blobs/bundle/fetch", json={"digests": ["nope"]}), 400, "invalid_input"
    )


# -- downloads through the cache -------------------------------------------------------


def test_small_files_come_down_in_bundles_into_the_cache(tmp_path: Path, server) -> None:
    from modelbay.sdk.transport import HttpTransport

    transport = HttpTransport(server.url, server.admin_key)
    try:
        datas = [os.urandom(300) + bytes([i]) for i in range(30)]
        sources = {}
        for i, data in enumerate(datas):
            path = tmp_path / "src" / f"f{i}.bin"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(data)
            sources[hashlib.sha256(data).hexdigest()] = path
        sizes = {d: len(data) for d, data in zip(sources, datas, strict=True)}
        assert transfer.upload(transport, sizes, sources, progress=False) == sum(sizes.values())
        # Two names for one blob: both are placed.
        files = [{"path": f"d/{p.name}", "sha256": d, "size": sizes[d]} for d, p in sources.items()]
        first = next(iter(sources))
        files.append({"path": "twin.bin", "sha256": first, "size": sizes[first]})
        cache = Cache(tmp_path / "cache")
        fetched = downloads.download(
            transport, files, tmp_path / "out", cache=cache, progress=False
        )
        assert fetched == sum(f["size"] for f in files)
        for f in files:
            assert (
                hashlib.sha256((tmp_path / "out" / f["path"]).read_bytes()).hexdigest()
                == f["sha256"]
            )
        assert cache.info()["entries"] == 30
        # Warm: everything is linked from the cache, nothing fetched.
        again = downloads.download(transport, files, tmp_path / "out2", cache=cache, progress=False)
        assert again == 0
        assert (tmp_path / "out2" / "twin.bin").stat().st_ino == cache.path(first).stat().st_ino
    finally:
        transport.close()


def test_materialize_many_skips_an_edited_entry(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    (d1, b1), (d2, b2) = blob(b"one"), blob(b"two")
    cache.insert_many([(d1, b1), (d2, b2), (d1, b1)])
    assert cache.info()["entries"] == 2
    path = cache.path(d2)
    path.chmod(0o644)
    path.write_bytes(b"TWO")  # same size, but a new mtime
    placed = cache.materialize_many([(d1, 3, tmp_path / "a"), (d2, 3, tmp_path / "b")])
    assert placed == [True, False]
    assert (tmp_path / "a").read_bytes() == b"one"
    assert not (tmp_path / "b").exists()
    assert cache.info()["entries"] == 1  # the edited entry was evicted


# -- in-order hashing of upload parts on the disk store --------------------------------

PART = 1 << 16


def session_for(store: LocalBlobStore, data: bytes) -> UploadSession:
    session = UploadSession(os.urandom(8).hex(), hashlib.sha256(data).hexdigest(), len(data), PART)
    store.begin(session)
    return session


def send_part(store: LocalBlobStore, session: UploadSession, number: int, data: bytes) -> None:
    offset, length = session.part_range(number)
    with store.part_writer(session, number) as writer:
        writer.write(data[offset : offset + length])
        writer.commit()


def test_parts_stored_in_any_order_complete_to_the_right_blob(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    data = os.urandom(5 * PART + 123)
    session = session_for(store, data)
    for number in (3, 1, 6, 2, 5, 4):
        send_part(store, session, number, data)
    store.finish(session)
    assert store.path(session.sha256).read_bytes() == data


def test_a_part_changed_after_it_was_stored_is_caught(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    data = os.urandom(4 * PART)
    session = session_for(store, data)
    for number in range(1, 5):
        send_part(store, session, number, data)
    time.sleep(0.2)  # let the background hasher read the good bytes (passes either way)
    bad = bytearray(data)
    bad[10] ^= 0xFF
    send_part(store, session, 1, bytes(bad))  # another client's different bytes, say
    with pytest.raises(DigestMismatchError):
        store.finish(session)
    assert not store.path(session.sha256).exists()


def test_a_part_sent_twice_with_the_same_bytes_still_completes(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    data = os.urandom(3 * PART + 1)
    session = session_for(store, data)
    for number in (1, 2, 2, 3, 4, 1):
        send_part(store, session, number, data)
    store.finish(session)
    assert store.path(session.sha256).read_bytes() == data


def test_a_completion_in_a_fresh_process_hashes_the_whole_file(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    data = os.urandom(3 * PART)
    session = session_for(store, data)
    for number in range(1, 4):
        send_part(store, session, number, data)
    other = LocalBlobStore(tmp_path / "blobs")  # as after a restart: no hasher state
    other.finish(session)
    assert other.path(session.sha256).read_bytes() == data


def test_a_large_download_is_verified_while_it_arrives(tmp_path: Path, server) -> None:
    from modelbay.sdk.transport import HttpTransport

    data = os.urandom(12 << 20)  # past the size hashed inline
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    transport = HttpTransport(server.url, server.admin_key)
    try:
        transfer.upload(transport, {digest: len(data)}, {digest: source}, progress=False)
        transport.download_blob(digest, tmp_path / "good.bin")
        assert (tmp_path / "good.bin").read_bytes() == data
        stored = server.data_dir / "blobs" / digest[:2] / digest
        stored.chmod(0o644)
        with open(stored, "r+b") as f:
            f.seek(len(data) - 1)
            f.write(bytes([data[-1] ^ 0xFF]))
        with pytest.raises(DigestMismatchError):
            transport.download_blob(digest, tmp_path / "bad.bin")
        assert not (tmp_path / "bad.bin").exists()
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    finally:
        transport.close()
