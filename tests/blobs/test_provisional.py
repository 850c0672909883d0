"""Provisional upload sessions (opened before the client knows the digest, completed with
it), over a real server on the disk store: the bytes must hash to the digest named at the
end, a session is resumed by its id only by its owner, and bytes already stored make the
upload a no-op. Then the SDK side: a large new file is sent while it is hashed, a copy of
stored bytes stops early, a file seen before is hashed first, and a file that changes while
it is sent is refused."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from support.processes import ServerProcess

import modelbay
from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
from modelbay.sdk import transfer
from modelbay.sdk.digests import default_index
from modelbay.sdk.transport import HttpTransport

PART = 5 << 20


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        tmp_path_factory.mktemp("provisional"), extra_env={"MODELBAY_UPLOAD_PART_SIZE": str(PART)}
    )
    try:
        yield proc
    finally:
        proc.stop()


def api(srv: ServerProcess, key: str) -> httpx.Client:
    return httpx.Client(base_url=srv.url + "/api/v1", headers={"Authorization": f"Bearer {key}"})


def another_user(client: httpx.Client, srv: ServerProcess, name: str) -> httpx.Client:
    """A client acting as a new (non-admin) user."""
    return api(srv, ok(client.post("/users", json={"name": name}))["key"])


@pytest.fixture
def client(srv: ServerProcess) -> Iterator[httpx.Client]:
    with api(srv, srv.admin_key) as c:
        yield c


def ok(resp: httpx.Response) -> dict:
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


def open_session(client: httpx.Client, size: int, upload_id: str | None = None) -> dict:
    entry = {"size": size} if upload_id is None else {"size": size, "id": upload_id}
    plan = ok(client.post("/blobs/uploads", json={"files": [entry]}))
    assert plan["uploads"] == [] and len(plan["provisional"]) == 1
    return plan["provisional"][0]


def send(
    client: httpx.Client, session: dict, data: bytes, numbers: list[int] | None = None
) -> None:
    for part in session["parts"]:
        if numbers is None or part["number"] in numbers:
            body = data[part["offset"] : part["offset"] + part["size"]]
            url = f"/blobs/uploads/{session['id']}/parts/{part['number']}"
            ok(client.put(url, content=body))


def complete(client: httpx.Client, upload_id: str, digest: str | None) -> dict:
    body: dict = {"ids": [upload_id]}
    if digest is not None:
        body["sha256"] = {upload_id: digest}
    return ok(client.post("/blobs/uploads/complete", json=body))["results"][0]


def staging_files(srv: ServerProcess) -> list[str]:
    return sorted(os.listdir(srv.data_dir / "blobs" / "uploads"))


def test_a_provisional_upload_is_stored_under_the_digest_named_at_the_end(
    client: httpx.Client, srv: ServerProcess
) -> None:
    data = os.urandom(3 * PART + 17)
    digest = hashlib.sha256(data).hexdigest()
    session = open_session(client, len(data))
    assert session["sha256"] is None and len(session["parts"]) == 4
    send(client, session, data)
    assert ok(client.post("/blobs/missing", json={"digests": [digest]}))["missing"] == [digest]
    done = complete(client, session["id"], digest)
    assert done["error"] is None and done["stored"] and done["sha256"] == digest
    assert client.get(f"/blobs/{digest}").content == data
    assert session["id"] not in "".join(staging_files(srv))


def test_completing_without_the_digest_or_with_another_one_stores_nothing(
    client: httpx.Client,
) -> None:
    data = os.urandom(2 * PART + 5)
    digest = hashlib.sha256(data).hexdigest()
    session = open_session(client, len(data))
    send(client, session, data)
    refused = complete(client, session["id"], None)
    assert refused["error"]["code"] == "invalid_input" and "sha256" in refused["error"]["message"]
    wrong = hashlib.sha256(b"something else").hexdigest()
    mismatch = complete(client, session["id"], wrong)
    assert mismatch["error"]["code"] == "digest_mismatch"
    missing = ok(client.post("/blobs/missing", json={"digests": [digest, wrong]}))["missing"]
    assert sorted(missing) == sorted([digest, wrong])
    # The failed session is over: its parts are not taken any more.
    part = session["parts"][0]
    resp = client.put(f"/blobs/uploads/{session['id']}/parts/1", content=data[: part["size"]])
    assert resp.status_code == 404


def test_a_provisional_session_is_resumed_by_id_with_its_stored_parts(
    client: httpx.Client,
) -> None:
    data = os.urandom(3 * PART)
    session = open_session(client, len(data))
    send(client, session, data, numbers=[1, 2])
    again = open_session(client, len(data), session["id"])
    assert again["id"] == session["id"]
    assert [p["done"] for p in again["parts"]] == [True, True, False]
    send(client, again, data, numbers=[3])
    assert complete(client, session["id"], hashlib.sha256(data).hexdigest())["stored"]
    # Once completed (or for another size) the id opens a new session instead.
    fresh = open_session(client, len(data), session["id"])
    assert fresh["id"] != session["id"] and not any(p["done"] for p in fresh["parts"])
    other_size = open_session(client, len(data) + 1, fresh["id"])
    assert other_size["id"] != fresh["id"]


@pytest.mark.parametrize("provisional", [True, False], ids=["provisional", "named"])
def test_a_session_whose_staging_file_is_gone_is_replaced_by_the_next_plan(
    client: httpx.Client, srv: ServerProcess, provisional: bool
) -> None:
    data = os.urandom(2 * PART + 1)
    digest = hashlib.sha256(data).hexdigest()

    def plan(upload_id: str | None = None) -> dict:
        if provisional:
            return open_session(client, len(data), upload_id)
        entry = {"sha256": digest, "size": len(data)}
        (session,) = ok(client.post("/blobs/uploads", json={"files": [entry]}))["uploads"]
        return session

    first = plan()
    send(client, first, data, numbers=[1])
    (srv.data_dir / "blobs" / "uploads" / first["id"]).unlink()  # gone from under it

    second = plan(first["id"])
    assert second["id"] != first["id"]
    assert not any(p["done"] for p in second["parts"])
    assert first["id"] + ".parts" not in staging_files(srv)  # the rest of it went too
    send(client, second, data)
    assert complete(client, second["id"], digest)["stored"]
    body = {"ids": [first["id"]], "sha256": {first["id"]: digest}}
    result = ok(client.post("/blobs/uploads/complete", json=body))["results"][0]
    assert result["stored"]  # the blob is stored: completing the old id says so


def test_only_the_owner_resumes_a_provisional_session(
    client: httpx.Client, srv: ServerProcess
) -> None:
    data = os.urandom(2 * PART)
    session = open_session(client, len(data))
    send(client, session, data, numbers=[1])
    with another_user(client, srv, "provisional-bob") as bob:
        theirs = open_session(bob, len(data), session["id"])
    assert theirs["id"] != session["id"] and not any(p["done"] for p in theirs["parts"])


def test_another_user_can_neither_send_to_nor_complete_a_provisional_session(
    client: httpx.Client, srv: ServerProcess
) -> None:
    data = os.urandom(2 * PART)
    session = open_session(client, len(data))
    with another_user(client, srv, "provisional-eve") as eve:
        part = eve.put(f"/blobs/uploads/{session['id']}/parts/1", content=data[:PART])
        assert part.status_code == 404
        wrong = hashlib.sha256(b"eve").hexdigest()
        assert complete(eve, session["id"], wrong)["error"]["code"] == "not_found"
    send(client, session, data)
    url = f"/blobs/uploads/{session['id']}/complete"  # the single-session route
    done = ok(client.post(url, json={"sha256": hashlib.sha256(data).hexdigest()}))
    assert done["stored"]


def test_bytes_stored_already_make_a_provisional_upload_a_no_op(
    client: httpx.Client, srv: ServerProcess
) -> None:
    data = os.urandom(2 * PART + 1)
    digest = hashlib.sha256(data).hexdigest()
    first = open_session(client, len(data))
    send(client, first, data)
    assert complete(client, first["id"], digest)["stored"]
    second = open_session(client, len(data))
    send(client, second, data, numbers=[1])  # the client learnt the digest, and stopped
    done = complete(client, second["id"], digest)
    assert done["error"] is None and done["stored"]
    assert second["id"] not in "".join(staging_files(srv))  # the partial copy is gone


@pytest.mark.parametrize(
    "entry",
    [
        {"size": 10, "id": "../../etc"},
        {"size": 10, "id": "x" * 33},
        {"size": 10, "id": "ab\u00e9cd"},
        {"size": -1},
        {"size": 6 << 40},
    ],
)
def test_bad_provisional_requests_are_refused(client: httpx.Client, entry: dict) -> None:
    resp = client.post("/blobs/uploads", json={"files": [entry]})
    assert resp.status_code in (400, 422), resp.text


def test_a_digest_not_the_sessions_own_is_refused(client: httpx.Client) -> None:
    data = os.urandom(2 * PART)
    digest = hashlib.sha256(data).hexdigest()
    plan = ok(
        client.post("/blobs/uploads", json={"files": [{"sha256": digest, "size": len(data)}]})
    )
    session = plan["uploads"][0]
    send(client, session, data)
    other = hashlib.sha256(b"other").hexdigest()
    assert complete(client, session["id"], other)["error"]["code"] == "invalid_input"
    assert complete(client, session["id"], digest)["stored"]


# -- the SDK ---------------------------------------------------------------------------


def random_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


@pytest.fixture
def sdk(srv: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HttpTransport:
    monkeypatch.setenv("MODELBAY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(transfer, "STREAM_MIN_BYTES", 2 * PART)
    return HttpTransport(srv.url, srv.admin_key)


def test_a_large_new_file_is_sent_while_it_is_hashed(sdk: HttpTransport, tmp_path: Path) -> None:
    f = random_file(tmp_path / "ckpt.bin", 5 * PART + 3)
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    hashed, sent = transfer.hash_and_send([f], sdk, progress=False)
    assert hashed == [(digest, f.stat().st_size)] and sent == f.stat().st_size
    assert transfer.upload(sdk, {digest: f.stat().st_size}, {digest: f}, progress=False) == 0
    assert default_index().provisional_upload(sdk.identity, f, f.stat()) is None
    # Logged again unchanged (just written, so hashed again, but known): nothing is sent.
    assert transfer.hash_and_send([f], sdk, progress=False) == (hashed, 0)


def test_a_copy_of_stored_bytes_stops_once_hashed(
    sdk: HttpTransport, srv: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = random_file(tmp_path / "a.bin", 8 * PART)
    ((digest, size),) = transfer.hash_files([f], sdk, progress=False)
    copy = tmp_path / "copy.bin"
    shutil.copyfile(f, copy)
    before = staging_files(srv)
    # A slow network (a second per part): the hash is done long before the parts are.

    def slowly(part: dict, i: int, chunk: memoryview) -> memoryview:
        time.sleep(0.2)
        return chunk

    monkeypatch.setattr(HttpTransport, "upload_part_chunks", sending(slowly))
    hashed, sent = transfer.hash_and_send([copy], sdk, progress=False)
    assert hashed == [(digest, size)]
    assert sent < size // 2
    assert staging_files(srv) == before  # the partial copy was dropped


def test_a_file_named_twice_is_read_and_sent_once(sdk: HttpTransport, tmp_path: Path) -> None:
    f = random_file(tmp_path / "twice.bin", 3 * PART)
    link = tmp_path / "hardlink.bin"
    os.link(f, link)
    hashed, sent = transfer.hash_and_send([f, link, f], sdk, progress=False)
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    assert hashed == [(digest, 3 * PART)] * 3
    assert sent == 3 * PART


def test_parts_lost_on_the_way_are_sent_again(
    sdk: HttpTransport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = random_file(tmp_path / "flaky.bin", 4 * PART)
    real = HttpTransport.upload_part_chunks
    failed: list[int] = []

    def flaky(self, upload_id, part, chunks, progress=None):  # type: ignore[no-untyped-def]
        if part["number"] == 2 and not failed:
            failed.append(2)
            raise modelbay.TransportError("connection reset by peer")
        return real(self, upload_id, part, chunks, progress)

    monkeypatch.setattr(HttpTransport, "upload_part_chunks", flaky)
    hashed, _ = transfer.hash_and_send([f], sdk, progress=False)
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    assert failed and hashed == [(digest, 4 * PART)]
    assert sdk.call(ops.MISSING_BLOBS, rq.Digests(digests=[digest])).missing == []


def test_a_server_that_needs_digests_first_gets_them_first(
    sdk: HttpTransport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object store, or a server from before provisional sessions (which answers 422)."""
    f = random_file(tmp_path / "plain.bin", 3 * PART)
    real = HttpTransport.call

    def old_server(self, op, request):  # type: ignore[no-untyped-def]
        if op is ops.BEGIN_UPLOADS and any(e.sha256 is None for e in request.files):
            raise modelbay.InvalidInputError("files.0.sha256: Field required")
        return real(self, op, request)

    monkeypatch.setattr(HttpTransport, "call", old_server)
    hashed, sent = transfer.hash_and_send([f], sdk, progress=False)
    assert sent == 0 and not sdk.hashes_while_sending
    digest, size = hashed[0]
    assert transfer.upload(sdk, {digest: size}, {digest: f}, progress=False) == size


def test_a_file_changed_while_sent_is_refused(
    sdk: HttpTransport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bytes sent that are not the bytes hashed (the file changed between two reads of it)."""
    f = random_file(tmp_path / "moving.bin", 4 * PART)

    def changed(part: dict, i: int, chunk: memoryview) -> bytes | memoryview:
        return b"X" + chunk[1:] if part["offset"] == PART and i == 0 else chunk

    monkeypatch.setattr(HttpTransport, "upload_part_chunks", sending(changed))
    refused_and_not_kept(sdk, f)


def test_a_file_written_while_sent_is_refused(
    sdk: HttpTransport, srv: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file written to once its first part is sent: whatever was read matches its
    hash, but is not the file. Its session is closed all the same (it holds no room)."""
    f = random_file(tmp_path / "written.bin", 4 * PART)
    before = staging_files(srv)

    def write_once(part: dict, i: int, chunk: memoryview) -> memoryview:
        if part["number"] == 2 and i == 0:
            with open(f, "r+b") as out:
                out.write(b"new bytes")
        return chunk

    monkeypatch.setattr(HttpTransport, "upload_part_chunks", sending(write_once))
    refused_and_not_kept(sdk, f)
    assert staging_files(srv) == before


def refused_and_not_kept(sdk: HttpTransport, f: Path) -> None:
    """Sending ``f`` fails as a changed file; neither the server nor the local index keeps
    its bytes as the file's."""
    with pytest.raises(modelbay.DigestMismatchError):
        transfer.hash_and_send([f], sdk, progress=False)
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    assert sdk.call(ops.MISSING_BLOBS, rq.Digests(digests=[digest])).missing == [digest]
    assert default_index().provisional_upload(sdk.identity, f, f.stat()) is None


def sending(
    each: Callable[[dict, int, memoryview], bytes | memoryview],
) -> Callable[..., None]:
    """HttpTransport.upload_part_chunks, with each chunk ``i`` of a part replaced by
    ``each(part, i, chunk)``."""
    real = HttpTransport.upload_part_chunks

    def send(self, upload_id, part, chunks, progress=None):  # type: ignore[no-untyped-def]
        real(self, upload_id, part, (each(part, i, c) for i, c in enumerate(chunks)), progress)

    return send


def test_a_completion_while_its_blob_is_collected_is_refused(tmp_path: Path) -> None:
    """Garbage collection marked the blob deleting and is about to remove its bytes: a
    completion that would put the same bytes in place must not bring the row back to life."""
    import sqlalchemy as sa

    from modelbay.errors import ConflictError
    from modelbay.services import Services
    from modelbay.settings import Settings
    from modelbay.store.schema import blobs, uploads

    services = Services.open(Settings(data_dir=tmp_path / "data"))
    try:
        me = services.auth.local_principal("collector")
        data = os.urandom(1000)
        digest = hashlib.sha256(data).hexdigest()
        services.blobs.put_stream(me, digest, [data])
        with services.db.write() as conn:
            conn.execute(blobs.update().where(blobs.c.sha256 == digest).values(state="deleting"))
        session = services.blobs.begin_uploads(me, [{"size": len(data)}])["provisional"][0]
        with services.blobs.part_writer(me, session["id"], 1) as writer:
            writer.write(data)
            writer.commit()
        with pytest.raises(ConflictError):
            services.blobs.complete(me, session["id"], digest)
        with services.db.read() as conn:
            state = conn.execute(sa.select(blobs.c.state).where(blobs.c.sha256 == digest))
            assert state.scalar() == "deleting"
            upload = conn.execute(sa.select(uploads.c.state).where(uploads.c.id == session["id"]))
            assert upload.scalar() == "aborted"
    finally:
        services.close()
