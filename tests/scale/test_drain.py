"""SIGTERM drains a replica behind nginx (issue #19): what it was serving completes, what
comes after goes to the other replicas, and no client sees a failure its retry rules do
not cover; the webhooks of what was linked all go out.

A server closing its idle kept-alive connections at once made nginx answer 502 to a
POST it was writing onto one of them (server/drain.py); POSTs sent back to back through
nginx, which neither nginx nor anyone retries, show that none fails now.

Slow uploads (bundles of small blobs, their bodies trickled in) are put in flight through
nginx, at least one on every replica; SDK clients log and link models and log metrics
through nginx meanwhile. One replica gets SIGTERM while its upload is still arriving.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from support.nginx import require_nginx
from support.postgres import PostgresCluster
from support.receiver import Receiver
from support.replicas import replicas
from support.seaweed import SeaweedS3

from modelbay.automations.dispatcher import LEASE_SECONDS
from modelbay.blobs.bundle import frame_header

UPLOADS = 6  # over nginx's 2 workers: 3 in a row in one worker, one to every replica
CHUNKS = 40
CHUNK_SECONDS = 0.1
AGENT = "drain-test-upload"
POSTERS = 6


class SlowUpload(threading.Thread):
    """A bundle PUT through the balancer whose body arrives in CHUNKS pieces, one every
    CHUNK_SECONDS, the second half only once ``release`` is set; ``sent`` counts the pieces
    handed to the connection so far."""

    def __init__(self, url: str, key: str, release: threading.Event) -> None:
        super().__init__(daemon=True)
        self.release = release
        self.url, self.key = url, key
        blobs = [os.urandom(40_000) for _ in range(4)]
        self.digests = [hashlib.sha256(b).hexdigest() for b in blobs]
        body = b"".join(
            frame_header(d, len(b)) + b for d, b in zip(self.digests, blobs, strict=True)
        )
        step = -(-len(body) // CHUNKS)
        self.pieces = [body[i : i + step] for i in range(0, len(body), step)]
        self.sent = 0
        self.response: httpx.Response | None = None
        self.error: BaseException | None = None

    def body(self) -> Iterator[bytes]:
        for i, piece in enumerate(self.pieces):
            if i == CHUNKS // 2:
                self.release.wait(120)
            yield piece
            self.sent += 1
            time.sleep(CHUNK_SECONDS)

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}", "User-Agent": AGENT}
        headers["Content-Type"] = "application/octet-stream"
        try:
            with httpx.Client(timeout=60) as client:
                self.response = client.put(
                    self.url + "/api/v1/blobs/bundle", content=self.body(), headers=headers
                )
        except BaseException as exc:  # reported by the test
            self.error = exc


class Posts(threading.Thread):
    """POSTs sent back to back through the balancer on kept-alive connections, never
    retried (a POST is what nginx will not pass on to another replica once sent); the
    statuses they got, until ``stop`` is set."""

    def __init__(self, url: str, key: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.stop = url, key, stop
        self.statuses: list[int] = []

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=60) as client:
            while not self.stop.is_set():
                resp = client.post("/api/v1/runs/history", json={})  # refused: 400
                self.statuses.append(resp.status_code)


def answered_by(entry: dict[str, str]) -> str:
    """The upstream that answered a request logged by nginx (the last one it tried)."""
    return entry["upstream"].split(",")[-1].strip()


def test_sigterm_drains_in_flight_requests_behind_nginx(
    pg_cluster: PostgresCluster, seaweed_s3: SeaweedS3, tmp_path: Path
) -> None:
    require_nginx()
    allow = {"MODELBAY_ALLOW_PRIVATE_DESTINATIONS": "1"}
    with Receiver() as receiver, replicas(pg_cluster, seaweed_s3, tmp_path, 3, allow) as r:
        victim = r.servers[0]
        victim_addr = f"127.0.0.1:{victim.port}"
        admin = httpx.Client(
            base_url=r.url + "/api/v1", headers={"Authorization": f"Bearer {r.admin_key}"}
        )
        hook = {"name": "linked", "scope": "registry:model", "event": "version-linked"}
        hook |= {"action": "webhook", "url": receiver.url + "/hook"}
        admin.post("/automations", json=hook).raise_for_status()
        release = threading.Event()
        uploads = [SlowUpload(r.url, r.admin_key, release) for _ in range(UPLOADS)]
        for upload in uploads:
            upload.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and min(u.sent for u in uploads) < CHUNKS // 2:
            time.sleep(0.05)
        outs = [tmp_path / f"client-{i}.json" for i in range(3)]
        clients = [
            r.load("models", 15, 0, outs[0]),
            r.load("models", 15, 0, outs[1]),
            r.load("metrics", 1500, outs[2]),
        ]
        stop = threading.Event()
        posts = [Posts(r.url, r.admin_key, stop) for _ in range(POSTERS)]
        for poster in posts:
            poster.start()
        # Terminate once the clients' calls are going through, the uploads half sent; the
        # rest of the uploads' bodies arrives while the victim drains.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(r.balancer.access_log()) < 300:
            time.sleep(0.05)
        assert victim.proc is not None
        terminated_at = time.time()
        os.kill(victim.pid, signal.SIGTERM)
        time.sleep(1.0)
        release.set()
        code = victim.proc.wait(timeout=60)
        exited_at = time.time()
        drain_log = victim.log_text()
        victim.stop()
        print(f"drain: exited {exited_at - terminated_at:.2f}s after SIGTERM")
        outs.append(tmp_path / "client-after.json")
        clients.append(r.load("models", 5, 0, outs[-1]))  # starts after the victim is gone
        stop.set()
        for poster in posts:
            poster.join(timeout=60)
        for upload in uploads:
            upload.join(timeout=60)
        for proc in clients:
            output, _ = proc.communicate(timeout=600)
            assert proc.returncode == 0, output[-3000:]

        # The uploads in flight, the victim's among them, all completed.
        log = r.balancer.access_log()
        slow = [e for e in log if e["agent"] == AGENT]
        assert [u.error for u in uploads] == [None] * UPLOADS
        assert [u.response.status_code for u in uploads if u.response] == [200] * UPLOADS
        assert [json.loads(u.response.content)["blobs"] for u in uploads if u.response] == [
            4
        ] * UPLOADS
        on_victim = [e for e in slow if answered_by(e) == victim_addr]
        assert on_victim, slow
        # ... answered after the SIGTERM (the second half of each body was sent after it).
        assert all(float(e["end"]) > terminated_at for e in on_victim)
        # uvicorn ends by the signal it drained for, as systemd expects of a clean stop.
        assert code in (0, -signal.SIGTERM), drain_log[-3000:]

        # What came after the victim exited was answered by the others (nginx, refused by
        # the victim, passes a request on: its log then names both, the answering one last).
        started = [(float(e["end"]) - float(e["duration"]), e) for e in log]
        after = [e for t, e in started if t > exited_at]
        assert after, "no request came after the victim exited"
        assert [e for e in after if answered_by(e) == victim_addr] == []
        assert [e for e in after if e["status"].startswith("5")] == []

        # No client saw a failure: none of the POSTs that nobody retries failed, and
        # whatever nginx could not place was retried by the SDK.
        assert [c for poster in posts for c in poster.statuses if c != 400] == []
        results = [json.loads(out.read_text()) for out in outs]
        assert [res["errors"] for res in results if "errors" in res] == [[], [], []]
        assert [len(res["linked"]) for res in results if "linked" in res] == [15, 15, 5]
        # A call nginx could not place on the draining replica (a kept-alive connection it
        # closed as nginx reused it) is a 502 that the SDK retried, or the errors above.
        failed = [e for e in log if e["status"].startswith("5")]
        assert [e for e in failed if victim_addr not in e["upstream"]] == []
        print(f"drain: {len(failed)} calls answered 502 on the victim, retried: {failed}")
        run = results[2]["run"]
        history = admin.get(f"/projects/scale/runs/{run}/history", params={"keys": "m3"})
        assert [p[0] for p in history.json()["history"]["m3"]] == list(range(1500))

        # Every link's webhook went out once, the victim's share included.
        received = receiver.wait_for(35, timeout=LEASE_SECONDS + 30)
        assert len({req.headers["webhook-id"] for req in received}) == 35
