"""Three replicas on one PostgreSQL and one SeaweedFS bucket behind nginx, under load from
client processes, one replica SIGKILLed mid-load (issue #19).

Clients log and link models (one of them 100 MiB, through presigned URLs), move
``staging`` with every link and log metrics, all through nginx; an automation sends a
webhook for every link to a local receiver. Afterwards: every model is linked once and its
webhook delivered once, the collection's versions are numbered without gap or repeat,
every metric value is stored, the only failures a client saw were retried by it, and no
5xx came from a replica that stayed up.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import httpx
from support.nginx import require_nginx
from support.postgres import PostgresCluster
from support.receiver import Receiver
from support.replicas import replicas
from support.seaweed import SeaweedS3

from modelbay.automations.dispatcher import LEASE_SECONDS

MODELS_PER_CLIENT = 20
STEPS = 3000


def test_three_replicas_lose_nothing_when_one_is_killed(
    pg_cluster: PostgresCluster,
    seaweed_s3: SeaweedS3,
    tmp_path: Path,
) -> None:
    require_nginx()
    allow = {"MODELBAY_ALLOW_PRIVATE_DESTINATIONS": "1"}
    with Receiver() as receiver, replicas(pg_cluster, seaweed_s3, tmp_path, 3, allow) as r:
        admin = httpx.Client(
            base_url=r.url + "/api/v1", headers={"Authorization": f"Bearer {r.admin_key}"}
        )
        hook = {"name": "linked", "scope": "registry:model", "event": "version-linked"}
        hook |= {"action": "webhook", "url": receiver.url + "/hook"}
        admin.post("/automations", json=hook).raise_for_status()
        outs = [tmp_path / f"client-{i}.json" for i in range(4)]
        clients = [
            r.load("models", MODELS_PER_CLIENT, 100, outs[0]),
            r.load("models", MODELS_PER_CLIENT, 0, outs[1]),
            r.load("models", MODELS_PER_CLIENT, 0, outs[2]),
            r.load("metrics", STEPS, outs[3]),
        ]
        victim = r.servers[1]
        victim_addr = f"127.0.0.1:{victim.port}"
        # Kill once the load is under way: some calls have gone to every replica.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            served = {e["upstream"] for e in r.balancer.access_log()}
            if victim_addr in served and len(r.balancer.access_log()) > 150:
                break
            time.sleep(0.2)
        killed_after = len(r.balancer.access_log())
        victim.kill()
        for proc in clients:
            output, _ = proc.communicate(timeout=600)
            assert proc.returncode == 0, output[-3000:]

        results = [json.loads(out.read_text()) for out in outs]
        page = admin.get(
            "/registries/model/collections/scale/versions", params={"limit": 1000}
        ).json()
        versions = page["versions"]
        numbers = sorted(v["link"]["index"] for v in versions)
        linked = MODELS_PER_CLIENT * 3
        # Every model linked once: no version lost, none twice, none misnumbered.
        assert numbers == list(range(linked))
        assert len({v["id"] for v in versions}) == linked  # distinct artifact versions
        assert sorted(v["link"]["version"] for v in versions if v["link"]["aliases"]) != []
        staging = [v for v in versions if "staging" in v["link"]["aliases"]]
        assert len(staging) == 1
        assert [len(res["linked"]) for res in results[:3]] == [MODELS_PER_CLIENT] * 3

        # Every link delivered by some replica; a delivery leased by the victim when it died
        # goes out again once its lease expires (dispatcher.LEASE_SECONDS), under its id.
        received = receiver.wait_for(linked, timeout=LEASE_SECONDS + 30)
        ids = Counter(req.headers["webhook-id"] for req in received)
        assert len(ids) == linked
        versions_told = {req.json()["data"]["version"]["id"] for req in received}
        assert versions_told == {v["id"] for v in versions}

        run = results[3]["run"]
        history = admin.get(f"/projects/scale/runs/{run}/history", params={"keys": "m3"})
        points = history.json()["history"]["m3"]
        assert [p[0] for p in points] == list(range(STEPS))  # every step, once

        failures = [e for res in results[:3] for e in res["errors"]]
        log = r.balancer.access_log()
        print(
            "scale:",
            json.dumps(
                {
                    "requests": len(log),
                    "to_victim": sum(1 for e in log if victim_addr in e["upstream"]),
                    "5xx": sum(1 for e in log if e["status"].startswith("5")),
                    "client_failures": failures,
                    "killed_after_requests": killed_after,
                }
            ),
        )
        from_survivors = [
            e for e in log if e["status"].startswith("5") and victim_addr not in e["upstream"]
        ]
        assert from_survivors == []
        # Whatever failed was in flight on the victim, and the client tried it again.
        assert len(failures) <= sum(1 for e in log if victim_addr in e["upstream"])
