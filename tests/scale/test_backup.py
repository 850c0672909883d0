"""A backup taken under load, in the README's order (the database with pg_dump, then the
bucket), restored into a fresh database and bucket, holds every version committed before
the backup began, with every byte (issue #19)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from support.postgres import PostgresCluster, require_pg_bin
from support.processes import ServerProcess
from support.replicas import replicas
from support.seaweed import SeaweedS3


def _versions(client: httpx.Client) -> list[dict[str, object]]:
    resp = client.get("/registries/model/collections/scale/versions", params={"limit": 10_000})
    return resp.json()["versions"] if resp.status_code == 200 else []


def test_a_backup_under_load_restores_every_version_committed_before_it(
    pg_cluster: PostgresCluster,
    seaweed_s3: SeaweedS3,
    tmp_path: Path,
) -> None:
    bindir = require_pg_bin()
    s3 = seaweed_s3.client()
    with replicas(pg_cluster, seaweed_s3, tmp_path, n=2) as r:
        load = r.load("models", 40, 0, tmp_path / "load.json")
        admin = httpx.Client(
            base_url=r.url + "/api/v1", headers={"Authorization": f"Bearer {r.admin_key}"}
        )
        while len(before := _versions(admin)) < 10:
            assert load.poll() is None, load.communicate()[0][-2000:]
            time.sleep(0.2)
        # The backup begins: the database first, then the bucket, with the load going on.
        dbname = r.db_url.rsplit("/", 1)[1]
        dump = tmp_path / "db.dump"
        subprocess.run(
            [str(bindir / "pg_dump"), "-Fc", "-f", str(dump), pg_cluster.dsn(dbname)], check=True
        )
        restored_bucket = seaweed_s3.create_bucket("restored-" + uuid.uuid4().hex[:8])
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=r.bucket):
            for obj in page.get("Contents", []):
                s3.copy_object(
                    Bucket=restored_bucket,
                    Key=obj["Key"],
                    CopySource={"Bucket": r.bucket, "Key": obj["Key"]},
                )
        output, _ = load.communicate(timeout=600)
        assert load.returncode == 0, output[-2000:]
        assert len(_versions(admin)) == 40  # the load went on past the backup

    restored_db = "restored_" + uuid.uuid4().hex[:8]
    pg_cluster.create_database(restored_db, migrated=False)
    subprocess.run(
        [str(bindir / "pg_restore"), "--no-owner", "-d", pg_cluster.dsn(restored_db), str(dump)],
        check=True,
    )
    store = [
        "--blob-store",
        f"s3://{restored_bucket}/mb",
        "--s3-endpoint-url",
        seaweed_s3.endpoint_url,
    ]
    with ServerProcess(
        tmp_path / "restored", pg_cluster.url(restored_db), r.env, store
    ) as restored:
        client = httpx.Client(
            base_url=restored.url + "/api/v1", headers={"Authorization": f"Bearer {r.admin_key}"}
        )
        after = {v["id"]: v for v in _versions(client)}
        assert {v["id"] for v in before} <= set(after)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
        env.update(MODELBAY_URL=restored.url, MODELBAY_API_KEY=r.admin_key, MODELBAY_SILENT="1")
        for v in before:
            link = v["link"]
            assert isinstance(link, dict)
            ref = f"model-registry/scale:{link['version']}"
            out = tmp_path / "dl" / str(link["version"])
            got = subprocess.run(
                [sys.executable, "-m", "modelbay", "download", ref, "--root", str(out), "--json"],
                env=env,
                capture_output=True,
                text=True,
            )
            assert got.returncode == 0, got.stderr
            # Every byte came back: download verifies each file against its sha256.
            files = [p for p in out.rglob("*") if p.is_file()]
            assert [p.stat().st_size for p in files] == [65536]
