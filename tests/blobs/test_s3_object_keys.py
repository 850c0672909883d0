"""Where an S3 store keeps a blob: under the key of the upload that brought it, recorded in
the blob's row once its bytes are verified (SeaweedFS).

No copy to the digest's name follows a verified upload: reads, presigned downloads and
garbage collection go to the recorded key. Bytes that are wrong or short are never recorded
and nothing can commit them; two uploads of the same content both verify, one is recorded,
the other's object is removed. Blobs stored before keys were recorded (under their digest's
name, with no key in their row) stay readable and collectable.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from modelbay.errors import DigestMismatchError, InvalidInputError, NotFoundError
from modelbay.services import Services
from modelbay.services.core import Principal
from modelbay.settings import Settings
from modelbay.store import blobs as blob_store
from modelbay.store.schema import blobs, uploads

PART = 5 << 20


@pytest.fixture
def services(s3_settings: Settings) -> Iterator[Services]:
    with Services.open(s3_settings.with_(upload_part_size=PART)) as services:
        yield services


@pytest.fixture
def me(services: Services) -> Principal:
    return services.auth.local_principal("uploader")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def plan(services: Services, me: Principal, data: bytes) -> dict[str, Any]:
    (session,) = services.blobs.begin_uploads(me, [{"sha256": sha(data), "size": len(data)}])[
        "uploads"
    ]
    return dict(session)


def send(session: dict[str, Any], data: bytes) -> None:
    for part in session["parts"]:
        body = data[part["offset"] : part["offset"] + part["size"]]
        resp = httpx.put(part["url"], content=body, headers=part["headers"])
        assert resp.status_code == 200, resp.text


def keys(services: Services) -> list[str]:
    """Every object in the store's bucket, but the probe SeaweedFS writes."""
    backend: Any = services.backend
    listing = backend.client.list_objects_v2(Bucket=backend.bucket, Prefix="mb/")
    return sorted(o["Key"] for o in listing.get("Contents", []))


def row(services: Services, digest: str) -> dict[str, Any] | None:
    with services.db.read() as conn:
        found = conn.execute(sa.select(blobs).where(blobs.c.sha256 == digest)).mappings().first()
    return dict(found) if found else None


def hold_claim(services: Services, upload_id: str, claimed_at: float) -> None:
    """Mark a session as being completed (or, with an old time, as left by a dead completion)."""
    with services.db.write() as conn:
        conn.execute(
            uploads.update()
            .where(uploads.c.id == upload_id)
            .values(state="completing", claimed_at=claimed_at)
        )


def two_sessions(services: Services, me: Principal, data: bytes) -> tuple[dict, dict]:
    """Two sessions of the same blob, as two clients get when the second plans while the
    first's completion is under way; the first is then open again."""
    first = plan(services, me, data)
    hold_claim(services, first["id"], time.time())
    second = plan(services, me, data)
    assert second["id"] != first["id"]
    with services.db.write() as conn:
        conn.execute(uploads.update().where(uploads.c.id == first["id"]).values(state="open"))
    return first, second


def commit(services: Services, me: Principal, data: bytes, name: str) -> Any:
    entry = {"path": "model.bin", "sha256": sha(data), "size": len(data)}
    return services.artifacts.commit_version(me, "keys", name, "model", [entry])


def test_a_large_upload_stays_under_its_sessions_key_and_is_read_from_there(
    services: Services, me: Principal
) -> None:
    data = os.urandom(2 * PART + 11)
    session = plan(services, me, data)
    send(session, data)
    assert services.blobs.complete(me, session["id"])["stored"] is True

    recorded = row(services, sha(data))
    assert recorded is not None and recorded["object_key"] == f"uploads/{session['id']}"
    assert keys(services) == [f"mb/uploads/{session['id']}"]  # no copy under the digest's name
    assert b"".join(services.blobs.iter_bytes(me, sha(data))) == data
    url = services.blobs.locations(me, [sha(data)])[sha(data)]["url"]
    assert f"/mb/uploads/{session['id']}?" in url
    assert httpx.get(url).content == data
    version, created = commit(services, me, data, "large")
    assert created


@pytest.mark.parametrize("how", ["tampered", "short"])
def test_wrong_bytes_are_refused_and_nothing_can_commit_them(
    services: Services, me: Principal, how: str
) -> None:
    data = os.urandom(2 * PART + 3)
    session = plan(services, me, data)
    if how == "tampered":  # every part of the right size, one of them other bytes
        sent = data[:PART] + os.urandom(PART) + data[2 * PART :]
        send(session, sent)
        expected: type[Exception] = DigestMismatchError
    else:  # the whole object, assembled by hand, a byte short
        backend: Any = services.backend
        with services.db.read() as conn:
            upload_id = conn.execute(
                sa.select(uploads.c.backend_id).where(uploads.c.id == session["id"])
            ).scalar()
        backend.client.abort_multipart_upload(
            Bucket=backend.bucket, Key=f"mb/uploads/{session['id']}", UploadId=upload_id
        )
        backend.client.put_object(
            Bucket=backend.bucket, Key=f"mb/uploads/{session['id']}", Body=data[:-1]
        )
        expected = NotFoundError  # nothing whole to go on from: send the blob again

    with pytest.raises(expected):
        services.blobs.complete(me, session["id"])
    assert row(services, sha(data)) is None
    assert keys(services) == []  # the wrong object is gone
    assert services.blobs.missing(me, [sha(data)]) == [sha(data)]
    with pytest.raises(InvalidInputError, match="not uploaded"):
        commit(services, me, data, how)


def test_a_wrong_one_part_upload_is_refused_by_the_store(services: Services, me: Principal) -> None:
    data = os.urandom(3000)
    session = plan(services, me, data)
    (part,) = session["parts"]
    resp = httpx.put(part["url"], content=os.urandom(3000), headers=part["headers"])
    assert resp.status_code == 400  # the URL carries the digest: the store checks it
    with pytest.raises(InvalidInputError, match="lacks 1 part"):
        services.blobs.complete(me, session["id"])
    assert row(services, sha(data)) is None


@pytest.mark.parametrize("size", [3000, 2 * PART + 5], ids=["one-part", "multipart"])
def test_the_later_of_two_uploads_of_one_blob_is_removed(
    services: Services, me: Principal, size: int
) -> None:
    data = os.urandom(size)
    first, second = two_sessions(services, me, data)
    send(first, data)
    send(second, data)
    assert services.blobs.complete(me, second["id"])["stored"] is True
    # The first completes afterwards: its bytes verify, but the blob is recorded already.
    assert services.blobs.complete(me, first["id"])["stored"] is True

    recorded = row(services, sha(data))
    assert recorded is not None and recorded["object_key"] == f"uploads/{second['id']}"
    assert keys(services) == [f"mb/uploads/{second['id']}"]
    assert b"".join(services.blobs.iter_bytes(me, sha(data))) == data


@pytest.mark.parametrize("batched", [False, True], ids=["apart", "one-batch"])
def test_two_uploads_of_one_blob_completed_at_once_leave_one_object(
    services: Services, me: Principal, batched: bool
) -> None:
    data = os.urandom(4000)
    first, second = two_sessions(services, me, data)
    send(first, data)
    send(second, data)
    if batched:  # both in one call, as a client sending many small files does
        results = services.blobs.complete_many(me, [first["id"], second["id"]])
    else:
        barrier = threading.Barrier(2)
        results = []

        def complete(session: dict[str, Any]) -> None:
            barrier.wait()
            results.append(services.blobs.complete(me, session["id"]))

        threads = [threading.Thread(target=complete, args=(s,)) for s in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [r["stored"] for r in results] == [True, True]
    recorded = row(services, sha(data))
    assert recorded is not None
    assert recorded["object_key"] in (f"uploads/{first['id']}", f"uploads/{second['id']}")
    assert keys(services) == [f"mb/{recorded['object_key']}"]
    assert b"".join(services.blobs.iter_bytes(me, sha(data))) == data


def test_gc_removes_the_recorded_object(services: Services, me: Principal) -> None:
    kept, dropped = os.urandom(2000), os.urandom(2 * PART + 1)
    for data in (kept, dropped):
        session = plan(services, me, data)
        send(session, data)
        services.blobs.complete(me, session["id"])
    commit(services, me, kept, "kept")
    kept_key = f"mb/{row(services, sha(kept))['object_key']}"  # type: ignore[index]
    assert len(keys(services)) == 2

    result = services.garbage.collect(me, grace_seconds=0)

    assert result["removed"] == 1 and result["freed_bytes"] == len(dropped)
    assert row(services, sha(dropped)) is None
    assert keys(services) == [kept_key]


def test_a_blob_stored_under_its_digests_name_stays_readable_and_collectable(
    services: Services, me: Principal
) -> None:
    """As a blob stored before keys were recorded: its bytes under the digest's name, its
    row without a key."""
    backend: Any = services.backend
    old, other = os.urandom(1500), os.urandom(1600)
    for data in (old, other):
        backend.client.put_object(Bucket=backend.bucket, Key=backend.key(sha(data)), Body=data)
        with services.db.write() as conn:
            assert blob_store.record_stored(conn, {sha(data): len(data)}, time.time()) == ([], [])
    assert row(services, sha(old))["object_key"] is None  # type: ignore[index]

    assert services.blobs.missing(me, [sha(old)]) == []
    assert b"".join(services.blobs.iter_bytes(me, sha(old))) == old
    assert dict(services.blobs.read_many(me, [sha(old)])) == {sha(old): old}
    url = services.blobs.locations(me, [sha(old)])[sha(old)]["url"]
    assert httpx.get(url).content == old
    commit(services, me, old, "old")
    # A new upload of the same content finds it stored: nothing is sent, nothing moves.
    assert services.blobs.begin_uploads(me, [{"sha256": sha(old), "size": len(old)}])[
        "present"
    ] == [sha(old)]

    services.garbage.collect(me, grace_seconds=0)
    assert keys(services) == [backend.key(sha(old))]


def test_a_provisional_upload_is_checked_against_the_digest_named_at_the_end(
    services: Services, me: Principal
) -> None:
    """A client that hashes a large file while it sends it names the digest only when it
    completes: the object store gets a multipart upload (even of one part), read back then."""
    data, other = os.urandom(2 * PART + 9), os.urandom(PART - 1)
    asked = [{"size": len(data)}, {"size": len(other)}]
    first, one_part = services.blobs.begin_uploads(me, asked)["provisional"]
    assert [len(s["parts"]) for s in (first, one_part)] == [3, 1]
    assert all(p["url"] for s in (first, one_part) for p in s["parts"])
    send(first, data)
    send(one_part, other)

    with pytest.raises(DigestMismatchError):
        services.blobs.complete(me, one_part["id"], sha(os.urandom(8)))
    assert services.blobs.complete(me, first["id"], sha(data))["stored"] is True
    assert row(services, sha(data))["object_key"] == f"uploads/{first['id']}"  # type: ignore[index]
    assert keys(services) == [f"mb/uploads/{first['id']}"]
    assert b"".join(services.blobs.iter_bytes(me, sha(data))) == data


def test_a_large_blob_is_fetched_in_ranges_and_verified(
    services: Services, me: Principal, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelbay.sdk import presigned

    monkeypatch.setattr(presigned, "RANGED_FROM", 1 << 20)
    monkeypatch.setattr(presigned, "RANGE", 1 << 20)
    data = os.urandom(2 * PART + 13)
    session = plan(services, me, data)
    send(session, data)
    services.blobs.complete(me, session["id"])
    url = services.blobs.locations(me, [sha(data)])[sha(data)]["url"]
    out = tmp_path / "out"
    out.mkdir()
    fetcher = presigned.Presigned()
    try:
        fetcher.get(url, sha(data), out / "whole.bin", None, len(data))
        assert (out / "whole.bin").read_bytes() == data
        # The object shorter than its row says (cut by hand): refused, nothing left.
        backend: Any = services.backend
        key = f"mb/uploads/{session['id']}"
        backend.client.put_object(Bucket=backend.bucket, Key=key, Body=data[: 3 << 20])
        with pytest.raises(DigestMismatchError):
            fetcher.get(url, sha(data), out / "short.bin", None, len(data))
        backend.client.delete_object(Bucket=backend.bucket, Key=key)
        with pytest.raises(NotFoundError, match="lost"):
            fetcher.get(url, sha(data), out / "lost.bin", None, len(data))
        assert sorted(p.name for p in out.iterdir()) == ["whole.bin"]
    finally:
        fetcher.close()


def test_a_corrupt_byte_in_one_range_of_a_large_blob_is_caught(
    services: Services, me: Principal, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ranges are written at their offsets as they arrive and hashed in order behind them:
    one wrong byte in a middle range fails the download, and nothing is left under the
    file's name or beside it."""
    from modelbay.sdk import presigned

    monkeypatch.setattr(presigned, "RANGED_FROM", 1 << 20)
    monkeypatch.setattr(presigned, "RANGE", 1 << 20)
    data = os.urandom(6 << 20)
    session = plan(services, me, data)
    send(session, data)
    services.blobs.complete(me, session["id"])
    backend: Any = services.backend
    bad = bytearray(data)
    bad[(3 << 20) + 17] ^= 0x01
    backend.client.put_object(
        Bucket=backend.bucket, Key=f"mb/uploads/{session['id']}", Body=bytes(bad)
    )
    url = services.blobs.locations(me, [sha(data)])[sha(data)]["url"]
    out = tmp_path / "out"
    out.mkdir()
    fetcher = presigned.Presigned()
    try:
        with pytest.raises(DigestMismatchError, match="sha256"):
            fetcher.get(url, sha(data), out / "model.bin", None, len(data))
    finally:
        fetcher.close()
    assert list(out.iterdir()) == []


def test_a_large_blob_from_a_store_that_ignores_ranges_is_whole(tmp_path: Any) -> None:
    """A store that answers every ranged GET with the whole object (200): each range takes
    its own bytes of it, and the file is whole and verified."""
    import http.server

    from modelbay.sdk import presigned

    data = os.urandom((3 << 20) + 5)

    class Whole(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the client stops reading
                self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Whole)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fetcher = presigned.Presigned()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/object?X-Amz-Signature=x"
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(presigned, "RANGED_FROM", 1 << 20)
            mp.setattr(presigned, "RANGE", 1 << 20)
            fetcher.get(url, sha(data), tmp_path / "whole.bin", None, len(data))
        assert (tmp_path / "whole.bin").read_bytes() == data
    finally:
        fetcher.close()
        server.shutdown()
        server.server_close()


def test_gc_keeps_the_object_of_a_session_left_completing_after_it_was_recorded(
    services: Services, me: Principal
) -> None:
    """A completion that recorded its blob and died before it settled its session: the
    session is aborted a week later, and its object, which is the blob's, stays."""
    data = os.urandom(2 * PART + 2)
    session = plan(services, me, data)
    send(session, data)
    services.blobs.complete(me, session["id"])
    commit(services, me, data, "recorded")
    with services.db.write() as conn:
        conn.execute(
            uploads.update()
            .where(uploads.c.id == session["id"])
            .values(state="completing", claimed_at=1.0, created_at=1.0)
        )

    assert services.garbage.collect(me, grace_seconds=0)["aborted_uploads"] == 1
    assert keys(services) == [f"mb/uploads/{session['id']}"]
    assert b"".join(services.blobs.iter_bytes(me, sha(data))) == data
