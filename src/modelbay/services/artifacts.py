"""Artifact versions: commit a manifest, resolve, edit, alias, delete, use."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy.engine import Connection

from modelbay import names
from modelbay.blobs.digest import check_digest
from modelbay.contract.operations import Role
from modelbay.errors import ConflictError, InvalidInputError, NotFoundError
from modelbay.jsontext import Info
from modelbay.names import LATEST, ArtifactRef, Ref, RegistryRef
from modelbay.services import access
from modelbay.services.blobs import BlobService
from modelbay.services.core import Located, Principal, describe, locate, now, record
from modelbay.store import access as access_store
from modelbay.store import artifacts as store
from modelbay.store import registry as registry_store
from modelbay.store import runs as run_store
from modelbay.store import tags as tag_store
from modelbay.store.database import Database

MAX_FILES = 1_000_000


class Unset:
    """Marks an argument that was not given (None is a value for descriptions)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = Unset()


def manifest_digest(entries: Sequence[dict[str, Any]]) -> str:
    """The digest of a version: sha256 over its sorted (path, sha256) pairs."""
    h = hashlib.sha256()
    for e in sorted(entries, key=lambda e: e["path"]):
        line = f"{e['path']}\0{e['sha256']}"
        if e.get("ref"):
            line += f"\0{e['ref']}\0{e.get('etag') or ''}"
        h.update(f"{line}\n".encode())
    return h.hexdigest()


def check_manifest(entries: object) -> list[dict[str, Any]]:
    """Validate a manifest: unique safe paths, none both a file and a folder of another
    (``m`` and ``m/inner`` could never be downloaded together), hex digests, non-negative
    sizes.

    Raises:
        InvalidInputError, InvalidPathError: a malformed entry, or a file path that is
            another's folder.
    """
    if not isinstance(entries, list | tuple):
        raise InvalidInputError("files must be a list of {path, sha256, size}")
    if len(entries) > MAX_FILES:
        raise InvalidInputError(f"a version holds at most {MAX_FILES} files")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for e in entries:
        if not isinstance(e, dict):
            raise InvalidInputError("each file must be an object {path, sha256, size}")
        path = names.check_path(e.get("path"))
        if path in seen:
            raise InvalidInputError(f"file path {path!r} appears twice", {"path": path})
        seen.add(path)
        size = e.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidInputError(f"file {path!r} has an invalid size", {"path": path})
        entry = {
            "path": path,
            "sha256": check_digest(e.get("sha256")),
            "size": size,
            "ref": None,
            "etag": None,
        }
        if e.get("ref") is not None:
            entry["ref"] = check_reference_uri(e["ref"])
            etag = e.get("etag")
            if etag is not None and (not isinstance(etag, str) or len(etag) > 256):
                raise InvalidInputError(f"file {path!r} has an invalid etag", {"path": path})
            entry["etag"] = etag
        out.append(entry)
    names.check_no_file_is_a_folder([e["path"] for e in out])
    return out


REFERENCE_SCHEMES = ("s3://", "file://", "http://", "https://")


def check_reference_uri(uri: object) -> str:
    """A reference a version may track without storing its bytes.

    Raises:
        InvalidInputError: not an s3://, file://, http:// or https:// URI of at most 2048 characters.
    """
    if (
        not isinstance(uri, str)
        or len(uri) > 2048
        or not uri.startswith(REFERENCE_SCHEMES)
        or any(ord(c) < 32 for c in uri)
    ):
        raise InvalidInputError(
            f"invalid reference {str(uri)[:80]!r}: use s3://, file:// or http(s)://"
        )
    return uri


def check_run_ref(conn: Connection, project: str | None, run_id: str | None) -> int | None:
    """The run's primary key, or None when no run is given.

    Raises:
        NotFoundError: the run does not exist.
    """
    if run_id is None:
        return None
    pid = store.project_id(conn, names.check_project(project))
    run = (
        run_store.get_run(conn, pid, names.check_name(run_id, "run id"))
        if pid is not None
        else None
    )
    if run is None:
        raise NotFoundError(f"run {project}/{run_id} not found")
    return int(run["id"])


class ArtifactService:
    def __init__(self, db: Database, blobs: BlobService) -> None:
        self.db = db
        self.blobs = blobs

    def commit_version(
        self,
        principal: Principal,
        project: str,
        name: str,
        type_: str,
        files: object,
        *,
        description: str | None = None,
        metadata: object = None,
        aliases: object = None,
        tags: object = None,
        run_id: str | None = None,
    ) -> tuple[Info, bool]:
        """Commit a version whose files are all stored; returns (version, created).

        Content equal to a live version of the artifact creates nothing: the existing
        version is returned with ``created`` False (and the given aliases moved onto it).

        Raises:
            InvalidInputError: bad names, paths or metadata, or files not stored (or stored
                with another size).
            ConflictError: the artifact exists with another type.
            NotFoundError: ``run_id`` names no run, or the project is not readable.
            PermissionDeniedError: the project exists and the principal is not its member.
        """
        project = names.check_project(project)
        name = names.check_name(name, "artifact")
        type_ = names.check_name(type_, "type")
        entries = check_manifest(files)
        description = names.check_description(description)
        meta = names.check_metadata(metadata)
        alias_list = names.check_aliases(aliases)
        tag_list = names.check_tags(tags)
        digest = manifest_digest(entries)
        stored_sizes = {e["sha256"]: e["size"] for e in entries if e["ref"] is None}
        t = now()
        with self.db.write() as conn:
            existed = access.may_write_project(conn, principal, project) is not None
            self.blobs.require_stored(conn, stored_sizes)
            run_pk = check_run_ref(conn, project, run_id)
            project_id = store.ensure_project(conn, project, t)
            if not existed:
                access_store.claim_project(conn, project_id, principal.user_id)
            artifact = store.ensure_artifact(conn, project_id, name, type_, t)
            if artifact["type"] != type_:
                raise ConflictError(
                    f"artifact {project}/{name} has type {artifact['type']!r}, not {type_!r}",
                    {"type": artifact["type"]},
                )
            existing = store.live_version_with_digest(conn, artifact["id"], digest)
            created = existing is None
            if existing is None:
                index = store.take_version_number(conn, artifact["id"])
                version_id = store.insert_version(
                    conn,
                    artifact_id=artifact["id"],
                    version=index,
                    digest=digest,
                    size=sum(e["size"] for e in entries),
                    file_count=len(entries),
                    description=description,
                    metadata=meta,
                    run_pk=run_pk,
                    user_id=principal.user_id,
                    created_at=t,
                )
                store.insert_files(conn, version_id, entries)
                where = Located(version_id, artifact["id"], project_id)
                subject = f"{project}/{name}:v{index}"
                record(
                    conn,
                    principal,
                    "artifact_version.created",
                    subject,
                    **self._scope(where, run_pk),
                    after={
                        "digest": digest,
                        "size": sum(e["size"] for e in entries),
                        "files": len(entries),
                    },
                )
                self._move_alias(conn, principal, where, LATEST, subject)
                for tag in tag_list:
                    tag_store.add_tag(conn, tag_store.VERSION, version_id, tag)
            else:
                version_id = existing
                where = Located(version_id, artifact["id"], project_id)
                row = store.version_by_id(conn, version_id)
                assert row is not None
                subject = f"{project}/{name}:v{row['index']}"
                self._add_tags(conn, principal, where, subject, tag_list)
            for alias in alias_list:
                self._move_alias(conn, principal, where, alias, subject)
            if run_pk is not None:
                run_store.add_edge(conn, run_pk, version_id, "logged", t)
            info = describe(conn, where)
        info["created"] = created
        return info, created

    @staticmethod
    def _scope(where: Located, run_pk: int | None = None) -> dict[str, Any]:
        return {
            "project_id": where.project_id,
            "artifact_id": where.artifact_id,
            "version_id": where.version_id,
            "registry_id": where.registry_id,
            "collection_id": where.collection_id,
            "link_id": where.link_id,
            "run_pk": run_pk,
        }

    def _move_alias(
        self, conn: Connection, principal: Principal, where: Located, alias: str, subject: str
    ) -> None:
        previous = store.set_alias(conn, where.artifact_id, alias, where.version_id)
        if previous != where.version_id:
            before = self._version_name(conn, previous)
            record(
                conn,
                principal,
                "alias.added",
                subject,
                **self._scope(where),
                before={"alias": alias, "version": before} if before else None,
                after={"alias": alias, "version": subject.rpartition(":")[2]},
            )

    @staticmethod
    def _version_name(conn: Connection, version_id: int | None) -> str | None:
        if version_id is None:
            return None
        row = store.version_by_id(conn, version_id)
        return f"v{row['index']}" if row else None

    def _add_tags(
        self, conn: Connection, principal: Principal, where: Located, subject: str, tags: list[str]
    ) -> None:
        current = set(
            tag_store.tags_of(conn, tag_store.VERSION, [where.version_id])[where.version_id]
        )
        for tag in tags:
            if tag not in current:
                tag_store.add_tag(conn, tag_store.VERSION, where.version_id, tag)
                record(
                    conn, principal, "tag.added", subject, **self._scope(where), after={"tag": tag}
                )

    def get(self, principal: Principal, ref: Ref) -> Info:
        """Describe the version a reference names.

        Raises:
            NotFoundError: nothing by that reference (or nothing the principal may read).
        """
        with self.db.read() as conn:
            ref = access.require_source(conn, principal, ref)
            return describe(conn, locate(conn, ref))

    def files(self, principal: Principal, ref: Ref) -> list[dict[str, Any]]:
        """A version's files (what downloading needs: restricted viewers may not).

        Raises:
            NotFoundError: nothing by that reference the principal may read.
            PermissionDeniedError: the principal is a restricted viewer.
        """
        with self.db.read() as conn:
            ref = access.require_source(conn, principal, ref, Role.VIEWER)
            return store.files_of(conn, locate(conn, ref).version_id)

    def list_artifacts(
        self, principal: Principal, project: str, type_: str | None = None
    ) -> list[Info]:
        project = names.check_project(project)
        with self.db.read() as conn:
            pid = access.require_project(conn, principal, project)["id"]
            return [
                {
                    "project": project,
                    "name": r["name"],
                    "type": r["type"],
                    "version_count": r["version_count"] or 0,
                    "created_at": r["created_at"],
                    "updated_at": r["updated_at"],
                }
                for r in store.list_artifacts(conn, pid, type_)
            ]

    def list_versions(self, principal: Principal, project: str, name: str) -> list[Info]:
        from modelbay.services.core import version_info

        ref = ArtifactRef(names.check_project(project), names.check_name(name, "artifact"))
        with self.db.read() as conn:
            pid = access.require_project(conn, principal, ref.project)["id"]
            artifact = store.get_artifact(conn, pid, ref.name) if pid is not None else None
            if artifact is None:
                raise NotFoundError(f"artifact {ref.project}/{ref.name} not found")
            rows = store.list_versions(conn, artifact["id"])
            aliases = store.aliases_of(conn, [r["id"] for r in rows])
            tags = tag_store.tags_of(conn, tag_store.VERSION, [r["id"] for r in rows])
            return [version_info(r, aliases[r["id"]], tags[r["id"]]) for r in rows]

    def update(
        self,
        principal: Principal,
        ref: Ref,
        *,
        description: Any = UNSET,
        metadata: Any = UNSET,
        aliases: Any = UNSET,
        tags: Any = UNSET,
    ) -> Info:
        """Edit a version. Through a registry reference, ``aliases`` are the collection's;
        description, metadata and tags always belong to the source artifact version.

        ``aliases`` and ``tags`` are the whole desired sets; ``latest`` is kept automatically
        and ignored here.

        Raises:
            InvalidInputError, InvalidNameError: bad values (nothing is changed).
            NotFoundError: nothing by that reference.
            PermissionDeniedError: not a member of the project (or, through a registry
                reference, of the registry); a protected alias and not a registry admin.
        """
        new_description = (
            names.check_description(description) if description is not UNSET else UNSET
        )
        new_metadata = names.check_metadata(metadata) if metadata is not UNSET else UNSET
        alias_list = set(names.check_aliases(aliases)) if aliases is not UNSET else None
        tag_list = set(names.check_tags(tags)) if tags is not UNSET else None
        with self.db.write() as conn:
            access.require_ref(conn, principal, ref, Role.MEMBER)
            where = locate(conn, ref)
            info = describe(conn, where)
            subject = info["link"]["ref"] if "link" in info else info["ref"]
            if alias_list is not None and isinstance(ref, RegistryRef):
                assert where.collection_id is not None
                registry_store.lock_collection(conn, where.collection_id)  # before any write
                registry = registry_store.get_registry(conn, ref.registry)
                assert registry is not None
                for alias in alias_list.symmetric_difference(set(info["aliases"]) - {LATEST}):
                    access.require_alias_change(
                        conn, principal, registry, alias, ref=subject, moving=alias in alias_list
                    )
            changes: dict[str, Any] = {}
            before: dict[str, Any] = {}
            if new_description is not UNSET and new_description != info["description"]:
                changes["description"] = new_description
                before["description"] = info["description"]
            if new_metadata is not UNSET and new_metadata != info["metadata"]:
                changes["metadata"] = new_metadata
                before["metadata"] = info["metadata"]
            if changes:
                store.update_version(conn, where.version_id, **changes)
                record(
                    conn,
                    principal,
                    "artifact_version.updated",
                    subject,
                    **self._scope(where),
                    before=before,
                    after=changes,
                )
            if tag_list is not None:
                current = set(info["tags"])
                self._add_tags(conn, principal, where, subject, sorted(tag_list - current))
                for tag in sorted(current - tag_list):
                    tag_store.remove_tag(conn, tag_store.VERSION, where.version_id, tag)
                    record(
                        conn,
                        principal,
                        "tag.removed",
                        subject,
                        **self._scope(where),
                        before={"tag": tag},
                    )
            if alias_list is not None:
                if where.link_id is not None:
                    from modelbay.services.registry import set_link_alias, unset_link_alias

                    current = set(info["aliases"]) - {LATEST}
                    for alias in sorted(alias_list - current):
                        set_link_alias(conn, principal, where, alias)
                    for alias in sorted(current - alias_list):
                        unset_link_alias(conn, principal, where, alias)
                else:
                    current = set(info["aliases"]) - {LATEST}
                    for alias in sorted(alias_list - current):
                        self._move_alias(conn, principal, where, alias, subject)
                    for alias in sorted(current - alias_list):
                        store.remove_alias(conn, where.artifact_id, alias)
                        record(
                            conn,
                            principal,
                            "alias.removed",
                            subject,
                            **self._scope(where),
                            before={"alias": alias},
                        )
            return describe(conn, replace(where, row=None))  # re-read what changed

    def set_alias(
        self, principal: Principal, project: str, name: str, alias: str, selector: str
    ) -> Info:
        """Point ``alias`` of artifact ``project/name`` at version ``selector`` (moving it).

        Raises:
            InvalidNameError: a malformed or reserved alias.
            NotFoundError: no such artifact or version.
        """
        alias = names.check_alias(alias)
        ref = ArtifactRef(
            names.check_project(project),
            names.check_name(name, "artifact"),
            names.check_name(selector, "version"),
        )
        with self.db.write() as conn:
            access.require_project(conn, principal, ref.project, Role.MEMBER)
            where = locate(conn, ref)
            info = describe(conn, where)
            self._move_alias(conn, principal, where, alias, info["ref"])
            return describe(conn, where)

    def remove_alias(self, principal: Principal, project: str, name: str, alias: str) -> None:
        alias = names.check_alias(alias)
        ref = ArtifactRef(names.check_project(project), names.check_name(name, "artifact"), alias)
        with self.db.write() as conn:
            access.require_project(conn, principal, ref.project, Role.MEMBER)
            where = locate(conn, ref)
            info = describe(conn, where)
            store.remove_alias(conn, where.artifact_id, alias)
            record(
                conn,
                principal,
                "alias.removed",
                info["ref"],
                **self._scope(where),
                before={"alias": alias},
            )

    def delete(self, principal: Principal, ref: Ref) -> None:
        """Soft-delete an artifact version: it disappears from listings and references.

        Raises:
            ConflictError: the version is linked into a registry (unlink it first), or the
                reference is a registry version (use unlink).
            NotFoundError: nothing by that reference.
        """
        if isinstance(ref, RegistryRef):
            raise ConflictError(f"{ref} is a registry version: unlink it instead of deleting")
        with self.db.write(frees_room=True) as conn:
            access.require_ref(conn, principal, ref, Role.MEMBER)
            where = locate(conn, ref)
            info = describe(conn, where)
            linked = registry_store.links_of_versions(conn, [where.version_id])
            if linked:
                raise ConflictError(
                    f"{info['ref']} is linked into {len(linked)} collection(s); unlink it first",
                    {
                        "links": [
                            names.registry_ref(x["registry"], x["collection"], f"v{x['version']}")
                            for x in linked
                        ]
                    },
                )
            store.update_version(conn, where.version_id, deleted_at=now())
            removed = store.remove_aliases_of(conn, where.version_id)
            record(
                conn,
                principal,
                "artifact_version.deleted",
                info["ref"],
                **self._scope(where),
                before={"aliases": removed},
            )
            if LATEST in removed:
                newest = store.newest_live_version(conn, where.artifact_id)
                newest_row = store.version_by_id(conn, newest) if newest is not None else None
                if newest is not None and newest_row is not None:
                    moved = Located(newest, where.artifact_id, where.project_id)
                    subject = f"{newest_row['project']}/{newest_row['name']}:v{newest_row['index']}"
                    self._move_alias(conn, principal, moved, LATEST, subject)

    def use(
        self, principal: Principal, ref: Ref, project: str | None = None, run_id: str | None = None
    ) -> Info:
        """Describe a version and record that the run used it (lineage).

        Raises:
            NotFoundError: no such version or run.
        """
        with self.db.write() as conn:
            ref = access.require_source(conn, principal, ref)
            if run_id is not None and project is not None:
                access.require_project(conn, principal, project, Role.MEMBER)
            where = locate(conn, ref)
            run_pk = check_run_ref(conn, project, run_id)
            if run_pk is not None:
                run_store.add_edge(conn, run_pk, where.version_id, "used", now())
            return describe(conn, where)
