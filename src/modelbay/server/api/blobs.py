"""/blobs: the bytes themselves (the operations on upload sessions are declared in
contract/operations.py).

Bytes sent to the server are written as they arrive (no buffering of a whole body) and
verified before they count; with an S3 store, clients send and fetch bytes with presigned
URLs and the server only checks and records them. Small blobs go both ways in bundles
(``/blobs/bundle``, many to a request; see blobs/bundle.py), which a server holds in memory
(at most 16 MiB each) until every blob in it is checked.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from modelbay.blobs.bundle import MAX_BUNDLE_BLOBS, MAX_BUNDLE_BYTES, Unbundler, frame_header
from modelbay.blobs.digest import check_digest
from modelbay.contract import entities as e
from modelbay.contract.fields import Int64
from modelbay.contract.requests import Digests
from modelbay.errors import InvalidInputError
from modelbay.server.api.deps import Svc, Who, caller, principal_of, services_of
from modelbay.server.api.routes import parse_json
from modelbay.server.api.spec import BYTES, hand_written
from modelbay.server.app import json_response
from modelbay.server.body_sink import receive_into

router = APIRouter(prefix="/blobs", tags=["blobs"])


@router.put(
    "/uploads/{upload_id}/parts/{number}",
    **hand_written({200: e.PartStored}, (404, 409), body=BYTES),
)
async def upload_part(upload_id: str, number: Int64, request: Request) -> Response:
    who = principal_of(request)
    svc = services_of(request)
    _refuse_forms(request)
    writer = await run_in_threadpool(svc.blobs.part_writer, who, upload_id, number)
    with writer:
        await receive_into(request, writer.write)
        size = await run_in_threadpool(writer.commit)
    return json_response({"id": upload_id, "number": number, "size": size})


@router.put("/bundle", **hand_written({200: e.BundleStored}, (409,), body=BYTES))
async def upload_bundle(request: Request) -> Response:
    """Many small blobs in one body (see blobs/bundle.py); each is verified before any counts."""
    who = principal_of(request)
    svc = services_of(request)
    _refuse_forms(request)
    unbundler = Unbundler(MAX_BUNDLE_BYTES)
    blobs: list[tuple[str, bytes]] = []
    async for chunk in request.stream():
        blobs.extend(unbundler.feed(chunk))
        if len(blobs) > MAX_BUNDLE_BLOBS:
            raise InvalidInputError(f"a bundle holds at most {MAX_BUNDLE_BLOBS} blobs")
    unbundler.close()
    stored = await run_in_threadpool(svc.blobs.put_many, who, blobs)
    return json_response({"blobs": len(blobs), "stored": stored})


@router.post(
    "/bundle/fetch",
    **hand_written(
        {200: "The blobs, framed (see blobs/bundle.py)"},
        (404,),
        body={"application/json": {"schema": Digests.model_json_schema()}},
    ),
)
async def fetch_bundle(request: Request) -> Response:
    """Stored small blobs as one bundle, in the order asked (the client verifies each)."""
    svc, who = caller(request)
    body = Digests.parse(parse_json(await request.body()))
    assert isinstance(body, Digests)
    blobs = await run_in_threadpool(svc.blobs.read_many, who, body.digests)

    def frames() -> Iterator[bytes]:
        # About 1 MiB per chunk: each chunk of a sync iterator costs a thread hop.
        out = bytearray()
        for digest, data in blobs:
            out += frame_header(digest, len(data))
            out += data
            if len(out) >= 1 << 20:
                yield bytes(out)
                out.clear()
        if out:
            yield bytes(out)

    return StreamingResponse(frames(), media_type="application/octet-stream")


@router.put(
    "/{digest}",
    status_code=201,
    **hand_written({201: e.BlobStored, 200: e.BlobStored}, (409,), body=BYTES),
)
async def upload(digest: str, request: Request) -> Response:
    """A whole blob in one request (small files); verified before it counts."""
    who = principal_of(request)
    svc = services_of(request)
    check_digest(digest)
    _refuse_forms(request)
    length = request.headers.get("content-length")
    size = int(length) if length and length.isdigit() else None
    if await run_in_threadpool(svc.blobs.is_stored, digest):
        return json_response({"sha256": digest, "stored": False})
    receiver = await run_in_threadpool(svc.blobs.receiver, who, digest, size)
    with receiver:
        await receive_into(request, receiver.write)
        written = await run_in_threadpool(receiver.commit)
    return json_response({"sha256": digest, "size": written, "stored": True}, 201)


@router.get(
    "/{digest}",
    **hand_written(
        {200: "The blob's bytes", 307: "Fetch the bytes from the Location (an S3 store)"}, (404,)
    ),
)
def download(digest: str, svc: Svc, who: Who) -> Response:
    check_digest(digest)
    path = svc.blobs.local_path(who, digest)
    if path is not None:
        return _BlobFile(path, media_type="application/octet-stream")
    url = svc.blobs.locations(who, [digest])[digest]["url"]
    return RedirectResponse(url, status_code=307)


class _BlobFile(FileResponse):
    # Starlette reads and sends 64 KiB at a time; every chunk costs a thread hop and a trip
    # through the ASGI send path, so a blob goes in 1 MiB chunks.
    chunk_size = 1 << 20


def _refuse_forms(request: Request) -> None:
    if request.headers.get("content-type", "").startswith("multipart/"):
        raise InvalidInputError("send the raw bytes as the request body, not a form")
