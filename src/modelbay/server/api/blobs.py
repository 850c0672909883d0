"""/blobs: which digests the server lacks, and the bytes themselves (verified on the way in)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response

from modelbay.blobs.local import check_digest
from modelbay.errors import InvalidInputError
from modelbay.server.api.bodies import Digests
from modelbay.server.api.deps import Svc, Who, principal, services
from modelbay.server.app import json_response

router = APIRouter(prefix="/blobs", tags=["blobs"])


@router.post("/missing")
def missing(body: Digests, svc: Svc, who: Who) -> Response:
    for d in body.digests:
        check_digest(d)
    return json_response({"missing": svc.blobs.missing(body.digests)})


@router.put("/{digest}", status_code=201)
async def upload(digest: str, request: Request) -> Response:
    principal(request)
    svc = services(request)
    check_digest(digest)
    length = request.headers.get("content-length")
    size = int(length) if length and length.isdigit() else None
    if svc.blobs.has(digest):
        return json_response({"sha256": digest, "size": svc.blobs.size(digest), "stored": False})
    if request.headers.get("content-type", "").startswith("multipart/"):
        raise InvalidInputError("send the raw bytes as the request body, not a form")
    with svc.blobs.writer(digest, size) as writer:
        async for chunk in request.stream():
            writer.write(chunk)
        written = await run_in_threadpool(writer.commit)
    return json_response({"sha256": digest, "size": written, "stored": True}, 201)


@router.get("/{digest}")
def download(digest: str, svc: Svc, who: Who) -> Response:
    path = svc.blobs.path(check_digest(digest))
    svc.blobs.open(digest).close()  # raises NotFoundError with our error shape
    return FileResponse(path, media_type="application/octet-stream")
