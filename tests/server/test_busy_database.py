"""A registry write that finds SQLite's lock taken waits for it without stalling the server.

Link and alias writes run on the event loop when the lock is free (see
``modelbay.server.api.deps.write``); when another process holds it, they are handed to a
worker thread to wait there, and other requests are answered meanwhile.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from support.processes import ServerProcess


def _version(client: httpx.Client, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    assert client.put(f"/blobs/{digest}", content=data).status_code in (200, 201)
    resp = client.post(
        "/projects/p/artifacts/m/versions",
        json={"type": "model", "files": [{"path": "m.bin", "sha256": digest, "size": len(data)}]},
    )
    assert resp.status_code in (200, 201), resp.text
    return f"p/m:{resp.json()['version']}"


def test_writes_wait_for_a_held_lock_while_reads_are_answered(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    try:
        headers = {"Authorization": f"Bearer {server.admin_key}"}
        with httpx.Client(base_url=server.url + "/api/v1", headers=headers, timeout=10) as client:
            first, second, third = (_version(client, f"model {i}".encode()) for i in range(3))
            coll = "/registries/model/collections/busy"
            assert client.post(f"{coll}/versions", json={"artifact": first}).status_code == 201
            assert client.post(f"{coll}/versions", json={"artifact": second}).status_code == 201
            assert client.put(f"{coll}/aliases/production", json={"version": "v0"}).is_success

            holder = sqlite3.connect(tmp_path / "data" / "modelbay.db", isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            with (
                ThreadPoolExecutor(2) as pool,
                httpx.Client(base_url=server.url + "/api/v1", headers=headers, timeout=60) as other,
            ):
                moving = pool.submit(
                    other.put, f"{coll}/aliases/production", json={"version": "v1"}
                )
                linking = pool.submit(
                    httpx.post,
                    f"{server.url}/api/v1{coll}/versions",
                    json={"artifact": third},
                    headers=headers,
                    timeout=60,
                )
                time.sleep(0.5)  # let both reach the server and find the lock taken
                # The server still answers, reads included, while the writes wait.
                assert client.get("/health").json() == {"status": "ok"}
                resolved = client.get("/resolve", params={"ref": "model-registry/busy:production"})
                assert resolved.json()["link"]["version"] == "v0"
                assert not moving.done() and not linking.done()
                holder.execute("ROLLBACK")
                assert moving.result().status_code == 200, moving.result().text
                assert linking.result().status_code == 201, linking.result().text
            holder.close()
            resolved = client.get("/resolve", params={"ref": "model-registry/busy:production"})
            assert resolved.json()["link"]["version"] == "v1"
            assert client.get("/resolve", params={"ref": "model-registry/busy:v2"}).is_success
    finally:
        server.stop()
