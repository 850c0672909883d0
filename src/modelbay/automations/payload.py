"""The data of an event as a delivery sends it, built once (at a delivery's first attempt)
and frozen in the delivery row so that every retry sends the same body.

The default body is ``{"type", "timestamp", "data"}`` (Standard Webhooks' shape); ``data``
also holds what W&B's payload variables are rendered from (see :mod:`.template`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from sqlalchemy.engine import Connection

from modelbay.services.core import Located, describe
from modelbay.store import artifacts as artifact_store
from modelbay.store import automations as automation_store
from modelbay.store import registry as registry_store
from modelbay.store import runs as run_store

#: W&B's ``${event_type}`` for each event modelbay triggers on. W&B names the first seven;
#: the others follow the same pattern.
WANDB_EVENT_TYPES = {
    "version.linked": "LINK_ARTIFACT",
    "version.unlinked": "UNLINK_ARTIFACT",
    "alias.added": "ADD_ARTIFACT_ALIAS",
    "alias.removed": "REMOVE_ARTIFACT_ALIAS",
    "tag.added": "ADD_ARTIFACT_TAG",
    "tag.removed": "REMOVE_ARTIFACT_TAG",
    "artifact_version.created": "CREATE_ARTIFACT",
    "run.finished": "RUN_STATE",
    "run.failed": "RUN_STATE",
    "run.crashed": "RUN_STATE",
    "run.metric": "RUN_METRIC",
    "promotion.requested": "PROMOTION_REQUESTED",
    "promotion.approved": "PROMOTION_APPROVED",
    "promotion.rejected": "PROMOTION_REJECTED",
    "test": "TEST",
}


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")


def _side(event: dict[str, Any], key: str) -> Any:
    for side in ("after", "before"):
        part = event.get(side)
        if isinstance(part, dict) and part.get(key) is not None:
            return part[key]
    return None


def version_page(version: dict[str, Any] | None) -> str | None:
    """The web UI path of a version (a registry version's page when linked)."""
    if not version:
        return None
    link = version.get("link")
    if link:
        parts = (link["registry"], link["collection"], link["version"])
        return "/registries/{}/{}/{}".format(*(quote(p, safe="") for p in parts))
    parts = (version["project"], version["name"], version["version"])
    return "/projects/{}/artifacts/{}/{}".format(*(quote(p, safe="") for p in parts))


def _version(conn: Connection, event: dict[str, Any]) -> dict[str, Any] | None:
    version_id, artifact_id = event.get("version_id"), event.get("artifact_id")
    if version_id is None or artifact_id is None:
        return None
    collection = (
        automation_store.collection_row(conn, event["collection_id"])
        if event.get("collection_id") is not None
        else None
    )
    registry = (
        registry_store.registry_by_id(conn, event["registry_id"])
        if event.get("registry_id") is not None
        else None
    )
    link = registry_store.link_row(conn, event["link_id"]) if event.get("link_id") else None
    if link is not None and collection is not None and registry is not None:
        where = Located(
            version_id,
            artifact_id,
            None,
            event["link_id"],
            event["collection_id"],
            event["registry_id"],
            registry["name"],
            collection["name"],
        )
    else:  # an artifact version, or a link since removed: its source version
        if artifact_store.version_by_id(conn, version_id) is None:
            return None
        where = Located(version_id, artifact_id)
    return describe(conn, where)


def build(conn: Connection, event: dict[str, Any], automation: str) -> dict[str, Any]:
    """The default body of a delivery of ``event`` for the automation named ``automation``."""
    version = _version(conn, event)
    registry = (
        registry_store.registry_by_id(conn, event["registry_id"])
        if event.get("registry_id") is not None
        else None
    )
    found = (
        automation_store.collection_row(conn, event["collection_id"])
        if event.get("collection_id") is not None
        else None
    )
    collection = found["name"] if found else None
    run = run_store.run_by_pk(conn, event["run_pk"]) if event.get("run_pk") is not None else None
    project = (version or {}).get("project") or (run or {}).get("project")
    data = {
        "event": {
            "id": event.get("id"),
            "action": event["action"],
            "actor": event["actor"],
            "subject": event["subject"],
            "time": event["time"],
            "before": event.get("before"),
            "after": event.get("after"),
        },
        "automation": automation,
        "wandb_event_type": WANDB_EVENT_TYPES.get(event["action"], event["action"].upper()),
        "author": event["actor"],
        "alias": _side(event, "alias"),
        "tag": _side(event, "tag"),
        "registry": registry["name"] if registry else None,
        "collection": collection,
        "project": project,
        "version": version,
        "version_page": version_page(version),
        "run": {
            "project": run["project"],
            "id": run["run_id"],
            "name": run["name"],
            "state": run["state"],
            "summary": run["summary"],
        }
        if run
        else None,
    }
    return {"type": event["action"], "timestamp": iso(event["time"]), "data": data}


def sample(automation: dict[str, Any], actor: str, t: float) -> dict[str, Any]:
    """The body of a Test delivery: the automation's event type with made-up data."""
    action = automation["event_type"]
    version = {
        "project": "example-project",
        "name": "example-model",
        "type": "model",
        "version": "v0",
        "index": 0,
        "ref": "example-project/example-model:v0",
        "aliases": ["latest"],
        "tags": [],
        "metadata": {"accuracy": 0.9},
        "created_by": actor,
    }
    data = {
        "event": {
            "id": None,
            "action": action,
            "actor": actor,
            "subject": version["ref"],
            "time": t,
            "before": None,
            "after": {"alias": "production"} if action.startswith("alias.") else None,
        },
        "automation": automation["name"],
        "test": True,
        "wandb_event_type": WANDB_EVENT_TYPES.get(action, action.upper()),
        "author": actor,
        "alias": "production" if action.startswith("alias.") else None,
        "tag": "example" if action.startswith("tag.") else None,
        "registry": None,
        "collection": None,
        "project": "example-project",
        "version": version,
        "version_page": version_page(version),
        "run": None,
    }
    return {"type": action, "timestamp": iso(t), "data": data}
