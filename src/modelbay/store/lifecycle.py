"""SQL for removing and renaming: runs, project artifacts (W&B's artifact collections) and
registry collections. The rules (who may, what blocks it, which events) live in
:mod:`modelbay.services.lifecycle`."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelbay.store import automations as automation_store
from modelbay.store.schema import (
    artifact_aliases,
    artifact_versions,
    artifacts,
    automations,
    collection_aliases,
    collections,
    history_media,
    lineage,
    links,
    metrics,
    projects,
    promotion_requests,
    runs,
    tags,
)
from modelbay.store.tags import COLLECTION


def live_versions_logged_by(conn: Connection, run_pk: int) -> list[dict[str, Any]]:
    """``{id, artifact_id, name, version}`` of the live versions a run logged."""
    stmt = (
        sa.select(
            artifact_versions.c.id,
            artifact_versions.c.artifact_id,
            artifacts.c.name,
            artifact_versions.c.version,
        )
        .join(artifacts, artifacts.c.id == artifact_versions.c.artifact_id)
        .where(artifact_versions.c.run_pk == run_pk, artifact_versions.c.deleted_at.is_(None))
        .order_by(artifact_versions.c.id)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def live_versions_of(conn: Connection, artifact_id: int) -> list[dict[str, Any]]:
    """``{id, version}`` of an artifact's live versions, oldest first."""
    stmt = (
        sa.select(artifact_versions.c.id, artifact_versions.c.version)
        .where(
            artifact_versions.c.artifact_id == artifact_id,
            artifact_versions.c.deleted_at.is_(None),
        )
        .order_by(artifact_versions.c.version)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def soft_delete_versions(conn: Connection, version_ids: list[int], now: float) -> None:
    """Mark versions deleted and drop their aliases (their bytes go at the next gc)."""
    if not version_ids:
        return
    conn.execute(artifact_aliases.delete().where(artifact_aliases.c.version_id.in_(version_ids)))
    conn.execute(
        artifact_versions.update()
        .where(artifact_versions.c.id.in_(version_ids))
        .values(deleted_at=now)
    )


def expired_versions(conn: Connection, now: float, limit: int) -> list[dict[str, Any]]:
    """``{id, artifact_id, project_id, project, name, version}`` of live versions whose TTL
    has passed and that no registry links (found through the ``expires_at`` index)."""
    stmt = (
        sa.select(
            artifact_versions.c.id,
            artifact_versions.c.artifact_id,
            artifacts.c.project_id,
            projects.c.name.label("project"),
            artifacts.c.name,
            artifact_versions.c.version,
        )
        .join(artifacts, artifacts.c.id == artifact_versions.c.artifact_id)
        .join(projects, projects.c.id == artifacts.c.project_id)
        .where(
            artifact_versions.c.expires_at <= now,
            artifact_versions.c.deleted_at.is_(None),
            ~sa.exists().where(links.c.artifact_version_id == artifact_versions.c.id),
        )
        .order_by(artifact_versions.c.expires_at)
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def delete_run(conn: Connection, run_pk: int) -> None:
    """Remove a run, its history and its lineage edges; the versions it logged stay, with
    no run (they were logged by a run that no longer exists)."""
    conn.execute(lineage.delete().where(lineage.c.run_pk == run_pk))
    conn.execute(
        artifact_versions.update().where(artifact_versions.c.run_pk == run_pk).values(run_pk=None)
    )
    conn.execute(metrics.delete().where(metrics.c.run_pk == run_pk))
    conn.execute(history_media.delete().where(history_media.c.run_pk == run_pk))
    conn.execute(runs.delete().where(runs.c.id == run_pk))


def mark_artifact_deleted(conn: Connection, artifact_id: int, now: float) -> None:
    conn.execute(artifacts.update().where(artifacts.c.id == artifact_id).values(deleted_at=now))


def rename_artifact(conn: Connection, artifact_id: int, name: str) -> None:
    conn.execute(artifacts.update().where(artifacts.c.id == artifact_id).values(name=name))


def rename_collection(conn: Connection, collection_id: int, name: str, now: float) -> None:
    conn.execute(
        collections.update()
        .where(collections.c.id == collection_id)
        .values(name=name, updated_at=now)
    )


def collection_automations(conn: Connection, collection_id: int) -> list[dict[str, Any]]:
    """``{id, name}`` of the automations scoped to a collection."""
    stmt = sa.select(automations.c.id, automations.c.name).where(
        automations.c.scope_kind == "collection", automations.c.scope_id == collection_id
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def delete_collection(conn: Connection, collection_id: int) -> list[str]:
    """Remove a collection with its links, aliases, tags, promotion requests and the
    automations scoped to it; the linked artifact versions stay in their projects.
    Returns the names of the automations removed."""
    removed = collection_automations(conn, collection_id)
    for automation in removed:
        automation_store.delete_automation(conn, int(automation["id"]))
    conn.execute(
        promotion_requests.delete().where(promotion_requests.c.collection_id == collection_id)
    )
    conn.execute(
        collection_aliases.delete().where(collection_aliases.c.collection_id == collection_id)
    )
    conn.execute(links.delete().where(links.c.collection_id == collection_id))
    conn.execute(tags.delete().where(tags.c.kind == COLLECTION, tags.c.target_id == collection_id))
    conn.execute(collections.delete().where(collections.c.id == collection_id))
    return [str(a["name"]) for a in removed]
