"""Completing upload sessions on an S3 store (SeaweedFS).

A completion that cannot go on: once a multipart upload has been assembled, a failure
afterwards leaves nothing to resume, so the session is aborted and the next plan opens a new
one, instead of sending parts to an upload that is gone again and again (seen when two
clients sent the same new blob at once).

A one-part upload is checked with a HEAD of its object (size and the sha256 the store kept);
a store that keeps no checksum has the bytes read back. A batch of completions fails only the
uploads whose objects are missing or wrong.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import sqlalchemy as sa

from modelbay.errors import DigestMismatchError, InvalidInputError, NotFoundError
from modelbay.services import Services
from modelbay.services.core import Principal
from modelbay.settings import Settings
from modelbay.store.schema import blobs, uploads

PART = 5 << 20


@pytest.fixture
def services(s3_settings: Settings) -> Iterator[Services]:
    with Services.open(s3_settings.with_(upload_part_size=PART)) as services:
        yield services


@pytest.fixture
def me(services: Services) -> Principal:
    return services.auth.local_principal("uploader")


def plan(services: Services, me: Principal, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (session,) = services.blobs.begin_uploads(me, [{"sha256": digest, "size": len(data)}])[
        "uploads"
    ]
    return dict(session)


def send(session: dict[str, Any], data: bytes) -> None:
    for part in session["parts"]:
        body = data[part["offset"] : part["offset"] + part["size"]]
        resp = httpx.put(part["url"], content=body, headers=part["headers"])
        assert resp.status_code == 200, resp.text


def state(services: Services, upload_id: str) -> str:
    with services.db.read() as conn:
        return str(
            conn.execute(sa.select(uploads.c.state).where(uploads.c.id == upload_id)).scalar()
        )


def staging_keys(services: Services) -> list[str]:
    backend: Any = services.backend
    listing = backend.client.list_objects_v2(Bucket=backend.bucket, Prefix="mb/uploads/")
    return [o["Key"] for o in listing.get("Contents", [])]


def recorded_key(services: Services, digest: str) -> str | None:
    """The object key a blob's row records (relative to the store's prefix)."""
    with services.db.read() as conn:
        row = conn.execute(sa.select(blobs.c.object_key).where(blobs.c.sha256 == digest)).one()
    return row[0]


def stored_bytes(services: Services, me: Principal, data: bytes) -> bytes:
    """The bytes stored for ``data``'s digest, read where its row says they are."""
    return b"".join(services.blobs.iter_bytes(me, hashlib.sha256(data).hexdigest()))


def test_a_failure_after_assembly_aborts_the_session_and_a_new_one_stores_the_blob(
    services: Services, me: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(2 * PART + 7)
    first = plan(services, me, data)
    assert len(first["parts"]) == 3
    send(first, data)
    backend: Any = services.backend

    def broken_read(*args: Any, **kwargs: Any) -> None:
        raise OSError("the store failed the read")

    with monkeypatch.context() as patch:
        patch.setattr(backend, "_digest_of", broken_read)
        with pytest.raises(NotFoundError, match="send its blob again"):
            services.blobs.complete(me, first["id"])
    assert state(services, first["id"]) == "aborted"
    assert staging_keys(services) == []  # the assembled object went with it

    second = plan(services, me, data)
    assert second["id"] != first["id"]
    assert not any(p["done"] for p in second["parts"])
    send(second, data)
    assert services.blobs.complete(me, second["id"])["stored"] is True
    assert stored_bytes(services, me, data) == data
    assert staging_keys(services) == [f"mb/uploads/{second['id']}"]


def backend_id(services: Services, upload_id: str) -> str:
    with services.db.read() as conn:
        return str(
            conn.execute(sa.select(uploads.c.backend_id).where(uploads.c.id == upload_id)).scalar()
        )


def assemble(services: Services, upload_id: str) -> None:
    """What a completion does first: assemble the parts (the multipart upload is then gone)."""
    backend: Any = services.backend
    key, upload = f"mb/uploads/{upload_id}", backend_id(services, upload_id)
    listed = backend.client.list_parts(Bucket=backend.bucket, Key=key, UploadId=upload)["Parts"]
    backend.client.complete_multipart_upload(
        Bucket=backend.bucket,
        Key=key,
        UploadId=upload,
        MultipartUpload={
            "Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in listed]
        },
    )


def test_a_completion_cut_off_after_assembly_goes_on_from_the_assembled_object(
    services: Services, me: Principal
) -> None:
    data = os.urandom(2 * PART + 1)
    session = plan(services, me, data)
    send(session, data)
    # What a completion did before it was cut off (or before the store's answer was lost).
    assemble(services, session["id"])

    assert services.blobs.complete(me, session["id"])["stored"] is True
    assert state(services, session["id"]) == "done"
    assert staging_keys(services) == [f"mb/uploads/{session['id']}"]  # where the blob stays
    assert recorded_key(services, sha(data)) == f"uploads/{session['id']}"
    assert stored_bytes(services, me, data) == data


def test_a_session_whose_multipart_upload_is_gone_is_aborted(
    services: Services, me: Principal
) -> None:
    data = os.urandom(PART + 3)
    session = plan(services, me, data)
    send(session, data)
    backend: Any = services.backend
    backend.client.abort_multipart_upload(
        Bucket=backend.bucket,
        Key=f"mb/uploads/{session['id']}",
        UploadId=backend_id(services, session["id"]),
    )

    with pytest.raises(NotFoundError, match="is gone"):
        services.blobs.complete(me, session["id"])
    assert state(services, session["id"]) == "aborted"
    assert plan(services, me, data)["id"] != session["id"]


def abort_outside(services: Services, upload_id: str) -> None:
    """What a bucket lifecycle rule (AbortIncompleteMultipartUpload) does to an old upload."""
    backend: Any = services.backend
    backend.client.abort_multipart_upload(
        Bucket=backend.bucket,
        Key=f"mb/uploads/{upload_id}",
        UploadId=backend_id(services, upload_id),
    )


def test_a_plan_replaces_a_session_whose_multipart_upload_is_gone(
    services: Services, me: Principal
) -> None:
    data = os.urandom(2 * PART + 5)
    first = plan(services, me, data)
    send({**first, "parts": first["parts"][:1]}, data)  # killed after one part
    abort_outside(services, first["id"])

    second = plan(services, me, data)
    assert second["id"] != first["id"]
    assert state(services, first["id"]) == "aborted"
    assert not any(p["done"] for p in second["parts"])
    send(second, data)  # one round: no part goes to the upload that is gone
    assert services.blobs.complete(me, second["id"])["stored"] is True
    assert stored_bytes(services, me, data) == data
    assert staging_keys(services) == [f"mb/uploads/{second['id']}"]


def set_claim(services: Services, upload_id: str, claimed_at: float) -> None:
    with services.db.write() as conn:
        conn.execute(
            uploads.update()
            .where(uploads.c.id == upload_id)
            .values(state="completing", claimed_at=claimed_at)
        )


def test_a_plan_leaves_alone_a_gone_session_that_a_completion_has_claimed(
    services: Services, me: Principal
) -> None:
    data = os.urandom(PART + 9)
    first = plan(services, me, data)
    send(first, data)
    assemble(services, first["id"])
    # The completion claims the session between the plan's read and its write.
    real_stored_parts = services.backend.stored_parts

    def claimed_meanwhile(session: Any) -> Any:
        set_claim(services, session.id, time.time())
        return real_stored_parts(session)

    services.backend.stored_parts = claimed_meanwhile  # type: ignore[method-assign]
    try:
        second = plan(services, me, data)
    finally:
        del services.backend.stored_parts  # type: ignore[attr-defined]
    assert second["id"] != first["id"]
    assert state(services, first["id"]) == "completing"  # its completion decides...
    assert f"mb/uploads/{first['id']}" in staging_keys(services)  # ...with what it assembled
    set_claim(services, first["id"], 1.0)  # that completion died: the next one takes over
    assert services.blobs.complete(me, first["id"])["stored"] is True
    assert stored_bytes(services, me, data) == data


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def key_of(session: dict[str, Any]) -> str:
    """The bucket key a session's bytes go to (and stay under once stored)."""
    return f"mb/uploads/{session['id']}"


def small(services: Services, me: Principal, data: bytes) -> dict[str, Any]:
    session = plan(services, me, data)
    assert len(session["parts"]) == 1 and session["parts"][0]["url"]
    return session


def test_a_one_part_upload_is_stored_once_its_object_is_there(
    services: Services, me: Principal
) -> None:
    data = os.urandom(1000)
    missing = small(services, me, data)
    with pytest.raises(InvalidInputError, match="lacks 1 part"):
        services.blobs.complete(me, missing["id"])
    send(missing, data)
    assert services.blobs.complete(me, missing["id"])["stored"] is True
    assert stored_bytes(services, me, data) == data


def test_a_batch_fails_only_the_uploads_whose_objects_are_missing_or_wrong(
    services: Services, me: Principal
) -> None:
    backend: Any = services.backend
    datas = [os.urandom(1000 + i) for i in range(9)]
    files = [{"sha256": sha(d), "size": len(d)} for d in datas]
    sessions = services.blobs.begin_uploads(me, files)["uploads"]
    good, (missing, unchecked, other_size) = sessions[:6], sessions[6:]
    for session, data in zip(good[:5], datas, strict=False):
        send(session, data)
    # The right bytes kept without a checksum (as by a store that keeps none: read back);
    # none at all; other bytes of the same size, without a checksum; other bytes of another
    # size, with their own checksum.
    backend.client.put_object(Bucket=backend.bucket, Key=key_of(good[5]), Body=datas[5])
    wrong = os.urandom(1007)
    backend.client.put_object(Bucket=backend.bucket, Key=key_of(unchecked), Body=wrong)
    short = os.urandom(50)
    backend.client.put_object(
        Bucket=backend.bucket,
        Key=key_of(other_size),
        Body=short,
        ChecksumSHA256=base64.b64encode(hashlib.sha256(short).digest()).decode(),
    )

    results = services.blobs.complete_many(me, [s["id"] for s in sessions])

    assert {r["id"]: (r["error"] or {}).get("code") for r in results} == {
        **{s["id"]: None for s in good},
        missing["id"]: "invalid_input",  # send it, then complete again
        unchecked["id"]: "digest_mismatch",
        other_size["id"]: "digest_mismatch",
    }
    with services.db.read() as conn:
        live = set(conn.execute(sa.select(blobs.c.sha256).where(blobs.c.state == "live")).scalars())
        states = dict(conn.execute(sa.select(uploads.c.id, uploads.c.state)).all())
    assert live == {s["sha256"] for s in good}
    assert states == {
        **{s["id"]: "done" for s in good},
        missing["id"]: "open",
        unchecked["id"]: "failed",
        other_size["id"]: "failed",
    }
    for session in (unchecked, other_size):  # wrong bytes do not stay
        assert backend._head_checksum(key_of(session)) is None


def test_bytes_without_a_stored_checksum_are_read_back(services: Services, me: Principal) -> None:
    backend: Any = services.backend
    good, bad = os.urandom(1000), os.urandom(1000)
    sessions = [small(services, me, good), small(services, me, bad)]
    # Bytes put under the blobs' names without a checksum, as a store that keeps none would
    # hold them; the second name gets other bytes than its digest's.
    for session, body in ((sessions[0], good), (sessions[1], os.urandom(1000))):
        backend.client.put_object(Bucket=backend.bucket, Key=key_of(session), Body=body)
        assert backend._head_checksum(key_of(session))[1] is None

    assert services.blobs.complete(me, sessions[0]["id"])["stored"] is True
    with pytest.raises(DigestMismatchError):
        services.blobs.complete(me, sessions[1]["id"])
    assert backend._head_checksum(key_of(sessions[1])) is None  # removed


def connections_to(port: int) -> int:
    """This process's established TCP connections to ``port`` on loopback (/proc/net/tcp)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if state == "01" and int(remote.split(":")[1], 16) == port and inode in inodes:
                count += 1
    return count


def test_closing_the_services_closes_the_stores_connections(s3_settings: Settings) -> None:
    assert s3_settings.s3_endpoint_url is not None
    port = urlparse(s3_settings.s3_endpoint_url).port
    assert port is not None
    before = connections_to(port)
    with Services.open(s3_settings) as services:
        me = services.auth.local_principal("uploader")
        data = os.urandom(1000)
        session = small(services, me, data)
        send(session, data)
        assert services.blobs.complete(me, session["id"])["stored"] is True
        assert services.backend.size(sha(data), recorded_key(services, sha(data))) == 1000
        assert connections_to(port) > before
    assert connections_to(port) == before


def test_presigned_urls_of_every_kind_carry_the_bytes(services: Services, me: Principal) -> None:
    small_ones = [os.urandom(100 + i) for i in range(5)]
    large = os.urandom(2 * PART + 3)
    files = [{"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for d in small_ones]
    files.append({"sha256": hashlib.sha256(large).hexdigest(), "size": len(large)})
    sessions = services.blobs.begin_uploads(me, files)["uploads"]
    for session, data in zip(sessions, [*small_ones, large], strict=True):
        send(session, data)  # the store takes what the URLs say
    results = services.blobs.complete_many(me, [s["id"] for s in sessions])
    assert all(r["stored"] for r in results), results
    locations = services.blobs.locations(me, [f["sha256"] for f in files])
    for data in [*small_ones, large]:
        url = locations[hashlib.sha256(data).hexdigest()]["url"]
        assert httpx.get(url).content == data


def test_sessions_take_the_stores_own_part_size_unless_the_server_sets_one(
    s3_settings: Settings, tmp_path: Any
) -> None:
    """An S3 store's sessions come in boto3's 8 MiB parts, a provisional one too; the
    server's upload_part_size still overrides it."""
    size = (20 << 20) + 1
    entries = [{"sha256": "ab" * 32, "size": size}, {"size": size}]
    with Services.open(s3_settings) as services:
        me = services.auth.local_principal("uploader")
        planned = services.blobs.begin_uploads(me, entries)
        sessions = planned["uploads"] + planned["provisional"]
        assert [(s["part_size"], len(s["parts"])) for s in sessions] == [(8 << 20, 3)] * 2
    with Services.open(s3_settings.with_(upload_part_size=PART)) as services:
        me = services.auth.local_principal("uploader")
        other = [{"sha256": "cd" * 32, "size": size}]  # the open session above keeps its parts
        (session,) = services.blobs.begin_uploads(me, other)["uploads"]
        assert (session["part_size"], len(session["parts"])) == (PART, 5)
