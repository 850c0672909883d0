"""The byte routes by digest (``GET /blobs/{digest}``, ``POST /blobs/locations``,
``POST /blobs/bundle/fetch``) give bytes only to callers who may download a version holding
them: a restricted viewer, or someone without a role, is answered as if the blob were not
stored (issue #15)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

import httpx
import pytest
from support.processes import ServerProcess


class Site:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.admin = self.client(server.admin_key)
        self.keys: dict[str, str] = {}

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.url + "/api/v1",
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    server = ServerProcess(tmp_path_factory.mktemp("bytes"))
    try:
        yield Site(server)
    finally:
        server.stop()


def stored(site: Site, project: str, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    assert site.admin.put(f"/blobs/{digest}", content=data).status_code in (200, 201)
    files = [{"path": "w.bin", "sha256": digest, "size": len(data)}]
    made = site.admin.post(
        f"/projects/{project}/artifacts/m/versions", json={"type": "model", "files": files}
    )
    assert made.status_code in (200, 201), made.text
    return digest


def fetches(client: httpx.Client, digest: str) -> dict[str, int]:
    """The statuses of the three ways to fetch one blob's bytes."""
    return {
        "get": client.get(f"/blobs/{digest}").status_code,
        "locations": client.post("/blobs/locations", json={"digests": [digest]}).status_code,
        "bundle": client.post("/blobs/bundle/fetch", json={"digests": [digest]}).status_code,
    }


def test_bytes_go_only_to_callers_who_may_download_them(site: Site) -> None:
    tag = uuid.uuid4().hex[:6]
    project, registry = f"secret{tag}", f"reg{tag}"
    users = {}
    for who in ("rv", "viewer", "outsider", "linkviewer"):
        users[who] = site.admin.post("/users", json={"name": f"{who}{tag}"}).json()["key"]
    secret = stored(site, project, f"weights {tag}".encode())
    assert site.admin.patch(f"/projects/{project}", json={"visibility": "restricted"}).is_success
    for who, role in (("rv", "restricted_viewer"), ("viewer", "viewer")):
        added = site.admin.post(
            f"/projects/{project}/members", json={"user": f"{who}{tag}", "role": role}
        )
        assert added.is_success, added.text
    missing = hashlib.sha256(b"never stored " + tag.encode()).hexdigest()

    with site.client(users["viewer"]) as viewer:
        assert fetches(viewer, secret) == {"get": 200, "locations": 200, "bundle": 200}
        assert viewer.get(f"/blobs/{secret}").content == f"weights {tag}".encode()
    for who in ("rv", "outsider"):
        with site.client(users[who]) as client:
            assert fetches(client, secret) == {"get": 404, "locations": 404, "bundle": 404}
            # The same answer as for bytes nobody stored: existence does not leak.
            hidden = client.get(f"/blobs/{secret}").json()["error"]["message"]
            absent = client.get(f"/blobs/{missing}").json()["error"]["message"]
            assert hidden.replace(secret[:12], "") == absent.replace(missing[:12], "")

    # Linked into a restricted registry where the user may download: the link gives access.
    assert site.admin.post("/registries", json={"name": registry, "visibility": "restricted"})
    linked = site.admin.post(
        f"/registries/{registry}/collections/c/versions", json={"artifact": f"{project}/m:v0"}
    )
    assert linked.is_success, linked.text
    with site.client(users["linkviewer"]) as client:
        assert fetches(client, secret)["get"] == 404
        added = site.admin.post(
            f"/registries/{registry}/members", json={"user": f"linkviewer{tag}", "role": "viewer"}
        )
        assert added.is_success, added.text
        assert fetches(client, secret) == {"get": 200, "locations": 200, "bundle": 200}
