"""Checking many one-part S3 uploads at once: HEADs signed here and pipelined on a few
kept-alive connections (blobs/head.py), against SeaweedFS, and against a scripted HTTP server
on loopback for the answers SeaweedFS does not give (a 5xx, a connection closed midway).

Whatever the HEADs answer, an upload is recorded only when its object has the size and sha256
promised, and a batch fails only the uploads whose objects are missing or wrong.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import sqlalchemy as sa

from modelbay.blobs import head
from modelbay.blobs.head import SignedHeads
from modelbay.blobs.s3 import S3BlobStore
from modelbay.services import Services
from modelbay.services.core import Principal
from modelbay.settings import Settings
from modelbay.store.schema import blobs, uploads


@pytest.fixture
def services(s3_settings: Settings) -> Iterator[Services]:
    with Services.open(s3_settings) as services:
        yield services


@pytest.fixture
def me(services: Services) -> Principal:
    return services.auth.local_principal("uploader")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def three_small_uploads_sent(services: Services, me: Principal) -> Any:
    """Three new small blobs planned and sent to their presigned URLs, not completed; the
    plan."""
    datas = [os.urandom(200 + i) for i in range(3)]
    sessions = services.blobs.begin_uploads(me, [{"sha256": sha(d), "size": len(d)} for d in datas])
    for session, data in zip(sessions["uploads"], datas, strict=True):
        (part,) = session["parts"]
        httpx.put(part["url"], content=data, headers=part["headers"]).raise_for_status()
    return sessions


def botocore_head(backend: Any, key: str) -> tuple[int, str | None] | None:
    from botocore.exceptions import ClientError

    try:
        got = backend.client.head_object(Bucket=backend.bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError:
        return None
    return int(got["ContentLength"]), got.get("ChecksumSHA256")


def test_a_batch_fails_only_the_uploads_whose_objects_are_missing_or_wrong(
    services: Services, me: Principal
) -> None:
    backend: Any = services.backend
    datas = [os.urandom(1000 + i) for i in range(9)]
    files = [{"sha256": sha(d), "size": len(d)} for d in datas]
    sessions = services.blobs.begin_uploads(me, files)["uploads"]
    good, (missing, unchecked, other_size) = sessions[:6], sessions[6:]
    for session, data in zip(good[:5], datas, strict=False):
        (part,) = session["parts"]
        assert httpx.put(part["url"], content=data, headers=part["headers"]).status_code == 200
    # The right bytes kept without a checksum (as by a store that keeps none: read back);
    # none at all; other bytes of the same size, without a checksum; other bytes of another
    # size, with their own checksum.
    backend.client.put_object(Bucket=backend.bucket, Key=backend.key(sha(datas[5])), Body=datas[5])
    wrong = os.urandom(1007)
    backend.client.put_object(
        Bucket=backend.bucket, Key=backend.key(unchecked["sha256"]), Body=wrong
    )
    short = os.urandom(50)
    backend.client.put_object(
        Bucket=backend.bucket,
        Key=backend.key(other_size["sha256"]),
        Body=short,
        ChecksumSHA256=b64(short),
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
    for session in (unchecked, other_size):  # wrong bytes do not stay under a blob's name
        assert botocore_head(backend, backend.key(session["sha256"])) is None
    assert not backend._heads.off


def test_heads_sent_together_answer_as_botocore_does(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(head, "DEPTH", 4)  # several windows on each of several connections
    monkeypatch.setattr(head, "CONNECTIONS", 3)
    backend: Any = services.backend
    keys = [f"mb/t/{i}" for i in range(23)] + ["mb/t/odd name ü+~%"]
    for i, key in enumerate(keys):
        data = os.urandom(100 + i)
        if i % 4 == 1:
            continue  # none
        checksum = {} if i % 4 == 2 else {"ChecksumSHA256": b64(data)}
        backend.client.put_object(Bucket=backend.bucket, Key=key, Body=data, **checksum)

    found = backend._heads.head_many(backend.bucket, keys)

    assert found == {key: botocore_head(backend, key) for key in keys}
    assert found[keys[1]] is None and found[keys[2]] == (102, None)
    assert not backend._heads.off


def test_a_kept_alive_connection_the_store_dropped_is_replaced(services: Services) -> None:
    backend: Any = services.backend
    data = os.urandom(300)
    backend.client.put_object(
        Bucket=backend.bucket, Key="mb/x", Body=data, ChecksumSHA256=b64(data)
    )
    heads: SignedHeads = backend._heads
    assert heads.head(backend.bucket, "mb/x") == (300, b64(data))
    assert heads._idle
    for conn in heads._idle:  # as if the store had closed them while they were idle
        conn.sock.shutdown(socket.SHUT_RDWR)

    assert heads.head(backend.bucket, "mb/x") == (300, b64(data))
    assert not heads.off


def test_heads_signed_otherwise_than_botocore_leave_the_checks_to_botocore(
    services: Services, me: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend: Any = services.backend
    heads: SignedHeads = backend._heads
    sign = heads._sign

    def other(path: str, credentials: Any, stamp: str) -> list[tuple[str, str]]:
        return [
            (k, v + "0" if k == "Authorization" else v) for k, v in sign(path, credentials, stamp)
        ]

    monkeypatch.setattr(heads, "_sign", other)
    sessions = three_small_uploads_sent(services, me)

    results = services.blobs.complete_many(me, [s["id"] for s in sessions["uploads"]])

    assert all(r["stored"] for r in results), results
    assert heads._agrees is False and heads.off


@pytest.mark.parametrize(
    "endpoint", ["http://127.0.0.1:9/", "https://s3.example.com", "https://s3.example.com:8443/p"]
)
@pytest.mark.parametrize("token", [None, "a-session/token+=="])
def test_heads_are_signed_as_botocore_signs_them(
    example_credentials: Callable[[str | None], None], endpoint: str, token: str | None
) -> None:
    """No store needed: the headers signed here are botocore's own, at the same time."""
    example_credentials(token)
    heads = S3BlobStore("my-bucket", "p", endpoint_url=endpoint)._heads
    assert heads is not None and not heads.off
    assert heads._check(heads.credentials.get_frozen_credentials())


class ScriptedStore:
    """An HTTP/1.1 server on loopback that answers each HEAD of ``/bucket/<key>`` with the
    status ``statuses`` gives the key (200 by default: a length of len(key) and a checksum
    naming the key), and closes each connection after ``close_after`` answers (0: at once,
    without answering)."""

    def __init__(self, statuses: dict[str, int], close_after: int | None = None) -> None:
        self.statuses = statuses
        self.close_after = close_after
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the client closed it: its business
            self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        data, served = b"", 0
        while True:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(1 << 16)
                if not chunk:
                    return
                data += chunk
            if self.close_after == 0:
                return
            request, data = data.split(b"\r\n\r\n", 1)
            key = unquote(request.split(b" ")[1].decode().split("/", 2)[2])
            status = self.statuses.get(key, 200)
            served += 1
            closing = self.close_after is not None and served >= self.close_after
            lines = [f"HTTP/1.1 {status} Scripted"]
            lines.append(f"Content-Length: {len(key) if status == 200 else 0}")
            if status == 200:
                lines.append(f"x-amz-checksum-sha256: sum-of-{key}")
            if closing:
                lines.append("Connection: close")
            conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            if closing:
                return

    def heads(self) -> SignedHeads:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(
            aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="us-east-1"
        )
        client = session.client(
            "s3", endpoint_url=self.url, config=Config(s3={"addressing_style": "path"}, proxies={})
        )
        return SignedHeads(session, client)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def scripted() -> Iterator[list[ScriptedStore]]:
    made: list[ScriptedStore] = []
    yield made
    for store in made:
        store.close()


def test_each_answer_goes_to_its_key_when_the_store_closes_connections_midway(
    scripted: list[ScriptedStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(head, "DEPTH", 3)
    monkeypatch.setattr(head, "CONNECTIONS", 2)
    keys = [f"k{i}" for i in range(12)]
    store = ScriptedStore({"k3": 503, "k5": 404}, close_after=2)
    scripted.append(store)
    heads = store.heads()

    found = heads.head_many("bucket", keys)

    # A 5xx is left to botocore (and its retries), and does not turn this path off.
    expected = {k: (len(k), f"sum-of-{k}") for k in keys if k not in ("k3", "k5")}
    assert found == {**expected, "k5": None}
    assert not heads.off
    assert store.connections == 6  # two runs of six keys, two answers a connection


@pytest.mark.parametrize(("status", "close_after"), [(403, None), (301, None), (200, 0)])
def test_a_store_that_does_not_answer_plainly_turns_the_signed_heads_off(
    scripted: list[ScriptedStore], status: int, close_after: int | None
) -> None:
    store = ScriptedStore({"k1": status}, close_after=close_after)
    scripted.append(store)
    heads = store.heads()

    with pytest.raises(LookupError):
        heads.head("bucket", "k1")

    assert heads.off
    asked = store.connections
    assert heads.head_many("bucket", ["k2"]) == {}  # not asked again
    assert store.connections == asked


def test_a_store_that_answers_one_request_a_connection_is_left_to_botocore(
    scripted: list[ScriptedStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pipelining to a store (or a proxy) that closes every connection after one answer
    would open a connection a key: after a few such, the path turns off."""
    monkeypatch.setattr(head, "DEPTH", 16)
    monkeypatch.setattr(head, "CONNECTIONS", 1)
    keys = [f"k{i}" for i in range(200)]
    store = ScriptedStore({}, close_after=1)
    scripted.append(store)
    heads = store.heads()

    found = heads.head_many("bucket", keys)

    assert heads.off
    assert store.connections == head.SHORT_CONNECTIONS
    assert found == {k: (len(k), f"sum-of-{k}") for k in keys[: head.SHORT_CONNECTIONS]}


def test_kept_alive_connections_the_store_dropped_while_idle_do_not_turn_heads_off(
    scripted: list[ScriptedStore],
) -> None:
    """A store closes connections left idle a while: after a pause every connection a batch
    left idle is dead, and the next batch meets them one after another before it opens a
    live one."""
    store = ScriptedStore({})
    scripted.append(store)
    heads = store.heads()
    for conn in [heads._checkout() for _ in range(3)]:  # as a batch on 3 connections leaves
        heads._checkin(conn)
    for conn in heads._idle:  # as if the store had closed them while they were idle
        conn.sock.shutdown(socket.SHUT_RDWR)

    assert heads.head("bucket", "k9") == (2, "sum-of-k9")
    assert not heads.off


def test_a_connection_left_midway_by_an_error_is_not_used_again(
    scripted: list[ScriptedStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its answers not read yet would go to the next keys asked on it."""
    store = ScriptedStore({})
    scripted.append(store)
    heads = store.heads()
    assert heads.head("bucket", "k1") == (2, "sum-of-k1")
    (conn,) = heads._idle

    def interrupted(self: Any, requests: bytes, count: int) -> Any:
        self.sock.sendall(requests)
        raise KeyboardInterrupt

    monkeypatch.setattr(head._Connection, "exchange", interrupted)
    with pytest.raises(KeyboardInterrupt):
        heads.head("bucket", "k2")

    assert heads._idle == [] and conn.sock.fileno() == -1


def test_a_failure_of_the_signed_heads_is_said_and_leaves_the_checks_to_botocore(
    services: Services, me: Principal, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    backend: Any = services.backend
    heads: SignedHeads = backend._heads

    def broken(bucket: str, keys: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(heads, "_run", broken)
    sessions = three_small_uploads_sent(services, me)

    with caplog.at_level("WARNING", logger="modelbay.blobs"):
        results = services.blobs.complete_many(me, [s["id"] for s in sessions["uploads"]])

    assert all(r["stored"] for r in results), results
    assert "signed HEADs failed" in caplog.text and "a bug" in caplog.text
    assert heads.off
