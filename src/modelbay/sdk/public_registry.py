"""W&B's registry API: ``api.registries(filter).collections(filter).versions(filter)``,
``api.artifact_collection(type, name)`` and ``api.artifact_type(s)``.

Each step of the chain is lazy and paged: filters go to the server, which evaluates them in
the database (``search_*`` operations), so iterating costs one query per page whatever the
filters. A registry collection is W&B's portfolio; a project artifact its sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from modelbay import names
from modelbay.contract import entities as e
from modelbay.contract import lifecycle as lc
from modelbay.contract import operations as ops
from modelbay.contract import public_api as pa
from modelbay.contract import requests as rq
from modelbay.errors import InvalidInputError
from modelbay.jsontext import Info
from modelbay.sdk.artifact import Artifact
from modelbay.sdk.public_runs import _jsonable, iso
from modelbay.sdk.registry_admin import RegistryAccess
from modelbay.sdk.transport import Transport

T = TypeVar("T")
Filter = dict[str, Any] | None


class Paged(Generic[T]):
    """Items fetched a page at a time by ``fetch(token) -> (items, next_token)``."""

    def __init__(
        self,
        fetch: Callable[[str | None], tuple[list[T], str | None]],
        start: str | None = None,
    ) -> None:
        self._fetch = fetch
        self._start = start
        #: Where the next page starts: give it as ``start=`` to resume there later.
        self.cursor: str | None = start

    def __iter__(self) -> Iterator[T]:
        token: str | None = self._start
        while True:
            items, token = self._fetch(token)
            self.cursor = token
            yield from items
            if not token:
                return

    def __getitem__(self, index: int | slice) -> Any:
        return list(self)[index]

    def __len__(self) -> int:
        return sum(1 for _ in self)


class Chained(Generic[T]):
    """W&B's search inside ordered results: each parent's own search in turn, in the
    parents' order (``api.registries(order="name").collections()`` lists the first
    registry's collections, then the next's). Not resumable with ``start=``, as in W&B."""

    def __init__(self, searches: Callable[[], Iterator[Paged[T]]]) -> None:
        self._searches = searches

    def __iter__(self) -> Iterator[T]:
        for search in self._searches():
            yield from search

    def __getitem__(self, index: int | slice) -> Any:
        return list(self)[index]

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _no_start(order: str | None, start: str | None, what: str) -> None:
    if order is not None and start is not None:
        raise InvalidInputError(
            f"start= cannot resume a search inside {what} fetched with order={order!r}: "
            "remove either"
        )


class Registries(Paged["Registry"]):
    """The readable registries matching a filter, in W&B's ``order`` (``name``,
    ``created_at``; ``+`` or ``-`` first); ``.collections(filter)`` and
    ``.versions(filter)`` search inside them."""

    def __init__(
        self,
        transport: Transport,
        filter: Filter = None,  # noqa: A002
        per_page: int = 100,
        start: str | None = None,
        order: str | None = None,
    ) -> None:
        self._transport = transport
        self._filter = _jsonable(filter) if filter else None
        self.order = order

        def fetch(token: str | None) -> tuple[list[Registry], str | None]:
            request = pa.RegistriesSearch(
                filter=self._filter, order=order, limit=per_page, page_token=token
            )
            page = transport.call(pa.SEARCH_REGISTRIES, request)
            return [Registry(transport, r) for r in page.registries], page.next_page_token

        super().__init__(fetch, start)

    def collections(
        self,
        filter: Filter = None,  # noqa: A002
        order: str | None = None,
        per_page: int = 100,
        start: str | None = None,
    ) -> Any:
        """The collections matching ``filter`` in these registries, in ``order``; when the
        registries were ordered, registry by registry in their order."""
        _no_start(self.order, start, "registries")
        if self.order is not None:
            return Chained(lambda: (r.collections(filter, order, per_page) for r in iter(self)))
        return Collections(self._transport, self._filter, filter, per_page, order, start)

    def versions(
        self,
        filter: Filter = None,  # noqa: A002
        order: str | None = None,
        per_page: int = 100,
        start: str | None = None,
    ) -> Any:
        """The registry versions matching ``filter`` in these registries, in ``order``;
        when the registries were ordered, registry by registry in their order."""
        _no_start(self.order, start, "registries")
        if self.order is not None:
            return Chained(lambda: (r.versions(filter, order, per_page) for r in iter(self)))
        return Versions(self._transport, self._filter, None, filter, per_page, order, start)


class Collections(Paged["Collection"]):
    """The collections matching a filter, in the registries matching another, in W&B's
    ``order`` (``name``, ``created_at``, ``updated_at``)."""

    def __init__(
        self,
        transport: Transport,
        registry_filter: Filter,
        filter: Filter,  # noqa: A002
        per_page: int = 100,
        order: str | None = None,
        start: str | None = None,
    ) -> None:
        self._transport = transport
        self._registry_filter = registry_filter
        self._filter = _jsonable(filter) if filter else None
        self.order = order

        def fetch(token: str | None) -> tuple[list[Collection], str | None]:
            request = pa.CollectionsSearch(
                registry_filter=registry_filter,
                filter=self._filter,
                order=order,
                limit=per_page,
                page_token=token,
            )
            page = transport.call(pa.SEARCH_COLLECTIONS, request)
            return [Collection(transport, c) for c in page.collections], page.next_page_token

        super().__init__(fetch, start)

    def versions(
        self,
        filter: Filter = None,  # noqa: A002
        order: str | None = None,
        per_page: int = 100,
        start: str | None = None,
    ) -> Any:
        """The registry versions matching ``filter`` in these collections, in ``order``;
        when the collections were ordered, collection by collection in their order."""
        _no_start(self.order, start, "collections")
        if self.order is not None:
            return Chained(
                lambda: (
                    Versions(
                        self._transport,
                        {"name": c.registry},
                        {"name": c.name},
                        filter,
                        per_page,
                        order,
                    )
                    for c in iter(self)
                )
            )
        return Versions(
            self._transport, self._registry_filter, self._filter, filter, per_page, order, start
        )


class Versions(Paged[Artifact]):
    """Registry versions matching filters on them, their collection and their registry, in
    W&B's ``order`` (``created_at``: the artifact's; ``linked_at``; ``artifact_size``);
    newest link first by default."""

    def __init__(
        self,
        transport: Transport,
        registry_filter: Filter,
        collection_filter: Filter,
        filter: Filter,  # noqa: A002
        per_page: int = 100,
        order: str | None = None,
        start: str | None = None,
    ) -> None:
        version_filter = _jsonable(filter) if filter else None

        def fetch(token: str | None) -> tuple[list[Artifact], str | None]:
            request = pa.VersionsSearch(
                registry_filter=registry_filter,
                collection_filter=collection_filter,
                filter=version_filter,
                order=order,
                limit=per_page,
                page_token=token,
            )
            page = transport.call(pa.SEARCH_VERSIONS, request)
            found = [Artifact._from_version(transport, v) for v in page.versions]
            return found, page.next_page_token

        super().__init__(fetch, start)


class Registry(RegistryAccess):
    """A registry (``model``, ``dataset`` or custom), its collections and members."""

    def __init__(self, transport: Transport, info: e.Registry) -> None:
        self._transport = transport
        self._info = info

    name = property(lambda self: self._info.name)
    full_name = property(lambda self: names.WANDB_REGISTRY_PREFIX + self._info.name)
    description = property(lambda self: self._info.description)
    visibility = property(lambda self: self._info.visibility)
    created_at = property(lambda self: iso(self._info.created_at))
    info = property(
        lambda self: self._info.model_dump(), doc="The description the server returned."
    )
    artifact_types = property(lambda self: self._info.artifact_types)
    allow_all_artifact_types = property(lambda self: self._info.artifact_types is None)

    def _only_me(self) -> dict[str, Any]:
        return {"name": self.name}

    def collections(
        self,
        filter: Filter = None,  # noqa: A002
        order: str | None = None,
        per_page: int = 100,
        *,
        query: str | None = None,
    ) -> Any:
        """The registry's collections matching ``filter`` in ``order`` (lazy, paged); with
        ``query``, those whose name holds it (a list)."""
        if query is not None:
            request = rq.CollectionsQuery(registry=self.name, query=query)
            found = self._transport.call(ops.COLLECTIONS, request).collections
            return [Collection(self._transport, c) for c in found]
        return Collections(self._transport, self._only_me(), filter, per_page, order)

    def versions(
        self,
        filter: Filter = None,  # noqa: A002
        order: str | None = None,
        per_page: int = 100,
    ) -> Versions:
        return Versions(self._transport, self._only_me(), None, filter, per_page, order)

    def collection(self, name: str) -> Collection:
        request = rq.CollectionPath(registry=self.name, collection=name)
        return Collection(self._transport, self._transport.call(ops.COLLECTION_GET, request))

    def __repr__(self) -> str:
        return f"<Registry {self.name}>"


class Collection:
    """A registered model (or dataset): a named set of linked versions with aliases (W&B's
    portfolio, ``api.artifact_collection("model", "wandb-registry-model/MNIST")``).

    ``description`` and ``tags`` may be assigned; :meth:`save` writes them.
    """

    def __init__(self, transport: Transport, info: e.Collection) -> None:
        self._transport = transport
        self._load(info)

    def _load(self, info: e.Collection) -> None:
        self._info = info
        self.name: str = info.name
        self.description: str | None = info.description
        self.tags: list[str] = list(info.tags)

    registry = property(lambda self: self._info.registry)
    type = property(lambda self: self._info.type)
    project = property(lambda self: names.WANDB_REGISTRY_PREFIX + self._info.registry)
    created_at = property(lambda self: iso(self._info.created_at))
    updated_at = property(lambda self: iso(self._info.updated_at))
    info = property(
        lambda self: self._info.model_dump(), doc="The description the server returned."
    )

    def is_sequence(self) -> bool:
        return False

    def _alias_map(self) -> dict[str, str]:
        if self._info.aliases is None:
            request = rq.CollectionPath(registry=self.registry, collection=self._info.name)
            self._info = self._transport.call(ops.COLLECTION_GET, request)
        return dict(self._info.aliases or {})

    @property
    def aliases(self) -> dict[str, str]:
        """``{alias: "vN"}`` of this collection: iterating it gives the alias names, as W&B's
        list does, and it says which version holds each."""
        return self._alias_map()

    def versions(self, page_size: int = 1000) -> Iterator[Artifact]:
        """Every version, newest first, fetched a page at a time."""
        token: str | None = None
        while True:
            request = rq.VersionsPage(
                registry=self.registry,
                collection=self._info.name,
                limit=page_size,
                page_token=token,
            )
            page = self._transport.call(ops.COLLECTION_VERSIONS, request)
            for version in page.versions:
                yield Artifact._from_version(self._transport, version)
            token = page.next_page_token
            if not token:
                return

    def artifacts(self, per_page: int = 50) -> list[Artifact]:
        """Every version, newest first (W&B's name)."""
        return list(self.versions(page_size=max(per_page, 1)))

    def version(self, selector: str = names.LATEST) -> Artifact:
        ref = names.RegistryRef(self.registry, self._info.name, selector)
        version = self._transport.call(ops.RESOLVE, rq.RefQuery(ref=str(ref)))
        return Artifact._from_version(self._transport, version)

    def set_alias(self, alias: str, version: str) -> Artifact:
        request = rq.CollectionAliasSet(
            registry=self.registry, collection=self._info.name, alias=alias, version=version
        )
        return Artifact._from_version(
            self._transport, self._transport.call(ops.SET_COLLECTION_ALIAS, request)
        )

    def remove_alias(self, alias: str) -> None:
        request = rq.CollectionAliasPath(
            registry=self.registry, collection=self._info.name, alias=alias
        )
        self._transport.call(ops.REMOVE_COLLECTION_ALIAS, request)

    def update(self, description: Any = ..., tags: Any = ...) -> None:
        fields: dict[str, Any] = {}
        if description is not ...:
            fields["description"] = description
        if tags is not ...:
            fields["tags"] = tags
        request = rq.CollectionUpdate(registry=self.registry, collection=self._info.name, **fields)
        self._load(self._transport.call(ops.UPDATE_COLLECTION, request))

    def save(self) -> None:
        """Write the assigned ``name`` (a rename), ``description`` and ``tags``."""
        if self.name != self._info.name:
            request = lc.CollectionRename(
                registry=self.registry, collection=self._info.name, new_name=self.name
            )
            self._transport.call(lc.RENAME_COLLECTION, request)
            self._info = self._info.model_copy(update={"name": self.name})
        self.update(description=self.description, tags=list(self.tags))

    def delete(self) -> None:
        """Delete the collection: its links, aliases and tags go; the versions it linked
        stay in their projects (W&B's ``ArtifactCollection.delete``). Needs the registry's
        admin role."""
        request = rq.CollectionPath(registry=self.registry, collection=self._info.name)
        self._transport.call(lc.DELETE_COLLECTION, request)

    def history(self, limit: int = 100) -> list[Info]:
        """Audit events of the collection, newest first."""
        request = rq.CollectionHistory(
            registry=self.registry, collection=self._info.name, limit=limit
        )
        events = self._transport.call(ops.COLLECTION_HISTORY, request).events
        return [event.model_dump() for event in events]

    def __repr__(self) -> str:
        return f"<Collection {names.registry_ref(self.registry, self.name)}>"


class ArtifactSequence:
    """A project artifact as W&B's artifact collection (a sequence of versions).

    modelbay keeps no description or tags on a project artifact, only on its versions and
    on registry collections: :meth:`save` refuses a change to them rather than drop it.
    """

    def __init__(self, transport: Transport, project: str, name: str, type_: str) -> None:
        self._transport = transport
        self.project = project
        self.name = name
        self._saved_name = name
        self.type = type_
        self.description: str | None = None
        self.tags: list[str] = []

    def is_sequence(self) -> bool:
        return True

    def artifacts(self, per_page: int = 50, tags: list[str] | None = None) -> Paged[Artifact]:
        """The versions, newest first (those with one of ``tags``, if given)."""
        return artifact_versions(
            self._transport, self.project, self._saved_name, None, tags, per_page
        )

    @property
    def aliases(self) -> list[str]:
        return sorted({alias for version in self.artifacts() for alias in version.info["aliases"]})

    def save(self) -> None:
        """Write the assigned ``name`` (a rename); a description or tags are refused."""
        if self.description is not None or self.tags:
            raise InvalidInputError(
                f"{self.project}/{self.name} is a project artifact: modelbay keeps descriptions "
                "and tags on its versions (Artifact.save) and on registry collections"
            )
        if self.name != self._saved_name:
            request = lc.ArtifactRename(
                project=self.project, name=self._saved_name, new_name=self.name
            )
            self._transport.call(lc.RENAME_ARTIFACT, request)
            self._saved_name = self.name

    def delete(self) -> None:
        """Delete every version (W&B's ``ArtifactCollection.delete``); refused while one is
        linked into a registry. Needs the project's admin role."""
        request = rq.ArtifactPath(project=self.project, name=self._saved_name)
        self._transport.call(lc.DELETE_ARTIFACT, request)

    def __repr__(self) -> str:
        return f"<ArtifactCollection {self.project}/{self.name} ({self.type})>"


def all_tags(tags: list[str] | str | None) -> dict[str, Any] | None:
    """The filter of versions holding every one of ``tags`` (W&B's ``tags=``)."""
    wanted = [tags] if isinstance(tags, str) else list(tags or [])
    return {"$and": [{"tag": tag} for tag in wanted]} if wanted else None


def artifact_versions(
    transport: Transport,
    project: str,
    name: str,
    type_: str | None,
    tags: list[str] | str | None,
    per_page: int = 50,
    start: str | None = None,
) -> Paged[Artifact]:
    """A project artifact's versions, newest first, that have every one of ``tags``
    (filtered in the database)."""
    flt = all_tags(tags)

    def fetch(token: str | None) -> tuple[list[Artifact], str | None]:
        request = pa.ArtifactVersionsSearch(
            project=project, name=name, type=type_, filter=flt, limit=per_page, page_token=token
        )
        page = transport.call(pa.SEARCH_ARTIFACT_VERSIONS, request)
        return [Artifact._from_version(transport, v) for v in page.versions], page.next_page_token

    return Paged(fetch, start)


class ArtifactType:
    """The artifacts of one type in a project (W&B's ``api.artifact_type(type, project)``)."""

    def __init__(self, transport: Transport, project: str, name: str) -> None:
        self._transport = transport
        self.project = project
        self.name = name
        self.type = name

    def collections(self, per_page: int = 50) -> list[ArtifactSequence]:
        del per_page
        request = rq.ArtifactsQuery(project=self.project, type=self.name)
        found = self._transport.call(ops.LIST_ARTIFACTS, request).artifacts
        return [ArtifactSequence(self._transport, a.project, a.name, a.type) for a in found]

    def collection(self, name: str) -> ArtifactSequence:
        return ArtifactSequence(self._transport, self.project, name, self.name)

    def __repr__(self) -> str:
        return f"<ArtifactType {self.project}/{self.name}>"
