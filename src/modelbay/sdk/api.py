"""``modelbay.Api``: read and manage what is stored, outside of a run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from modelbay import names
from modelbay.contract import entities as e
from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
from modelbay.sdk.artifact import Artifact
from modelbay.sdk.registry_admin import AccessCalls, RegistryAccess
from modelbay.sdk.transport import Info, Transport, connect
from modelbay.settings import Settings


class PublicRun:
    """A stored run, read through the API (``Api().run("project/id")``)."""

    def __init__(self, transport: Transport, info: e.Run) -> None:
        self._transport = transport
        self._info = info

    id = property(lambda self: self._info.id)
    name = property(lambda self: self._info.name)
    project = property(lambda self: self._info.project)
    state = property(lambda self: self._info.state)
    config = property(lambda self: dict(self._info.config or {}))
    summary = property(lambda self: dict(self._info.summary or {}))
    tags = property(lambda self: list(self._info.tags or []))
    user = property(lambda self: self._info.user)

    @property
    def path(self) -> str:
        return f"{self.project}/{self.id}"

    def history(
        self, keys: list[str] | None = None, max_points: int | None = None, x_axis: str = "step"
    ) -> dict[str, list[list[Any]]]:
        """Metric history: ``{key: [[step, value, time], ...]}``; with ``max_points``, each
        series cut down on the server keeping every bucket's min and max (by ``x_axis``
        "step" or "time").

        Raises:
            InvalidInputError: bad keys, ``max_points`` or ``x_axis``.
        """
        request = rq.HistoryQuery(
            project=self.project,
            run_id=self.id,
            keys=keys,
            max_points=max_points,
            x_axis=x_axis,  # type: ignore[arg-type]  # checked by the model
        )
        return dict(self._transport.call(ops.HISTORY, request).history)

    def logged_artifacts(self) -> list[Artifact]:
        return self._artifacts("logged")

    def used_artifacts(self) -> list[Artifact]:
        return self._artifacts("used")

    def _artifacts(self, direction: str) -> list[Artifact]:
        request = rq.RunArtifactsQuery(
            project=self.project,
            run_id=self.id,
            direction=direction,  # type: ignore[arg-type]  # checked by the model
        )
        versions = self._transport.call(ops.RUN_ARTIFACTS, request).versions
        return [Artifact._from_version(self._transport, v) for v in versions]

    def __repr__(self) -> str:
        return f"<PublicRun {self.path} {self.state}>"


class Registry(RegistryAccess):
    """A registry (``model``, ``dataset`` or custom), its collections and members."""

    def __init__(self, transport: Transport, info: e.Registry) -> None:
        self._transport = transport
        self._info = info

    name = property(lambda self: self._info.name)
    description = property(lambda self: self._info.description)
    info = property(
        lambda self: self._info.model_dump(), doc="The description the server returned."
    )
    artifact_types = property(lambda self: self._info.artifact_types)
    visibility = property(lambda self: self._info.visibility)

    def collections(self, query: str | None = None) -> list[Collection]:
        request = rq.CollectionsQuery(registry=self.name, query=query)
        found = self._transport.call(ops.COLLECTIONS, request).collections
        return [Collection(self._transport, c) for c in found]

    def collection(self, name: str) -> Collection:
        request = rq.CollectionPath(registry=self.name, collection=name)
        return Collection(self._transport, self._transport.call(ops.COLLECTION_GET, request))

    def __repr__(self) -> str:
        return f"<Registry {self.name}>"


class Collection:
    """A registered model (or dataset): a named set of linked versions with aliases."""

    def __init__(self, transport: Transport, info: e.Collection) -> None:
        self._transport = transport
        self._info = info

    registry = property(lambda self: self._info.registry)
    name = property(lambda self: self._info.name)
    type = property(lambda self: self._info.type)
    description = property(lambda self: self._info.description)
    tags = property(lambda self: list(self._info.tags))
    info = property(
        lambda self: self._info.model_dump(), doc="The description the server returned."
    )

    @property
    def aliases(self) -> dict[str, str]:
        """``{alias: "vN"}`` of this collection."""
        if self._info.aliases is None:
            request = rq.CollectionPath(registry=self.registry, collection=self.name)
            self._info = self._transport.call(ops.COLLECTION_GET, request)
        return dict(self._info.aliases or {})

    def versions(self, page_size: int = 1000) -> Iterator[Artifact]:
        """Every version, newest first, fetched a page at a time."""
        token: str | None = None
        while True:
            request = rq.VersionsPage(
                registry=self.registry, collection=self.name, limit=page_size, page_token=token
            )
            page = self._transport.call(ops.COLLECTION_VERSIONS, request)
            for version in page.versions:
                yield Artifact._from_version(self._transport, version)
            token = page.next_page_token
            if not token:
                return

    def version(self, selector: str = names.LATEST) -> Artifact:
        ref = names.RegistryRef(self.registry, self.name, selector)
        version = self._transport.call(ops.RESOLVE, rq.RefQuery(ref=str(ref)))
        return Artifact._from_version(self._transport, version)

    def set_alias(self, alias: str, version: str) -> Artifact:
        request = rq.CollectionAliasSet(
            registry=self.registry, collection=self.name, alias=alias, version=version
        )
        return Artifact._from_version(
            self._transport, self._transport.call(ops.SET_COLLECTION_ALIAS, request)
        )

    def remove_alias(self, alias: str) -> None:
        request = rq.CollectionAliasPath(registry=self.registry, collection=self.name, alias=alias)
        self._transport.call(ops.REMOVE_COLLECTION_ALIAS, request)

    def update(self, description: Any = ..., tags: Any = ...) -> None:
        fields: dict[str, Any] = {}
        if description is not ...:
            fields["description"] = description
        if tags is not ...:
            fields["tags"] = tags
        request = rq.CollectionUpdate(registry=self.registry, collection=self.name, **fields)
        self._info = self._transport.call(ops.UPDATE_COLLECTION, request)

    def history(self, limit: int = 100) -> list[Info]:
        """Audit events of the collection, newest first."""
        request = rq.CollectionHistory(registry=self.registry, collection=self.name, limit=limit)
        events = self._transport.call(ops.COLLECTION_HISTORY, request).events
        return [event.model_dump() for event in events]

    def __repr__(self) -> str:
        return f"<Collection {names.registry_ref(self.registry, self.name)}>"


class Api(AccessCalls):
    """Query and manage modelbay without a run (embedded, or ``MODELBAY_URL``)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._transport = connect(settings)

    def artifact(self, name: str, type: str | None = None) -> Artifact:
        """A version by reference: ``project/name:alias``, ``model-registry/MNIST:production``,
        ``models:/MNIST@production`` ...

        Raises:
            NotFoundError: nothing by that reference.
            InvalidInputError: ``type`` given and different.
        """
        import os

        from modelbay.errors import InvalidInputError

        # A name with no project is read in the default project, as W&B's Api does.
        project = os.environ.get("MODELBAY_PROJECT") or os.environ.get("WANDB_PROJECT")
        ref = names.parse_ref(name, default_project=project or "uncategorized")
        version = self._transport.call(ops.RESOLVE, rq.RefQuery(ref=str(ref)))
        if type is not None and version.type != type:
            raise InvalidInputError(f"{name} has type {version.type!r}, not {type!r}")
        return Artifact._from_version(self._transport, version)

    def artifact_exists(self, name: str) -> bool:
        from modelbay.errors import NotFoundError

        try:
            self.artifact(name)
        except NotFoundError:
            return False
        return True

    def artifacts(
        self, project: str, name: str | None = None, type: str | None = None
    ) -> list[Any]:
        """Versions of ``project/name`` (newest first); without a name, the artifacts of a project
        as dicts (name, type, version_count)."""
        if name is None:
            request = rq.ArtifactsQuery(project=project, type=type)
            listed = self._transport.call(ops.LIST_ARTIFACTS, request).artifacts
            return [a.model_dump() for a in listed]
        found = self._transport.call(
            ops.ARTIFACT_VERSIONS, rq.ArtifactPath(project=project, name=name)
        )
        return [Artifact._from_version(self._transport, v) for v in found.versions]

    def registries(self) -> list[Registry]:
        found = self._transport.call(ops.REGISTRIES, rq.NoArgs()).registries
        return [Registry(self._transport, r) for r in found]

    def registry(self, name: str, organization: str | None = None) -> Registry:
        return Registry(
            self._transport, self._transport.call(ops.REGISTRY, rq.RegistryPath(registry=name))
        )

    def collection(self, path: str) -> Collection:
        """``model-registry/MNIST`` -> the collection."""
        from modelbay.sdk.artifact import parse_target

        registry, collection = parse_target(path)
        return self.registry(registry).collection(collection)

    def runs(self, project: str) -> list[PublicRun]:
        found = self._transport.call(ops.LIST_RUNS, rq.ProjectPath(project=project)).runs
        return [PublicRun(self._transport, run) for run in found]

    def run(self, path: str) -> PublicRun:
        """A run by ``project/run_id``."""
        project, _, run_id = path.rpartition("/")
        if "/" in project:  # entity/project/id
            project = project.rpartition("/")[2]
        request = rq.RunPath(project=project, run_id=run_id)
        return PublicRun(self._transport, self._transport.call(ops.GET_RUN, request))

    def histories(
        self,
        runs: list[str],
        keys: list[str] | None = None,
        max_points: int | None = None,
        x_axis: str = "step",
    ) -> dict[str, dict[str, list[list[Any]]]]:
        """The history of many runs in one request: ``{"project/id": {key: [[step, value,
        time], ...]}}``, downsampled like :meth:`PublicRun.history`.

        Raises:
            NotFoundError: a run does not exist.
            InvalidInputError: bad paths, keys, ``max_points`` or ``x_axis``.
        """
        request = rq.HistoriesQuery(
            runs=list(runs),
            keys=keys,
            max_points=max_points,
            x_axis=x_axis,  # type: ignore[arg-type]  # checked by the model
        )
        return dict(self._transport.call(ops.HISTORIES, request).runs)

    def summaries(self, runs: list[str]) -> list[Info]:
        """Many runs in one request, in the order given (the compare table): each run's
        config, summary, state, ... plus ``last_step`` and the ``keys`` it logged.

        Raises:
            NotFoundError: a run does not exist.
            InvalidInputError: bad paths.
        """
        found = self._transport.call(ops.SUMMARIES, rq.SummariesQuery(runs=list(runs))).runs
        return [run.model_dump() for run in found]

    def lineage(self, ref: str | None = None, run: str | None = None, depth: int = 2) -> Info:
        """The lineage graph around a version or a run: ``{"root", "nodes", "edges"}``."""
        request = rq.LineageQuery(ref=ref, run=run, depth=depth)
        return self._transport.call(ops.LINEAGE, request).model_dump()

    def history(self, ref: str, limit: int = 100) -> list[Info]:
        events = self._transport.call(ops.EVENTS, rq.HistoryOfRef(ref=ref, limit=limit)).events
        return [event.model_dump() for event in events]

    def gc(
        self,
        grace_seconds: float = 24 * 3600.0,
        dry_run: bool = False,
        abandon_uploads_after: float | None = None,
    ) -> Info:
        """Remove stored bytes no live version references, and abort upload sessions begun and
        idle for ``abandon_uploads_after`` seconds (None: the server's default, a week)
        (admins only); see ``modelbay gc``."""
        request = rq.GcRequest(
            grace_seconds=grace_seconds,
            dry_run=dry_run,
            abandon_uploads_after=abandon_uploads_after,
        )
        return self._transport.call(ops.GC, request).model_dump()

    def whoami(self) -> Info:
        return self._transport.call(ops.WHOAMI, rq.NoArgs()).model_dump()
