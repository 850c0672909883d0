"""MLflow's registry server as ``bench/registry.py`` drives it: its command line, its
10,000-version setup, its listing, and a side for the paired roles run (``_roles.py``),
where each system's calls alternate with the others' so that their ratios are free of the
machine's drift between runs minutes apart."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import Server, free_port

MLFLOW_SOURCE = "s3://modelbay-bench/models"  # a server rejects local paths without a run
#: The faster MLflow server configurations: as it comes, and one worker (its default adds
#: ~40 ms to every request through delayed ACKs).
CONFIGS: dict[str, int | None] = {"mlflow_default": None, "mlflow_workers1": 1}


def mlflow_command(db_uri: str, port: int, workers: int | None) -> list[str]:
    """``mlflow server`` over a SQLite file on loopback (``workers`` None: its default)."""
    cmd = ["mlflow", "server", "--backend-store-uri", db_uri, "--host", "127.0.0.1"]
    cmd += ["--port", str(port)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    return cmd


def mlflow_bulk_versions(db_uri: str, name: str, first: int, count: int) -> None:
    """Insert ``count`` READY versions of ``name`` in one transaction (untimed setup).

    Goes through MLflow's own ORM table so every column gets MLflow's defaults; rows look
    like the ones ``create_model_version`` writes for a non-local source with no run.
    """
    import sqlalchemy as sa
    from mlflow.store.model_registry.dbmodels.models import SqlModelVersion

    now = int(time.time() * 1000)
    rows = [
        {
            "name": name,
            "version": first + k,
            "creation_time": now + k,
            "last_updated_time": now + k,
            "description": "",
            "source": f"{MLFLOW_SOURCE}/{first + k}",
            "storage_location": f"{MLFLOW_SOURCE}/{first + k}",
            "run_id": "",
            "run_link": "",
        }
        for k in range(count)
    ]
    engine = sa.create_engine(db_uri)
    try:
        with engine.begin() as conn:
            conn.execute(SqlModelVersion.__table__.insert(), rows)
    finally:
        engine.dispose()


def mlflow_pages(client: Any, name: str, page_size: int) -> Iterator[int]:
    """Every version of ``name``, a page per step; yields each page's size."""
    token = None
    while True:
        page = client.search_model_versions(
            filter_string=f"name='{name}'", max_results=page_size, page_token=token
        )
        yield len(page)
        token = page.token
        if not token:
            return


def mlflow_list(client: Any, name: str, page_size: int) -> tuple[int, int]:
    """Page through every version of ``name``; return (versions, pages)."""
    sizes = list(mlflow_pages(client, name, page_size))
    return sum(sizes), len(sizes)


class MlflowSide:
    """One MLflow server in the paired run: the same calls as its sequential run
    (``create_model_version``, the one-request alias store call, which is the faster of
    MLflow's two alias calls, and ``get_model_version_by_alias``)."""

    def __init__(self, url: str, alias: str) -> None:
        from mlflow import MlflowClient

        # create_model_version logs "Waiting up to 300 seconds..." at INFO on every call.
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        self.client = MlflowClient(tracking_uri=url, registry_uri=url)
        self.store = self.client._get_registry_client().store
        self.alias, self.name = alias, "paired-link"
        self.versions: list[str] = []

    def prepare(self, n: int, warm: int) -> None:
        """The model to link into, and ``warm`` versions and calls."""
        self.client.create_registered_model(self.name)
        for i in range(warm):
            self.link(-1 - i)
        for i in range(warm):
            self.move_alias(i)
            self.resolve(i)

    def link(self, i: int) -> None:
        made = self.client.create_model_version(self.name, f"{MLFLOW_SOURCE}/{i}", run_id=None)
        self.versions.append(made.version)

    def move_alias(self, i: int) -> None:
        self.store.set_registered_model_alias(
            self.name, self.alias, self.versions[i % len(self.versions)]
        )

    def resolve(self, i: int) -> None:
        self.client.get_model_version_by_alias(self.name, self.alias)


def mlflow_server(label: str, workers: int | None, root: Path) -> tuple[Server, str, str]:
    """An MLflow server, not yet started, working in ``root / label``: (server, url,
    db_uri)."""
    work = root / label
    work.mkdir()
    port = free_port()
    db_uri = f"sqlite:///{work / 'mlflow.db'}"
    url = f"http://127.0.0.1:{port}"
    return Server(label, mlflow_command(db_uri, port, workers), f"{url}/health", work), url, db_uri
