"""Read models for the web UI: pages that join what the other services keep apart.

A collection's versions come with their producing run's summary (its metrics become table
columns, sortable in SQL); a project's runs come a page at a time; a session's user id turns
back into a principal. Nothing here changes anything: mutations from the UI go through the
other services with the logged-in principal, so that they are checked and audited as that
user.
"""

from __future__ import annotations

import math
from typing import Any

from modelbay import names
from modelbay.errors import InvalidInputError, NotFoundError
from modelbay.services.core import Info, Principal, link_info
from modelbay.services.runs import run_info
from modelbay.store import artifacts as artifact_store
from modelbay.store import registry as registry_store
from modelbay.store import tags as tag_store
from modelbay.store import views as store
from modelbay.store.database import Database

MAX_PAGE = 500
MAX_METRIC_COLUMNS = 8
VERSION_SORTS = ("version", "created", "metric")
RUN_SORTS = ("created", "name", "state", "metric")


def check_metric_key(key: object) -> str:
    """A summary key to sort by: 1-256 characters, without ``"`` or ``\\``.

    Raises:
        InvalidInputError: otherwise.
    """
    if (
        not isinstance(key, str)
        or not 1 <= len(key) <= 256
        or '"' in key
        or "\\" in key
        or any(ord(c) < 32 for c in key)
    ):
        raise InvalidInputError(f"cannot sort by metric {str(key)[:80]!r}", {"field": "sort"})
    return key


def _check_page(limit: object, offset: object) -> tuple[int, int]:
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE}", {"field": "limit"})
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInputError("offset must be 0 or more", {"field": "offset"})
    return limit, offset


def _sort(sort: object, allowed: tuple[str, ...], metric: object) -> tuple[str, str | None]:
    if sort not in allowed:
        raise InvalidInputError(f"sort must be one of {', '.join(allowed)}", {"field": "sort"})
    if sort == "metric":
        return "metric", check_metric_key(metric)
    return str(sort), None


def metric_keys(summaries: list[dict[str, Any]], also: str | None = None) -> list[str]:
    """The numeric summary keys worth a column: the most common first (at most 8), then sorted;
    keys starting with ``_`` are internal and left out."""
    counts: dict[str, int] = {}
    for summary in summaries:
        for key, value in (summary or {}).items():
            if key.startswith("_") or isinstance(value, bool):
                continue
            if isinstance(value, int | float) and math.isfinite(value):
                counts[key] = counts.get(key, 0) + 1
    ranked = sorted(counts, key=lambda k: (-counts[k], k))[:MAX_METRIC_COLUMNS]
    if also and also not in ranked:
        ranked.append(also)
    return sorted(ranked)


class ViewService:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- users of a session -----------------------------------------------------------------

    def principal_by_id(self, user_id: int) -> Principal | None:
        """The principal a web session holds (None when the user is gone). The caller has
        authenticated the session; this only reads the user's current name and role."""
        with self.db.read() as conn:
            row = store.user_by_id(conn, user_id)
        return Principal(row["id"], row["name"], bool(row["is_admin"])) if row else None

    def principal_by_name(self, name: str) -> Principal | None:
        """Like :meth:`principal_by_id`, by name (the one-time login link of ``admin``)."""
        with self.db.read() as conn:
            row = store.user_by_name(conn, name)
        return Principal(row["id"], row["name"], bool(row["is_admin"])) if row else None

    # -- projects and runs ------------------------------------------------------------------

    def list_projects(self, principal: Principal) -> list[Info]:
        """Every project with its run and artifact counts."""
        with self.db.read() as conn:
            return store.list_projects(conn)

    def project_runs(
        self,
        principal: Principal,
        project: str,
        *,
        sort: str = "created",
        metric: str | None = None,
        descending: bool = True,
        limit: int = 50,
        offset: int = 0,
    ) -> Info:
        """A page of a project's runs: ``{"runs", "total", "metric_keys"}``.

        Raises:
            NotFoundError: no such project.
            InvalidInputError: a bad sort, metric key or page.
        """
        project = names.check_project(project)
        sort, metric = _sort(sort, RUN_SORTS, metric)
        limit, offset = _check_page(limit, offset)
        with self.db.read() as conn:
            pid = artifact_store.project_id(conn, project)
            if pid is None:
                raise NotFoundError(f"project {project!r} not found")
            rows = store.project_runs(
                conn,
                pid,
                sort=sort,
                metric=metric,
                descending=bool(descending),
                limit=limit,
                offset=offset,
            )
            total = store.run_count(conn, pid)
        return {
            "runs": [run_info(r) for r in rows],
            "total": total,
            "metric_keys": metric_keys([r["summary"] for r in rows], metric),
        }

    # -- collections ------------------------------------------------------------------------

    def collection_versions(
        self,
        principal: Principal,
        registry: str,
        collection: str,
        *,
        sort: str = "version",
        metric: str | None = None,
        descending: bool = True,
        limit: int = 50,
        offset: int = 0,
    ) -> Info:
        """A page of a collection's versions, each with ``run_info`` (state, name, summary of
        the run that logged its source, or None): ``{"versions", "total", "metric_keys"}``.

        Raises:
            NotFoundError: no such registry or collection.
            InvalidInputError: a bad sort, metric key or page.
        """
        registry = names.check_name(registry, "registry")
        collection = names.check_name(collection, "collection")
        sort, metric = _sort(sort, VERSION_SORTS, metric)
        limit, offset = _check_page(limit, offset)
        with self.db.read() as conn:
            reg = registry_store.get_registry(conn, registry)
            coll = registry_store.get_collection(conn, reg["id"], collection) if reg else None
            if reg is None or coll is None:
                raise NotFoundError(
                    f"collection {names.registry_ref(registry, collection)} not found"
                )
            rows = store.collection_links(
                conn,
                coll["id"],
                sort=sort,
                metric=metric,
                descending=bool(descending),
                limit=limit,
                offset=offset,
            )
            aliases = registry_store.aliases_of_links(conn, [r["link_id"] for r in rows])
            tags = tag_store.tags_of(conn, tag_store.VERSION, [r["id"] for r in rows])
            total = registry_store.link_count(conn, coll["id"])
        versions = []
        for r in rows:
            info = link_info(r, registry, collection, aliases[r["link_id"]], tags[r["id"]])
            info["run_info"] = (
                {"state": r["run_state"], "name": r["run_name"], "summary": r["run_summary"] or {}}
                if r["run_id"]
                else None
            )
            versions.append(info)
        summaries = [v["run_info"]["summary"] for v in versions if v["run_info"]]
        return {"versions": versions, "total": total, "metric_keys": metric_keys(summaries, metric)}
