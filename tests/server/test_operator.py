"""What an operator runs a server by (issue #19): migrations run once and on purpose, a
replica refusing a schema not its own, ``/ready``, ``/metrics`` and JSON logs; against real
servers on PostgreSQL and SQLite."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from support.postgres import PostgresCluster
from support.processes import ServerProcess

from modelbay.store.database import HEAD_REVISION


def modelbay(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(data_dir), "MODELBAY_DIR": str(data_dir)}
    if "PYTHONPATH" in os.environ:  # a worktree's code, when the tests run from one
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run(
        [sys.executable, "-m", "modelbay", *args], capture_output=True, text=True, env=env
    )


def _set_revision(url: str, revision: str) -> None:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = %s", (revision,))


def test_a_shared_database_is_migrated_on_purpose_and_checked(
    pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    url = pg_cluster.create_database("op_" + uuid.uuid4().hex[:12], migrated=False)

    status = modelbay("db", "status", "--db", url, "--json", data_dir=tmp_path)
    assert status.returncode == 1
    assert json.loads(status.stdout) == {"schema": None, "needed": HEAD_REVISION, "current": False}

    refused = modelbay("server", "--db", url, "--port", "0", data_dir=tmp_path)
    assert refused.returncode == 1
    assert "modelbay db upgrade" in refused.stderr
    assert "schema_mismatch" in refused.stderr or "schema is empty" in refused.stderr

    up = modelbay("db", "upgrade", "--db", url, data_dir=tmp_path)
    assert up.returncode == 0, up.stderr
    assert f"to {HEAD_REVISION}" in up.stdout
    again = modelbay("db", "upgrade", "--db", url, "--json", data_dir=tmp_path)
    assert json.loads(again.stdout) == {"before": HEAD_REVISION, "after": HEAD_REVISION}

    with ServerProcess(tmp_path / "srv", url) as srv:
        assert httpx.get(srv.url + "/ready").json() == {"status": "ready", "failed": []}
        # Another release migrated the database meanwhile: this replica is no longer ready.
        _set_revision(url, "9999")
        resp = httpx.get(srv.url + "/ready")
        assert resp.status_code == 503
        assert resp.json() == {"status": "unavailable", "failed": ["database"]}
        assert "9999" not in resp.text  # the reason goes to the log, not to the caller
        assert "newer than this modelbay" in srv.log_text()

    newer = modelbay("server", "--db", url, "--port", "0", data_dir=tmp_path)
    assert newer.returncode == 1 and "upgrade modelbay" in newer.stderr
    down = modelbay("db", "upgrade", "--db", url, data_dir=tmp_path)
    assert down.returncode == 1 and "newer" in down.stderr


def test_an_embedded_database_is_migrated_by_the_server(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data") as srv:
        assert httpx.get(srv.url + "/ready").status_code == 200
        assert httpx.get(srv.url + "/health").json() == {"status": "ok"}
        # The blob store's directory goes away: not ready, and the log says why.
        shutil.rmtree(tmp_path / "data" / "blobs")
        resp = httpx.get(srv.url + "/ready")
        assert resp.status_code == 503 and resp.json()["failed"] == ["blob_store"]
        assert "blob directory" in srv.log_text()


def _samples(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of one metric in Prometheus' text format."""
    found = {}
    for line in text.splitlines():
        m = re.fullmatch(rf"{name}(\{{[^}}]*\}})? (\S+)", line)
        if m:
            found[m.group(1) or ""] = float(m.group(2))
    return found


@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_count_every_request_for_admins_only(tmp_path: Path, workers: int) -> None:
    with ServerProcess(tmp_path / "data", args=["--workers", str(workers)]) as srv:
        admin = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {srv.admin_key}"})
        created = admin.post("/api/v1/users", json={"name": "someone"}).json()
        calls = 40
        for _ in range(calls):
            admin.get("/api/v1/registries").raise_for_status()
        assert httpx.get(srv.url + "/metrics").status_code == 401
        other = {"Authorization": f"Bearer {created['key']}"}
        assert httpx.get(srv.url + "/metrics", headers=other).status_code == 403
        resp = admin.get("/metrics")
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/plain")
        counted = _samples(resp.text, "modelbay_requests_total")
        key = '{method="GET",operation="registries",status="200"}'
        # Every worker's requests, whichever worker answered the scrape.
        assert counted[key] == calls
        assert _samples(resp.text, "modelbay_request_duration_seconds_count")[
            '{operation="registries"}'
        ] == calls
        for gauge in ("uploads_in_flight", "deliveries_pending", "deliveries_failed", "jobs_queued"):
            assert _samples(resp.text, f"modelbay_{gauge}") == {"": 0.0}


def test_json_logs_hold_one_object_per_line(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    args = ["--access-log", "--json-logs"]
    with ServerProcess(tmp_path / "data", args=args, log_path=log) as srv:  # log kept
        httpx.get(srv.url + "/api/v1/registries", headers={"Authorization": "Bearer nope"})
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = [e for e in lines if e.get("path") == "/api/v1/registries"]
    assert access and access[0]["method"] == "GET" and access[0]["status"] == 401
    assert {"asctime", "levelname", "name", "message"} <= set(access[0])
