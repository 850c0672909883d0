"""Embedded mode: the services run in this process over the data directory.

The only SDK module that reaches the service layer; everything else goes through the
:class:`~modelbay.sdk.transport.Transport` interface.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from modelbay.contract.operations import Operation
from modelbay.jsontext import Info
from modelbay.sdk.presigned import Presigned
from modelbay.sdk.streams import Progress, atomic_verified_write, counted, read_range, read_whole
from modelbay.sdk.transport import Req, Resp, Transport
from modelbay.services import Services
from modelbay.services.dispatch import invoke
from modelbay.settings import Settings


class LocalTransport(Transport):
    """Embedded mode: the services run in this process over the data directory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services = Services.open(settings)
        self.principal = self.services.auth.local_principal(settings.user)
        self.presigned = Presigned()
        self.embedded = True
        self.writes_local_disk = self.services.backend.kind == "disk"

    def call(self, op: Operation[Req, Resp], request: Req) -> Resp:
        result, _ = invoke(self.services, op, self.principal, request)
        if result is None:
            return op.response()
        return op.response.model_validate(result)

    def upload_blob(self, digest: str, path: Path, size: int, progress: Progress = None) -> None:
        self.services.blobs.put_stream(
            self.principal, digest, read_range(path, 0, size, progress), size
        )

    def upload_part(
        self, upload_id: str, part: Info, path: Path, progress: Progress = None
    ) -> None:
        if part.get("url"):
            self.presigned.put(part, path, progress)
            return
        with self.services.blobs.part_writer(self.principal, upload_id, part["number"]) as writer:
            for chunk in read_range(path, part["offset"], part["size"], progress):
                writer.write(chunk)
            writer.commit()

    def upload_bundle(self, blobs: list[tuple[str, Path, int]], progress: Progress = None) -> None:
        self.services.blobs.put_many(
            self.principal, [(d, read_whole(path, size)) for d, path, size in blobs]
        )
        if progress:
            progress(sum(size for _, _, size in blobs))

    def download_bundle(self, digests: list[str]) -> Iterator[tuple[str, bytes]]:
        return self.services.blobs.read_many(self.principal, digests)

    def download_blob(
        self,
        digest: str,
        dest: Path,
        url: str | None = None,
        progress: Progress = None,
        size: int | None = None,
    ) -> None:
        if url:
            self.presigned.get(url, digest, dest, progress, size)
            return
        # The disk store keeps every blob under its digest's name; an object store's blob is
        # under the key its row records, which the service looks up.
        chunks = (
            self.services.backend.iter_bytes(digest)
            if self.writes_local_disk
            else self.services.blobs.iter_bytes(self.principal, digest)
        )
        atomic_verified_write(dest, digest, counted(chunks, progress), size)

    def close(self) -> None:
        self.presigned.close()
        self.services.close()
