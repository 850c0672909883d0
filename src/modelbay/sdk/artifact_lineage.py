"""Where an artifact version comes from and what it is connected to: its source (W&B's
``source_*``, ``collection``, ``entity``, times), the runs that logged and used it (the
lineage graph, one step away), and its audit events. A base of
:class:`~modelbay.sdk.artifact.Artifact`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelbay import names
from modelbay.contract import entities as e
from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
from modelbay.sdk.artifact_entry import ArtifactCollectionRef, _iso
from modelbay.sdk.transport import Info, Transport

if TYPE_CHECKING:
    from modelbay.sdk.api import PublicRun


class ArtifactLineage:
    """Lineage and history of a logged version (``used_by``, ``logged_by``, ``history``)."""

    @property
    def qualified_name(self) -> str:
        raise NotImplementedError

    def _logged(self) -> tuple[Transport, e.Version]:
        raise NotImplementedError

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
