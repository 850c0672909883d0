"""Completing upload sessions on an S3 store (SeaweedFS).

A completion that cannot go on: once a multipart upload has been assembled, a failure
afterwards leaves nothing to resume, so the session is aborted and the next plan opens a new
one, instead of sending parts to an upload that is gone again and again (seen when two
clients sent the same new blob at once).

A one-part upload is checked with a HEAD signed and sent by modelbay itself (blobs/head.py;
botocore's own call costs many times the CPU); whatever that path cannot answer plainly,
botocore answers, and a store that keeps no checksum has the bytes read back.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import sqlalchemy as sa

from modelbay.errors import DigestMismatchError, InvalidInputError, NotFoundError
from modelbay.services import Services
from modelbay.services.core import Principal
from modelbay.settings import Settings
from modelbay.store.schema import uploads

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


def test_a_failure_after_assembly_aborts_the_session_and_a_new_one_stores_the_blob(
    services: Services, me: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(2 * PART + 7)
    first = plan(services, me, data)
    assert len(first["parts"]) == 3
    send(first, data)
    backend: Any = services.backend

    def broken_copy(*args: Any, **kwargs: Any) -> None:
        raise OSError("the store failed the copy")

    with monkeypatch.context() as patch:
        patch.setattr(backend, "_move_in", broken_copy)
        with pytest.raises(NotFoundError, match="send its blob again"):
            services.blobs.complete(me, first["id"])
    assert state(services, first["id"]) == "aborted"
    assert staging_keys(services) == []  # the assembled object went with it

    second = plan(services, me, data)
    assert second["id"] != first["id"]
    assert not any(p["done"] for p in second["parts"])
    send(second, data)
    assert services.blobs.complete(me, second["id"])["stored"] is True
    assert b"".join(services.backend.iter_bytes(hashlib.sha256(data).hexdigest())) == data


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
    backend: Any = services.backend
    # What a completion did before it was cut off (or before the store's answer was lost).
    assemble(services, session["id"])

    assert services.blobs.complete(me, session["id"])["stored"] is True
    assert state(services, session["id"]) == "done"
    assert staging_keys(services) == []
    assert b"".join(backend.iter_bytes(hashlib.sha256(data).hexdigest())) == data


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
    assert b"".join(services.backend.iter_bytes(hashlib.sha256(data).hexdigest())) == data
    assert staging_keys(services) == []


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
    assert b"".join(services.backend.iter_bytes(hashlib.sha256(data).hexdigest())) == data


def small(services: Services, me: Principal, data: bytes) -> dict[str, Any]:
    session = plan(services, me, data)
    assert len(session["parts"]) == 1 and session["parts"][0]["url"]
    return session


def test_a_one_part_upload_is_checked_with_a_signed_head(
    services: Services, me: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend: Any = services.backend
    answered: list[Any] = []
    head_many = backend._heads.head_many

    def counted(bucket: str, keys: list[str]) -> Any:
        found = head_many(bucket, keys)
        answered.extend(found.values())
        return found

    def no_botocore(**kwargs: Any) -> None:
        raise AssertionError("botocore was asked")

    monkeypatch.setattr(backend._heads, "head_many", counted)
    monkeypatch.setattr(backend.client, "head_object", no_botocore)
    data = os.urandom(1000)
    missing = small(services, me, data)
    with pytest.raises(InvalidInputError, match="lacks 1 part"):
        services.blobs.complete(me, missing["id"])
    send(missing, data)
    assert services.blobs.complete(me, missing["id"])["stored"] is True
    digest = hashlib.sha256(data).digest()
    assert answered == [None, (1000, base64.b64encode(digest).decode())]


def test_botocore_answers_what_the_signed_head_cannot(services: Services, me: Principal) -> None:
    from botocore.credentials import Credentials

    backend: Any = services.backend
    backend._heads.credentials = Credentials("AKIDNOTKNOWN", "wrong-secret")
    data = os.urandom(1000)
    session = small(services, me, data)
    send(session, data)
    assert services.blobs.complete(me, session["id"])["stored"] is True
    assert backend._heads.off is True  # refused (403) once, then left alone


def test_bytes_without_a_stored_checksum_are_read_back(services: Services, me: Principal) -> None:
    backend: Any = services.backend
    good, bad = os.urandom(1000), os.urandom(1000)
    sessions = [small(services, me, good), small(services, me, bad)]
    # Bytes put under the blobs' names without a checksum, as a store that keeps none would
    # hold them; the second name gets other bytes than its digest's.
    for session, body in ((sessions[0], good), (sessions[1], os.urandom(1000))):
        backend.client.put_object(
            Bucket=backend.bucket, Key=backend.key(session["sha256"]), Body=body
        )
        assert backend._head_checksum(backend.key(session["sha256"]))[1] is None

    assert services.blobs.complete(me, sessions[0]["id"])["stored"] is True
    with pytest.raises(DigestMismatchError):
        services.blobs.complete(me, sessions[1]["id"])
    assert backend._head_checksum(backend.key(sessions[1]["sha256"])) is None  # removed


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
        assert services.blobs.complete(me, session["id"])["stored"] is True  # a signed HEAD
        assert services.backend.size(hashlib.sha256(data).hexdigest()) == 1000  # botocore
        assert connections_to(port) >= before + 2
    assert connections_to(port) == before


def count_botocore_presigns(backend: Any) -> dict[str, int]:
    calls: dict[str, int] = {}
    real = backend.client.generate_presigned_url

    def counted(operation: str, **kw: Any) -> Any:
        calls[operation] = calls.get(operation, 0) + 1
        return real(operation, **kw)

    backend.client.generate_presigned_url = counted
    return calls


def test_presigned_urls_are_signed_here_once_one_matched_botocores(
    services: Services, me: Principal
) -> None:
    backend: Any = services.backend
    calls = count_botocore_presigns(backend)
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
    # botocore signed one URL of each kind, to check this path against; this path the rest.
    assert calls == {"put_object": 1, "upload_part": 1, "get_object": 1}
    assert backend._presigner.agrees == dict.fromkeys(calls, True)


def test_an_operation_whose_urls_differ_from_botocores_is_left_to_botocore(
    services: Services, me: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend: Any = services.backend
    real_sign = backend._presigner._sign

    def other_style(operation: str, params: dict[str, Any], stamp: str) -> str:
        url = real_sign(operation, params, stamp)
        return url.replace("/mb/", "/mb//") if operation == "put_object" else url

    monkeypatch.setattr(backend._presigner, "_sign", other_style)
    calls = count_botocore_presigns(backend)
    small_ones = [os.urandom(50 + i) for i in range(3)]
    for data in small_ones:
        session = small(services, me, data)
        send(session, data)
        assert services.blobs.complete(me, session["id"])["stored"] is True
    assert calls == {"put_object": 4}  # the check, then every URL
    assert backend._presigner.agrees == {"put_object": False}


@pytest.mark.parametrize("token", [None, "a-session/token+==", "to ken%2F~&=ü"])
@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:9/",
        "http://127.0.0.1",
        "http://Store.Example:80",
        "https://store.example:443",
        "https://s3.example:8443",
        "http://[::1]:9000",
    ],
)
def test_urls_signed_here_are_botocores_to_the_byte(
    example_credentials: Callable[[str | None], None], token: str | None, endpoint: str
) -> None:
    """No store needed: the same parameters at the same time give the same URL, odd keys,
    upload ids, session tokens and endpoints included."""
    from modelbay.blobs.s3 import S3BlobStore

    example_credentials(token)
    store = S3BlobStore("my-bucket", "pre fix", endpoint_url=endpoint)
    signer: Any = store._presigner
    odd = ["a b+c~d/ü?x#y", "%41%2F%%/x//y/", "k;=&,:@$!'()*[]^`{|}\\\"<>", "日本/\u00e9e\u0301 \t"]
    cases = [
        ("get_object", {"Bucket": "my-bucket", "Key": "pre fix/blobs/ab/" + "ab" * 32}),
        *(("get_object", {"Bucket": "my-bucket", "Key": key}) for key in odd),
        (
            "put_object",
            {"Bucket": "my-bucket", "Key": "k/" + "cd" * 32, "ChecksumSHA256": "q+/w=="},
        ),
        *(
            ("put_object", {"Bucket": "my-bucket", "Key": key, "ChecksumSHA256": "a="})
            for key in odd
        ),
        *(
            (
                "upload_part",
                {"Bucket": "my-bucket", "Key": "uploads/x", "UploadId": upload, "PartNumber": 10},
            )
            for upload in ["u/+= 1", "2~a.b-c_d", "a&b=c%2F%;d#e?f ü"]
        ),
        (
            "upload_part",
            {"Bucket": "my-bucket", "Key": odd[0], "UploadId": "x", "PartNumber": 10000},
        ),
    ]
    for operation, params in cases:
        theirs = store.client.generate_presigned_url(operation, Params=params, ExpiresIn=3600)
        stamp = theirs.split("X-Amz-Date=")[1].split("&")[0]
        assert signer._sign(operation, params, stamp) == theirs
        assert (
            signer.url(operation, params).split("X-Amz-Date=")[0] == theirs.split("X-Amz-Date=")[0]
        )


def test_the_cached_signing_key_follows_the_secret_and_the_day() -> None:
    """One signer's key, derived once and kept, signs as a key derived afresh each time."""
    from modelbay.blobs.sigv4 import S3Signer

    kept = S3Signer("eu-west-3")
    for secret, stamp in [
        ("s1", "20260101T000000Z"),
        ("s1", "20260101T235959Z"),
        ("s1", "20260102T000000Z"),
        ("s2", "20260102T000000Z"),
        ("s1", "20260101T120000Z"),
    ]:
        assert kept.signature(secret, stamp, "a\ncanonical") == S3Signer("eu-west-3").signature(
            secret, stamp, "a\ncanonical"
        )
    assert S3Signer("us-east-1").signature("s1", "20260101T000000Z", "x") != kept.signature(
        "s1", "20260101T000000Z", "x"
    )
