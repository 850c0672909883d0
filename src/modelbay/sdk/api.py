"""``modelbay.Api``: read and manage what is stored, outside of a run."""

from __future__ import annotations

import dataclasses
from typing import Any

from modelbay import names
from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
from modelbay.errors import InvalidInputError, NotFoundError
from modelbay.jsontext import Info
from modelbay.sdk.artifact import Artifact
from modelbay.sdk.automations import AutomationsApi
from modelbay.sdk.public_registry import (
    ArtifactSequence,
    ArtifactType,
    Collection,
    Collections,
    Registries,
    Registry,
    Versions,
    all_tags,
    artifact_versions,
)
from modelbay.sdk.public_runs import File, PublicRun, Runs
from modelbay.sdk.registry_admin import AccessCalls
from modelbay.sdk.transport import connect
from modelbay.settings import Settings

__all__ = [
    "Api",
    "ArtifactSequence",
    "ArtifactType",
    "Collection",
    "Collections",
    "File",
    "PublicRun",
    "Registries",
    "Registry",
    "Runs",
    "Versions",
]


class Api(AccessCalls, AutomationsApi):
    """Query and manage modelbay without a run (embedded, or ``MODELBAY_URL``)."""

    def __init__(
        self,
        settings: Settings | None = None,
        overrides: dict[str, Any] | None = None,
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> None:
        """``overrides`` as W&B's: ``entity`` and ``project`` (the defaults of paths that
        leave them out) and ``base_url`` (a server; else ``MODELBAY_URL`` or embedded).
        ``timeout`` is accepted for W&B's sake; the transport keeps its own."""
        del timeout
        self.overrides: dict[str, Any] = dict(overrides or {})
        unknown = set(self.overrides) - {"entity", "project", "base_url", "run"}
        if unknown:
            raise InvalidInputError(
                f"unknown overrides {sorted(unknown)}: use entity, project, base_url"
            )
        settings = settings or Settings.from_env()
        base_url = self.overrides.get("base_url")
        if base_url or api_key:
            settings = dataclasses.replace(
                settings, url=base_url or settings.url, api_key=api_key or settings.api_key
            )
        self.settings = settings
        self._transport = connect(settings)
        entity = self.overrides.get("entity")
        self.default_entity: str | None = names.check_label(entity, "entity") if entity else None
        project = self.overrides.get("project")
        self.default_project: str | None = names.check_project(project) if project else None

    @property
    def client(self) -> Any:
        return self._transport

    @property
    def api_key(self) -> str | None:
        return self.settings.api_key

    def _project_path(self, path: str | None) -> tuple[str | None, str]:
        """(entity, project) of W&B's ``project`` or ``entity/project`` (the overrides fill
        in what is left out). modelbay holds one organisation: an entity names it (or a user
        or team in it) and is kept on the runs returned, not used to look them up."""
        if not path:
            if self.default_project is None:
                raise InvalidInputError(
                    "no project: give a path or Api(overrides={'project': ...})"
                )
            return self.default_entity, self.default_project
        parts = path.strip("/").split("/")
        if len(parts) == 1:
            return self.default_entity, names.check_project(parts[0])
        if len(parts) == 2:
            return names.check_label(parts[0], "entity"), names.check_project(parts[1])
        raise InvalidInputError(f"invalid project path {path!r}: use 'project' or 'entity/project'")

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
        self,
        type_name: str | None = None,
        name: str | None = None,
        order: str | None = None,
        per_page: int = 50,
        tags: list[str] | str | None = None,
        start: str | None = None,
        *,
        project: str | None = None,
        type: str | None = None,  # noqa: A002
    ) -> Any:
        """W&B's ``api.artifacts(type_name, "project/name", per_page=, tags=)``: the versions,
        newest first (with one of ``tags``, if given), of a project artifact or a registry
        collection (``wandb-registry-model/MNIST``), filtered in the database. ``order`` and
        ``start`` are accepted for W&B's sake: versions come newest first.

        Also modelbay's older ``api.artifacts(project)`` (the artifacts of a project as dicts)
        and ``api.artifacts(project, name)`` (the versions of ``project/name``).
        """
        if (
            project is not None
            or (name is not None and "/" not in name)
            or (name is None and type_name is not None and tags is None)
        ):
            return self._project_artifacts(project or type_name, name, type)
        if name is None:
            raise InvalidInputError("give the artifact: api.artifacts(type_name, 'project/name')")
        return self._versions_of(type_name, name, tags, per_page, start)

    def _project_artifacts(self, project: str | None, name: str | None, type_: str | None) -> Any:
        if project is None:
            _, project = self._project_path(None)
        if name is None:
            request = rq.ArtifactsQuery(project=project, type=type_)
            listed = self._transport.call(ops.LIST_ARTIFACTS, request).artifacts
            return [a.model_dump() for a in listed]
        found = self._transport.call(
            ops.ARTIFACT_VERSIONS, rq.ArtifactPath(project=project, name=name)
        )
        return [Artifact._from_version(self._transport, v) for v in found.versions]

    def _versions_of(
        self,
        type_name: str | None,
        name: str,
        tags: list[str] | str | None,
        per_page: int,
        start: str | None = None,
    ) -> Any:
        target = self._collection_ref(name)
        if isinstance(target, names.RegistryRef):
            flt: dict[str, Any] = dict(all_tags(tags) or {})
            if type_name is not None:
                flt["type"] = type_name
            return Versions(
                self._transport,
                {"name": target.registry},
                {"name": target.collection},
                flt or None,
                per_page,
            )
        return artifact_versions(
            self._transport, target.project, target.name, type_name, tags, per_page, start
        )

    def artifact_versions(self, type_name: str, name: str, per_page: int = 50) -> list[Artifact]:
        """W&B's older name of :meth:`artifacts`."""
        return list(self._versions_of(type_name, name, None, per_page))

    def _collection_ref(self, path: str) -> names.ArtifactRef | names.RegistryRef:
        """A collection path (``[entity/]project/name``, a registry's ``wandb-registry-model/
        name`` or ``model-registry/name``; a ``:alias`` is ignored) as a reference."""
        text = path.split(":")[0].strip("/")
        parts = text.split("/")
        if len(parts) == 3:
            names.check_label(parts[0], "entity")
            parts = parts[1:]
        if len(parts) == 1:
            _, project = self._project_path(None)
            parts = [project, parts[0]]
        ref = names.parse_ref("/".join(parts))
        if isinstance(ref, names.RegistryRef) and parts[0].endswith(names.REGISTRY_SUFFIX):
            # A project may end in -registry (W&B allows it): with no registry X readable,
            # X-registry/name is that project's artifact, as the server resolves it.
            try:
                self._transport.call(ops.REGISTRY, rq.RegistryPath(registry=ref.registry))
            except NotFoundError:
                return names.ArtifactRef(names.check_project(parts[0]), parts[1], ref.selector)
        if isinstance(ref, (names.ArtifactRef, names.RegistryRef)):
            return ref
        raise InvalidInputError(f"{path!r} is not an artifact collection path")

    def artifact_collection(self, type_name: str, name: str) -> Any:
        """W&B's artifact collection: a registry collection (``wandb-registry-model/MNIST``,
        with ``description``, ``tags``, ``aliases``, ``save()``, ``artifacts()``) or a project
        artifact (``project/name``).

        Raises:
            NotFoundError: nothing by that name of that type.
        """
        target = self._collection_ref(name)
        if isinstance(target, names.RegistryRef):
            found = self.registry(target.registry).collection(target.collection)
            if found.type != type_name:
                raise NotFoundError(f"{name} has type {found.type!r}, not {type_name!r}")
            return found
        newest = artifact_versions(self._transport, target.project, target.name, type_name, None, 1)
        for version in newest:
            return ArtifactSequence(self._transport, target.project, target.name, version.type)
        raise NotFoundError(f"artifact {target.project}/{target.name} has no versions")

    def artifact_collection_exists(self, name: str, type: str) -> bool:  # noqa: A002
        """Whether :meth:`artifact_collection` finds ``name`` of ``type``."""
        try:
            self.artifact_collection(type, name)
        except NotFoundError:
            return False
        return True

    def flush(self) -> None:
        """W&B clears its cache of runs here; modelbay keeps none (every read is fresh)."""

    def artifact_collections(
        self, project_name: str, type_name: str, per_page: int = 50
    ) -> list[ArtifactSequence]:
        """The artifacts of ``type_name`` in a project (``[entity/]project``)."""
        return self.artifact_type(type_name, project_name).collections(per_page)

    def artifact_type(self, type_name: str, project: str | None = None) -> ArtifactType:
        _, name = self._project_path(project)
        return ArtifactType(self._transport, name, names.check_name(type_name, "type"))

    def artifact_types(self, project: str | None = None) -> list[ArtifactType]:
        """The artifact types used in a project."""
        _, name = self._project_path(project)
        listed = self._transport.call(ops.LIST_ARTIFACTS, rq.ArtifactsQuery(project=name)).artifacts
        return [ArtifactType(self._transport, name, t) for t in sorted({a.type for a in listed})]

    def registries(
        self,
        organization: str | None = None,
        filter: dict[str, Any] | None = None,  # noqa: A002  (W&B's name)
        order: str | None = None,
        per_page: int = 100,
        start: str | None = None,
    ) -> Registries:
        """The registries the caller may read that match ``filter`` (W&B's operators over
        ``name``, ``description``, ``created_at``), lazily, in ``order`` (``name`` or
        ``created_at``, ``+`` ascending, the default, or ``-`` first); chain
        ``.collections(filter)`` and ``.versions(filter)`` to search inside them (registry
        by registry when ordered, as W&B does). ``organization`` is accepted for W&B's sake:
        modelbay holds one.

        Raises:
            InvalidFilterError: a bad filter or order (at the first page).
        """
        del organization
        return Registries(self._transport, filter, per_page, start, order)

    def registry(
        self, name: str, organization: str | None = None, entity: str | None = None
    ) -> Registry:
        """A registry by name (``organization`` is W&B's argument; ``entity``, which W&B's
        automation examples pass, is accepted too)."""
        del organization, entity  # one organisation
        return Registry(
            self._transport, self._transport.call(ops.REGISTRY, rq.RegistryPath(registry=name))
        )

    def collection(self, path: str) -> Collection:
        """``model-registry/MNIST`` -> the collection."""
        from modelbay.sdk.artifact import parse_target

        registry, collection = parse_target(path)
        return self.registry(registry).collection(collection)

    def runs(
        self,
        path: str | None = None,
        filters: dict[str, Any] | None = None,
        order: str = "+created_at",
        per_page: int = 50,
        include_sweeps: bool = False,
        lazy: bool = True,
    ) -> Runs:
        """The runs of ``project`` or ``entity/project`` that match ``filters`` (W&B's
        operators over ``state``, ``display_name``, ``tags``, ``created_at``,
        ``config.KEY``, ``summary_metrics.KEY`` ...), in ``order`` (``-summary_metrics.acc``),
        fetched ``per_page`` at a time. The filter runs in the database.

        Raises:
            InvalidFilterError: a bad filter or order (at the first page).
            NotFoundError: no such project.
        """
        del include_sweeps, lazy
        entity, project = self._project_path(path)
        return Runs(self._transport, project, filters, order, per_page, entity)

    def run(self, path: str) -> PublicRun:
        """A run by ``id`` (with the overrides' project), ``project/id``,
        ``entity/project/id`` or ``entity/project/runs/id`` (its URL's path)."""
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[2] == "runs":
            parts = [parts[0], parts[1], parts[3]]
        if len(parts) == 1:
            entity, project = self._project_path(None)
        else:
            entity, project = self._project_path("/".join(parts[:-1]))
        request = rq.RunPath(project=project, run_id=parts[-1])
        return PublicRun(self._transport, self._transport.call(ops.GET_RUN, request), entity)

    def histories(
        self,
        runs: list[str],
        keys: list[str] | None = None,
        max_points: int | None = None,
        x_axis: str = "step",
    ) -> dict[str, dict[str, list[list[Any]]]]:
        """The history of many runs in one request: ``{"project/id": {key: [[step, value,
        time], ...]}}``, downsampled like :meth:`PublicRun.history`; ``x_axis`` "step",
        "time", or a metric key (each point then ends with that metric's value at its step).

        Raises:
            NotFoundError: a run does not exist.
            InvalidInputError: bad paths, keys, ``max_points`` or ``x_axis``.
        """
        request = rq.HistoriesQuery(
            runs=list(runs),
            keys=keys,
            max_points=max_points,
            x_axis=x_axis,
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
