"""Distributed artifacts (W&B's ``run.upsert_artifact`` and ``run.finish_artifact``):
several runs add files to one version of an artifact, keyed by a ``distributed_id`` (W&B
uses the runs' group), and one of them finishes it.

Until it is finished the version is a draft that no listing or reference shows; its files
are stored blobs that garbage collection keeps. Finishing commits the draft's files, with
the finishing call's own files over any of the same path, as one ordinary version (so a
crash leaves a draft, never half a version); after that the ``distributed_id`` takes no
more upserts. A draft is ``finishing`` while its version is committed, so an upsert racing
a finish is refused rather than lost.
"""

from __future__ import annotations

from typing import Any

from modelbay import names
from modelbay.contract.declaration import Role
from modelbay.errors import ConflictError, ModelbayError
from modelbay.jsontext import Info
from modelbay.services import access
from modelbay.services.artifacts import ArtifactService, check_manifest, check_run_ref
from modelbay.services.core import Principal, now, record
from modelbay.store import access as access_store
from modelbay.store import artifacts as artifact_store
from modelbay.store import distributed as store
from modelbay.store.database import Database

OPEN, FINISHING, FINISHED = "open", "finishing", "finished"


class DistributedService:
    """Drafts of distributed artifacts, and their finishing."""

    def __init__(self, db: Database, artifacts: ArtifactService) -> None:
        self.db = db
        self.artifacts = artifacts

    def upsert(
        self,
        principal: Principal,
        project: str,
        name: str,
        distributed_id: str,
        type_: str,
        files: object,
        run_id: str | None = None,
    ) -> Info:
        """Add stored files to the draft of ``name`` under ``distributed_id`` (made on first
        use; a path upserted again takes the newer file).

        Raises:
            InvalidInputError: bad names or paths, or files not stored.
            ConflictError: the draft is finished (or being finished), or has another type.
            NotFoundError: ``run_id`` names no run; the project is not readable.
            PermissionDeniedError: not a member of the project.
        """
        project = names.check_project(project)
        name = names.check_name(name, "artifact")
        distributed_id = names.check_name(distributed_id, "distributed id")
        type_ = names.check_name(type_, "type")
        entries = check_manifest(files)
        t = now()
        with self.db.write() as conn:
            existed = access.may_write_project(conn, principal, project) is not None
            self.artifacts.blobs.require_stored(
                conn, {e["sha256"]: e["size"] for e in entries if e["ref"] is None}
            )
            run_pk = check_run_ref(conn, project, run_id)
            project_id = artifact_store.ensure_project(conn, project, t)
            if not existed:
                access_store.claim_project(conn, project_id, principal.user_id)
            row = store.draft(conn, project_id, name, distributed_id)
            if row is None:
                draft_id = store.insert_draft(
                    conn,
                    project_id=project_id,
                    name=name,
                    type=type_,
                    distributed_id=distributed_id,
                    state=OPEN,
                    created_at=t,
                )
                row = {"id": draft_id, "type": type_, "state": OPEN}
            self._check_open(row, project, name, distributed_id, type_)
            store.put_files(conn, row["id"], entries)
            record(
                conn,
                principal,
                "artifact.upserted",
                f"{project}/{name}",
                project_id=project_id,
                run_pk=run_pk,
                after={"distributed_id": distributed_id, "paths": [e["path"] for e in entries]},
            )
            held = store.files(conn, row["id"])
        return {
            "project": project,
            "name": name,
            "type": type_,
            "distributed_id": distributed_id,
            "state": OPEN,
            "file_count": len(held),
        }

    @staticmethod
    def _check_open(
        row: dict[str, Any], project: str, name: str, distributed_id: str, type_: str
    ) -> None:
        if row["state"] != OPEN:
            raise ConflictError(
                f"{project}/{name} ({distributed_id}) is {row['state']}: it takes no more "
                "upserts; use another distributed_id for a new version",
                {"state": row["state"]},
            )
        if row["type"] != type_:
            raise ConflictError(
                f"{project}/{name} ({distributed_id}) has type {row['type']!r}, not {type_!r}",
                {"type": row["type"]},
            )

    def finish(
        self,
        principal: Principal,
        project: str,
        name: str,
        distributed_id: str,
        type_: str,
        files: object,
        run_id: str | None = None,
        aliases: object = None,
        description: str | None = None,
        metadata: object = None,
    ) -> tuple[Info, bool]:
        """Commit the draft's files with ``files`` over them as a version of ``name`` (as
        :meth:`ArtifactService.commit_version`), and close the draft. With no draft, it
        commits ``files`` alone, as W&B's ``finish_artifact`` of nothing upserted does.

        Raises:
            ConflictError: the draft is finished or being finished, or has another type.
            And what :meth:`ArtifactService.commit_version` raises.
        """
        project = names.check_project(project)
        name = names.check_name(name, "artifact")
        distributed_id = names.check_name(distributed_id, "distributed id")
        own = check_manifest(files)
        draft_id: int | None = None
        parts: list[dict[str, Any]] = []
        with self.db.write() as conn:
            proj = access_store.project_row(conn, project)
            if proj is not None:
                access.require_project(conn, principal, project, Role.MEMBER)
                row = store.draft(conn, proj["id"], name, distributed_id)
                if row is not None:
                    self._check_open(row, project, name, distributed_id, type_)
                    draft_id = row["id"]
                    parts = store.files(conn, row["id"])
                    store.set_state(conn, row["id"], FINISHING)
        merged = {e["path"]: e for e in parts} | {e["path"]: e for e in own}
        try:
            info, created = self.artifacts.commit_version(
                principal,
                project,
                name,
                type_,
                [merged[p] for p in sorted(merged)],
                description=description,
                metadata=metadata,
                aliases=aliases,
                run_id=run_id,
            )
        except ModelbayError:
            if draft_id is not None:
                with self.db.write() as conn:
                    store.set_state(conn, draft_id, OPEN)
            raise
        if draft_id is not None:
            with self.db.write() as conn:
                store.set_state(conn, draft_id, FINISHED, int(info["id"]))
                store.drop_files(conn, draft_id)
        return info, created
