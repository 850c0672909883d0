"""Projects, artifacts, their versions, files and aliases."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelbay.store.common import (
    P,
    dict_rows,
    for_update,
    insert_ignore,
    inserted_id,
    one_value,
    upsert,
)
from modelbay.store.prepared import ForIds, Prepared, fetch_dict, fetch_rows
from modelbay.store.schema import (
    artifact_aliases,
    artifact_versions,
    artifacts,
    files,
    projects,
    runs,
    users,
)

# The columns every version listing carries, with the names the services expect.
VERSION_COLUMNS = (
    artifact_versions.c.id,
    artifact_versions.c.artifact_id,
    artifact_versions.c.version.label("index"),
    artifact_versions.c.digest,
    artifact_versions.c.size,
    artifact_versions.c.file_count,
    artifact_versions.c.description,
    artifact_versions.c.metadata,
    artifact_versions.c.created_at,
    artifact_versions.c.deleted_at,
    artifact_versions.c.expires_at,
    artifact_versions.c.run_pk,
    artifacts.c.name,
    artifacts.c.type,
    projects.c.name.label("project"),
    users.c.name.label("created_by"),
    runs.c.run_id,
)
VERSION_FROM = (
    artifact_versions.join(artifacts, artifacts.c.id == artifact_versions.c.artifact_id)
    .join(projects, projects.c.id == artifacts.c.project_id)
    .join(users, users.c.id == artifact_versions.c.user_id)
    .outerjoin(runs, runs.c.id == artifact_versions.c.run_pk)
)


_PROJECT_ID = sa.select(projects.c.id).where(projects.c.name == P("name"))
_ARTIFACT = sa.select(artifacts).where(
    artifacts.c.project_id == P("pid"), artifacts.c.name == P("name")
)
_VERSION_BY_INDEX = sa.select(artifact_versions.c.id).where(
    artifact_versions.c.artifact_id == P("aid"),
    artifact_versions.c.version == P("index"),
    artifact_versions.c.deleted_at.is_(None),
)
_VERSION_BY_ALIAS = sa.select(artifact_aliases.c.version_id).where(
    artifact_aliases.c.artifact_id == P("aid"), artifact_aliases.c.alias == P("alias")
)
_VERSION_ROW = Prepared(
    sa.select(*VERSION_COLUMNS).select_from(VERSION_FROM).where(artifact_versions.c.id == P("vid"))
)
_FIND_FROM = VERSION_FROM
_FIND_BY_INDEX = Prepared(
    sa.select(*VERSION_COLUMNS)
    .select_from(_FIND_FROM)
    .where(
        projects.c.name == P("project"),
        artifacts.c.name == P("name"),
        artifact_versions.c.version == P("index"),
        artifact_versions.c.deleted_at.is_(None),
    )
)
_FIND_BY_ALIAS = Prepared(
    sa.select(*VERSION_COLUMNS)
    .select_from(
        # Joined on the alias table's primary key (artifact, alias) too, not just the version.
        _FIND_FROM.join(
            artifact_aliases,
            (artifact_aliases.c.artifact_id == artifacts.c.id)
            & (artifact_aliases.c.version_id == artifact_versions.c.id),
        )
    )
    .where(
        projects.c.name == P("project"),
        artifacts.c.name == P("name"),
        artifact_aliases.c.alias == P("alias"),
    )
)
_ALIASES_OF = ForIds(
    artifact_aliases.c.version_id,
    lambda listed: sa.select(artifact_aliases.c.version_id, artifact_aliases.c.alias)
    .where(listed)
    .order_by(artifact_aliases.c.alias),
)
_ALIASES_OF_ONE = Prepared(
    sa.select(artifact_aliases.c.alias)
    .where(artifact_aliases.c.version_id == P("vid"))
    .order_by(artifact_aliases.c.alias)
)
_INSERT_VERSION = artifact_versions.insert()


def version_select() -> sa.Select[Any]:
    return sa.select(*VERSION_COLUMNS).select_from(VERSION_FROM)


def ensure_project(conn: Connection, name: str, now: float) -> int:
    insert_ignore(conn, projects, {"name": name, "created_at": now}, ["name"])
    return int(conn.execute(sa.select(projects.c.id).where(projects.c.name == name)).scalar_one())


def project_id(conn: Connection, name: str) -> int | None:
    return one_value(conn, _PROJECT_ID, name=name)


def list_projects(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.select(projects).order_by(projects.c.name)).mappings()]


def ensure_artifact(
    conn: Connection, project_id: int, name: str, type_: str, now: float
) -> dict[str, Any]:
    insert_ignore(
        conn,
        artifacts,
        {
            "project_id": project_id,
            "name": name,
            "type": type_,
            "next_version": 0,
            "created_at": now,
        },
        ["project_id", "name"],
    )
    stmt = sa.select(artifacts).where(
        artifacts.c.project_id == project_id, artifacts.c.name == name
    )
    row = dict(conn.execute(for_update(conn, stmt)).mappings().one())
    if row["deleted_at"] is not None:  # deleted as a whole: logged again, of any type
        revived = {"deleted_at": None, "type": type_}
        conn.execute(artifacts.update().where(artifacts.c.id == row["id"]).values(**revived))
        row.update(revived)
    return row


def get_artifact(conn: Connection, project_id: int, name: str) -> dict[str, Any] | None:
    row = conn.execute(_ARTIFACT, {"pid": project_id, "name": name}).mappings().first()
    return dict(row) if row else None


def list_artifacts(conn: Connection, project_id: int, type_: str | None) -> list[dict[str, Any]]:
    counts = (
        sa.select(
            artifact_versions.c.artifact_id,
            sa.func.count().label("version_count"),
            sa.func.max(artifact_versions.c.created_at).label("updated_at"),
        )
        .where(artifact_versions.c.deleted_at.is_(None))
        .group_by(artifact_versions.c.artifact_id)
        .subquery()
    )
    stmt = (
        sa.select(artifacts, counts.c.version_count, counts.c.updated_at)
        .outerjoin(counts, counts.c.artifact_id == artifacts.c.id)
        .where(artifacts.c.project_id == project_id, artifacts.c.deleted_at.is_(None))
        .order_by(artifacts.c.name)
    )
    if type_:
        stmt = stmt.where(artifacts.c.type == type_)
    return dict_rows(conn.execute(stmt))


def take_version_number(conn: Connection, artifact_id: int) -> int:
    """Bump the artifact's counter and return the number taken (the row is locked till commit)."""
    return int(
        conn.execute(
            artifacts.update()
            .where(artifacts.c.id == artifact_id)
            .values(next_version=artifacts.c.next_version + 1)
            .returning(artifacts.c.next_version)
        ).scalar_one()
        - 1
    )


def live_version_with_digest(conn: Connection, artifact_id: int, digest: str) -> int | None:
    value = conn.execute(
        sa.select(artifact_versions.c.id)
        .where(
            artifact_versions.c.artifact_id == artifact_id,
            artifact_versions.c.digest == digest,
            artifact_versions.c.deleted_at.is_(None),
        )
        .order_by(artifact_versions.c.version.desc())
        .limit(1)
    ).scalar()
    return int(value) if value is not None else None


def insert_version(conn: Connection, **values: Any) -> int:
    return inserted_id(conn.execute(_INSERT_VERSION, values))


def insert_files(conn: Connection, version_id: int, entries: Sequence[dict[str, Any]]) -> None:
    rows = [
        {
            "version_id": version_id,
            "path": e["path"],
            "sha256": e["sha256"],
            "size": e["size"],
            "ref": e.get("ref"),
            "etag": e.get("etag"),
        }
        for e in entries
    ]
    for start in range(0, len(rows), 5000):
        conn.execute(files.insert(), rows[start : start + 5000])


def find_version(
    conn: Connection, project: str, name: str, *, index: int | None = None, alias: str | None = None
) -> dict[str, Any] | None:
    """A live artifact version by project, name and number or alias, in one query, or None."""
    if index is not None:
        return fetch_dict(conn, _FIND_BY_INDEX, {"project": project, "name": name, "index": index})
    return fetch_dict(conn, _FIND_BY_ALIAS, {"project": project, "name": name, "alias": alias})


def version_by_id(conn: Connection, version_id: int) -> dict[str, Any] | None:
    return fetch_dict(conn, _VERSION_ROW, {"vid": version_id})


def version_id_by_index(conn: Connection, artifact_id: int, index: int) -> int | None:
    return one_value(conn, _VERSION_BY_INDEX, aid=artifact_id, index=index)


def version_id_by_alias(conn: Connection, artifact_id: int, alias: str) -> int | None:
    return one_value(conn, _VERSION_BY_ALIAS, aid=artifact_id, alias=alias)


def list_versions(conn: Connection, artifact_id: int) -> list[dict[str, Any]]:
    stmt = (
        version_select()
        .where(
            artifact_versions.c.artifact_id == artifact_id, artifact_versions.c.deleted_at.is_(None)
        )
        .order_by(artifact_versions.c.version.desc())
    )
    return dict_rows(conn.execute(stmt))


def newest_live_version(conn: Connection, artifact_id: int) -> int | None:
    value = conn.execute(
        sa.select(artifact_versions.c.id)
        .where(
            artifact_versions.c.artifact_id == artifact_id, artifact_versions.c.deleted_at.is_(None)
        )
        .order_by(artifact_versions.c.version.desc())
        .limit(1)
    ).scalar()
    return int(value) if value is not None else None


def aliases_of(conn: Connection, version_ids: Iterable[int]) -> dict[int, list[str]]:
    ids = list(version_ids)
    if len(ids) == 1:
        return {ids[0]: [alias for (alias,) in fetch_rows(conn, _ALIASES_OF_ONE, {"vid": ids[0]})]}
    out: dict[int, list[str]] = {i: [] for i in ids}
    for version_id, alias in _ALIASES_OF.rows(conn, ids) if ids else ():
        out[version_id].append(alias)
    return out


def set_alias(conn: Connection, artifact_id: int, alias: str, version_id: int) -> int | None:
    """Point ``alias`` at ``version_id``; returns the version it named before, if any."""
    previous = version_id_by_alias(conn, artifact_id, alias)
    if previous != version_id:
        upsert(
            conn,
            artifact_aliases,
            {"artifact_id": artifact_id, "alias": alias, "version_id": version_id},
            ["artifact_id", "alias"],
            ["version_id"],
        )
    return previous


def remove_alias(conn: Connection, artifact_id: int, alias: str) -> None:
    conn.execute(
        artifact_aliases.delete().where(
            artifact_aliases.c.artifact_id == artifact_id, artifact_aliases.c.alias == alias
        )
    )


def remove_aliases_of(conn: Connection, version_id: int) -> list[str]:
    names = list(
        conn.execute(
            sa.select(artifact_aliases.c.alias).where(artifact_aliases.c.version_id == version_id)
        ).scalars()
    )
    conn.execute(artifact_aliases.delete().where(artifact_aliases.c.version_id == version_id))
    return names


def files_of(conn: Connection, version_id: int) -> list[dict[str, Any]]:
    stmt = (
        sa.select(files.c.path, files.c.sha256, files.c.size, files.c.ref, files.c.etag)
        .where(files.c.version_id == version_id)
        .order_by(files.c.path)
    )
    return dict_rows(conn.execute(stmt))


def update_version(conn: Connection, version_id: int, **values: Any) -> None:
    conn.execute(
        artifact_versions.update().where(artifact_versions.c.id == version_id).values(**values)
    )
