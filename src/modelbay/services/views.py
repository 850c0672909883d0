"""Read models for the web UI: pages that join what the other services keep apart.

A collection's versions come with their producing run's summary (its metrics become table
columns, sortable in SQL); a project's runs come a page at a time; a session's user id turns
back into a principal. Nothing here changes anything: mutations from the UI go through the
other services with the logged-in principal, so that they are checked and audited as that
user.
"""

from __future__ import annotations

import json
import math
from typing import Any

from modelbay import names
from modelbay.contract.operations import Role
from modelbay.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from modelbay.jsontext import Info
from modelbay.names import Ref
from modelbay.services import access
from modelbay.services.blobs import BlobService
from modelbay.services.core import Principal, link_info, locate
from modelbay.services.runs import crash_silent_runs, run_info
from modelbay.settings import RUN_TIMEOUT
from modelbay.store import access as access_store
from modelbay.store import artifacts as artifact_store
from modelbay.store import registry as registry_store
from modelbay.store import runs as run_store
from modelbay.store import tags as tag_store
from modelbay.store import views as store
from modelbay.store.database import Database

MAX_PAGE = 500
MAX_METRIC_COLUMNS = 8
VERSION_SORTS = ("version", "created", "metric")
RUN_SORTS = ("created", "name", "state", "metric")
#: What the versions table shows of each producing run: its metrics at the step where the
#: version was logged, or its final summary.
VERSION_METRICS = ("step", "final")
#: Files of a version page previewed, and the largest text (or JSON) and image previewed.
MAX_PREVIEWS = 20
MAX_TEXT_PREVIEW = 64 << 10
MAX_IMAGE_PREVIEW = 5 << 20
TEXT_SUFFIXES = frozenset(
    [
        ".txt",
        ".md",
        ".log",
        ".csv",
        ".tsv",
        ".yaml",
        ".yml",
        ".toml",
        ".ini",
        ".cfg",
        ".py",
        ".sh",
        ".html",
        ".htm",
        ".svg",
        ".xml",
    ]
)
JSON_SUFFIXES = frozenset((".json",))
#: Images shown through ``<img>``: raster types only. SVG is not among them (it can carry
#: script), nor is anything else a browser might render as a page.
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


def preview_kind(path: str, size: int) -> str | None:
    """``"text"``, ``"json"`` or ``"image"`` for a file small enough to preview, else None."""
    dot = path.rfind(".")
    suffix = path[dot:].lower() if dot > path.rfind("/") else ""
    if suffix in IMAGE_TYPES:
        return "image" if size <= MAX_IMAGE_PREVIEW else None
    if size > MAX_TEXT_PREVIEW:
        return None
    if suffix in JSON_SUFFIXES:
        return "json"
    if suffix in TEXT_SUFFIXES:
        return "text"
    return None


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
    def __init__(
        self, db: Database, blobs: BlobService | None = None, *, run_timeout: float = RUN_TIMEOUT
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.run_timeout = run_timeout

    # -- projects and runs ------------------------------------------------------------------

    def list_projects(self, principal: Principal) -> list[Info]:
        """The projects the principal may read (filtered in the query), with their run and
        artifact counts."""
        readable = None if principal.is_admin else access_store.readable_projects(principal.user_id)
        with self.db.read() as conn:
            return store.list_projects(conn, readable)

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
        crash_silent_runs(self.db, self.run_timeout)
        with self.db.read() as conn:
            pid = access.require_project(conn, principal, project)["id"]
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
        metrics: str = "step",
    ) -> Info:
        """A page of a collection's versions, each with ``run_info`` (state, name, and
        ``metrics`` of the run that logged its source, or None):
        ``{"versions", "total", "metric_keys"}``.

        ``metrics`` "step" gives each run's metrics at the step where the version was logged
        (a checkpoint of step 10 shows step 10's accuracy, ``step`` says which), "final" its
        final summary. Sorting by a metric sorts by the final summary.

        Raises:
            NotFoundError: no such registry or collection.
            InvalidInputError: a bad sort, metric key, page or ``metrics``.
        """
        if metrics not in VERSION_METRICS:
            raise InvalidInputError(
                f"metrics must be one of {', '.join(VERSION_METRICS)}", {"field": "metrics"}
            )
        crash_silent_runs(self.db, self.run_timeout)
        registry = names.check_name(registry, "registry")
        collection = names.check_collection(collection)
        sort, metric = _sort(sort, VERSION_SORTS, metric)
        limit, offset = _check_page(limit, offset)
        with self.db.read() as conn:
            reg = access.require_registry(conn, principal, registry)
            coll = registry_store.get_collection(conn, reg["id"], collection)
            if coll is None:
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
            at_step = {
                r["id"]: run_store.metrics_at(conn, r["run_pk"], r["created_at"])
                for r in rows
                if metrics == "step" and r["run_pk"] is not None
            }
        versions = []
        for r in rows:
            info = link_info(r, registry, collection, aliases[r["link_id"]], tags[r["id"]])
            if r["run_pk"] is None:
                info["run_info"] = None
            else:
                step, values = at_step.get(r["id"], (None, r["run_summary"] or {}))
                info["run_info"] = {
                    "state": r["run_state"],
                    "name": r["run_name"],
                    "summary": values,
                    "step": step,
                }
            versions.append(info)
        summaries = [v["run_info"]["summary"] for v in versions if v["run_info"]]
        return {"versions": versions, "total": total, "metric_keys": metric_keys(summaries, metric)}

    # -- a version's evidence ---------------------------------------------------------------

    def version_evidence(self, principal: Principal, ref: Ref) -> Info:
        """What a reviewer decides a version on, beside its files: ``{"run", "step",
        "at_step", "summary", "used_by", "previews"}``.

        ``run`` is the producing run (None if none) with its config; ``at_step`` its metrics
        at ``step``, the run's last step when the version was logged; ``summary`` its final
        summary (internal ``_`` keys left out); ``used_by`` the runs that used the version;
        ``previews`` ``{path: {"kind", "text"}}`` for its small text and JSON files (images
        only get ``kind``: their bytes come from :meth:`preview_image`).

        Raises:
            NotFoundError: no such version.
        """
        crash_silent_runs(self.db, self.run_timeout)
        with self.db.read() as conn:
            access.require_ref(conn, principal, ref)
            located = locate(conn, ref)
            version = artifact_store.version_by_id(conn, located.version_id)
            if version is None:
                raise NotFoundError(f"{ref} not found")
            run_row = run_store.run_by_pk(conn, version["run_pk"]) if version["run_pk"] else None
            step, at_step = (
                run_store.metrics_at(conn, run_row["id"], version["created_at"])
                if run_row
                else (None, {})
            )
            used_pks = [
                r
                for r, _, direction in run_store.edges_around(
                    conn, version_ids=[located.version_id]
                )
                if direction == "used"
            ]
            used = run_store.runs_by_pk(conn, used_pks)
            if not principal.is_admin:  # only runs of projects the principal may read
                projects = {r["project"] for r in used} | ({run_row["project"]} if run_row else set())
                readable = access_store.readable_project_ids(
                    conn, principal.user_id, sorted(projects)
                )
                used = [r for r in used if r["project"] in readable]
                if run_row is not None and run_row["project"] not in readable:
                    run_row, step, at_step = None, None, {}
            try:  # previews show file contents: a restricted viewer gets none
                access.require_ref(conn, principal, ref, Role.VIEWER)
                files = artifact_store.files_of(conn, located.version_id)
            except PermissionDeniedError:
                files = []
        run = run_info(run_row) if run_row else None
        summary = {
            k: v for k, v in (run["summary"] if run else {}).items() if not k.startswith("_")
        }
        return {
            "run": run,
            "step": step,
            "at_step": {k: v for k, v in at_step.items() if not k.startswith("_")},
            "summary": summary,
            "used_by": sorted((run_info(r) for r in used), key=lambda i: -i["created_at"]),
            "previews": self._previews(principal, files),
        }

    def _previews(self, principal: Principal, files: list[dict[str, Any]]) -> dict[str, Info]:
        out: dict[str, Info] = {}
        for f in files:
            if len(out) >= MAX_PREVIEWS:
                break
            kind = None if f.get("ref") else preview_kind(f["path"], f["size"])
            if kind is None:
                continue
            if kind == "image":
                out[f["path"]] = {"kind": kind, "text": None}
                continue
            text = self._text(principal, f["sha256"])
            if text is None:
                continue
            if kind == "json":
                try:
                    text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
                except ValueError:
                    kind = "text"  # not JSON after all: shown as it is
            out[f["path"]] = {"kind": kind, "text": text}
        return out

    def _text(self, principal: Principal, sha256: str) -> str | None:
        """A small stored file as text, or None if it is not UTF-8 or its bytes are gone."""
        if self.blobs is None:
            return None
        try:
            data = b"".join(self.blobs.iter_bytes(principal, sha256))
        except NotFoundError:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def preview_image(self, principal: Principal, ref: Ref, path: str) -> tuple[str, bytes]:
        """``(content type, bytes)`` of a small raster image of a version, for an ``<img>``.

        Raises:
            NotFoundError: no such version or file (or not readable), or its bytes are not
                stored.
            PermissionDeniedError: a restricted viewer (an image is a file's contents).
            InvalidInputError: the file is not a small PNG, JPEG, GIF or WebP image.
        """
        with self.db.read() as conn:
            access.require_ref(conn, principal, ref, Role.VIEWER)
            files = artifact_store.files_of(conn, locate(conn, ref).version_id)
        entry = next((f for f in files if f["path"] == path), None)
        if entry is None or entry.get("ref"):
            raise NotFoundError(f"{ref} has no stored file {path[:200]!r}")
        if preview_kind(path, entry["size"]) != "image" or self.blobs is None:
            raise InvalidInputError(f"{path[:200]!r} is not an image that can be previewed")
        suffix = path[path.rfind(".") :].lower()
        return IMAGE_TYPES[suffix], b"".join(self.blobs.iter_bytes(principal, entry["sha256"]))
