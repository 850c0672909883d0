"""Lineage: the graph of runs and artifact versions (run --logged--> version --used--> run)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from modelbay import names
from modelbay.errors import InvalidInputError, NotFoundError
from modelbay.jsontext import Info
from modelbay.names import Ref
from modelbay.services import access
from modelbay.services.core import Principal, locate, project_or_registry, version_info
from modelbay.services.runs import run_info
from modelbay.store import access as access_store
from modelbay.store import artifacts as artifact_store
from modelbay.store import registry as registry_store
from modelbay.store import runs as run_store
from modelbay.store.database import Database

MAX_DEPTH = 10
MAX_NODES = 2000


class LineageService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def graph(
        self,
        principal: Principal,
        *,
        ref: Ref | None = None,
        run: str | None = None,
        depth: int = 2,
    ) -> Info:
        """The nodes and edges within ``depth`` steps of a version or a run (``project/run_id``).

        Nodes are run or version descriptions with ``"node"`` set to ``"run:<project>/<id>"`` or
        ``"artifact:<project>/<name>:vN"`` and ``"kind"`` to ``"run"`` or ``"artifact"``;
        edges ``{"from", "to", "kind": "logged" | "used"}`` always point from producer to
        consumer (run -> version it logged, version -> run that used it).

        Raises:
            InvalidInputError: neither or both of ``ref`` and ``run``, or a bad depth.
            NotFoundError: the start node does not exist.
        """
        if (ref is None) == (run is None):
            raise InvalidInputError("lineage needs exactly one of a reference or a run")
        if not isinstance(depth, int) or not 0 <= depth <= MAX_DEPTH:
            raise InvalidInputError(f"depth must be between 0 and {MAX_DEPTH}")
        with self.db.read() as conn:
            run_frontier: set[int] = set()
            version_frontier: set[int] = set()
            # Only what the principal may read is walked through and shown.
            readable = _Readable(conn, principal)
            if ref is not None:
                ref = project_or_registry(conn, ref)
                access.require_ref(conn, principal, ref)
                start_version = locate(conn, ref).version_id
                version_frontier.add(start_version)
                start = ("version", start_version)
            else:
                assert run is not None
                project, _, run_id = run.partition("/")
                pid = access.require_project(conn, principal, project)["id"]
                row = run_store.get_run(conn, pid, names.check_name(run_id, "run id"))
                if row is None:
                    raise NotFoundError(f"run {run} not found")
                run_frontier.add(row["id"])
                start = ("run", row["id"])
            seen_runs = set(run_frontier)
            seen_versions = set(version_frontier)
            edges: set[tuple[int, int, str]] = set()
            for _ in range(depth):
                found = run_store.edges_around(
                    conn, run_pks=run_frontier, version_ids=version_frontier
                )
                # The producing run of a version counts as a 'logged' edge even without a row.
                for vid in version_frontier:
                    v = artifact_store.version_by_id(conn, vid)
                    if v and v["run_pk"] is not None:
                        found.append((v["run_pk"], vid, "logged"))
                found = [e for e in found if readable.run(e[0]) and readable.version(e[1])]
                edges.update(found)
                run_frontier = {r for r, _, _ in found} - seen_runs
                version_frontier = {v for _, v, _ in found} - seen_versions
                seen_runs |= run_frontier
                seen_versions |= version_frontier
                if len(seen_runs) + len(seen_versions) > MAX_NODES or not (
                    run_frontier or version_frontier
                ):
                    break
            nodes: list[Info] = []
            version_rows = {vid: artifact_store.version_by_id(conn, vid) for vid in seen_versions}
            aliases = artifact_store.aliases_of(conn, seen_versions)
            links = [
                x
                for x in registry_store.links_of_versions(conn, seen_versions)
                if readable.registry(x["registry"])
            ]
            for vid, vrow in version_rows.items():
                if vrow is None:
                    continue
                info = version_info(vrow, aliases[vid], [])
                info["kind"] = "artifact"
                info["node"] = f"artifact:{info['ref']}"
                info["links"] = [
                    names.registry_ref(x["registry"], x["collection"], f"v{x['version']}")
                    for x in links
                    if x["artifact_version_id"] == vid
                ]
                nodes.append(info)
            for rrow in run_store.runs_by_pk(conn, seen_runs):
                info = run_info(rrow)
                info["kind"] = "run"
                info["node"] = f"run:{info['path']}"
                nodes.append(info)
            node_of = {("version", n["id"]): n["node"] for n in nodes if n["kind"] == "artifact"}
            pk_of_path = {
                r["id"]: f"run:{r['project']}/{r['run_id']}"
                for r in run_store.runs_by_pk(conn, seen_runs)
            }
            node_of.update({("run", pk): path for pk, path in pk_of_path.items()})
            out_edges: list[dict[str, Any]] = []
            for run_pk, vid, direction in sorted(edges):
                r, v = node_of.get(("run", run_pk)), node_of.get(("version", vid))
                if r is None or v is None:
                    continue
                if direction == "logged":
                    out_edges.append({"from": r, "to": v, "kind": "logged"})
                else:
                    out_edges.append({"from": v, "to": r, "kind": "used"})
            return {"root": node_of.get(start), "nodes": nodes, "edges": out_edges}


class _Readable:
    """Whether the principal may read a run, version or registry, each project and registry
    looked up once per graph."""

    def __init__(self, conn: Connection, principal: Principal) -> None:
        self.conn = conn
        self.principal = principal
        self.projects: dict[str, bool] = {}
        self.registries: dict[str, bool] = {}

    def _project(self, name: str) -> bool:
        if name not in self.projects:
            row = access_store.project_row(self.conn, name)
            self.projects[name] = (
                row is not None and access.project_role(self.conn, self.principal, row) is not None
            )
        return self.projects[name]

    def run(self, run_pk: int) -> bool:
        if self.principal.is_admin:
            return True
        row = run_store.run_by_pk(self.conn, run_pk)
        return row is not None and self._project(row["project"])

    def version(self, version_id: int) -> bool:
        if self.principal.is_admin:
            return True
        row = artifact_store.version_by_id(self.conn, version_id)
        return row is not None and self._project(row["project"])

    def registry(self, name: str) -> bool:
        if self.principal.is_admin:
            return True
        if name not in self.registries:
            row = registry_store.get_registry(self.conn, name)
            self.registries[name] = (
                row is not None and access.registry_role(self.conn, self.principal, row) is not None
            )
        return self.registries[name]
