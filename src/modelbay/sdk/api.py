"""``modelbay.Api``: read and manage what is stored, outside of a run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from modelbay import names
from modelbay.sdk.artifact import Artifact
from modelbay.sdk.transport import Info, Transport, connect
from modelbay.settings import Settings


class PublicRun:
    """A stored run, read through the API (``Api().run("project/id")``)."""

    def __init__(self, transport: Transport, info: Info) -> None:
        self._transport = transport
        self._info = info

    id = property(lambda self: self._info["id"])
    name = property(lambda self: self._info["name"])
    project = property(lambda self: self._info["project"])
    state = property(lambda self: self._info["state"])
    config = property(lambda self: dict(self._info["config"]))
    summary = property(lambda self: dict(self._info["summary"]))
    tags = property(lambda self: list(self._info["tags"]))
    user = property(lambda self: self._info.get("user"))

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
        opts: dict[str, Any] = {"max_points": max_points} if max_points is not None else {}
        if x_axis != "step":
            opts["x_axis"] = x_axis
        result = self._transport.call(
            "history", project=self.project, run_id=self.id, keys=keys, **opts
        )
        return dict(result["history"])

    def logged_artifacts(self) -> list[Artifact]:
        return self._artifacts("logged")

    def used_artifacts(self) -> list[Artifact]:
        return self._artifacts("used")

    def _artifacts(self, direction: str) -> list[Artifact]:
        infos = self._transport.call(
            "run_artifacts", project=self.project, run_id=self.id, direction=direction
        )
        return [Artifact._from_info(self._transport, i) for i in infos]

    def __repr__(self) -> str:
        return f"<PublicRun {self.path} {self.state}>"


class Registry:
    """A registry (``model``, ``dataset`` or custom) and its collections."""

    def __init__(self, transport: Transport, info: Info) -> None:
        self._transport = transport
        self._info = info

    name = property(lambda self: self._info["name"])
    description = property(lambda self: self._info["description"])
    info = property(lambda self: dict(self._info), doc="The raw description the server returned.")
    artifact_types = property(lambda self: self._info["artifact_types"])

    def collections(self, query: str | None = None) -> list[Collection]:
        infos = self._transport.call("collections", registry=self.name, query=query)
        return [Collection(self._transport, i) for i in infos]

    def collection(self, name: str) -> Collection:
        return Collection(
            self._transport, self._transport.call("collection", registry=self.name, collection=name)
        )

    def __repr__(self) -> str:
        return f"<Registry {self.name}>"


class Collection:
    """A registered model (or dataset): a named set of linked versions with aliases."""

    def __init__(self, transport: Transport, info: Info) -> None:
        self._transport = transport
        self._info = info

    registry = property(lambda self: self._info["registry"])
    name = property(lambda self: self._info["name"])
    type = property(lambda self: self._info["type"])
    description = property(lambda self: self._info["description"])
    tags = property(lambda self: list(self._info["tags"]))
    info = property(lambda self: dict(self._info), doc="The raw description the server returned.")

    @property
    def aliases(self) -> dict[str, str]:
        """``{alias: "vN"}`` of this collection."""
        if "aliases" not in self._info:
            self._info = self._transport.call(
                "collection", registry=self.registry, collection=self.name
            )
        return dict(self._info["aliases"])

    def versions(self, page_size: int = 1000) -> Iterator[Artifact]:
        """Every version, newest first, fetched a page at a time."""
        token: str | None = None
        while True:
            page = self._transport.call(
                "collection_versions",
                registry=self.registry,
                collection=self.name,
                limit=page_size,
                page_token=token,
            )
            for info in page["versions"]:
                yield Artifact._from_info(self._transport, info)
            token = page["next_page_token"]
            if not token:
                return

    def version(self, selector: str = names.LATEST) -> Artifact:
        info = self._transport.call(
            "resolve", ref=f"{self.registry}-registry/{self.name}:{selector}"
        )
        return Artifact._from_info(self._transport, info)

    def set_alias(self, alias: str, version: str) -> Artifact:
        info = self._transport.call(
            "set_collection_alias",
            registry=self.registry,
            collection=self.name,
            alias=alias,
            version=version,
        )
        return Artifact._from_info(self._transport, info)

    def remove_alias(self, alias: str) -> None:
        self._transport.call(
            "remove_collection_alias", registry=self.registry, collection=self.name, alias=alias
        )

    def update(self, description: Any = ..., tags: Any = ...) -> None:
        fields: dict[str, Any] = {}
        if description is not ...:
            fields["description"] = description
        if tags is not ...:
            fields["tags"] = tags
        self._info = self._transport.call(
            "update_collection", registry=self.registry, collection=self.name, **fields
        )

    def history(self, limit: int = 100) -> list[Info]:
        """Audit events of the collection, newest first."""
        return list(
            self._transport.call(
                "events", registry=self.registry, collection=self.name, limit=limit
            )
        )

    def __repr__(self) -> str:
        return f"<Collection {self.registry}-registry/{self.name}>"


class Api:
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
        from modelbay.errors import InvalidInputError

        info = self._transport.call("resolve", ref=str(names.parse_ref(name)))
        if type is not None and info["type"] != type:
            raise InvalidInputError(f"{name} has type {info['type']!r}, not {type!r}")
        return Artifact._from_info(self._transport, info)

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
            return list(self._transport.call("list_artifacts", project=project, type=type))
        infos = self._transport.call("artifact_versions", project=project, name=name)
        return [Artifact._from_info(self._transport, i) for i in infos]

    def registries(self) -> list[Registry]:
        return [Registry(self._transport, i) for i in self._transport.call("registries")]

    def registry(self, name: str) -> Registry:
        return Registry(self._transport, self._transport.call("registry", name=name))

    def create_registry(
        self, name: str, description: str | None = None, artifact_types: list[str] | None = None
    ) -> Registry:
        info = self._transport.call(
            "create_registry", name=name, description=description, artifact_types=artifact_types
        )
        return Registry(self._transport, info)

    def collection(self, path: str) -> Collection:
        """``model-registry/MNIST`` -> the collection."""
        from modelbay.sdk.artifact import parse_target

        registry, collection = parse_target(path)
        return self.registry(registry).collection(collection)

    def runs(self, project: str) -> list[PublicRun]:
        return [
            PublicRun(self._transport, i)
            for i in self._transport.call("list_runs", project=project)
        ]

    def run(self, path: str) -> PublicRun:
        """A run by ``project/run_id``."""
        project, _, run_id = path.rpartition("/")
        if "/" in project:  # entity/project/id
            project = project.rpartition("/")[2]
        return PublicRun(
            self._transport, self._transport.call("get_run", project=project, run_id=run_id)
        )

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
        result = self._transport.call(
            "histories", runs=list(runs), keys=keys, max_points=max_points, x_axis=x_axis
        )
        return dict(result["runs"])

    def summaries(self, runs: list[str]) -> list[Info]:
        """Many runs in one request, in the order given (the compare table): each run's
        config, summary, state, ... plus ``last_step`` and the ``keys`` it logged.

        Raises:
            NotFoundError: a run does not exist.
            InvalidInputError: bad paths.
        """
        return list(self._transport.call("summaries", runs=list(runs)))

    def lineage(self, ref: str | None = None, run: str | None = None, depth: int = 2) -> Info:
        """The lineage graph around a version or a run: ``{"root", "nodes", "edges"}``."""
        return dict(self._transport.call("lineage", ref=ref, run=run, depth=depth))

    def history(self, ref: str, limit: int = 100) -> list[Info]:
        return list(self._transport.call("events", ref=ref, limit=limit))

    def gc(
        self,
        grace_seconds: float = 24 * 3600.0,
        dry_run: bool = False,
        abandon_uploads_after: float | None = None,
    ) -> Info:
        """Remove stored bytes no live version references, and abort upload sessions begun and
        idle for ``abandon_uploads_after`` seconds (None: the server's default, a week)
        (admins only); see ``modelbay gc``."""
        return dict(
            self._transport.call(
                "gc",
                grace_seconds=grace_seconds,
                dry_run=dry_run,
                abandon_uploads_after=abandon_uploads_after,
            )
        )

    def whoami(self) -> Info:
        return dict(self._transport.call("whoami"))
