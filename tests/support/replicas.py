"""N ``modelbay server`` replicas on one PostgreSQL database and one S3 bucket, behind nginx:
the scale-out shape, for tests and bench/scale.py.

Each replica gets only what the README says replicas need: the database URL, the blob
store URL (with the store's credentials) and the shared secret; the schema is migrated
once beforehand, as ``modelbay db upgrade`` does.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .nginx import Nginx
from .postgres import PostgresCluster
from .processes import ServerProcess
from .seaweed import SeaweedS3

LOAD_CLIENT = Path(__file__).resolve().parent.parent / "scale" / "load_client.py"


@dataclass
class Replicas:
    servers: list[ServerProcess]
    balancer: Nginx
    admin_key: str
    db_url: str
    bucket: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The balancer's URL: what clients use."""
        return self.balancer.url

    def client_env(self) -> dict[str, str]:
        """What a client process needs to talk to the replicas through the balancer."""
        return {"MODELBAY_URL": self.url, "MODELBAY_API_KEY": self.admin_key}

    def load(self, *args: str | Path) -> subprocess.Popen[str]:
        """Start a client process of tests/scale/load_client.py (``models N BIG_MIB OUT`` or
        ``metrics STEPS OUT``) talking to the balancer; its output is piped."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
        env.update(self.client_env(), MODELBAY_SILENT="1")
        return subprocess.Popen(
            [sys.executable, str(LOAD_CLIENT), *map(str, args)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


@contextlib.contextmanager
def replicas(
    cluster: PostgresCluster,
    s3: SeaweedS3,
    tmp: Path,
    n: int = 3,
    extra_env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> Iterator[Replicas]:
    """Start ``n`` replicas and nginx in front of them; stop everything by pid after."""
    db_url = cluster.create_database("r_" + uuid.uuid4().hex[:12])
    bucket = s3.create_bucket("scale-" + uuid.uuid4().hex[:10])
    admin_key = secrets.token_urlsafe(32)
    env = {
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_DEFAULT_REGION": s3.region,
        "MODELBAY_SECRET_KEY": secrets.token_urlsafe(32),
        "MODELBAY_ADMIN_KEY": admin_key,
        **(extra_env or {}),
    }
    store = ["--blob-store", f"s3://{bucket}/mb", "--s3-endpoint-url", s3.endpoint_url]
    servers: list[ServerProcess] = []
    with contextlib.ExitStack() as stack:
        for i in range(n):
            server = ServerProcess(tmp / f"replica-{i}", db_url, env, [*store, *args])
            stack.callback(server.stop)
            servers.append(server)
        balancer = Nginx([f"127.0.0.1:{s.port}" for s in servers]).start()
        stack.callback(balancer.stop)
        yield Replicas(servers, balancer, admin_key, db_url, bucket, env)
