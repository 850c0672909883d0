"""Where an artifact version comes from and what it is connected to: its source (W&B's
``source_*``, ``collection``, ``entity``, times), the runs that logged and used it (the
lineage graph, one step away), and its audit events. A base of
:class:`~modelbay.sdk.artifact.Artifact`."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from modelbay import names
from modelbay.contract import entities as e
from modelbay.contract import lifecycle as lc
from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
from modelbay.errors import InvalidInputError
from modelbay.jsontext import Info
from modelbay.sdk.artifact_entry import ArtifactCollectionRef, _iso
from modelbay.sdk.transport import Transport

if TYPE_CHECKING:
    from modelbay.sdk.api import PublicRun

#: No TTL assigned since the version was read or saved.
_NO_TTL_CHANGE: Any = object()


class ArtifactLineage:
    """Lineage and history of a logged version (``used_by``, ``logged_by``, ``history``)."""

    @property
    def qualified_name(self) -> str:
        raise NotImplementedError

    def _logged(self) -> tuple[Transport, e.Version]:
        raise NotImplementedError

    _version: e.Version | None
    #: A TTL assigned and not yet written (:data:`_NO_TTL_CHANGE`: none).
    _ttl_pending: Any = _NO_TTL_CHANGE

    @property
    def ttl(self) -> timedelta | None:
        """W&B's TTL: the first ``modelbay gc`` after ``created_at + ttl`` deletes the
        version (unless it is linked into a registry: linking removes the TTL). Assign a
        ``timedelta`` (or None) before ``log_artifact``, or on a logged version and then
        :meth:`save`."""
        if self._ttl_pending is not _NO_TTL_CHANGE:
            return self._ttl_pending  # type: ignore[no-any-return]
        version: e.Version | None = getattr(self, "_version", None)
        return None if version is None or version.ttl is None else timedelta(seconds=version.ttl)

    @ttl.setter
    def ttl(self, value: timedelta | None) -> None:
        if value is not None and not isinstance(value, timedelta):
            raise InvalidInputError(f"ttl must be a datetime.timedelta or None, not {value!r}")
        self._ttl_pending = value

    def _apply_ttl(self) -> None:
        """Write an assigned TTL to the logged version (after it is logged, and on save)."""
        pending = self._ttl_pending
        if pending is _NO_TTL_CHANGE or getattr(self, "_version", None) is None:
            return
        transport, version = self._logged()
        self._ttl_pending = _NO_TTL_CHANGE
        seconds = None if pending is None else pending.total_seconds()
        request = lc.ArtifactTtl(
            project=version.project, name=version.name, selector=version.version, ttl=seconds
        )
        written = transport.call(lc.SET_ARTIFACT_TTL, request)
        self._version = version.model_copy(update={"ttl": written.ttl})

    @property
    def created_at(self) -> str:
        """When the version was logged, as W&B gives it: ISO 8601 in UTC."""
        return _iso(self._logged()[1].created_at)

    @property
    def updated_at(self) -> str:
        """When the version was last changed (ISO 8601, UTC): when it was linked, for a
        registry version; else when it was logged (later edits of aliases, tags and
        metadata are in :meth:`history`)."""
        version = self._logged()[1]
        return _iso(version.link.linked_at if version.link else version.created_at)

    @property
    def entity(self) -> str:
        """Who logged the version (W&B's entity; see ``modelbay.sdk.session``)."""
        return self._logged()[1].created_by or "local"

    @property
    def collection(self) -> ArtifactCollectionRef:
        """The sequence this version was reached through: its artifact, or its registry
        collection."""
        version = self._logged()[1]
        if version.link is not None:
            holder = f"{version.link.registry}{names.REGISTRY_SUFFIX}"
            return ArtifactCollectionRef(version.link.collection, version.type, holder, None, True)
        return ArtifactCollectionRef(version.name, version.type, version.project, self.entity)

    @property
    def source_collection(self) -> ArtifactCollectionRef:
        version = self._logged()[1]
        return ArtifactCollectionRef(version.name, version.type, version.project, self.entity)

    @property
    def source_name(self) -> str:
        """``name:vN`` of the artifact version itself (for a registry version too)."""
        version = self._logged()[1]
        return f"{version.name}:{version.version}"

    @property
    def source_version(self) -> str:
        return self._logged()[1].version

    @property
    def source_project(self) -> str:
        return self._logged()[1].project

    @property
    def source_entity(self) -> str:
        return self.entity

    def used_by(self) -> list[PublicRun]:
        """Runs that used this version."""
        return self._neighbours("used")

    def logged_by(self) -> PublicRun | None:
        """The run that logged this version, if any."""
        runs = self._neighbours("logged")
        return runs[0] if runs else None

    def _neighbours(self, kind: str) -> list[PublicRun]:
        from modelbay.sdk.api import PublicRun

        transport, version = self._logged()
        graph = transport.call(ops.LINEAGE, rq.LineageQuery(ref=version.ref, depth=1)).model_dump()
        node = f"artifact:{version.ref}"
        if kind == "used":
            wanted = [e["to"] for e in graph["edges"] if e["from"] == node and e["kind"] == "used"]
        else:
            wanted = [
                e["from"] for e in graph["edges"] if e["to"] == node and e["kind"] == "logged"
            ]
        by_node = {n["node"]: n for n in graph["nodes"]}
        return [
            PublicRun(transport, e.Run.model_validate(by_node[w])) for w in wanted if w in by_node
        ]

    def history(self, limit: int = 100) -> list[Info]:
        """Audit events of this version, newest first."""
        transport, _ = self._logged()
        request = rq.HistoryOfRef(ref=self.qualified_name, limit=limit)
        return [event.model_dump() for event in transport.call(ops.EVENTS, request).events]
