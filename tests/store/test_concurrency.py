"""Concurrent writers in separate OS processes, on SQLite and on PostgreSQL.

Invariant 3: version numbers come from the database under a unique constraint; concurrent
writers never get the same number and never fail for it. Every test starts its workers
(``tests/support/workers.py``) as child processes sharing one data directory (so one SQLite
file and one blob store) or one PostgreSQL database, lets them meet at a file barrier, and
then checks what the database holds and what each worker was told.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.processes import log_tail, stop_process_group
from support.workers import stored_file

from modelbay.names import ArtifactRef, RegistryRef
from modelbay.services import Principal, Services
from modelbay.settings import Settings
from modelbay.store.database import HEAD_REVISION
from modelbay.store.schema import (
    artifact_versions,
    artifacts,
    collections,
    events,
    links,
    registries,
)

WORKER = Path(__file__).resolve().parent.parent / "support" / "workers.py"
REPO = Path(__file__).resolve().parents[2]
WORKER_TIMEOUT = 120.0


class Workers:
    """Runs worker processes and collects their JSON results."""

    def __init__(self, tmp_path: Path, db_url: str) -> None:
        self.data_dir = tmp_path / "data"
        self.db_url = db_url
        self.sync_dir = tmp_path / "sync"
        self.log_dir = tmp_path / "logs"
        self.sync_dir.mkdir()
        self.log_dir.mkdir()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._runs = 0

    def run(self, mode: str, n: int, **args: Any) -> list[dict[str, Any]]:
        """Start ``n`` workers in ``mode`` at once; wait for all; return their results.

        Fails the test with the worker's stderr if any worker exits non-zero.
        """
        self._runs += 1
        sync = self.sync_dir / str(self._runs)
        sync.mkdir()
        started: list[tuple[subprocess.Popen[bytes], Path, Path]] = []
        for i in range(n):
            payload = {
                "data_dir": str(self.data_dir),
                "db_url": self.db_url,
                "sync_dir": str(sync),
                "worker": i,
                "parties": n,
                **args,
            }
            out = self.log_dir / f"{self._runs}-{mode}-{i}.out"
            err = self.log_dir / f"{self._runs}-{mode}-{i}.err"
            with open(out, "wb") as fout, open(err, "wb") as ferr:
                proc = subprocess.Popen(
                    [sys.executable, str(WORKER), mode, json.dumps(payload)],
                    stdout=fout,
                    stderr=ferr,
                    cwd=REPO,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                    start_new_session=True,
                )
            self._procs.append(proc)
            started.append((proc, out, err))
        # Poll them all, so that one worker's failure is reported at once rather than after
        # the others time out at a barrier it will never reach.
        deadline = time.monotonic() + WORKER_TIMEOUT
        pending = set(range(n))
        while pending:
            for i in sorted(pending):
                proc, _, err = started[i]
                code = proc.poll()
                if code is None:
                    continue
                if code != 0:
                    pytest.fail(f"worker {i} ({mode}) exited {code}:\n{log_tail(err)}")
                pending.discard(i)
            if pending and time.monotonic() > deadline:
                pytest.fail(
                    f"workers {sorted(pending)} ({mode}) still running after {WORKER_TIMEOUT}s"
                )
            time.sleep(0.02)
        return [json.loads(out.read_text().strip().splitlines()[-1]) for _, out, _ in started]

    def stop(self) -> None:
        for proc in self._procs:
            stop_process_group(proc, timeout=5.0)


@pytest.fixture
def workers(tmp_path: Path, db_url: str) -> Iterator[Workers]:
    w = Workers(tmp_path, db_url)
    try:
        yield w
    finally:
        w.stop()


@pytest.fixture
def services(workers: Workers) -> Iterator[Services]:
    """The test's own view of the shared data directory and database (migrated first)."""
    with Services.open(Settings(data_dir=workers.data_dir, db_url=workers.db_url)) as s:
        yield s


@pytest.fixture
def me(services: Services) -> Principal:
    return services.auth.local_principal("checker")


def raced(results: list[dict[str, Any]]) -> bool:
    """True when every worker's timed part overlapped every other's."""
    return max(r["started"] for r in results) < min(r["finished"] for r in results)


def some_raced(results: list[dict[str, Any]]) -> bool:
    """True when at least two workers' timed parts overlapped (for work so short that, on a
    busy machine, a late-scheduled worker may start after another one is done)."""
    spans = sorted((r["started"], r["finished"]) for r in results)
    return any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))


def link_rows(services: Services, registry: str, collection: str) -> list[dict[str, Any]]:
    with services.db.read() as conn:
        stmt = (
            sa.select(links.c.id, links.c.version, links.c.artifact_version_id)
            .join(collections, collections.c.id == links.c.collection_id)
            .join(registries, registries.c.id == collections.c.registry_id)
            .where(registries.c.name == registry, collections.c.name == collection)
            .order_by(links.c.version)
        )
        return [dict(r) for r in conn.execute(stmt).mappings()]


def all_versions(services: Services, me: Principal, registry: str, collection: str) -> list[Any]:
    """Every version of a collection through the service, page by page."""
    out: list[Any] = []
    token = None
    while True:
        page = services.registry.list_versions(me, registry, collection, limit=37, page_token=token)
        out.extend(page["versions"])
        token = page["next_page_token"]
        if token is None:
            return out


def event_count(services: Services, action: str, collection_id: int | None = None) -> int:
    with services.db.read() as conn:
        stmt = sa.select(sa.func.count()).select_from(events).where(events.c.action == action)
        if collection_id is not None:
            stmt = stmt.where(events.c.collection_id == collection_id)
        return int(conn.execute(stmt).scalar_one())


def assert_created_once(services: Services, registry: str, collection: str) -> None:
    """One collection row, and exactly one ``collection.created`` event for it."""
    with services.db.read() as conn:
        ids = conn.execute(
            sa.select(collections.c.id)
            .join(registries, registries.c.id == collections.c.registry_id)
            .where(registries.c.name == registry, collections.c.name == collection)
        ).all()
    assert len(ids) == 1
    assert event_count(services, "collection.created", ids[0][0]) == 1


def test_processes_open_a_fresh_database_at_once(workers: Workers, db_url: str) -> None:
    results = workers.run("open_fresh", 8)
    assert all(r["registries"] == ["model", "dataset"] for r in results)
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    finally:
        engine.dispose()
    assert [tuple(v) for v in versions] == [(HEAD_REVISION,)]


def test_eight_processes_link_200_versions_into_one_collection(
    workers: Workers, services: Services, me: Principal
) -> None:
    results = workers.run(
        "link_many", 8, count=25, project="race", registry="model", collection="raced"
    )

    assert raced(results), "the workers' links did not overlap in time"
    told = [link for r in results for link in r["links"]]
    assert len(told) == 200 and all(link["created"] for link in told)
    assert sorted(link["index"] for link in told) == list(range(200))
    assert len({link["link_id"] for link in told}) == 200
    assert len({link["source"] for link in told}) == 200

    rows = link_rows(services, "model", "raced")
    assert [r["version"] for r in rows] == list(range(200))
    assert len({r["artifact_version_id"] for r in rows}) == 200
    listed = all_versions(services, me, "model", "raced")
    assert [v["link"]["index"] for v in listed] == list(range(199, -1, -1))
    assert {v["ref"] for v in listed} == {link["source"] for link in told}
    # Each worker saw its own links numbered in the order it made them.
    for r in results:
        indices = [link["index"] for link in r["links"]]
        assert indices == sorted(indices)
    latest = services.artifacts.get(me, RegistryRef("model", "raced", "latest"))
    assert latest["link"]["index"] == 199
    coll = services.registry.get_collection(me, "model", "raced")
    assert coll["aliases"] == {"latest": "v199"}
    with services.db.read() as conn:
        counter = conn.execute(
            sa.select(collections.c.next_version).where(collections.c.name == "raced")
        ).scalar_one()
    assert counter == 200
    assert event_count(services, "version.linked") == 200
    assert_created_once(services, "model", "raced")


def test_eight_processes_commit_versions_of_one_artifact(
    workers: Workers, services: Services, me: Principal
) -> None:
    results = workers.run("commit_same", 8, count=6, project="race", artifact="shared")

    assert raced(results), "the workers' commits did not overlap in time"
    commits = [c for r in results for c in r["commits"]]
    own = [c for c in commits if c["content"].startswith("worker ")]
    same = [c for c in commits if not c["content"].startswith("worker ")]
    assert len(own) == 48 and all(c["created"] for c in own)
    # The bytes every worker sent make one version: one worker created it, the rest got it.
    assert len(same) == 8
    assert sum(c["created"] for c in same) == 1
    assert len({c["index"] for c in same}) == 1
    indices = sorted({c["index"] for c in commits})
    assert indices == list(range(49))
    assert len({c["index"] for c in own}) == 48

    versions = services.artifacts.list_versions(me, "race", "shared")
    assert [v["index"] for v in versions] == list(range(48, -1, -1))
    assert versions[0]["aliases"] == ["latest"]
    assert all(v["aliases"] == [] for v in versions[1:])
    with services.db.read() as conn:
        counter = conn.execute(
            sa.select(artifacts.c.next_version).where(artifacts.c.name == "shared")
        ).scalar_one()
        rows = conn.execute(
            sa.select(sa.func.count())
            .select_from(artifact_versions)
            .join(artifacts, artifacts.c.id == artifact_versions.c.artifact_id)
            .where(artifacts.c.name == "shared")
        ).scalar_one()
    assert counter == 49 and rows == 49
    assert event_count(services, "artifact_version.created") == 49


def test_eight_processes_link_the_same_versions(
    workers: Workers, services: Services, me: Principal
) -> None:
    selectors = []
    for k in range(5):
        entry = stored_file(services, me, f"contested version {k}")
        info, _ = services.artifacts.commit_version(me, "race", "contested", "model", [entry])
        selectors.append(info["version"])

    results = workers.run(
        "link_same",
        8,
        project="race",
        artifact="contested",
        selectors=selectors,
        registry="model",
        collection="contested",
    )

    # Five links take a few milliseconds: demand only that some of them ran at once.
    assert some_raced(results), "no two workers' links overlapped in time"
    told = [link for r in results for link in r["links"]]
    assert len(told) == 40
    by_source: dict[str, set[tuple[int, int]]] = {}
    for link in told:
        by_source.setdefault(link["source"], set()).add((link["link_id"], link["index"]))
    # Every version got one link, and every worker was told that same link.
    assert set(by_source) == {f"race/contested:{s}" for s in selectors}
    assert all(len(found) == 1 for found in by_source.values())
    assert Counter(link["source"] for link in told if link["created"]) == {
        f"race/contested:{s}": 1 for s in selectors
    }
    rows = link_rows(services, "model", "contested")
    assert [r["version"] for r in rows] == list(range(5))
    assert len({r["artifact_version_id"] for r in rows}) == 5
    assert event_count(services, "version.linked") == 5
    assert_created_once(services, "model", "contested")
    latest = services.artifacts.get(me, RegistryRef("model", "contested", "latest"))
    assert latest["link"]["index"] == 4


def test_two_processes_create_the_same_new_collection(
    workers: Workers, services: Services, me: Principal
) -> None:
    rounds = 10
    results = workers.run(
        "new_collections", 2, rounds=rounds, project="race", registry="model", prefix="fresh-"
    )

    names = [f"fresh-{r}" for r in range(rounds)]
    listed = services.registry.list_collections(me, "model")
    assert sorted(c["name"] for c in listed) == sorted(names)
    assert all(c["version_count"] == 2 for c in listed)
    for name in names:
        told = [link for r in results for link in r["links"] if link["collection"] == name]
        assert len(told) == 2 and all(link["created"] for link in told)
        assert sorted(link["index"] for link in told) == [0, 1]
        assert_created_once(services, "model", name)
        info = services.artifacts.get(me, RegistryRef("model", name, "v0"))
        assert info["link"]["collection"] == name
    # The sources stayed where they were: one version each.
    for i in range(2):
        assert [v["index"] for v in services.artifacts.list_versions(me, "race", f"own{i}")] == [0]
        services.artifacts.get(me, ArtifactRef("race", f"own{i}", "v0"))
