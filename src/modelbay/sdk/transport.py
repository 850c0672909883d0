"""The SDK's one seam: a :class:`Transport` is either embedded (calls the services in this
process) or HTTP (calls a server's REST API). Both take and return the same JSON shapes and
raise the same exception classes, so every SDK object works over either.
"""

from __future__ import annotations

import contextlib
import gc
import json as _json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from modelbay.errors import (
    ModelbayError,
    TransportError,
    from_payload,
)
from modelbay.names import ArtifactRef, RegistryRef, parse_ref
from modelbay.sdk.httpclient import client as http_client
from modelbay.sdk.httpclient import httpx_module
from modelbay.sdk.presigned import Presigned, response_body
from modelbay.sdk.streams import (
    Progress,
    atomic_verified_write,
    counted,
    read_range,
    read_whole,
)
from modelbay.settings import Settings

Info = dict[str, Any]


class RawJSON(bytes):
    """A request body that is JSON already; :class:`HttpTransport` sends it unchanged."""


class Transport:
    """What the SDK needs from modelbay; see :class:`LocalTransport` and :class:`HttpTransport`."""

    url: str | None = None
    #: Transfers to the presigned URLs of a server over an object store.
    presigned: Presigned
    #: Whether large new files may be sent while they are hashed (to a server that writes
    #: blobs itself; see transfer.hash_and_send): off once the server says it needs digests.
    hashes_while_sending = False

    @property
    def identity(self) -> str:
        """Names the server, for what the client remembers of its upload sessions."""
        return self.url or ""

    def call(self, op: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    def upload_blob(self, digest: str, path: Path, size: int, progress: Progress = None) -> None:
        """Send a whole file as the blob ``digest`` (verified by the receiver)."""
        raise NotImplementedError

    def upload_part(
        self, upload_id: str, part: Info, path: Path, progress: Progress = None
    ) -> None:
        """Send one part of an upload session: bytes ``[offset, offset+size)`` of ``path``."""
        raise NotImplementedError

    def download_blob(
        self,
        digest: str,
        dest: Path,
        url: str | None = None,
        progress: Progress = None,
        size: int | None = None,
    ) -> None:
        """Write the blob to ``dest`` (atomically, verified), from ``url`` when given; the
        room for ``size`` bytes (the manifest's) is reserved first.

        Raises:
            DigestMismatchError: the bytes received do not hash to ``digest``.
            OSError: ENOSPC, the disk has no room for ``size`` bytes (nothing was fetched).
        """
        raise NotImplementedError

    def upload_bundle(self, blobs: list[tuple[str, Path, int]], progress: Progress = None) -> None:
        """Send small whole files ``(digest, path, size)`` together (see blobs/bundle.py).

        Raises:
            DigestMismatchError: a file does not hash to its digest (none of them is stored).
            InvalidInputError: a file changed size since it was hashed.
        """
        raise NotImplementedError

    def download_bundle(self, digests: list[str]) -> Iterator[tuple[str, bytes]]:
        """Small stored blobs as ``(digest, bytes)``, in order, *unverified*: the caller
        checks each against its digest.

        Raises:
            NotFoundError: a blob is not stored.
        """
        raise NotImplementedError

    def close(self) -> None:
        pass


class LocalTransport(Transport):
    """Embedded mode: the services run in this process over the data directory."""

    def __init__(self, settings: Settings) -> None:
        from modelbay.services import Services

        self.settings = settings
        self.services = Services.open(settings)
        self.principal = self.services.auth.local_principal(settings.user)
        self.presigned = Presigned()

    def call(self, op: str, **kwargs: Any) -> Any:
        return getattr(self, f"_op_{op}")(**kwargs)

    # Each _op_ turns JSON-shaped arguments into one service call.
    def _op_whoami(self) -> Info:
        return {"user": self.principal.name, "is_admin": self.principal.is_admin}

    def _op_create_run(self, project: str, **fields: Any) -> Info:
        fields["run_id"] = fields.pop("id", None)
        return self.services.runs.create(self.principal, project, **fields)

    def _op_update_run(self, project: str, run_id: str, **fields: Any) -> Info:
        return self.services.runs.update(self.principal, project, run_id, **fields)

    def _op_get_run(self, project: str, run_id: str) -> Info:
        return self.services.runs.get(self.principal, project, run_id)

    def _op_list_runs(self, project: str) -> list[Info]:
        return self.services.runs.list_runs(self.principal, project)

    def _op_log_history(self, project: str, run_id: str, points: list[Info]) -> int:
        return self.services.runs.log(self.principal, project, run_id, points)

    def _op_history(
        self, project: str, run_id: str, keys: list[str] | None = None, **opts: Any
    ) -> Info:
        return self.services.runs.history(self.principal, project, run_id, keys, **opts)

    def _op_histories(self, runs: list[str], keys: list[str] | None = None, **opts: Any) -> Info:
        return self.services.runs.histories(self.principal, runs, keys, **opts)

    def _op_summaries(self, runs: list[str]) -> list[Info]:
        return self.services.runs.summaries(self.principal, runs)

    def _op_run_artifacts(self, project: str, run_id: str, direction: str) -> list[Info]:
        return self.services.runs.artifacts(self.principal, project, run_id, direction)

    def _op_missing_blobs(self, digests: list[str]) -> list[str]:
        return self.services.blobs.missing(self.principal, digests)

    def _op_begin_uploads(self, files: list[Info]) -> Info:
        return self.services.blobs.begin_uploads(self.principal, files)

    def _op_complete_uploads(
        self, ids: list[str], sha256: dict[str, str] | None = None
    ) -> list[Info]:
        return self.services.blobs.complete_many(self.principal, ids, sha256)

    def _op_locations(self, digests: list[str]) -> dict[str, Info]:
        return self.services.blobs.locations(self.principal, digests)

    def _op_gc(
        self, grace_seconds: float, dry_run: bool, abandon_uploads_after: float | None
    ) -> Info:
        return self.services.garbage.collect(
            self.principal,
            grace_seconds=grace_seconds,
            dry_run=dry_run,
            abandon_uploads_after=abandon_uploads_after,
        )

    def _op_commit_version(
        self, project: str, name: str, type: str, files: list[Info], **fields: Any
    ) -> Info:
        info, _ = self.services.artifacts.commit_version(
            self.principal, project, name, type, files, **fields
        )
        return info

    def _op_resolve(self, ref: str) -> Info:
        return self.services.artifacts.get(self.principal, parse_ref(ref))

    def _op_use(self, ref: str, project: str | None = None, run_id: str | None = None) -> Info:
        return self.services.artifacts.use(self.principal, parse_ref(ref), project, run_id)

    def _op_files(self, ref: str) -> list[Info]:
        return self.services.artifacts.files(self.principal, parse_ref(ref))

    def _op_update_version(self, ref: str, **fields: Any) -> Info:
        return self.services.artifacts.update(self.principal, parse_ref(ref), **fields)

    def _op_delete_version(self, ref: str) -> None:
        self.services.artifacts.delete(self.principal, parse_ref(ref))

    def _op_unlink(self, ref: str) -> None:
        self.services.registry.unlink(self.principal, parse_ref(ref))

    def _op_list_artifacts(self, project: str, type: str | None = None) -> list[Info]:
        return self.services.artifacts.list_artifacts(self.principal, project, type)

    def _op_artifact_versions(self, project: str, name: str) -> list[Info]:
        return self.services.artifacts.list_versions(self.principal, project, name)

    def _op_set_artifact_alias(self, project: str, name: str, alias: str, version: str) -> Info:
        return self.services.artifacts.set_alias(self.principal, project, name, alias, version)

    def _op_remove_artifact_alias(self, project: str, name: str, alias: str) -> None:
        self.services.artifacts.remove_alias(self.principal, project, name, alias)

    def _op_registries(self) -> list[Info]:
        return self.services.registry.list_registries(self.principal)

    def _op_registry(self, name: str) -> Info:
        return self.services.registry.get_registry(self.principal, name)

    def _op_create_registry(
        self, name: str, description: str | None, artifact_types: list[str] | None
    ) -> Info:
        return self.services.registry.create_registry(
            self.principal, name, description, artifact_types
        )

    def _op_collections(self, registry: str, query: str | None = None) -> list[Info]:
        return self.services.registry.list_collections(self.principal, registry, query)

    def _op_collection(self, registry: str, collection: str) -> Info:
        return self.services.registry.get_collection(self.principal, registry, collection)

    def _op_update_collection(self, registry: str, collection: str, **fields: Any) -> Info:
        return self.services.registry.update_collection(
            self.principal, registry, collection, **fields
        )

    def _op_link(
        self, ref: str, registry: str, collection: str, aliases: list[str] | None = None
    ) -> Info:
        info, _ = self.services.registry.link(
            self.principal, parse_ref(ref), registry, collection, aliases
        )
        return info

    def _op_set_collection_alias(
        self, registry: str, collection: str, alias: str, version: str
    ) -> Info:
        return self.services.registry.set_alias(
            self.principal, registry, collection, alias, version
        )

    def _op_remove_collection_alias(self, registry: str, collection: str, alias: str) -> None:
        self.services.registry.remove_alias(self.principal, registry, collection, alias)

    def _op_collection_versions(
        self, registry: str, collection: str, limit: int = 1000, page_token: str | None = None
    ) -> Info:
        return self.services.registry.list_versions(
            self.principal, registry, collection, limit=limit, page_token=page_token
        )

    def _op_events(
        self,
        ref: str | None = None,
        registry: str | None = None,
        collection: str | None = None,
        limit: int = 100,
    ) -> list[Info]:
        return self.services.registry.history(
            self.principal,
            parse_ref(ref) if ref else None,
            registry=registry,
            collection=collection,
            limit=limit,
        )

    def _op_lineage(self, ref: str | None = None, run: str | None = None, depth: int = 2) -> Info:
        return self.services.lineage.graph(
            self.principal, ref=parse_ref(ref) if ref else None, run=run, depth=depth
        )

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
        atomic_verified_write(
            dest, digest, counted(self.services.backend.iter_bytes(digest), progress), size
        )

    def close(self) -> None:
        self.presigned.close()
        self.services.close()


def _version_path(ref: str) -> str:
    parsed = parse_ref(ref)
    if isinstance(parsed, RegistryRef):
        return f"/registries/{parsed.registry}/collections/{parsed.collection}/versions/{parsed.selector}"
    assert isinstance(parsed, ArtifactRef)
    return f"/projects/{parsed.project}/artifacts/{parsed.name}/versions/{parsed.selector}"


class HttpTransport(Transport):
    """Server mode: REST calls on one kept-alive connection pool."""

    def __init__(self, url: str, api_key: str | None, timeout: float = 60.0) -> None:
        httpx = httpx_module()

        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._httpx = httpx
        self.client = http_client(
            base_url=self.url + "/api/v1",
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=10.0),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            # A plain-HTTP server never makes this client speak TLS (redirects are not
            # followed): skip loading the CA bundle, ~17 ms of every script's start.
            verify=not self.url.startswith("http://"),
        )
        self.presigned = Presigned()
        self.hashes_while_sending = True

    def request(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        # Serialised here so that NaN and infinity in metrics survive (httpx refuses them).
        if isinstance(json, RawJSON):  # encoded already (a run journal's lines): as is
            content: bytes | None = bytes(json)
        else:
            content = (
                _json.dumps(json, separators=(",", ":")).encode() if json is not None else None
            )
        headers = {"Content-Type": "application/json"} if content is not None else None
        try:
            resp = self.client.request(
                method,
                path,
                content=content,
                headers=headers,
                params={k: v for k, v in (params or {}).items() if v is not None},
            )
        except self._httpx.HTTPError as exc:
            raise TransportError(f"cannot reach modelbay server at {self.url}: {exc}") from exc
        return self._result(resp)

    def _result(self, resp: Any) -> Any:
        if resp.status_code == 204:
            return None
        payload = parse_body(resp.content)
        if resp.is_success:
            return payload
        raise from_payload(payload, resp.status_code)

    #: Operations whose REST answer wraps the embedded result in an object under this key.
    UNWRAP = {
        "missing_blobs": "missing",
        "complete_uploads": "results",
        "locations": "locations",
        "list_runs": "runs",
        "log_history": "stored",
        "log_history_raw": "stored",
        "summaries": "runs",
        "run_artifacts": "artifacts",
        "files": "files",
        "list_artifacts": "artifacts",
        "artifact_versions": "versions",
        "registries": "registries",
        "collections": "collections",
        "events": "events",
    }

    def call(self, op: str, **kwargs: Any) -> Any:
        method, path, params, body = getattr(self, f"_op_{op}")(**kwargs)
        result = self.request(method, path, json=body, params=params)
        key = self.UNWRAP.get(op)
        return result[key] if key else result

    # Each _op_ returns (method, path, query params, JSON body); see call().
    def _op_whoami(self) -> tuple[str, str, None, None]:
        return "GET", "/whoami", None, None

    def _op_create_run(self, project: str, **fields: Any) -> tuple[str, str, None, Info]:
        return "POST", f"/projects/{project}/runs", None, fields

    def _op_update_run(
        self, project: str, run_id: str, **fields: Any
    ) -> tuple[str, str, None, Info]:
        return "PATCH", f"/projects/{project}/runs/{run_id}", None, fields

    def _op_get_run(self, project: str, run_id: str) -> tuple[str, str, None, None]:
        return "GET", f"/projects/{project}/runs/{run_id}", None, None

    def _op_list_runs(self, project: str) -> tuple[str, str, None, None]:
        return "GET", f"/projects/{project}/runs", None, None

    def _op_log_history(
        self, project: str, run_id: str, points: list[Info]
    ) -> tuple[str, str, None, Info]:
        return "POST", f"/projects/{project}/runs/{run_id}/history", None, {"points": points}

    def _op_log_history_raw(
        self, project: str, run_id: str, body: bytes
    ) -> tuple[str, str, None, RawJSON]:
        return "POST", f"/projects/{project}/runs/{run_id}/history", None, RawJSON(body)

    def _op_history(
        self, project: str, run_id: str, keys: list[str] | None = None, **opts: Any
    ) -> tuple[str, str, Info, None]:
        return (
            "GET",
            f"/projects/{project}/runs/{run_id}/history",
            {"keys": ",".join(keys) if keys else None, **opts},
            None,
        )

    def _op_histories(
        self, runs: list[str], keys: list[str] | None = None, **opts: Any
    ) -> tuple[str, str, None, Info]:
        return "POST", "/runs/history", None, {"runs": runs, "keys": keys, **opts}

    def _op_summaries(self, runs: list[str]) -> tuple[str, str, None, Info]:
        return "POST", "/runs/summaries", None, {"runs": runs}

    def _op_run_artifacts(
        self, project: str, run_id: str, direction: str
    ) -> tuple[str, str, Info, None]:
        return "GET", f"/projects/{project}/runs/{run_id}/artifacts", {"direction": direction}, None

    def _op_missing_blobs(self, digests: list[str]) -> tuple[str, str, None, Info]:
        return "POST", "/blobs/missing", None, {"digests": digests}

    def _op_begin_uploads(self, files: list[Info]) -> tuple[str, str, None, Info]:
        return "POST", "/blobs/uploads", None, {"files": files}

    def _op_complete_uploads(
        self, ids: list[str], sha256: dict[str, str] | None = None
    ) -> tuple[str, str, None, Info]:
        body: Info = {"ids": ids} if sha256 is None else {"ids": ids, "sha256": sha256}
        return "POST", "/blobs/uploads/complete", None, body

    def _op_locations(self, digests: list[str]) -> tuple[str, str, None, Info]:
        return "POST", "/blobs/locations", None, {"digests": digests}

    def _op_gc(
        self, grace_seconds: float, dry_run: bool, abandon_uploads_after: float | None
    ) -> tuple[str, str, None, Info]:
        body: Info = {"grace_seconds": grace_seconds, "dry_run": dry_run}
        if abandon_uploads_after is not None:  # only then: a server before it refuses the field
            body["abandon_uploads_after"] = abandon_uploads_after
        return "POST", "/admin/gc", None, body

    def _op_commit_version(
        self, project: str, name: str, type: str, files: list[Info], **fields: Any
    ) -> tuple[str, str, None, Info]:
        return (
            "POST",
            f"/projects/{project}/artifacts/{name}/versions",
            None,
            {"type": type, "files": files, **fields},
        )

    def _op_resolve(self, ref: str) -> tuple[str, str, Info, None]:
        return "GET", "/resolve", {"ref": ref}, None

    def _op_use(
        self, ref: str, project: str | None = None, run_id: str | None = None
    ) -> tuple[str, str, None, Info]:
        return "POST", "/use", None, {"ref": ref, "project": project, "run_id": run_id}

    def _op_files(self, ref: str) -> tuple[str, str, None, None]:
        return "GET", _version_path(ref) + "/files", None, None

    def _op_update_version(self, ref: str, **fields: Any) -> tuple[str, str, None, Info]:
        return "PATCH", _version_path(ref), None, fields

    def _op_delete_version(self, ref: str) -> tuple[str, str, None, None]:
        if isinstance(parse_ref(ref), RegistryRef):
            # Same refusal as the embedded service, without a round trip to a different route.
            from modelbay.errors import ConflictError

            raise ConflictError(f"{ref} is a registry version: unlink it instead of deleting")
        return "DELETE", _version_path(ref), None, None

    def _op_unlink(self, ref: str) -> tuple[str, str, None, None]:
        if not isinstance(parse_ref(ref), RegistryRef):
            from modelbay.errors import InvalidInputError

            raise InvalidInputError(
                f"{ref} is not a registry version: unlink takes 'registry-registry/name:vN'"
            )
        return "DELETE", _version_path(ref), None, None

    def _op_list_artifacts(
        self, project: str, type: str | None = None
    ) -> tuple[str, str, Info, None]:
        return "GET", f"/projects/{project}/artifacts", {"type": type}, None

    def _op_artifact_versions(self, project: str, name: str) -> tuple[str, str, None, None]:
        return "GET", f"/projects/{project}/artifacts/{name}/versions", None, None

    def _op_set_artifact_alias(
        self, project: str, name: str, alias: str, version: str
    ) -> tuple[str, str, None, Info]:
        return (
            "PUT",
            f"/projects/{project}/artifacts/{name}/aliases/{alias}",
            None,
            {"version": version},
        )

    def _op_remove_artifact_alias(
        self, project: str, name: str, alias: str
    ) -> tuple[str, str, None, None]:
        return "DELETE", f"/projects/{project}/artifacts/{name}/aliases/{alias}", None, None

    def _op_registries(self) -> tuple[str, str, None, None]:
        return "GET", "/registries", None, None

    def _op_registry(self, name: str) -> tuple[str, str, None, None]:
        return "GET", f"/registries/{name}", None, None

    def _op_create_registry(
        self, name: str, description: str | None, artifact_types: list[str] | None
    ) -> tuple[str, str, None, Info]:
        return (
            "POST",
            "/registries",
            None,
            {"name": name, "description": description, "artifact_types": artifact_types},
        )

    def _op_collections(
        self, registry: str, query: str | None = None
    ) -> tuple[str, str, Info, None]:
        return "GET", f"/registries/{registry}/collections", {"query": query}, None

    def _op_collection(self, registry: str, collection: str) -> tuple[str, str, None, None]:
        return "GET", f"/registries/{registry}/collections/{collection}", None, None

    def _op_update_collection(
        self, registry: str, collection: str, **fields: Any
    ) -> tuple[str, str, None, Info]:
        return "PATCH", f"/registries/{registry}/collections/{collection}", None, fields

    def _op_link(
        self, ref: str, registry: str, collection: str, aliases: list[str] | None = None
    ) -> tuple[str, str, None, Info]:
        body = {"artifact": ref, "aliases": aliases}
        return "POST", f"/registries/{registry}/collections/{collection}/versions", None, body

    def _op_set_collection_alias(
        self, registry: str, collection: str, alias: str, version: str
    ) -> tuple[str, str, None, Info]:
        return (
            "PUT",
            f"/registries/{registry}/collections/{collection}/aliases/{alias}",
            None,
            {"version": version},
        )

    def _op_remove_collection_alias(
        self, registry: str, collection: str, alias: str
    ) -> tuple[str, str, None, None]:
        return (
            "DELETE",
            f"/registries/{registry}/collections/{collection}/aliases/{alias}",
            None,
            None,
        )

    def _op_collection_versions(
        self, registry: str, collection: str, limit: int = 1000, page_token: str | None = None
    ) -> tuple[str, str, Info, None]:
        params = {"limit": limit, "page_token": page_token}
        return "GET", f"/registries/{registry}/collections/{collection}/versions", params, None

    def _op_events(
        self,
        ref: str | None = None,
        registry: str | None = None,
        collection: str | None = None,
        limit: int = 100,
    ) -> tuple[str, str, Info, None]:
        if ref is not None:
            return "GET", "/history", {"ref": ref, "limit": limit}, None
        return (
            "GET",
            f"/registries/{registry}/collections/{collection}/history",
            {"limit": limit},
            None,
        )

    def _op_lineage(
        self, ref: str | None = None, run: str | None = None, depth: int = 2
    ) -> tuple[str, str, Info, None]:
        return "GET", "/lineage", {"ref": ref, "run": run, "depth": depth}, None

    def upload_blob(self, digest: str, path: Path, size: int, progress: Progress = None) -> None:
        part = {"number": 1, "offset": 0, "size": size}
        self._put(f"/blobs/{digest}", part, path, progress)

    def upload_part(
        self, upload_id: str, part: Info, path: Path, progress: Progress = None
    ) -> None:
        if part.get("url"):
            self.presigned.put(part, path, progress)
        else:
            self._put(f"/blobs/uploads/{upload_id}/parts/{part['number']}", part, path, progress)

    def _put(self, route: str, part: Info, path: Path, progress: Progress) -> None:
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(part["size"])}
        try:
            resp = self.client.put(
                route,
                content=read_range(path, part["offset"], part["size"], progress),
                headers=headers,
            )
        except self._httpx.HTTPError as exc:
            raise TransportError(f"upload to {self.url} failed: {exc}") from exc
        self._result(resp)

    def upload_bundle(self, blobs: list[tuple[str, Path, int]], progress: Progress = None) -> None:
        from modelbay.blobs.bundle import frame_header

        body = bytearray()
        for digest, path, size in blobs:
            body += frame_header(digest, size)
            body += read_whole(path, size)
        try:
            resp = self.client.put(
                "/blobs/bundle",
                content=bytes(body),
                headers={"Content-Type": "application/octet-stream"},
            )
        except self._httpx.HTTPError as exc:
            raise TransportError(f"upload to {self.url} failed: {exc}") from exc
        self._result(resp)
        if progress:
            progress(sum(size for _, _, size in blobs))

    def download_bundle(self, digests: list[str]) -> Iterator[tuple[str, bytes]]:
        from modelbay.blobs.bundle import Unbundler

        unbundler = Unbundler()
        try:
            with self.client.stream(
                "POST",
                "/blobs/bundle/fetch",
                content=_json.dumps({"digests": digests}).encode(),
                headers={"Content-Type": "application/json"},
            ) as resp:
                if not resp.is_success:
                    resp.read()
                    self._result(resp)
                for chunk in response_body(resp):
                    yield from unbundler.feed(chunk)
            unbundler.close()
        except self._httpx.HTTPError as exc:
            raise TransportError(f"download from {self.url} failed: {exc}") from exc

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
        try:
            with self.client.stream("GET", f"/blobs/{digest}") as resp:
                if not resp.is_success:
                    resp.read()
                    self._result(resp)
                atomic_verified_write(dest, digest, counted(response_body(resp), progress), size)
        except self._httpx.HTTPError as exc:
            raise TransportError(f"download from {self.url} failed: {exc}") from exc

    def close(self) -> None:
        self.client.close()
        self.presigned.close()


_transports: dict[tuple[str | None, str | None, str, str | None], Transport] = {}
_transports_lock = threading.Lock()


def connect(settings: Settings | None = None) -> Transport:
    """The transport for ``settings`` (from the environment when not given), one per process."""
    settings = settings or Settings.from_env()
    key = (settings.url, settings.api_key, str(settings.data_dir), settings.db_url)
    with _transports_lock:
        transport = _transports.get(key)
        if transport is None:
            if settings.url:
                transport = HttpTransport(settings.url, settings.api_key)
            else:
                transport = LocalTransport(settings)
            _transports[key] = transport
        return transport


def reset_transports() -> None:
    """Close every cached transport (tests switch data directories)."""
    with _transports_lock:
        for t in _transports.values():
            with contextlib.suppress(ModelbayError):
                t.close()
        _transports.clear()


def parse_body(body: bytes) -> Any:
    """A response body's JSON, None when it is not JSON. orjson first (a page of 1,000
    versions in a third of the time); the standard library for metric values, whose NaN
    and Infinity orjson refuses."""
    with _collector_paused(len(body) >= LARGE_BODY):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
        try:
            return _json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None


#: Bodies from this size on are parsed with the cycle collector paused.
LARGE_BODY = 64 << 10


@contextlib.contextmanager
def _collector_paused(pause: bool) -> Iterator[None]:
    """Parsing a large body allocates tens of thousands of containers, none of them in a
    cycle; in a process with a big heap (a training script's) the collections they set off
    cost up to ten times the parse (measured: 20 ms instead of 2 for a page of 1,000
    versions). Paused only if it is running, and only for the parse."""
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
