"""What an artifact version is connected to: the runs that logged and used it (the lineage
graph, one step away), and its audit events. A base of :class:`~modelbay.sdk.artifact.Artifact`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelbay.contract import entities as e
from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
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
