"""What every service shares: the acting principal, the clock, events, and how a version is
found from a reference and described."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from modelbay.errors import NotFoundError
from modelbay.jsontext import Info
from modelbay.names import (
    NAME_RE,
    REGISTRY_SUFFIX,
    ArtifactRef,
    Ref,
    RegistryRef,
    registry_ref,
    version_index,
)
from modelbay.services import outbox
from modelbay.store import artifacts as artifact_store
from modelbay.store import registry as registry_store
from modelbay.store import tags as tag_store


@dataclass(frozen=True)
class Principal:
    """Who acts: every service call takes one, so that permissions have a single place."""

    user_id: int
    name: str
    is_admin: bool = False


def now() -> float:
    return time.time()


def record(conn: Connection, actor: Principal, action: str, subject: str, **fields: Any) -> None:
    """Write one audit event in the caller's transaction, with the deliveries of the
    automations it triggers (the outbox)."""
    outbox.record_event(
        conn, {"time": now(), "actor": actor.name, "action": action, "subject": subject, **fields}
    )


@dataclass(frozen=True)
class Located:
    """A reference resolved to rows: the artifact version and, through a registry, the link."""

    version_id: int
    artifact_id: int
    project_id: int | None = None
    link_id: int | None = None
    collection_id: int | None = None
    registry_id: int | None = None
    registry: str | None = None
    collection: str | None = None
    #: The row the reference was found by (source version columns, and link columns through
    #: a registry), so that describing it needs no second look-up.
    row: dict[str, Any] | None = field(default=None, compare=False, repr=False)


def project_or_registry(conn: Connection, ref: Ref) -> Ref:
    """``X-registry/name`` names registry X; when there is no such registry but there is a
    project ``X-registry`` (W&B lets projects end so), it names that project's artifact.

    Services call this before checking access, so that the check is the project's.
    """
    if (
        isinstance(ref, RegistryRef)
        and registry_store.get_registry(conn, ref.registry) is None
        and NAME_RE.match(ref.collection)
    ):
        project = f"{ref.registry}{REGISTRY_SUFFIX}"
        if artifact_store.project_id(conn, project) is not None:
            return ArtifactRef(project, ref.collection, ref.selector)
    return ref


def locate(conn: Connection, ref: Ref) -> Located:
    """Find the rows a reference names.

    Raises:
        NotFoundError: the project, artifact, registry, collection, alias or version is unknown.
    """
    index = version_index(ref.selector)
    if isinstance(ref, ArtifactRef):
        hit = artifact_store.find_version(
            conn,
            ref.project,
            ref.name,
            index=index,
            alias=None if index is not None else ref.selector,
        )
        if hit is not None:
            return Located(hit["id"], hit["artifact_id"], None, row=hit)
    else:
        link = registry_store.find_link(
            conn,
            ref.registry,
            ref.collection,
            index=index,
            alias=None if index is not None else ref.selector,
        )
        if link is not None:
            return Located(
                link["id"],
                link["artifact_id"],
                None,
                link["link_id"],
                link["collection_id"],
                link["registry_id"],
                ref.registry,
                ref.collection,
                row=link,
            )
    return _locate_slowly(conn, ref)


def _no_version(ref: Ref, holder: str) -> NotFoundError:
    """Not found, saying which: no version ``vN``, or an alias that is not set."""
    if version_index(ref.selector) is not None:
        message = f"{ref} not found: no version {ref.selector!r}"
    else:
        message = f"{ref} not found: alias {ref.selector!r} is not set in {holder}"
    return NotFoundError(message, {"ref": str(ref)})


def _locate_slowly(conn: Connection, ref: Ref) -> Located:
    """The step-by-step look-up, which says precisely what is missing."""
    if isinstance(ref, ArtifactRef):
        project_id = artifact_store.project_id(conn, ref.project)
        if project_id is None:
            raise NotFoundError(f"project {ref.project!r} not found", {"ref": str(ref)})
        artifact = artifact_store.get_artifact(conn, project_id, ref.name)
        if artifact is None:
            raise NotFoundError(f"artifact {ref.project}/{ref.name} not found", {"ref": str(ref)})
        index = version_index(ref.selector)
        if index is not None:
            version_id = artifact_store.version_id_by_index(conn, artifact["id"], index)
        else:
            version_id = artifact_store.version_id_by_alias(conn, artifact["id"], ref.selector)
        if version_id is None:
            raise _no_version(ref, f"{ref.project}/{ref.name}")
        return Located(version_id, artifact["id"], project_id)
    registry = registry_store.get_registry(conn, ref.registry)
    if registry is None:
        raise NotFoundError(f"registry {ref.registry!r} not found", {"ref": str(ref)})
    collection = registry_store.get_collection(conn, registry["id"], ref.collection)
    if collection is None:
        raise NotFoundError(
            f"collection {ref.registry}/{ref.collection} not found", {"ref": str(ref)}
        )
    index = version_index(ref.selector)
    if index is not None:
        link_id = registry_store.link_id_by_index(conn, collection["id"], index)
    else:
        link_id = registry_store.link_id_by_alias(conn, collection["id"], ref.selector)
    if link_id is None:
        raise _no_version(ref, registry_ref(ref.registry, ref.collection))
    row = registry_store.link_row(conn, link_id)
    assert row is not None
    return Located(
        row["id"],
        row["artifact_id"],
        None,
        link_id,
        collection["id"],
        registry["id"],
        ref.registry,
        ref.collection,
    )


def _version(
    id_: int,
    project: str,
    name: str,
    type_: str,
    index: int,
    digest: str,
    size: int,
    file_count: int,
    description: str | None,
    metadata: dict[str, Any] | None,
    aliases: list[str],
    tags: list[str],
    created_at: float,
    created_by: str,
    run_id: str | None,
    deleted_at: float | None,
    expires_at: float | None,
) -> Info:
    """The JSON shape of an artifact version, its fields given in the shape's order."""
    return {
        "id": id_,
        "project": project,
        "name": name,
        "type": type_,
        "version": f"v{index}",
        "index": index,
        "ref": f"{project}/{name}:v{index}",
        "digest": digest,
        "size": size,
        "file_count": file_count,
        "description": description,
        "metadata": metadata or {},
        "aliases": aliases,
        "tags": tags,
        "created_at": created_at,
        "created_by": created_by,
        "run": {"project": project, "id": run_id} if run_id else None,
        "deleted": deleted_at is not None,
        # W&B's TTL in seconds: the version expires this long after it was created.
        "ttl": None if expires_at is None else float(expires_at) - float(created_at),
    }


def _link(
    registry: str,
    collection: str,
    link_id: int,
    index: int,
    aliases: list[str],
    linked_at: float,
    linked_by: str,
) -> Info:
    """The ``link`` part of a registry version."""
    version = f"v{index}"
    return {
        "id": link_id,
        "registry": registry,
        "collection": collection,
        "version": version,
        "index": index,
        "ref": registry_ref(registry, collection, version),
        "aliases": aliases,
        "linked_at": linked_at,
        "linked_by": linked_by,
    }


def version_info(row: dict[str, Any], aliases: list[str], tags: list[str]) -> Info:
    """The JSON shape of an artifact version, from a row of ``VERSION_COLUMNS``."""
    return _version(
        row["id"], row["project"], row["name"], row["type"], row["index"], row["digest"],
        row["size"], row["file_count"], row["description"], row["metadata"], aliases, tags,
        row["created_at"], row["created_by"], row.get("run_id"), row["deleted_at"],
        row.get("expires_at"),
    )  # fmt: skip


def link_info(
    row: dict[str, Any], registry: str, collection: str, aliases: list[str], tags: list[str]
) -> Info:
    """The JSON shape of a registry version: its source version plus a ``link`` part.

    Its ``aliases`` are the collection's (as W&B shows them on a linked artifact); the
    source version's own aliases stay with the source.
    """
    info = version_info(row, aliases, tags)
    info["link"] = _link(
        registry, collection, row["link_id"], row["link_index"], aliases, row["linked_at"],
        row["linked_by"],
    )  # fmt: skip
    return info


#: The order of ``store.registry.LINK_COLUMNS``, as :func:`link_infos` unpacks a row.
LINK_ROW = (
    "id", "artifact_id", "index", "digest", "size", "file_count", "description", "metadata",
    "created_at", "deleted_at", "expires_at", "run_pk", "name", "type", "project",
    "created_by", "run_id", "link_id", "collection_id", "link_index", "linked_at", "linked_by",
)  # fmt: skip


def link_infos(
    rows: list[Any],
    registry: str,
    collection: str,
    aliases: dict[int, list[str]],
    tags: dict[int, list[str]],
) -> list[Info]:
    """:func:`link_info` of every row of a page, the rows as value sequences in ``LINK_ROW``
    order: a listing page holds up to 10,000 versions, and unpacking each row once, instead
    of making a dict of it first, halves the page's Python work."""
    out = []
    for (
        id_, _artifact_id, index, digest, size, file_count, description, metadata, created_at,
        deleted_at, expires_at, _run_pk, name, type_, project, created_by, run_id, link_id,
        _collection_id, link_index, linked_at, linked_by,
    ) in rows:  # fmt: skip
        held = aliases.get(link_id, [])
        info = _version(
            id_, project, name, type_, index, digest, size, file_count, description, metadata,
            held, tags[id_], created_at, created_by, run_id, deleted_at, expires_at,
        )  # fmt: skip
        info["link"] = _link(registry, collection, link_id, link_index, held, linked_at, linked_by)
        out.append(info)
    return out


def describe(conn: Connection, where: Located) -> Info:
    """Full description of a located version (with its aliases, tags and link)."""
    if where.link_id is not None:
        row = (
            where.row
            if where.row and "link_id" in where.row
            else registry_store.link_row(conn, where.link_id)
        )
        assert row is not None and where.registry and where.collection
        aliases = registry_store.aliases_of_links(conn, [where.link_id])[where.link_id]
        tags = tag_store.tags_of(conn, tag_store.VERSION, [row["id"]])[row["id"]]
        return link_info(row, where.registry, where.collection, aliases, tags)
    version = where.row if where.row else artifact_store.version_by_id(conn, where.version_id)
    if version is None:
        raise NotFoundError(f"artifact version {where.version_id} not found")
    aliases = artifact_store.aliases_of(conn, [where.version_id])[where.version_id]
    tags = tag_store.tags_of(conn, tag_store.VERSION, [where.version_id])[where.version_id]
    return version_info(version, aliases, tags)


__all__ = [
    "Info",
    "Located",
    "Principal",
    "RegistryRef",
    "describe",
    "link_info",
    "link_infos",
    "locate",
    "now",
    "record",
    "version_info",
]
