"""Teams, memberships (roles in registries and projects), protected aliases and promotion
requests: the SQL behind :mod:`modelbay.services.access` and
:mod:`modelbay.services.promotions`.

Roles are stored as their names; which role outranks which is the services' business. The
clauses :func:`readable_registries` and :func:`readable_projects` let a listing filter in
its own query, so that what a caller may not read is never fetched.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelbay.store.common import P, dict_rows, for_update, insert_ignore, inserted_id
from modelbay.store.prepared import Prepared, fetch_dict, fetch_rows
from modelbay.store.schema import (
    artifact_versions,
    artifacts,
    collections,
    files,
    links,
    memberships,
    projects,
    promotion_requests,
    promotion_reviews,
    protected_aliases,
    registries,
    team_members,
    teams,
    users,
)

ORGANIZATION = "organization"


def _member_of(user: Any) -> sa.ColumnElement[bool]:
    """Memberships held by the user directly or through one of their teams."""
    return sa.or_(
        memberships.c.user_id == user,
        memberships.c.team_id.in_(
            sa.select(team_members.c.team_id).where(team_members.c.user_id == user)
        ),
    )


def _held_by(user: Any) -> sa.ColumnElement[bool]:
    """:func:`_member_of` for a few membership rows (those of one registry or project): a
    probe of the team_members primary key per row, where ``IN (SELECT ...)`` builds the
    user's team list anew each time, which costs SQLite more than the rest of the query."""
    return sa.or_(
        memberships.c.user_id == user,
        sa.exists().where(
            team_members.c.team_id == memberships.c.team_id, team_members.c.user_id == user
        ),
    )


_REGISTRY_ROLES = Prepared(
    sa.select(memberships.c.role).where(
        memberships.c.registry_id == P("target"), _held_by(P("uid"))
    )
)
_PROJECT_ROLES = Prepared(
    sa.select(memberships.c.role).where(memberships.c.project_id == P("target"), _held_by(P("uid")))
)


# A registry or project by name with the roles a user holds in it, in one query: its
# memberships are reached through the (registry_id, ...) and (project_id, ...) unique indexes.
_HELD = "held_role"


def _row_with_roles(table: sa.Table, member_of: sa.Column[Any]) -> Prepared:
    return Prepared(
        sa.select(table, memberships.c.role.label(_HELD))
        .select_from(
            table.outerjoin(memberships, sa.and_(member_of == table.c.id, _held_by(P("uid"))))
        )
        .where(table.c.name == P("name"))
    )


_REGISTRY_WITH_ROLES = _row_with_roles(registries, memberships.c.registry_id)
_PROJECT_WITH_ROLES = _row_with_roles(projects, memberships.c.project_id)


def _with_roles(
    conn: Connection, prepared: Prepared, name: str, user_id: int
) -> tuple[dict[str, Any] | None, list[str]]:
    rows = fetch_rows(conn, prepared, {"name": name, "uid": user_id})
    if not rows:
        return None, []
    keys = prepared.compiled(conn).keys[:-1]  # the held role is the last column
    return dict(zip(keys, rows[0][:-1], strict=True)), [r[-1] for r in rows if r[-1] is not None]


def registry_with_roles(
    conn: Connection, name: str, user_id: int
) -> tuple[dict[str, Any] | None, list[str]]:
    """A registry's row by name (None: no such registry) and the roles the user holds in
    it, their own and their teams'."""
    return _with_roles(conn, _REGISTRY_WITH_ROLES, name, user_id)


def project_with_roles(
    conn: Connection, name: str, user_id: int
) -> tuple[dict[str, Any] | None, list[str]]:
    """A project's row by name (None: no such project) and the user's roles in it."""
    return _with_roles(conn, _PROJECT_WITH_ROLES, name, user_id)


def registry_roles(conn: Connection, registry_id: int, user_id: int) -> list[str]:
    """The roles a user holds in a registry, their own and their teams'."""
    return [
        r for (r,) in fetch_rows(conn, _REGISTRY_ROLES, {"target": registry_id, "uid": user_id})
    ]


def project_roles(conn: Connection, project_id: int, user_id: int) -> list[str]:
    """The roles a user holds in a project, their own and their teams'."""
    return [r for (r,) in fetch_rows(conn, _PROJECT_ROLES, {"target": project_id, "uid": user_id})]


def readable_registries(user_id: int) -> sa.ColumnElement[bool]:
    """A WHERE clause on ``registries``: those the user may read (organization-visible, or
    restricted with a membership of the user or a team of theirs)."""
    return sa.or_(
        registries.c.visibility == ORGANIZATION,
        registries.c.id.in_(
            sa.select(memberships.c.registry_id).where(
                memberships.c.registry_id.is_not(None), _member_of(user_id)
            )
        ),
    )


def readable_projects(user_id: int) -> sa.ColumnElement[bool]:
    """A WHERE clause on ``projects``: those the user may read."""
    return sa.or_(
        projects.c.visibility == ORGANIZATION,
        projects.c.created_by == user_id,
        projects.c.id.in_(
            sa.select(memberships.c.project_id).where(
                memberships.c.project_id.is_not(None), _member_of(user_id)
            )
        ),
    )


def readable_project_ids(conn: Connection, user_id: int, names: list[str]) -> dict[str, int]:
    """Of the named projects, those the user may read, by name."""
    if not names:
        return {}
    rows = conn.execute(
        sa.select(projects.c.name, projects.c.id).where(
            projects.c.name.in_(names), readable_projects(user_id)
        )
    )
    return {name: int(pid) for name, pid in rows}


# -- projects --------------------------------------------------------------------------------


# Every call on a project's runs or artifacts by a non-admin reads it: built once.
_PROJECT_BY_NAME = Prepared(sa.select(projects).where(projects.c.name == P("name")))
_PROJECT_BY_ID = Prepared(sa.select(projects).where(projects.c.id == P("id")))


def project_row(conn: Connection, name: str) -> dict[str, Any] | None:
    return fetch_dict(conn, _PROJECT_BY_NAME, {"name": name})


def project_row_by_id(conn: Connection, project_id: int) -> dict[str, Any] | None:
    return fetch_dict(conn, _PROJECT_BY_ID, {"id": project_id})


def claim_project(conn: Connection, project_id: int, user_id: int) -> None:
    """Make ``user_id`` the creator of a project nobody has claimed yet."""
    conn.execute(
        projects.update()
        .where(projects.c.id == project_id, projects.c.created_by.is_(None))
        .values(created_by=user_id)
    )


def set_project_visibility(conn: Connection, project_id: int, visibility: str) -> None:
    conn.execute(projects.update().where(projects.c.id == project_id).values(visibility=visibility))


def update_registry(conn: Connection, registry_id: int, **values: Any) -> None:
    conn.execute(registries.update().where(registries.c.id == registry_id).values(**values))


# -- users and teams -------------------------------------------------------------------------


def user_id(conn: Connection, name: str) -> int | None:
    value = conn.execute(sa.select(users.c.id).where(users.c.name == name)).scalar()
    return int(value) if value is not None else None


def user_name(conn: Connection, user: int) -> str | None:
    value = conn.execute(sa.select(users.c.name).where(users.c.id == user)).scalar()
    return str(value) if value is not None else None


def team_id(conn: Connection, name: str) -> int | None:
    value = conn.execute(sa.select(teams.c.id).where(teams.c.name == name)).scalar()
    return int(value) if value is not None else None


def entity_of(conn: Connection, name: str, user: int) -> str | None:
    """What ``name`` is to ``user``: ``"self"`` (their own name, or a team they are in or
    whose service account they are), ``"other"`` (another user, or a team they are not in),
    None (neither a user nor a team). Two probes of unique indexes."""
    member = sa.or_(
        sa.exists().where(team_members.c.team_id == teams.c.id, team_members.c.user_id == user),
        sa.exists().where(users.c.id == user, users.c.owner_team_id == teams.c.id),
    )
    found = conn.execute(
        sa.union_all(
            sa.select(users.c.id == user).where(users.c.name == name),
            sa.select(member).where(teams.c.name == name),
        )
    ).scalars()
    mine = [bool(v) for v in found]
    if not mine:
        return None
    return "self" if any(mine) else "other"


def insert_team(conn: Connection, name: str, now: float) -> int:
    return inserted_id(conn.execute(teams.insert().values(name=name, created_at=now)))


def add_team_member(
    conn: Connection, team: int, user: int, role: str | None
) -> tuple[str | None, str]:
    """Add a user to a team as ``role`` (None: ``member``, or the role they hold), or change
    their role; returns (the role they had or None, the role they hold). Concurrent adds of
    the same user meet no unique violation."""
    inserted = insert_ignore(
        conn,
        team_members,
        {"team_id": team, "user_id": user, "role": role or "member"},
        ["team_id", "user_id"],
    )
    if inserted == 1:
        return None, role or "member"
    who = sa.and_(team_members.c.team_id == team, team_members.c.user_id == user)
    had = str(conn.execute(sa.select(team_members.c.role).where(who)).scalar_one())
    if role is not None and role != had:
        conn.execute(team_members.update().where(who).values(role=role))
        return had, role
    return had, had


def team_role(conn: Connection, team: int, user: int) -> str | None:
    """``admin`` or ``member``: the user's role in the team; None when not in it."""
    value = conn.execute(
        sa.select(team_members.c.role).where(
            team_members.c.team_id == team, team_members.c.user_id == user
        )
    ).scalar()
    return str(value) if value is not None else None


def remove_team_member(conn: Connection, team: int, user: int) -> bool:
    result = conn.execute(
        team_members.delete().where(team_members.c.team_id == team, team_members.c.user_id == user)
    )
    return bool(result.rowcount)


def list_teams(conn: Connection) -> list[dict[str, Any]]:
    """Every team with its members' names and its admins' (sorted)."""
    out: dict[int, dict[str, Any]] = {}
    for row in dict_rows(conn.execute(sa.select(teams).order_by(teams.c.name))):
        out[row["id"]] = {**row, "members": [], "admins": []}
    rows = conn.execute(
        sa.select(team_members.c.team_id, users.c.name, team_members.c.role)
        .join(users, users.c.id == team_members.c.user_id)
        .order_by(users.c.name)
    )
    for tid, name, role in rows:
        out[tid]["members"].append(name)
        if role == "admin":
            out[tid]["admins"].append(name)
    return list(out.values())


# -- memberships -----------------------------------------------------------------------------


def _target(registry_id: int | None, project_id: int | None) -> sa.ColumnElement[bool]:
    if registry_id is not None:
        return memberships.c.registry_id == registry_id
    return memberships.c.project_id == project_id


def set_membership(
    conn: Connection,
    *,
    registry_id: int | None = None,
    project_id: int | None = None,
    user: int | None = None,
    team: int | None = None,
    role: str,
    now: float,
) -> str | None:
    """Give a user or team ``role`` in a registry or project; returns the role it had.

    The row is inserted without a conflict (two transactions adding the same member at once
    both succeed, the later one as an update), then locked and updated when it existed.
    """
    who = memberships.c.user_id == user if user is not None else memberships.c.team_id == team
    where = sa.and_(_target(registry_id, project_id), who)
    keys = ["registry_id" if registry_id is not None else "project_id"]
    keys.append("user_id" if user is not None else "team_id")
    values = {
        "registry_id": registry_id,
        "project_id": project_id,
        "user_id": user,
        "team_id": team,
        "role": role,
        "created_at": now,
    }
    if insert_ignore(conn, memberships, values, keys):
        return None
    before = conn.execute(for_update(conn, sa.select(memberships.c.role).where(where))).scalar()
    if before != role:
        conn.execute(memberships.update().where(where).values(role=role))
    return str(before) if before is not None else None


def remove_membership(
    conn: Connection,
    *,
    registry_id: int | None = None,
    project_id: int | None = None,
    user: int | None = None,
    team: int | None = None,
) -> str | None:
    """Remove a user's or team's membership; returns the role it had (None: there was none)."""
    who = memberships.c.user_id == user if user is not None else memberships.c.team_id == team
    where = sa.and_(_target(registry_id, project_id), who)
    before = conn.execute(sa.select(memberships.c.role).where(where)).scalar()
    if before is not None:
        conn.execute(memberships.delete().where(where))
    return str(before) if before is not None else None


def list_memberships(
    conn: Connection, *, registry_id: int | None = None, project_id: int | None = None
) -> list[dict[str, Any]]:
    """Members of a registry or project: ``{"kind": "user"|"team", "name", "role"}``."""
    stmt = (
        sa.select(
            users.c.name.label("user"),
            teams.c.name.label("team"),
            memberships.c.role,
            memberships.c.created_at,
        )
        .select_from(
            memberships.outerjoin(users, users.c.id == memberships.c.user_id).outerjoin(
                teams, teams.c.id == memberships.c.team_id
            )
        )
        .where(_target(registry_id, project_id))
        .order_by(memberships.c.id)
    )
    return [
        {
            "kind": "user" if r["user"] is not None else "team",
            "name": r["user"] if r["user"] is not None else r["team"],
            "role": r["role"],
            "created_at": r["created_at"],
        }
        for r in dict_rows(conn.execute(stmt))
    ]


# -- protected aliases -----------------------------------------------------------------------

_PATTERNS = Prepared(
    sa.select(protected_aliases.c.pattern)
    .where(protected_aliases.c.registry_id == P("rid"))
    .order_by(protected_aliases.c.pattern)
)


def protected_patterns(conn: Connection, registry_id: int) -> list[str]:
    return [p for (p,) in fetch_rows(conn, _PATTERNS, {"rid": registry_id})]


def add_protected(conn: Connection, registry_id: int, pattern: str, now: float) -> bool:
    """Protect an alias pattern; False when it was protected already."""
    if pattern in protected_patterns(conn, registry_id):
        return False
    conn.execute(
        protected_aliases.insert().values(registry_id=registry_id, pattern=pattern, created_at=now)
    )
    return True


def remove_protected(conn: Connection, registry_id: int, pattern: str) -> bool:
    result = conn.execute(
        protected_aliases.delete().where(
            protected_aliases.c.registry_id == registry_id, protected_aliases.c.pattern == pattern
        )
    )
    return bool(result.rowcount)


# -- promotion requests ----------------------------------------------------------------------

PENDING = "pending"

_REQUEST_COLUMNS = (
    promotion_requests,
    users.c.name.label("requester"),
)


def insert_request(conn: Connection, **values: Any) -> int:
    return inserted_id(conn.execute(promotion_requests.insert().values(**values)))


def pending_request_of(
    conn: Connection, collection_id: int, alias: str, *, link_id: int, user_id: int
) -> int | None:
    """The id of ``user_id``'s pending request for ``alias`` on ``link_id``, if any."""
    r = promotion_requests.c
    return conn.execute(
        sa.select(r.id).where(
            r.collection_id == collection_id,
            r.alias == alias,
            r.state == "pending",
            r.link_id == link_id,
            r.user_id == user_id,
        )
    ).scalar()


def get_request(conn: Connection, request_id: int, *, lock: bool = False) -> dict[str, Any] | None:
    stmt = (
        sa.select(*_REQUEST_COLUMNS)
        .join(users, users.c.id == promotion_requests.c.user_id)
        .where(promotion_requests.c.id == request_id)
    )
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=promotion_requests)
    rows = dict_rows(conn.execute(stmt))
    return rows[0] if rows else None


def list_requests(
    conn: Connection,
    registry_id: int,
    *,
    state: str | None,
    limit: int,
    before_id: int | None,
) -> list[dict[str, Any]]:
    """A registry's promotion requests, newest first."""
    stmt = (
        sa.select(*_REQUEST_COLUMNS)
        .join(users, users.c.id == promotion_requests.c.user_id)
        .where(promotion_requests.c.registry_id == registry_id)
        .order_by(promotion_requests.c.id.desc())
        .limit(limit)
    )
    if state is not None:
        stmt = stmt.where(promotion_requests.c.state == state)
    if before_id is not None:
        stmt = stmt.where(promotion_requests.c.id < before_id)
    return dict_rows(conn.execute(stmt))


def set_request_state(conn: Connection, request_id: int, state: str, now: float) -> None:
    conn.execute(
        promotion_requests.update()
        .where(promotion_requests.c.id == request_id)
        .values(state=state, decided_at=now)
    )


def stale_requests_for_alias(
    conn: Connection, collection_id: int, alias: str, now: float, *, keep: int | None = None
) -> None:
    """Mark stale the pending requests for an alias that has just moved (but ``keep``)."""
    stmt = promotion_requests.update().where(
        promotion_requests.c.collection_id == collection_id,
        promotion_requests.c.alias == alias,
        promotion_requests.c.state == PENDING,
    )
    if keep is not None:
        stmt = stmt.where(promotion_requests.c.id != keep)
    conn.execute(stmt.values(state="stale", decided_at=now))


def stale_requests_for_link(conn: Connection, collection_id: int, link_id: int, now: float) -> None:
    """Mark stale the pending requests for a version that has just been unlinked."""
    conn.execute(
        promotion_requests.update()
        .where(
            promotion_requests.c.collection_id == collection_id,
            promotion_requests.c.link_id == link_id,
            promotion_requests.c.state == PENDING,
        )
        .values(state="stale", decided_at=now)
    )


def insert_review(
    conn: Connection, request_id: int, user: int, decision: str, comment: str | None, now: float
) -> None:
    conn.execute(
        promotion_reviews.insert().values(
            request_id=request_id, user_id=user, decision=decision, comment=comment, created_at=now
        )
    )


def reviews_of(conn: Connection, request_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The reviews of each request, oldest first."""
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in request_ids}
    if not request_ids:
        return out
    rows = conn.execute(
        sa.select(
            promotion_reviews.c.request_id,
            users.c.name.label("user"),
            promotion_reviews.c.decision,
            promotion_reviews.c.comment,
            promotion_reviews.c.created_at,
        )
        .join(users, users.c.id == promotion_reviews.c.user_id)
        .where(promotion_reviews.c.request_id.in_(request_ids))
        .order_by(promotion_reviews.c.created_at)
    ).mappings()
    for r in rows:
        out[r["request_id"]].append(
            {k: r[k] for k in ("user", "decision", "comment", "created_at")}
        )
    return out


# -- who may fetch bytes ---------------------------------------------------------------------

#: The roles that may download (a restricted viewer sees, but may not).
DOWNLOAD_ROLES = ("viewer", "member", "admin")


def _download_memberships(user_id: int, column: Any) -> Any:
    return sa.select(column).where(
        column.is_not(None), memberships.c.role.in_(DOWNLOAD_ROLES), _member_of(user_id)
    )


def downloadable_digests(conn: Connection, user_id: int, digests: list[str]) -> set[str]:
    """Of ``digests``, those held by a live version the user may download: in a project they
    may download from, or linked into a registry they may download from."""
    projects_ok = sa.or_(
        projects.c.visibility == ORGANIZATION,
        projects.c.created_by == user_id,
        projects.c.id.in_(_download_memberships(user_id, memberships.c.project_id)),
    )
    registries_ok = sa.or_(
        registries.c.visibility == ORGANIZATION,
        registries.c.id.in_(_download_memberships(user_id, memberships.c.registry_id)),
    )
    linked_ok = (
        sa.select(links.c.artifact_version_id)
        .join(collections, collections.c.id == links.c.collection_id)
        .join(registries, registries.c.id == collections.c.registry_id)
        .where(registries_ok)
    )
    found: set[str] = set()
    for start in range(0, len(digests), 500):
        chunk = digests[start : start + 500]
        stmt = (
            sa.select(files.c.sha256)
            .distinct()
            .join(artifact_versions, artifact_versions.c.id == files.c.version_id)
            .join(artifacts, artifacts.c.id == artifact_versions.c.artifact_id)
            .join(projects, projects.c.id == artifacts.c.project_id)
            .where(
                files.c.sha256.in_(chunk),
                artifact_versions.c.deleted_at.is_(None),
                sa.or_(projects_ok, artifact_versions.c.id.in_(linked_ok)),
            )
        )
        found.update(d for (d,) in conn.execute(stmt))
    return found
