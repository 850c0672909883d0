"""Deliveries across processes: events logged in embedded mode sent by the next server;
a server SIGKILLed with deliveries pending; two servers sharing one PostgreSQL."""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from support.automations import Env
from support.processes import ServerProcess
from support.receiver import Receiver

PRIVATE = ["--allow-private-destinations"]


def ref_entry() -> dict[str, Any]:
    """A file tracked by reference: a version needs no stored bytes."""
    digest = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    return {"path": "w.bin", "sha256": digest, "size": 16, "ref": f"https://example.com/{digest}"}


def admin(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=server.url + "/api/v1",
        headers={"Authorization": f"Bearer {server.admin_key}"},
        timeout=60,
    )


def ok(resp: httpx.Response) -> Any:
    assert 200 <= resp.status_code < 300, f"{resp.request.url}: {resp.text}"
    return resp.json() if resp.content else None


def link_new_version(client: httpx.Client, collection: str = "MNIST") -> None:
    body = {"type": "model", "files": [ref_entry()]}
    version = ok(client.post("/projects/proj/artifacts/net/versions", json=body))["version"]
    path = f"/registries/model/collections/{collection}/versions"
    ok(client.post(path, json={"artifact": f"proj/net:{version}"}))


def hook(client: httpx.Client, url: str, name: str = "hook") -> None:
    body = {
        "name": name,
        "scope": "registry:model",
        "event": "version-linked",
        "action": "webhook",
        "url": url,
    }
    ok(client.post("/automations", json=body))


def wait_until(check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_events_logged_embedded_are_delivered_by_the_next_server(
    env: Env, receiver: Receiver, tmp_path: Path
) -> None:
    env.services.automations.create(
        env.me, "ci", "registry:model", "version-linked", "webhook", url=receiver.url
    )
    env.link()
    env.link()
    assert receiver.requests == []  # nobody dispatched yet: the rows wait in the outbox
    env.services.close()
    with ServerProcess(env.settings.data_dir, args=PRIVATE):
        got = receiver.wait_for(2)
    assert len({r.headers["webhook-id"] for r in got}) == 2
    assert sorted(r.json()["data"]["version"]["link"]["version"] for r in got) == ["v0", "v1"]


def test_a_server_killed_with_deliveries_pending_delivers_them_after_restart(
    receiver: Receiver, tmp_path: Path
) -> None:
    # The first retry comes 3 s after the first attempt: the kill falls between the two,
    # when every delivery is pending and none is leased.
    env = {"MODELBAY_DELIVERY_RETRY_SCHEDULE": "0,3,0.2,0.2,0.2,0.2,0.2,0.2"}
    server = ServerProcess(tmp_path / "data", extra_env=env, args=PRIVATE)
    try:
        with admin(server) as client:
            hook(client, receiver.url)
            receiver.stop()
            for _ in range(5):
                link_new_version(client)

            def all_tried_once() -> bool:
                found = ok(client.get("/automations/hook/deliveries"))["deliveries"]
                return len(found) == 5 and all(d["attempts"] == 1 for d in found)

            assert wait_until(all_tried_once, 30)
        server.kill()
        receiver.start()
        server.restart()
        got = receiver.wait_for(5, timeout=60)
        with admin(server) as client:

            def settled() -> list[dict[str, Any]]:
                found = ok(client.get("/automations/hook/deliveries"))["deliveries"]
                return found if all(d["state"] != "pending" for d in found) else []

            found = wait_until(settled, 30)
    finally:
        server.stop()
    assert {d["state"] for d in found} == {"succeeded"}
    ids = [r.headers["webhook-id"] for r in got]
    assert len(ids) == 5 and set(ids) == {d["message_id"] for d in found}


def test_two_servers_on_one_postgresql_deliver_each_event_once(
    pg_cluster: Any, receiver: Receiver, tmp_path: Path
) -> None:
    db_url = pg_cluster.create_database("a_" + uuid.uuid4().hex[:12])
    first = ServerProcess(tmp_path / "one", db_url, args=PRIVATE)
    second = ServerProcess(tmp_path / "two", db_url, args=PRIVATE)
    try:
        with admin(first) as a, admin(second) as b:
            hook(a, receiver.url)
            for i in range(20):
                link_new_version(a if i % 2 else b)
            got = receiver.wait_for(20, timeout=60)
            time.sleep(2)  # time for a duplicate to arrive, were there one
            found = ok(a.get("/automations/hook/deliveries"))["deliveries"]
            attempted = {
                attempt["request"]["headers"]["webhook-id"]
                for d in found
                for attempt in d["history"]
            }
    finally:
        first.stop()
        second.stop()
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(got) >= 20 and len(ids) == 20 and len(set(ids)) == 20
    assert len(found) == 20 and {d["state"] for d in found} == {"succeeded"}
    assert all(d["attempts"] == 1 for d in found) and len(attempted) == 20
