"""Who may read and change what: effective roles in registries and projects.

A user's role in a registry or project is the highest of:

- admin, for organization admins (everywhere) and for whoever created the project;
- viewer, for everyone, when the registry or project is ``organization``-visible;
- their own membership's role, and the roles of the teams they belong to.

Without a role the thing cannot be read, and it is answered as not found (its existence
must not leak); readable but with too low a role for a change is a permission error that
names the role needed. Listings filter in their queries with
:func:`modelbay.store.access.readable_registries` and ``readable_projects``.
"""

from __future__ import annotations

import fnmatch
import shlex
from typing import Any

from sqlalchemy.engine import Connection

from modelbay import names
from modelbay.contract.operations import Role
from modelbay.errors import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from modelbay.jsontext import Info
from modelbay.names import LATEST, ArtifactRef, Ref, RegistryRef
from modelbay.services.core import Principal, now, project_or_registry, record
from modelbay.store import access as store
from modelbay.store import auth as auth_store
from modelbay.store import registry as registry_store
from modelbay.store.database import Database

VISIBILITIES = ("organization", "restricted")

_WHAT = {
    Role.RESTRICTED_VIEWER: "reading it",
    Role.VIEWER: "downloading its files",
    Role.MEMBER: "changing it",
    Role.ADMIN: "managing it",
}


def check_role(value: object) -> Role:
    """A role name as given by a caller.

    Raises:
        InvalidInputError: not one of admin, member, viewer, restricted_viewer.
    """
    if isinstance(value, Role):
        return value
    if isinstance(value, str):
        try:
            return Role.parse(value)
        except ValueError:
            pass
    raise InvalidInputError(
        f"invalid role {str(value)[:40]!r}: use admin, member, viewer or restricted_viewer"
    )


def check_visibility(value: object) -> str:
    if value not in VISIBILITIES:
        raise InvalidInputError(
            f"invalid visibility {str(value)[:40]!r}: use organization or restricted"
        )
    return str(value)


def effective_role(
    principal: Principal, visibility: str, roles: list[str], *, creator: bool = False
) -> Role | None:
    """The highest role that applies (None: the caller may not even read)."""
    if principal.is_admin or creator:
        return Role.ADMIN
    found = [Role.parse(r) for r in roles]
    if visibility == "organization":
        found.append(Role.VIEWER)
    return max(found, default=None)


#: Where a row read by :func:`require_registry` or :func:`require_project` keeps the role of
#: the principal who read it (with their user id), so that a later check in the same call,
#: such as a protected alias's, does not ask the database again.
_ROLE_OF = "_role_of"


def _remember(row: dict[str, Any], principal: Principal, role: Role | None) -> Role | None:
    row[_ROLE_OF] = (principal.user_id, role)
    return role


def _remembered(row: dict[str, Any], principal: Principal) -> tuple[bool, Role | None]:
    held = row.get(_ROLE_OF)
    if held is not None and held[0] == principal.user_id:
        return True, held[1]
    return False, None


def registry_role(conn: Connection, principal: Principal, registry: dict[str, Any]) -> Role | None:
    if principal.is_admin:
        return Role.ADMIN
    known, role = _remembered(registry, principal)
    if known:
        return role
    return effective_role(
        principal,
        registry["visibility"],
        store.registry_roles(conn, registry["id"], principal.user_id),
    )


def project_role(conn: Connection, principal: Principal, project: dict[str, Any]) -> Role | None:
    if principal.is_admin or project.get("created_by") == principal.user_id:
        return Role.ADMIN  # whoever creates a project is its admin: no roles to read
    known, role = _remembered(project, principal)
    if known:
        return role
    return effective_role(
        principal,
        project["visibility"],
        store.project_roles(conn, project["id"], principal.user_id),
    )


def _registry_and_role(
    conn: Connection, principal: Principal, name: str
) -> tuple[dict[str, Any] | None, Role | None]:
    """A registry's row by (checked) name and the principal's role in it, in one query."""
    if principal.is_admin:
        row = registry_store.get_registry(conn, name)
        return row, Role.ADMIN if row is not None else None
    row, roles = store.registry_with_roles(conn, name, principal.user_id)
    if row is None:
        return None, None
    return row, _remember(row, principal, effective_role(principal, row["visibility"], roles))


def _project_and_role(
    conn: Connection, principal: Principal, name: str
) -> tuple[dict[str, Any] | None, Role | None]:
    """A project's row by (checked) name and the principal's role in it, in one query."""
    if principal.is_admin:
        row = store.project_row(conn, name)
        return row, Role.ADMIN if row is not None else None
    row, roles = store.project_with_roles(conn, name, principal.user_id)
    if row is None:
        return None, None
    role = effective_role(
        principal, row["visibility"], roles, creator=row["created_by"] == principal.user_id
    )
    return row, _remember(row, principal, role)


def _refuse(kind: str, name: str, role: Role, needed: Role) -> PermissionDeniedError:
    return PermissionDeniedError(
        f"{_WHAT[needed]} needs the {needed.label} role in {kind} {name!r}; you are {role.label}",
        {kind: name, "role": role.label, "needed_role": needed.label},
    )


def _held(
    kind: str, name: str, row: dict[str, Any] | None, role: Role | None, needed: Role
) -> dict[str, Any]:
    """``row`` when the caller's ``role`` in it is at least ``needed``; not found when it
    is missing or unreadable, refused when the role is too low."""
    if row is None or role is None:
        raise NotFoundError(f"{kind} {name!r} not found")
    if role < needed:
        raise _refuse(kind, name, role, needed)
    return row


def require_registry(
    conn: Connection, principal: Principal, name: str, needed: Role = Role.RESTRICTED_VIEWER
) -> dict[str, Any]:
    """The registry row, if the principal holds ``needed`` in it.

    Raises:
        NotFoundError: no such registry, or one the principal may not read.
        PermissionDeniedError: readable, but a lower role than ``needed``.
    """
    row, role = _registry_and_role(conn, principal, names.check_name(name, "registry"))
    return _held("registry", name, row, role, needed)


def check_entity(conn: Connection, principal: Principal, entity: object) -> None:
    """W&B's rule for the entity a run is logged under (``init(entity=...)``): one's own
    user name or a team one belongs to; another user, or a team one is not in, is refused
    (admins may name any). modelbay holds one organisation and its projects are not kept
    per entity, so a name that is neither a user nor a team scopes nothing: it is kept as
    the run's label, as the W&B scripts written for another server name theirs.

    Raises:
        PermissionDeniedError: another user, or a team the principal is not in.
    """
    if not isinstance(entity, str) or principal.is_admin or entity == principal.name:
        return
    if store.entity_of(conn, entity, principal.user_id) == "other":
        raise PermissionDeniedError(
            f"entity {entity!r} is another user or a team you are not in: log under your "
            "own name or one of your teams",
            {"entity": entity},
        )


def require_project(
    conn: Connection, principal: Principal, name: str, needed: Role = Role.RESTRICTED_VIEWER
) -> dict[str, Any]:
    """The project row, if the principal holds ``needed`` in it.

    Raises:
        NotFoundError: no such project, or one the principal may not read.
        PermissionDeniedError: readable, but a lower role than ``needed``.
    """
    row, role = _project_and_role(conn, principal, names.check_project(name))
    return _held("project", name, row, role, needed)


def may_write_project(conn: Connection, principal: Principal, name: str) -> dict[str, Any] | None:
    """For the calls that create a project on first use: the project row when it exists and
    the principal is a member (None when it does not exist yet: the caller will create it
    and become its admin).

    Raises:
        NotFoundError, PermissionDeniedError: as :func:`require_project` with member.
    """
    row, role = _project_and_role(conn, principal, names.check_project(name))
    if row is None:
        return None
    return _held("project", name, row, role, Role.MEMBER)


def require_ref(
    conn: Connection, principal: Principal, ref: Ref, needed: Role = Role.RESTRICTED_VIEWER
) -> None:
    """Check the registry or project a reference lies in, before it is looked up, so that
    an unreadable one is "not found" whatever the rest of the reference says."""
    if principal.is_admin:
        return  # admin everywhere; the look-up that follows says what is missing
    if isinstance(ref, ArtifactRef):
        require_project(conn, principal, ref.project, needed)
    else:
        require_registry(conn, principal, ref.registry, needed)


def require_source(
    conn: Connection, principal: Principal, ref: Ref, needed: Role = Role.RESTRICTED_VIEWER
) -> Ref:
    """:func:`~modelbay.services.core.project_or_registry` then :func:`require_ref`, with
    the registry read once: a reference to an existing registry is checked against it; one
    to a missing registry may name a project ``X-registry``, which is checked instead.

    Raises:
        NotFoundError, PermissionDeniedError: as :func:`require_ref`.
    """
    if principal.is_admin:
        return project_or_registry(conn, ref)
    if isinstance(ref, RegistryRef):
        row, role = _registry_and_role(conn, principal, ref.registry)
        if row is not None:
            _held("registry", ref.registry, row, role, needed)
            return ref
        ref = project_or_registry(conn, ref)  # then refused as require_ref refuses it
    require_ref(conn, principal, ref, needed)
    return ref


def protected_pattern(conn: Connection, registry_id: int, alias: str) -> str | None:
    """The protected pattern (name or glob) that covers ``alias`` in a registry, if any."""
    for pattern in store.protected_patterns(conn, registry_id):
        if fnmatch.fnmatchcase(alias, pattern):
            return pattern
    return None


def require_alias_change(
    conn: Connection,
    principal: Principal,
    registry: dict[str, Any],
    alias: str,
    *,
    ref: str,
    moving: bool = True,
) -> None:
    """A change of ``alias`` in ``registry``: protected aliases need the registry's admin.
    ``moving``: the change points the alias at ``ref`` (a promotion request can ask for
    that); otherwise it removes the alias, or unlinks, renames or deletes what holds it.

    Raises:
        PermissionDeniedError: the alias is protected and the principal is not a registry
            admin; the message says how to request the move, or whom to ask otherwise.
    """
    pattern = protected_pattern(conn, registry["id"], alias)
    if pattern is None:
        return
    role = registry_role(conn, principal, registry)
    if role is not None and role >= Role.ADMIN:
        return
    details = {
        "registry": registry["name"],
        "alias": alias,
        "protected": pattern,
        "needed_role": Role.ADMIN.label,
    }
    said = f"alias {alias!r} is protected in registry {registry['name']!r}: only its admins add, move or remove it"
    if not moving:
        raise PermissionDeniedError(f"{said}; ask an admin of the registry", details)
    command = f'modelbay promote {shlex.quote(ref)} {shlex.quote(alias)} --reason "..."'
    raise PermissionDeniedError(
        f"{said}; request it with `{command}`", {**details, "request": command}
    )


def _member_info(row: dict[str, Any]) -> Info:
    return {k: row[k] for k in ("kind", "name", "role", "created_at")}


class AccessService:
    """Members and roles of registries and projects, teams, protected aliases, and the
    settings only a registry's or project's admin may change."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- members ----------------------------------------------------------------------------

    def _target(
        self,
        conn: Connection,
        principal: Principal,
        registry: str | None,
        project: str | None,
        needed: Role,
    ) -> tuple[dict[str, Any], str, str]:
        """The registry or project row, its kind and its subject for events."""
        if (registry is None) == (project is None):
            raise InvalidInputError("name exactly one of a registry or a project")
        if registry is not None:
            return (
                require_registry(conn, principal, registry, needed),
                "registry",
                f"{registry}-registry",
            )
        assert project is not None
        return require_project(conn, principal, project, needed), "project", project

    @staticmethod
    def _member(conn: Connection, user: str | None, team: str | None) -> dict[str, int | None]:
        if (user is None) == (team is None):
            raise InvalidInputError("name exactly one of a user or a team")
        if user is not None:
            uid = store.user_id(conn, names.check_name(user, "user"))
            if uid is None:
                raise NotFoundError(f"user {user!r} not found")
            return {"user": uid, "team": None}
        assert team is not None
        tid = store.team_id(conn, names.check_name(team, "team"))
        if tid is None:
            raise NotFoundError(f"team {team!r} not found")
        return {"user": None, "team": tid}

    def members(
        self, principal: Principal, *, registry: str | None = None, project: str | None = None
    ) -> list[Info]:
        """The users and teams holding a role in a registry or project.

        Raises:
            NotFoundError: no such registry or project the principal may read.
        """
        with self.db.read() as conn:
            row, kind, _ = self._target(conn, principal, registry, project, Role.RESTRICTED_VIEWER)
            rows = store.list_memberships(conn, **{f"{kind}_id": row["id"]})
            return [_member_info(r) for r in rows]

    def add_member(
        self,
        principal: Principal,
        *,
        registry: str | None = None,
        project: str | None = None,
        user: str | None = None,
        team: str | None = None,
        role: str,
    ) -> Info:
        """Give a user or a team a role in a registry or project (changing the one it had).

        Raises:
            InvalidInputError: an unknown role, or not exactly one user or team.
            NotFoundError: no such registry, project, user or team (or not readable).
            PermissionDeniedError: the principal is not the registry's or project's admin.
        """
        new_role = check_role(role)
        with self.db.write() as conn:
            row, kind, subject = self._target(conn, principal, registry, project, Role.ADMIN)
            member = self._member(conn, user, team)
            before = store.set_membership(
                conn, **{f"{kind}_id": row["id"]}, **member, role=new_role.label, now=now()
            )
            who = {"user": user} if user is not None else {"team": team}
            if before != new_role.label:
                record(
                    conn,
                    principal,
                    "member.added" if before is None else "member.updated",
                    subject,
                    **{f"{kind}_id": row["id"]},
                    before={**who, "role": before} if before else None,
                    after={**who, "role": new_role.label},
                )
            found = [
                r
                for r in store.list_memberships(conn, **{f"{kind}_id": row["id"]})
                if r["name"] == (user or team) and r["kind"] == ("user" if user else "team")
            ]
            return _member_info(found[0])

    def remove_member(
        self,
        principal: Principal,
        *,
        registry: str | None = None,
        project: str | None = None,
        user: str | None = None,
        team: str | None = None,
    ) -> None:
        """Take a user's or team's role away.

        Raises:
            NotFoundError: no such registry, project, user, team or membership.
            PermissionDeniedError: the principal is not the registry's or project's admin.
        """
        with self.db.write() as conn:
            row, kind, subject = self._target(conn, principal, registry, project, Role.ADMIN)
            member = self._member(conn, user, team)
            before = store.remove_membership(conn, **{f"{kind}_id": row["id"]}, **member)
            if before is None:
                raise NotFoundError(f"{user or team!r} is not a member of {kind} {subject!r}")
            who = {"user": user} if user is not None else {"team": team}
            record(
                conn,
                principal,
                "member.removed",
                subject,
                **{f"{kind}_id": row["id"]},
                before={**who, "role": before},
            )

    def user(self, principal: Principal, user: str) -> Info:
        """One user by name: whether an organization admin, and their teams (any signed-in
        user may look one up, to name them as a member).

        Raises:
            NotFoundError: no such user.
        """
        name = names.check_name(user, "user")
        with self.db.read() as conn:
            row = auth_store.get_user(conn, name)
            if row is None:
                raise NotFoundError(f"user {user!r} not found")
            teams = [t["name"] for t in store.list_teams(conn) if name in t["members"]]
        return {"name": row["name"], "is_admin": bool(row["is_admin"]), "teams": teams}

    # -- teams ------------------------------------------------------------------------------

    def teams(self, principal: Principal) -> list[Info]:
        """Every team, its members and its admins."""
        with self.db.read() as conn:
            return [_team_info(t) for t in store.list_teams(conn)]

    def create_team(self, principal: Principal, name: str) -> Info:
        """Create a team (organization admins only).

        Raises:
            PermissionDeniedError: not an organization admin.
            AlreadyExistsError: the name is taken.
        """
        name = names.check_name(name, "team")
        if not principal.is_admin:
            raise PermissionDeniedError("only organization admins create teams")
        t = now()
        with self.db.write() as conn:
            if store.team_id(conn, name) is not None:
                raise AlreadyExistsError(f"team {name!r} exists already")
            store.insert_team(conn, name, t)
            record(conn, principal, "team.created", f"team:{name}")
        return {"name": name, "members": [], "admins": [], "created_at": t}

    def add_team_member(
        self, principal: Principal, team: str, user: str, role: str | None = None
    ) -> Info:
        """Add a user to a team as ``role`` (``admin`` or ``member``; None: ``member``, or
        the role they hold), or change their role. For organization admins and the team's
        admins.

        Raises:
            InvalidInputError: an unknown role.
            PermissionDeniedError: neither an organization admin nor an admin of the team.
            NotFoundError: no such team or user.
        """
        if role not in (None, "admin", "member"):
            raise InvalidInputError(f"invalid team role {role!r}: use admin or member")
        with self.db.write() as conn:
            team_id = self._managed_team(conn, principal, team)
            uid = self._member(conn, user, None)["user"]
            assert uid is not None
            had, holds = store.add_team_member(conn, team_id, uid, role)
            if had is None:
                after = {"user": user, "role": holds}
                record(conn, principal, "team.member_added", f"team:{team}", after=after)
            elif had != holds:
                before, after = {"user": user, "role": had}, {"user": user, "role": holds}
                record(
                    conn,
                    principal,
                    "team.member_role_changed",
                    f"team:{team}",
                    before=before,
                    after=after,
                )
        return self._team(team)

    def remove_team_member(self, principal: Principal, team: str, user: str) -> None:
        """Remove a user from a team (organization admins and the team's admins).

        Raises:
            PermissionDeniedError: neither an organization admin nor an admin of the team.
            NotFoundError: no such team, user, or the user is not in the team.
        """
        with self.db.write() as conn:
            team_id = self._managed_team(conn, principal, team)
            uid = self._member(conn, user, None)["user"]
            assert uid is not None
            if not store.remove_team_member(conn, team_id, uid):
                raise NotFoundError(f"user {user!r} is not in team {team!r}")
            record(conn, principal, "team.member_removed", f"team:{team}", before={"user": user})

    def _managed_team(self, conn: Connection, principal: Principal, team: str) -> int:
        """The id of ``team``, which ``principal`` manages (an organization admin or an
        admin of the team).

        Raises:
            NotFoundError: no such team.
            PermissionDeniedError: not one of its managers.
        """
        team_id = self._member(conn, None, team)["team"]
        assert team_id is not None
        if not principal.is_admin and store.team_role(conn, team_id, principal.user_id) != "admin":
            raise PermissionDeniedError(
                f"only organization admins and admins of team {team!r} change its members"
            )
        return team_id

    def _team(self, name: str) -> Info:
        with self.db.read() as conn:
            for t in store.list_teams(conn):
                if t["name"] == name:
                    return _team_info(t)
        raise NotFoundError(f"team {name!r} not found")

    # -- protected aliases ------------------------------------------------------------------

    def protected(self, principal: Principal, registry: str) -> list[str]:
        """A registry's protected alias names and patterns.

        Raises:
            NotFoundError: no such registry the principal may read.
        """
        with self.db.read() as conn:
            row = require_registry(conn, principal, registry)
            return store.protected_patterns(conn, row["id"])

    def protect(self, principal: Principal, registry: str, pattern: str) -> list[str]:
        """Protect an alias name or glob (``prod-*``): only registry admins may then add, move
        or remove an alias it covers. Returns the registry's patterns.

        Raises:
            InvalidNameError: a malformed pattern, or ``latest`` (which every link moves).
            PermissionDeniedError: not the registry's admin.
        """
        pattern = check_pattern(pattern)
        with self.db.write() as conn:
            row = require_registry(conn, principal, registry, Role.ADMIN)
            if store.add_protected(conn, row["id"], pattern, now()):
                record(
                    conn,
                    principal,
                    "alias.protected",
                    f"{registry}-registry",
                    registry_id=row["id"],
                    after={"pattern": pattern},
                )
            return store.protected_patterns(conn, row["id"])

    def unprotect(self, principal: Principal, registry: str, pattern: str) -> None:
        """Stop protecting an alias name or pattern.

        Raises:
            NotFoundError: the pattern is not protected.
            PermissionDeniedError: not the registry's admin.
        """
        pattern = check_pattern(pattern)
        with self.db.write() as conn:
            row = require_registry(conn, principal, registry, Role.ADMIN)
            if not store.remove_protected(conn, row["id"], pattern):
                raise NotFoundError(f"alias {pattern!r} is not protected in {registry!r}")
            record(
                conn,
                principal,
                "alias.unprotected",
                f"{registry}-registry",
                registry_id=row["id"],
                before={"pattern": pattern},
            )

    # -- settings ---------------------------------------------------------------------------

    def update_registry(
        self,
        principal: Principal,
        registry: str,
        *,
        description: Any = ...,
        visibility: Any = ...,
        artifact_types: Any = ...,
        required_approvals: Any = ...,
    ) -> Info:
        """Change a registry's description, visibility, accepted types or required approvals
        (its admins only); returns what it holds after.

        Raises:
            InvalidInputError: a bad value.
            PermissionDeniedError: not the registry's admin.
        """
        from modelbay.services.registry import check_type_pattern

        changes: dict[str, Any] = {}
        if description is not ...:
            changes["description"] = names.check_description(description)
        if visibility is not ...:
            changes["visibility"] = check_visibility(visibility)
        if artifact_types is not ...:
            if artifact_types is not None and (
                not isinstance(artifact_types, list) or not artifact_types
            ):
                raise InvalidInputError("artifact_types must be a non-empty list of type names")
            changes["artifact_types"] = (
                [check_type_pattern(t) for t in artifact_types] if artifact_types else None
            )
        if required_approvals is not ...:
            if (
                not isinstance(required_approvals, int)
                or isinstance(required_approvals, bool)
                or not 1 <= required_approvals <= 100
            ):
                raise InvalidInputError("required_approvals must be from 1 to 100")
            changes["required_approvals"] = required_approvals
        with self.db.write() as conn:
            row = require_registry(conn, principal, registry, Role.ADMIN)
            before = {k: row[k] for k in changes if row[k] != changes[k]}
            after = {k: changes[k] for k in before}
            if after:
                store.update_registry(conn, row["id"], **after)
                record(
                    conn,
                    principal,
                    "registry.updated",
                    f"{registry}-registry",
                    registry_id=row["id"],
                    before=before,
                    after=after,
                )
            updated = registry_store.get_registry(conn, row["name"])
            assert updated is not None
            return {
                "name": updated["name"],
                "description": updated["description"],
                "artifact_types": updated["artifact_types"],
                "visibility": updated["visibility"],
                "created_at": updated["created_at"],
                "required_approvals": updated["required_approvals"],
                "protected_aliases": store.protected_patterns(conn, row["id"]),
                "role": Role.ADMIN.label,
            }

    def get_project(self, principal: Principal, project: str) -> Info:
        """A project's settings and the principal's role in it.

        Raises:
            NotFoundError: no such project the principal may read.
        """
        with self.db.read() as conn:
            row = require_project(conn, principal, project)
            return self._project_info(conn, principal, row)

    def update_project(self, principal: Principal, project: str, visibility: str) -> Info:
        """Make a project ``organization``-visible or ``restricted`` (its admins only).

        Raises:
            PermissionDeniedError: not the project's admin.
        """
        visibility = check_visibility(visibility)
        with self.db.write() as conn:
            row = require_project(conn, principal, project, Role.ADMIN)
            if row["visibility"] != visibility:
                store.set_project_visibility(conn, row["id"], visibility)
                record(
                    conn,
                    principal,
                    "project.updated",
                    project,
                    project_id=row["id"],
                    before={"visibility": row["visibility"]},
                    after={"visibility": visibility},
                )
                row = {**row, "visibility": visibility}
            return self._project_info(conn, principal, row)

    @staticmethod
    def _project_info(conn: Connection, principal: Principal, row: dict[str, Any]) -> Info:
        creator = store.user_name(conn, row["created_by"]) if row["created_by"] else None
        role = project_role(conn, principal, row)
        return {
            "name": row["name"],
            "visibility": row["visibility"],
            "created_at": row["created_at"],
            "created_by": creator,
            "role": role.label if role else None,
        }


def check_pattern(value: object) -> str:
    """A protected alias name or glob (``*`` and ``?`` wildcards).

    Raises:
        InvalidNameError: malformed, or ``latest`` (every link moves it).
    """
    if not isinstance(value, str):
        raise InvalidInputError("an alias pattern is a string")
    names.check_alias(value.replace("*", "x").replace("?", "x"))
    if fnmatch.fnmatchcase(LATEST, value):
        raise InvalidInputError(f"{value!r} covers 'latest', which every link moves")
    return value


def _team_info(team: dict[str, Any]) -> Info:
    return {
        "name": team["name"],
        "members": team["members"],
        "admins": team["admins"],
        "created_at": team["created_at"],
    }
