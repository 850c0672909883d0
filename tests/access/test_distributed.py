"""Distributed artifacts at the service level (issue #17), on SQLite and PostgreSQL:
drafts stay invisible, a later upsert of a path wins, finishing closes the draft, a failed
finish reopens it, and garbage collection keeps a draft's blobs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.workers import stored_file

from modelbay.errors import ConflictError, InvalidInputError, NotFoundError
from modelbay.names import ArtifactRef
from modelbay.services import Services
from modelbay.settings import Settings


@pytest.fixture
def svc(db_url: str, tmp_path: Path) -> Iterator[Services]:
    services = Services.open(Settings(data_dir=tmp_path, db_url=db_url))
    try:
        yield services
    finally:
        services.close()


def test_upserts_become_one_version_when_finished(svc: Services) -> None:
    me = svc.auth.local_principal("root")
    one = stored_file(svc, me, "one", "a.txt")
    old = stored_file(svc, me, "old", "b.txt")
    new = stored_file(svc, me, "new", "b.txt")
    svc.runs.create(me, "proj", run_id="r1")
    svc.runs.create(me, "proj", run_id="r2")
    draft = svc.distributed.upsert(me, "proj", "ds", "g", "dataset", [one, old], run_id="r1")
    assert draft["file_count"] == 2 and draft["state"] == "open"
    svc.distributed.upsert(me, "proj", "ds", "g", "dataset", [new], run_id="r2")
    with pytest.raises(NotFoundError):
        svc.artifacts.get(me, ArtifactRef("proj", "ds", "latest"))
    with pytest.raises(ConflictError):
        svc.distributed.upsert(me, "proj", "ds", "g", "model", [one])
    # Garbage collection keeps the draft's blobs (nothing else references them).
    assert svc.garbage.collect(me, grace_seconds=0)["removed"] == 1  # 'old' only

    info, created = svc.distributed.finish(me, "proj", "ds", "g", "dataset", [], run_id="r2")
    assert created and info["version"] == "v0" and info["run"]["id"] == "r2"
    files = {
        f["path"]: f["sha256"] for f in svc.artifacts.files(me, ArtifactRef("proj", "ds", "v0"))
    }
    assert files == {"a.txt": one["sha256"], "b.txt": new["sha256"]}
    with pytest.raises(ConflictError, match="finished"):
        svc.distributed.upsert(me, "proj", "ds", "g", "dataset", [one])
    with pytest.raises(ConflictError):
        svc.distributed.finish(me, "proj", "ds", "g", "dataset", [])


def test_a_failed_finish_leaves_the_draft_open(svc: Services) -> None:
    me = svc.auth.local_principal("root")
    one = stored_file(svc, me, "one", "a.txt")
    svc.distributed.upsert(me, "proj", "ds", "g", "dataset", [one])
    with pytest.raises(NotFoundError):  # no such run: the commit fails
        svc.distributed.finish(me, "proj", "ds", "g", "dataset", [], run_id="nope")
    svc.distributed.upsert(me, "proj", "ds", "g", "dataset", [one])  # still open
    with pytest.raises(InvalidInputError):
        svc.distributed.upsert(me, "proj", "ds", "g", "dataset", [{**one, "path": "../x"}])
    info, _ = svc.distributed.finish(me, "proj", "ds", "g", "dataset", [])
    assert info["file_count"] == 1
