"""Removing and renaming what W&B's public API removes and renames: a run
(``Run.delete(delete_artifacts=...)``), a project artifact and a registry collection
(``ArtifactCollection.delete()``, and ``collection.name = ...; collection.save()``).

Who may: deleting needs the admin role of the project or registry; renaming needs the
member role, and the admin role when the collection holds a protected alias (its
consumers resolve ``registry/name:production``; moving that name is moving the alias).
Nothing is left dangling: a version linked into a registry is never deleted (unlink it
first, as for one version); a deleted run's versions stay, logged by no run, and its
lineage edges go; a deleted collection takes its links, aliases, tags, promotion
requests and the automations scoped to it, while the versions it linked stay in their
projects. Deleted versions' bytes are freed by the next garbage collection.

A version's TTL (W&B's ``artifact.ttl``) is kept as the time it expires; each garbage
collection first deletes the expired versions (``artifact_version.expired`` events), except
those linked into a registry: linking a version removes its TTL, as in W&B.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from modelbay import names
from modelbay.contract.declaration import Role
from modelbay.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from modelbay.jsontext import Info
from modelbay.names import LATEST, ArtifactRef
from modelbay.services import access
from modelbay.services.core import Principal, describe, locate, now, record
from modelbay.store import artifacts as artifact_store
from modelbay.store import lifecycle as store
from modelbay.store import registry as registry_store
from modelbay.store import runs as run_store
from modelbay.store.database import Database


def run_files_name(run_id: str) -> str:
    """The artifact holding a run's own files (``run.save``, ``Run.upload_file``)."""
    return f"run-{run_id}-files"


class LifecycleService:
    """Deletes runs, artifacts and collections, and renames artifacts and collections."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- runs ---------------------------------------------------------------------------

    def delete_run(
        self, principal: Principal, project: str, run_id: str, delete_artifacts: bool = False
    ) -> None:
        """Delete a run with its history, files and lineage edges; with
        ``delete_artifacts`` the versions it logged too (W&B's ``Run.delete``).

        Raises:
            NotFoundError: no such (readable) project or run.
            PermissionDeniedError: not an admin of the project.
            ConflictError: ``delete_artifacts`` and a version it logged is linked into a
                registry (unlink it first); nothing is deleted.
        """
        with self.db.write(frees_room=True) as conn:
            proj = access.require_project(conn, principal, project, Role.ADMIN)
            row = run_store.get_run(conn, proj["id"], names.check_name(run_id, "run id"))
            if row is None:
                raise NotFoundError(f"run {project}/{run_id} not found")
            doomed = store.live_versions_logged_by(conn, row["id"]) if delete_artifacts else []
            files = artifact_store.get_artifact(conn, proj["id"], run_files_name(row["run_id"]))
            if files is not None:
                seen = {v["id"] for v in doomed}
                doomed += [v for v in self._versions(conn, files) if v["id"] not in seen]
            self._refuse_linked(conn, [v["id"] for v in doomed])
            t = now()
            self._delete_versions(conn, principal, proj, doomed, t)
            store.delete_run(conn, row["id"])
            record(
                conn,
                principal,
                "run.deleted",
                f"{proj['name']}/{row['run_id']}",
                project_id=proj["id"],
                run_pk=row["id"],
                before={
                    "name": row["name"],
                    "state": row["state"],
                    "deleted_versions": [f"{v['name']}:v{v['version']}" for v in doomed],
                },
            )

    @staticmethod
    def _refuse_linked(conn: Connection, version_ids: list[int]) -> None:
        linked = registry_store.links_of_versions(conn, version_ids)
        if linked:
            refs = [
                names.registry_ref(x["registry"], x["collection"], f"v{x['version']}")
                for x in linked
            ]
            raise ConflictError(
                f"{len(refs)} version(s) to delete are linked into a registry; unlink them "
                f"first: {', '.join(refs[:5])}",
                {"links": refs},
            )

    @staticmethod
    def _delete_versions(
        conn: Connection,
        principal: Principal,
        project: dict[str, Any],
        versions: list[dict[str, Any]],
        t: float,
        action: str = "artifact_version.deleted",
    ) -> None:
        """Soft-delete versions (already checked unlinked), one ``action`` event each, and
        move ``latest`` of each artifact left with live versions to its newest one."""
        ids = [int(v["id"]) for v in versions]
        held = artifact_store.aliases_of(conn, ids)
        store.soft_delete_versions(conn, ids, t)
        for v in versions:
            record(
                conn,
                principal,
                action,
                f"{project['name']}/{v['name']}:v{v['version']}",
                project_id=project["id"],
                artifact_id=v["artifact_id"],
                version_id=v["id"],
                before={"aliases": held.get(v["id"], [])},
            )
        for artifact_id in sorted({int(v["artifact_id"]) for v in versions}):
            newest = artifact_store.newest_live_version(conn, artifact_id)
            if newest is not None:
                artifact_store.set_alias(conn, artifact_id, LATEST, newest)

    @staticmethod
    def _versions(conn: Connection, artifact: dict[str, Any]) -> list[dict[str, Any]]:
        """``{id, artifact_id, name, version}`` of an artifact's live versions."""
        return [
            {**v, "artifact_id": artifact["id"], "name": artifact["name"]}
            for v in store.live_versions_of(conn, artifact["id"])
        ]

    # -- project artifacts ----------------------------------------------------------------

    def _artifact(
        self, conn: Connection, principal: Principal, project: str, name: str, needed: Role
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        proj = access.require_project(conn, principal, project, needed)
        row = artifact_store.get_artifact(conn, proj["id"], names.check_name(name, "artifact"))
        if row is None or not store.live_versions_of(conn, row["id"]):
            raise NotFoundError(f"artifact {project}/{name} not found")
        return proj, row

    def delete_artifact(self, principal: Principal, project: str, name: str) -> None:
        """Delete every version of a project artifact (W&B's ``ArtifactCollection.delete``).

        Raises:
            NotFoundError: no such (readable) project or artifact.
            PermissionDeniedError: not an admin of the project.
            ConflictError: a version is linked into a registry; nothing is deleted.
        """
        with self.db.write(frees_room=True) as conn:
            proj, row = self._artifact(conn, principal, project, name, Role.ADMIN)
            versions = self._versions(conn, row)
            self._refuse_linked(conn, [v["id"] for v in versions])
            t = now()
            self._delete_versions(conn, principal, proj, versions, t)
            store.mark_artifact_deleted(conn, row["id"], t)
            record(
                conn,
                principal,
                "artifact.deleted",
                f"{proj['name']}/{row['name']}",
                project_id=proj["id"],
                artifact_id=row["id"],
                before={"versions": len(versions), "type": row["type"]},
            )

    def rename_artifact(self, principal: Principal, project: str, name: str, new_name: str) -> Info:
        """Rename a project artifact; its versions, aliases and links follow it.

        Raises:
            NotFoundError: no such (readable) project or artifact.
            PermissionDeniedError: not a member of the project.
            AlreadyExistsError: the project has an artifact of that name.
        """
        target = names.check_name(new_name, "artifact")
        with self.db.write() as conn:
            proj, row = self._artifact(conn, principal, project, name, Role.MEMBER)
            if target != row["name"]:
                if artifact_store.get_artifact(conn, proj["id"], target) is not None:
                    raise AlreadyExistsError(f"artifact {proj['name']}/{target} exists")
                store.rename_artifact(conn, row["id"], target)
                record(
                    conn,
                    principal,
                    "artifact.renamed",
                    f"{proj['name']}/{target}",
                    project_id=proj["id"],
                    artifact_id=row["id"],
                    before={"name": row["name"]},
                    after={"name": target},
                )
            return {"project": proj["name"], "name": target, "type": row["type"]}

    # -- registry collections -------------------------------------------------------------

    def _collection(
        self, conn: Connection, principal: Principal, registry: str, collection: str, needed: Role
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        reg = access.require_registry(conn, principal, registry, needed)
        row = registry_store.get_collection(conn, reg["id"], names.check_collection(collection))
        if row is None:
            raise NotFoundError(f"collection {names.registry_ref(registry, collection)} not found")
        return reg, row

    def _protected_held(
        self, conn: Connection, reg: dict[str, Any], collection_id: int
    ) -> list[str]:
        held = registry_store.aliases_of_collection(conn, collection_id)
        return sorted(
            alias
            for aliases in held.values()
            for alias in aliases
            if access.protected_pattern(conn, reg["id"], alias) is not None
        )

    def delete_collection(self, principal: Principal, registry: str, collection: str) -> None:
        """Delete a registry collection: its links, aliases, tags, promotion requests and
        automations go; the linked versions stay in their projects (as in W&B).

        Raises:
            NotFoundError: no such (readable) registry or collection.
            PermissionDeniedError: not an admin of the registry.
        """
        with self.db.write(frees_room=True) as conn:
            reg, row = self._collection(conn, principal, registry, collection, Role.ADMIN)
            subject = names.registry_ref(reg["name"], row["name"])
            for alias in self._protected_held(conn, reg, row["id"]):
                access.require_alias_change(
                    conn, principal, reg, alias, ref=subject, moving=False
                )
            count = registry_store.link_count(conn, row["id"])
            removed = store.delete_collection(conn, row["id"])
            record(
                conn,
                principal,
                "collection.deleted",
                subject,
                registry_id=reg["id"],
                collection_id=row["id"],
                before={"type": row["type"], "versions": count, "automations": removed},
            )

    def rename_collection(
        self, principal: Principal, registry: str, collection: str, new_name: str
    ) -> Info:
        """Rename a registry collection (W&B's ``collection.name = ...; save()``).

        Raises:
            NotFoundError: no such (readable) registry or collection.
            PermissionDeniedError: not a member of the registry, or the collection holds a
                protected alias and the caller is not the registry's admin.
            AlreadyExistsError: the registry has a collection of that name.
        """
        target = names.check_collection(new_name)
        with self.db.write() as conn:
            reg, row = self._collection(conn, principal, registry, collection, Role.MEMBER)
            subject = names.registry_ref(reg["name"], row["name"])
            for alias in self._protected_held(conn, reg, row["id"]):
                access.require_alias_change(
                    conn, principal, reg, alias, ref=subject, moving=False
                )
            if target != row["name"]:
                if registry_store.get_collection(conn, reg["id"], target) is not None:
                    raise AlreadyExistsError(
                        f"collection {names.registry_ref(reg['name'], target)} exists"
                    )
                store.rename_collection(conn, row["id"], target, now())
                record(
                    conn,
                    principal,
                    "collection.renamed",
                    names.registry_ref(reg["name"], target),
                    registry_id=reg["id"],
                    collection_id=row["id"],
                    before={"name": row["name"]},
                    after={"name": target},
                )
            return {"registry": reg["name"], "name": target, "type": row["type"]}

    # -- TTL ------------------------------------------------------------------------------

    def set_ttl(self, principal: Principal, ref: ArtifactRef, ttl: float | None) -> Info:
        """Set (or, with None, remove) a version's TTL in seconds: the first gc after
        ``created_at + ttl`` deletes it (W&B's ``artifact.ttl``; the time counts from the
        version's creation, as in W&B).

        Raises:
            InvalidInputError: a TTL that is not a number of seconds, 0 or more; or a TTL on
                a version W&B generates (types ``run_table``, ``code``, ``job``, ``wandb-*``).
            ConflictError: the version is linked into a registry (linked versions do not
                expire, as in W&B).
            NotFoundError: no such (readable) version.
            PermissionDeniedError: not a member of the project.
        """
        if ttl is not None and (isinstance(ttl, bool) or not 0 <= ttl < float("inf")):
            raise InvalidInputError(f"ttl must be a number of seconds, 0 or more; not {ttl!r}")
        with self.db.write() as conn:
            access.require_ref(conn, principal, ref, Role.MEMBER)
            where = locate(conn, ref)
            info = describe(conn, where)
            if ttl is not None:
                kind = info["type"]
                if kind in GENERATED_TYPES or kind.startswith("wandb-"):
                    raise InvalidInputError(f"{info['ref']} is of type {kind!r}: no TTL")
                if registry_store.links_of_versions(conn, [where.version_id]):
                    raise ConflictError(
                        f"{info['ref']} is linked into a registry: it never expires"
                    )
            expires = None if ttl is None else float(info["created_at"]) + float(ttl)
            artifact_store.update_version(conn, where.version_id, expires_at=expires)
            record(
                conn,
                principal,
                "artifact_version.ttl_set",
                info["ref"],
                project_id=where.project_id,
                artifact_id=where.artifact_id,
                version_id=where.version_id,
                before={"ttl": info["ttl"]},
                after={"ttl": ttl},
            )
            return {**info, "ttl": ttl}


#: The types W&B generates, on which it allows no TTL.
GENERATED_TYPES = frozenset({"run_table", "code", "job"})
#: Expired versions deleted per transaction of a garbage collection.
EXPIRE_PAGE = 500


def expire_versions(db: Database, principal: Principal, dry_run: bool) -> int:
    """Delete the versions whose TTL has passed (unless linked into a registry), in pages;
    returns how many (with ``dry_run``, how many the first page would delete)."""
    total = 0
    while True:
        with db.write(frees_room=True) as conn:
            batch = store.expired_versions(conn, now(), EXPIRE_PAGE)
            if dry_run:
                return len(batch)
            t = now()
            for project_id in sorted({int(v["project_id"]) for v in batch}):
                mine = [v for v in batch if v["project_id"] == project_id]
                project = {"id": project_id, "name": mine[0]["project"]}
                LifecycleService._delete_versions(
                    conn, principal, project, mine, t, "artifact_version.expired"
                )
        total += len(batch)
        if len(batch) < EXPIRE_PAGE:
            return total
