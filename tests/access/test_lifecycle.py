"""Deleting and renaming runs, project artifacts and registry collections at the service
level (issue #17), on SQLite and PostgreSQL (``db_url``): who may, what blocks it, the
events written, and that nothing is left dangling (links, aliases, lineage, bytes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.workers import stored_file

from modelbay.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from modelbay.names import ArtifactRef, RegistryRef
from modelbay.services import Principal, Services
from modelbay.settings import Settings
from modelbay.store import auth as auth_store
from modelbay.store.schema import events, lineage


@pytest.fixture
def svc(db_url: str, tmp_path: Path) -> Iterator[Services]:
    services = Services.open(Settings(data_dir=tmp_path, db_url=db_url))
    try:
        yield services
    finally:
        services.close()


def user(svc: Services, admin: Principal, name: str) -> Principal:
    svc.auth.create_user(admin, name)
    with svc.db.read() as conn:
        row = auth_store.get_user(conn, name)
    assert row is not None
    return Principal(row["id"], name, False)


def commit(svc: Services, who: Principal, content: str, name: str = "m", **kw: Any) -> Any:
    entry = stored_file(svc, who, content)
    return svc.artifacts.commit_version(who, "proj", name, "model", [entry], **kw)[0]


def actions(svc: Services) -> list[str]:
    with svc.db.read() as conn:
        return list(conn.execute(sa.select(events.c.action).order_by(events.c.id)).scalars())


def test_renaming_a_collection_moves_its_versions_and_needs_admin_while_protected(
    svc: Services,
) -> None:
    admin = svc.auth.local_principal("root")
    member = user(svc, admin, "mia")
    svc.access.add_member(admin, registry="model", user="mia", role="member")
    commit(svc, admin, "one")
    svc.registry.link(admin, ArtifactRef("proj", "m", "v0"), "model", "My Model")
    svc.registry.link(admin, ArtifactRef("proj", "m", "v0"), "model", "Taken")

    renamed = svc.lifecycle.rename_collection(member, "model", "My Model", "Our Model")
    assert renamed == {"registry": "model", "name": "Our Model", "type": "model"}
    assert svc.artifacts.get(admin, RegistryRef("model", "Our Model", "latest"))["version"] == "v0"
    with pytest.raises(NotFoundError):
        svc.registry.get_collection(admin, "model", "My Model")
    with pytest.raises(AlreadyExistsError):
        svc.lifecycle.rename_collection(member, "model", "Our Model", "Taken")

    svc.access.protect(admin, "model", "production")
    svc.registry.set_alias(admin, "model", "Our Model", "production", "v0")
    with pytest.raises(PermissionDeniedError, match="protected"):
        svc.lifecycle.rename_collection(member, "model", "Our Model", "Stolen")
    svc.lifecycle.rename_collection(admin, "model", "Our Model", "Final")
    assert actions(svc).count("collection.renamed") == 2


def test_deleting_a_collection_needs_admin_and_leaves_the_versions(svc: Services) -> None:
    admin = svc.auth.local_principal("root")
    member = user(svc, admin, "mia")
    svc.access.add_member(admin, registry="model", user="mia", role="member")
    commit(svc, admin, "one")
    svc.registry.link(admin, ArtifactRef("proj", "m", "v0"), "model", "c", aliases=["staging"])
    svc.access.protect(admin, "model", "production")
    svc.registry.set_alias(admin, "model", "c", "production", "v0")
    with pytest.raises(PermissionDeniedError):
        svc.lifecycle.delete_collection(member, "model", "c")

    svc.lifecycle.delete_collection(admin, "model", "c")
    assert "collection.deleted" in actions(svc)
    with pytest.raises(NotFoundError):
        svc.registry.get_collection(admin, "model", "c")
    # The source version stays, no longer linked: it may now be deleted.
    assert svc.artifacts.get(admin, ArtifactRef("proj", "m", "v0"))["version"] == "v0"
    svc.artifacts.delete(admin, ArtifactRef("proj", "m", "v0"))


def test_deleting_a_run_refuses_linked_versions_then_frees_their_bytes(svc: Services) -> None:
    admin = svc.auth.local_principal("root")
    member = user(svc, admin, "mia")
    svc.runs.create(admin, "proj", run_id="r1")
    commit(svc, admin, "weights-r1", run_id="r1")
    commit(svc, admin, "files-r1", name="run-r1-files", run_id="r1")
    svc.registry.link(admin, ArtifactRef("proj", "m", "v0"), "model", "c")

    with pytest.raises(NotFoundError):
        svc.lifecycle.delete_run(admin, "proj", "nope")
    with pytest.raises(PermissionDeniedError):
        svc.lifecycle.delete_run(member, "proj", "r1")
    with pytest.raises(ConflictError, match="linked"):
        svc.lifecycle.delete_run(admin, "proj", "r1", delete_artifacts=True)
    assert svc.runs.get(admin, "proj", "r1")["id"] == "r1"  # nothing was deleted

    svc.registry.unlink(admin, RegistryRef("model", "c", "v0"))
    svc.lifecycle.delete_run(admin, "proj", "r1", delete_artifacts=True)
    with pytest.raises(NotFoundError):
        svc.runs.get(admin, "proj", "r1")
    for name in ("m", "run-r1-files"):
        with pytest.raises(NotFoundError):
            svc.artifacts.get(admin, ArtifactRef("proj", name, "latest"))
    with svc.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(lineage)).scalar() == 0
    assert actions(svc).count("artifact_version.deleted") == 2
    freed = svc.garbage.collect(admin, grace_seconds=0)
    assert freed["removed"] == 2 and freed["freed_bytes"] == len("weights-r1") + len("files-r1")


def test_deleting_a_run_keeps_what_it_logged_unless_asked(svc: Services) -> None:
    admin = svc.auth.local_principal("root")
    svc.runs.create(admin, "proj", run_id="r1")
    commit(svc, admin, "weights", run_id="r1")
    commit(svc, admin, "files", name="run-r1-files", run_id="r1")
    svc.lifecycle.delete_run(admin, "proj", "r1")
    kept = svc.artifacts.get(admin, ArtifactRef("proj", "m", "latest"))
    assert kept["version"] == "v0" and kept.get("run_id") is None
    # The run's own files go with it.
    with pytest.raises(NotFoundError):
        svc.artifacts.get(admin, ArtifactRef("proj", "run-r1-files", "latest"))


def test_deleting_a_project_artifact_refuses_while_linked_and_renaming_moves_it(
    svc: Services,
) -> None:
    admin = svc.auth.local_principal("root")
    member = user(svc, admin, "mia")
    commit(svc, admin, "a")
    svc.access.add_member(admin, project="proj", user="mia", role="member")
    commit(svc, admin, "b")
    svc.registry.link(admin, ArtifactRef("proj", "m", "v1"), "model", "c")
    with pytest.raises(PermissionDeniedError):
        svc.lifecycle.delete_artifact(member, "proj", "m")
    with pytest.raises(ConflictError):
        svc.lifecycle.delete_artifact(admin, "proj", "m")
    assert svc.lifecycle.rename_artifact(member, "proj", "m", "model")["name"] == "model"
    # The link follows: the registry version's source is the renamed artifact.
    linked = svc.artifacts.get(admin, RegistryRef("model", "c", "v0"))
    assert linked["name"] == "model"
    svc.registry.unlink(admin, RegistryRef("model", "c", "v0"))
    svc.lifecycle.delete_artifact(admin, "proj", "model")
    with pytest.raises(NotFoundError):
        svc.lifecycle.delete_artifact(admin, "proj", "model")
    assert actions(svc)[-1] == "artifact.deleted"
    assert "model" not in [a["name"] for a in svc.artifacts.list_artifacts(admin, "proj")]
    # Logged again, of any type, it is back; its numbers go on (no reference is reused).
    entry = stored_file(svc, admin, "again")
    again = svc.artifacts.commit_version(admin, "proj", "model", "dataset", [entry])[0]
    assert (again["version"], again["type"]) == ("v2", "dataset")
    assert "model" in [a["name"] for a in svc.artifacts.list_artifacts(admin, "proj")]


def test_gc_deletes_expired_versions_except_linked_ones(svc: Services) -> None:
    admin = svc.auth.local_principal("root")
    member = user(svc, admin, "mia")
    commit(svc, admin, "short")
    commit(svc, admin, "kept")
    svc.access.add_member(admin, project="proj", user="mia", role="member")
    v0, v1 = ArtifactRef("proj", "m", "v0"), ArtifactRef("proj", "m", "v1")
    assert svc.lifecycle.set_ttl(member, v0, 0.0)["ttl"] == 0.0
    assert svc.lifecycle.set_ttl(member, v1, 0.0)["ttl"] == 0.0
    # Linking removes the TTL for good (as in W&B), and a linked version takes none.
    svc.registry.link(admin, v1, "model", "c")
    assert svc.artifacts.get(admin, v1)["ttl"] is None
    with pytest.raises(ConflictError):
        svc.lifecycle.set_ttl(member, v1, 10.0)
    commit(svc, admin, "table", name="run-x-preds")
    with svc.db.write() as conn:
        conn.execute(sa.text("UPDATE artifacts SET type = 'run_table' WHERE name = 'run-x-preds'"))
    with pytest.raises(InvalidInputError):
        svc.lifecycle.set_ttl(admin, ArtifactRef("proj", "run-x-preds", "v0"), 5.0)

    dry = svc.garbage.collect(admin, grace_seconds=0, dry_run=True)
    assert dry["expired"] == 1
    done = svc.garbage.collect(admin, grace_seconds=0)
    assert done["expired"] == 1 and done["removed"] == 1 and done["freed_bytes"] == len("short")
    with pytest.raises(NotFoundError):
        svc.artifacts.get(admin, v0)
    assert svc.artifacts.get(admin, ArtifactRef("proj", "m", "latest"))["version"] == "v1"
    assert "artifact_version.expired" in actions(svc)
    assert svc.garbage.collect(admin, grace_seconds=0)["expired"] == 0
