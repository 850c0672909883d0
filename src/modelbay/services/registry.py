"""Registries, collections (registered models), links and collection aliases."""

from __future__ import annotations

import fnmatch
from dataclasses import replace
from typing import Any

from sqlalchemy.engine import Connection

from modelbay import names
from modelbay.contract.operations import Role
from modelbay.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from modelbay.jsontext import Info
from modelbay.names import LATEST, Ref, RegistryRef
from modelbay.services import access
from modelbay.services.core import (
    LINK_ROW,
    Located,
    Principal,
    describe,
    link_info,
    link_infos,
    locate,
    now,
    record,
)
from modelbay.store import access as access_store
from modelbay.store import artifacts as artifact_store
from modelbay.store import events as event_store
from modelbay.store import registry as store
from modelbay.store import tags as tag_store
from modelbay.store.database import Database

#: The registries every instance has, with the artifact types they accept (glob patterns).
CORE_REGISTRIES: dict[str, tuple[str, list[str]]] = {
    "model": ("Models ready for staging and production.", ["*model*"]),
    "dataset": ("Datasets models are trained and evaluated on.", ["*dataset*"]),
}
MAX_PAGE = 10_000


def ensure_core_registries(db: Database) -> None:
    with db.write() as conn:
        for name, (description, types) in CORE_REGISTRIES.items():
            store.ensure_registry(conn, name, description, types, now())


def check_type_pattern(value: object) -> str:
    """An accepted artifact type: a type name, optionally with ``*`` wildcards."""
    if not isinstance(value, str):
        raise InvalidInputError("artifact types must be strings")
    names.check_name(value.replace("*", "x"), "artifact type")
    return value


def accepts(artifact_types: list[str] | None, type_: str) -> bool:
    return artifact_types is None or any(fnmatch.fnmatchcase(type_, p) for p in artifact_types)


def _scope(where: Located) -> dict[str, Any]:
    return {
        "registry_id": where.registry_id,
        "collection_id": where.collection_id,
        "link_id": where.link_id,
        "artifact_id": where.artifact_id,
        "version_id": where.version_id,
    }


def _link_subject(where: Located, index: int) -> str:
    assert where.registry is not None and where.collection is not None  # located by a link
    return names.registry_ref(where.registry, where.collection, f"v{index}")


def set_link_alias(
    conn: Connection, principal: Principal, where: Located, alias: str, index: int | None = None
) -> None:
    """Point a collection alias at ``where``'s link (number ``index``), moving it; audited when
    it changes."""
    assert where.collection_id is not None and where.link_id is not None
    holder = store.alias_holder(conn, where.collection_id, alias)
    if holder is not None and holder[0] == where.link_id:
        return
    store.upsert_alias(conn, where.collection_id, alias, where.link_id)
    if alias != LATEST:
        access_store.stale_requests_for_alias(conn, where.collection_id, alias, now())
    if index is None:
        index = (
            int(where.row["link_index"])
            if where.row and "link_index" in where.row
            else _index_of(conn, where)
        )
    record(
        conn,
        principal,
        "alias.added",
        _link_subject(where, index),
        **_scope(where),
        before={"alias": alias, "version": f"v{holder[1]}"} if holder else None,
        after={"alias": alias, "version": f"v{index}"},
    )


def _index_of(conn: Connection, where: Located) -> int:
    assert where.link_id is not None
    row = store.link_row(conn, where.link_id)
    assert row is not None
    return int(row["link_index"])


def unset_link_alias(conn: Connection, principal: Principal, where: Located, alias: str) -> None:
    assert where.collection_id is not None and where.link_id is not None
    row = store.link_row(conn, where.link_id)
    assert row is not None
    store.remove_alias(conn, where.collection_id, alias)
    access_store.stale_requests_for_alias(conn, where.collection_id, alias, now())
    record(
        conn,
        principal,
        "alias.removed",
        _link_subject(where, row["link_index"]),
        **_scope(where),
        before={"alias": alias, "version": f"v{row['link_index']}"},
    )


def event_info(row: dict[str, Any]) -> Info:
    return {
        "id": row["id"],
        "time": row["time"],
        "actor": row["actor"],
        "action": row["action"],
        "subject": row["subject"],
        "before": row["before"],
        "after": row["after"],
    }


class RegistryService:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- registries -------------------------------------------------------------------------

    def list_registries(self, principal: Principal) -> list[Info]:
        """The registries the principal may read (filtered in the query)."""
        readable = (
            None if principal.is_admin else access_store.readable_registries(principal.user_id)
        )
        with self.db.read() as conn:
            return [self._registry_info(r) for r in store.list_registries(conn, readable)]

    def get_registry(self, principal: Principal, name: str) -> Info:
        """One registry, with its protected aliases.

        Raises:
            NotFoundError: no such registry, or one the principal may not read.
        """
        with self.db.read() as conn:
            row = access.require_registry(conn, principal, name)
            info = self._registry_info(row)
            info["protected_aliases"] = access_store.protected_patterns(conn, row["id"])
            info["role"] = (access.registry_role(conn, principal, row) or Role.VIEWER).label
            return info

    def create_registry(
        self,
        principal: Principal,
        name: str,
        description: str | None = None,
        artifact_types: list[str] | None = None,
        visibility: str = "organization",
    ) -> Info:
        """Create a custom registry, ``organization``-visible (every user at least a viewer)
        or ``restricted`` (its members only).

        Raises:
            PermissionDeniedError: the principal is not an admin.
            AlreadyExistsError: a registry with that name exists.
            InvalidNameError: a bad name or artifact type.
        """
        name = names.check_name(name, "registry")
        description = names.check_description(description)
        if artifact_types is not None:
            if not isinstance(artifact_types, list) or not artifact_types:
                raise InvalidInputError("artifact_types must be a non-empty list of type names")
            artifact_types = [check_type_pattern(t) for t in artifact_types]
        visibility = access.check_visibility(visibility)
        if not principal.is_admin:
            raise PermissionDeniedError("only admins create registries")
        with self.db.write() as conn:
            if store.get_registry(conn, name) is not None:
                raise AlreadyExistsError(f"registry {name!r} exists already")
            registry_id = store.insert_registry(
                conn,
                name=name,
                description=description,
                artifact_types=artifact_types,
                visibility=visibility,
                created_at=now(),
            )
            record(
                conn,
                principal,
                "registry.created",
                f"{name}-registry",
                registry_id=registry_id,
                after={"artifact_types": artifact_types, "visibility": visibility},
            )
            return self._registry_info(self._registry(conn, name))

    @staticmethod
    def _registry(conn: Connection, name: str) -> dict[str, Any]:
        row = store.get_registry(conn, names.check_name(name, "registry"))
        if row is None:
            raise NotFoundError(f"registry {name!r} not found")
        return row

    @staticmethod
    def _registry_info(row: dict[str, Any]) -> Info:
        return {
            "name": row["name"],
            "description": row["description"],
            "artifact_types": row["artifact_types"],
            "visibility": row["visibility"],
            "created_at": row["created_at"],
            "collection_count": row.get("collection_count"),
            "required_approvals": row.get("required_approvals", 1),
        }

    # -- collections ------------------------------------------------------------------------

    def list_collections(
        self, principal: Principal, registry: str, query: str | None = None
    ) -> list[Info]:
        with self.db.read() as conn:
            reg = access.require_registry(conn, principal, registry)
            rows = store.list_collections(conn, reg["id"], query or None)
            tags = tag_store.tags_of(conn, tag_store.COLLECTION, [r["id"] for r in rows])
            return [self._collection_info(reg["name"], r, tags[r["id"]]) for r in rows]

    def get_collection(self, principal: Principal, registry: str, collection: str) -> Info:
        with self.db.read() as conn:
            reg, row = self._collection(conn, principal, registry, collection)
            row["version_count"] = store.link_count(conn, row["id"])
            tags = tag_store.tags_of(conn, tag_store.COLLECTION, [row["id"]])[row["id"]]
            info = self._collection_info(reg["name"], row, tags)
            aliases = store.aliases_of_collection(conn, row["id"])
            info["aliases"] = {
                alias: f"v{r['link_index']}"
                for link_id, alias_list in aliases.items()
                if (r := store.link_row(conn, link_id)) is not None
                for alias in alias_list
            }
            return info

    def _collection(
        self,
        conn: Connection,
        principal: Principal,
        registry: str,
        collection: str,
        needed: Role = Role.RESTRICTED_VIEWER,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The registry and collection rows, when the principal holds ``needed`` in the
        registry (an unreadable registry is not found, whatever the collection)."""
        reg = access.require_registry(conn, principal, registry, needed)
        row = store.get_collection(conn, reg["id"], names.check_collection(collection))
        if row is None:
            raise NotFoundError(f"collection {names.registry_ref(registry, collection)} not found")
        return reg, row

    @staticmethod
    def _collection_info(registry: str, row: dict[str, Any], tags: list[str]) -> Info:
        return {
            "registry": registry,
            "name": row["name"],
            "type": row["type"],
            "description": row["description"],
            "tags": tags,
            "version_count": row.get("version_count"),
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "ref": names.registry_ref(registry, row["name"]),
        }

    def update_collection(
        self,
        principal: Principal,
        registry: str,
        collection: str,
        *,
        description: Any = ...,
        tags: Any = ...,
    ) -> Info:
        """Edit a collection's description (its model card) and tags (the whole set).

        Raises:
            NotFoundError: no such (readable) registry or collection.
            PermissionDeniedError: the principal is not a member of the registry.
        """
        new_description = names.check_description(description) if description is not ... else ...
        new_tags = set(names.check_tags(tags)) if tags is not ... else None
        with self.db.write() as conn:
            reg, row = self._collection(conn, principal, registry, collection, Role.MEMBER)
            subject = names.registry_ref(reg["name"], row["name"])
            scope = {"registry_id": reg["id"], "collection_id": row["id"]}
            if new_description is not ... and new_description != row["description"]:
                store.update_collection(
                    conn, row["id"], description=new_description, updated_at=now()
                )
                record(
                    conn,
                    principal,
                    "collection.updated",
                    subject,
                    **scope,
                    before={"description": row["description"]},
                    after={"description": new_description},
                )
            if new_tags is not None:
                current = set(tag_store.tags_of(conn, tag_store.COLLECTION, [row["id"]])[row["id"]])
                for tag in sorted(new_tags - current):
                    tag_store.add_tag(conn, tag_store.COLLECTION, row["id"], tag)
                    record(conn, principal, "tag.added", subject, **scope, after={"tag": tag})
                for tag in sorted(current - new_tags):
                    tag_store.remove_tag(conn, tag_store.COLLECTION, row["id"], tag)
                    record(conn, principal, "tag.removed", subject, **scope, before={"tag": tag})
        return self.get_collection(principal, registry, collection)

    # -- links ------------------------------------------------------------------------------

    def link(
        self,
        principal: Principal,
        source: Ref,
        registry: str,
        collection: str,
        aliases: object = None,
    ) -> tuple[Info, bool]:
        """Link an artifact version into a collection (created on first use).

        Linking copies nothing. The same artifact version linked again returns its existing
        link (``created`` False). ``latest`` moves to a new link; ``aliases`` move onto it.

        Raises:
            InvalidNameError: bad names or a reserved alias.
            NotFoundError: the source version or the registry does not exist (or the
                principal may not read it).
            PermissionDeniedError: not a member of the registry, or a protected alias.
            ConflictError: the registry does not accept the artifact's type, or the collection
                holds another type.
        """
        registry = names.check_name(registry, "registry")
        collection = names.check_collection(collection)
        alias_list = names.check_aliases(aliases)
        t = now()
        with self.db.write() as conn:
            reg = access.require_registry(conn, principal, registry, Role.MEMBER)
            source = access.require_source(conn, principal, source, Role.VIEWER)
            for alias in alias_list:
                access.require_alias_change(
                    conn, principal, reg, alias, ref=names.registry_ref(registry, collection, "vN")
                )
            source_at = locate(conn, source)
            version = source_at.row or artifact_store.version_by_id(conn, source_at.version_id)
            assert version is not None
            if not accepts(reg["artifact_types"], version["type"]):
                raise ConflictError(
                    f"registry {registry!r} does not accept artifacts of type {version['type']!r} "
                    f"(it accepts {', '.join(reg['artifact_types'] or [])})",
                    {"type": version["type"], "accepted": reg["artifact_types"]},
                )
            coll = store.get_collection(conn, reg["id"], collection, lock=True)
            created_collection = False
            if coll is None:
                created_collection = store.ensure_collection(
                    conn, reg["id"], collection, version["type"], t
                )
                coll = store.get_collection(conn, reg["id"], collection, lock=True)
            assert coll is not None
            if coll["type"] != version["type"]:
                raise ConflictError(
                    f"collection {names.registry_ref(registry, collection)} holds "
                    f"{coll['type']!r} artifacts, not {version['type']!r}",
                    {"type": coll["type"]},
                )
            where = Located(
                source_at.version_id,
                version["artifact_id"],
                None,
                None,
                coll["id"],
                reg["id"],
                registry,
                collection,
            )
            if created_collection:
                record(
                    conn,
                    principal,
                    "collection.created",
                    names.registry_ref(registry, collection),
                    registry_id=reg["id"],
                    collection_id=coll["id"],
                    after={"type": coll["type"]},
                )
            link_id = store.link_of_version(conn, coll["id"], source_at.version_id)
            created = link_id is None
            if link_id is None:
                index = store.take_link_number(conn, coll["id"], t)
                link_id = store.insert_link(
                    conn,
                    collection_id=coll["id"],
                    version=index,
                    artifact_version_id=source_at.version_id,
                    user_id=principal.user_id,
                    created_at=t,
                )
                # As in W&B, a linked version does not expire: its TTL goes (for good).
                if version is None or version.get("expires_at") is not None:
                    artifact_store.update_version(conn, source_at.version_id, expires_at=None)
                where = replace(where, link_id=link_id)
                record(
                    conn,
                    principal,
                    "version.linked",
                    _link_subject(where, index),
                    **_scope(where),
                    after={"source": f"{version['project']}/{version['name']}:v{version['index']}"},
                )
                set_link_alias(conn, principal, where, LATEST, index)
            else:
                where = replace(where, link_id=link_id)
                index = None
            for alias in alias_list:
                set_link_alias(conn, principal, where, alias, index)
            if index is not None:
                # Described from what is known already: the source row and the new link.
                where = replace(
                    where,
                    row={
                        **version,
                        "link_id": link_id,
                        "collection_id": coll["id"],
                        "link_index": index,
                        "linked_at": t,
                        "linked_by": principal.name,
                    },
                )
            if index is not None and not alias_list:  # a new link holds `latest` alone
                assert where.row is not None
                tags = tag_store.tags_of(conn, tag_store.VERSION, [where.row["id"]])
                info = link_info(where.row, registry, collection, [LATEST], tags[where.row["id"]])
            else:
                info = describe(conn, where)
        info["created"] = created
        return info, created

    def unlink(self, principal: Principal, ref: Ref) -> None:
        """Remove a version from its collection; the source artifact version stays.

        Raises:
            InvalidReferenceError: ``ref`` is not a registry version.
            NotFoundError: no such (readable) version.
            PermissionDeniedError: not a member of the registry, or the version holds a
                protected alias and the principal is not the registry's admin.
        """
        if not isinstance(ref, RegistryRef):
            raise InvalidInputError(
                f"{ref} is not a registry version: unlink takes 'registry-registry/name:vN'"
            )
        with self.db.write(frees_room=True) as conn:
            reg = access.require_registry(conn, principal, ref.registry, Role.MEMBER)
            where = locate(conn, ref)
            assert where.link_id is not None and where.collection_id is not None
            store.lock_collection(conn, where.collection_id)
            row = store.link_row(conn, where.link_id)
            assert row is not None
            aliases = store.aliases_of_links(conn, [where.link_id])[where.link_id]
            for alias in aliases:
                access.require_alias_change(conn, principal, reg, alias, ref=str(ref), moving=False)
            store.delete_link(conn, where.link_id)
            t = now()
            access_store.stale_requests_for_link(conn, where.collection_id, where.link_id, t)
            for alias in aliases:
                if alias != LATEST:
                    access_store.stale_requests_for_alias(conn, where.collection_id, alias, t)
            record(
                conn,
                principal,
                "version.unlinked",
                _link_subject(where, row["link_index"]),
                **_scope(where),
                before={
                    "aliases": aliases,
                    "source": f"{row['project']}/{row['name']}:v{row['index']}",
                },
            )
            if LATEST in aliases:
                newest = store.newest_link(conn, where.collection_id)
                newest_row = store.link_row(conn, newest) if newest is not None else None
                if newest_row is not None:
                    moved = replace(
                        where,
                        link_id=newest,
                        version_id=newest_row["id"],
                        artifact_id=newest_row["artifact_id"],
                        row=newest_row,
                    )
                    set_link_alias(conn, principal, moved, LATEST)

    def set_alias(
        self, principal: Principal, registry: str, collection: str, alias: str, selector: str
    ) -> Info:
        """Point ``alias`` at version ``selector`` of a collection, moving it from wherever it was.

        Raises:
            InvalidNameError: a malformed alias, or ``latest`` / ``vN``.
            NotFoundError: no such (readable) collection or version.
            PermissionDeniedError: not a member, or a protected alias and not an admin.
        """
        alias = names.check_alias(alias)
        ref = RegistryRef(
            names.check_name(registry, "registry"),
            names.check_collection(collection),
            names.check_name(selector, "version"),
        )
        with self.db.write() as conn:
            reg = access.require_registry(conn, principal, ref.registry, Role.MEMBER)
            access.require_alias_change(conn, principal, reg, alias, ref=str(ref))
            where = locate(conn, ref)
            assert where.collection_id is not None
            store.lock_collection(conn, where.collection_id)
            set_link_alias(conn, principal, where, alias)
            return describe(conn, where)

    def remove_alias(
        self, principal: Principal, registry: str, collection: str, alias: str
    ) -> None:
        """Remove ``alias`` from a collection.

        Raises:
            NotFoundError: the alias is not set.
            PermissionDeniedError: not a member, or a protected alias and not an admin.
        """
        alias = names.check_alias(alias)
        ref = RegistryRef(
            names.check_name(registry, "registry"),
            names.check_collection(collection),
            alias,
        )
        with self.db.write() as conn:
            reg = access.require_registry(conn, principal, ref.registry, Role.MEMBER)
            access.require_alias_change(conn, principal, reg, alias, ref=str(ref), moving=False)
            where = locate(conn, ref)
            assert where.collection_id is not None
            store.lock_collection(conn, where.collection_id)
            unset_link_alias(conn, principal, where, alias)

    def list_versions(
        self,
        principal: Principal,
        registry: str,
        collection: str,
        *,
        limit: int = 1000,
        page_token: str | None = None,
    ) -> Info:
        """Versions of a collection, newest first, a page at a time.

        Returns ``{"versions": [...], "next_page_token": str | None}``.
        """
        if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE}")
        below = None
        if page_token:
            if not (page_token.isascii() and page_token.isdigit()) or len(page_token) > 10:
                raise InvalidInputError(f"invalid page token {page_token[:40]!r}")
            below = int(page_token)
        with self.db.read() as conn:
            reg, coll = self._collection(conn, principal, registry, collection)
            rows = store.list_links(conn, coll["id"], limit=limit + 1, below=below)
            more = len(rows) > limit
            rows = rows[:limit]
            link_at, id_at = LINK_ROW.index("link_id"), LINK_ROW.index("id")
            if len(rows) > 900:
                aliases = store.aliases_of_collection(conn, coll["id"])
            else:
                aliases = store.aliases_of_links(conn, [r[link_at] for r in rows])
            tags = tag_store.tags_of(conn, tag_store.VERSION, [r[id_at] for r in rows])
            versions = link_infos(rows, reg["name"], coll["name"], aliases, tags)
        last = versions[-1]["link"]["index"] if more else None
        return {"versions": versions, "next_page_token": None if last is None else str(last)}

    # -- history ----------------------------------------------------------------------------

    def history(
        self,
        principal: Principal,
        ref: Ref | None = None,
        *,
        registry: str | None = None,
        collection: str | None = None,
        limit: int = 100,
        before: int | None = None,
    ) -> list[Info]:
        """Audit events, newest first: of a collection (``registry`` + ``collection``) or of
        one version (``ref``: a registry or artifact version)."""
        if not 1 <= limit <= 1000:
            raise InvalidInputError("limit must be between 1 and 1000")
        with self.db.read() as conn:
            if ref is not None:
                ref = access.require_source(conn, principal, ref)
                where = locate(conn, ref)
                if where.link_id is not None:
                    rows = event_store.list_events(
                        conn, limit=limit, before_id=before, link_id=where.link_id
                    )
                else:
                    rows = event_store.list_events(
                        conn, limit=limit, before_id=before, version_id=where.version_id
                    )
            else:
                if registry is None or collection is None:
                    raise InvalidInputError(
                        "history needs a reference or a registry and a collection"
                    )
                _, coll = self._collection(conn, principal, registry, collection)
                rows = event_store.list_events(
                    conn, limit=limit, before_id=before, collection_id=coll["id"]
                )
        return [event_info(r) for r in rows]
