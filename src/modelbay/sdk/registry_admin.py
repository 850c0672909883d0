"""W&B's calls for people and registry access: ``Api().user(name)``, ``Api().team(name)``,
``Api().create_registry(name, visibility=...)``, and a registry's ``members()``,
``add_members``, ``remove_members`` and ``update_member``.

Kept apart from :mod:`modelbay.sdk.api`: ``Api`` and ``Registry`` take these calls from
:class:`AccessCalls` and :class:`RegistryAccess`. W&B names a member by a ``User`` or a
``Team`` object, a ``UserMember``/``TeamMember`` from ``members()``, or an id string;
modelbay's id strings are ``user:NAME`` and ``team:NAME``, and a bare name is looked up
(a user first), so that ``registry.add_members("alice")`` does what it says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Union

from modelbay.contract import entities as e
from modelbay.contract import operations as ops
from modelbay.contract import people
from modelbay.contract import requests as rq
from modelbay.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from modelbay.sdk.transport import Transport

if TYPE_CHECKING:
    from modelbay.sdk.api import Registry

ROLES = ("admin", "member", "viewer", "restricted_viewer")
#: The role ``add_members`` gives a user or team it adds (W&B's default since its server
#: v0.75); ``update_member`` changes it.
DEFAULT_ROLE = "restricted_viewer"


class User:
    """A user (W&B's ``wandb.apis.public.User``, as far as modelbay has the same facts)."""

    def __init__(self, transport: Transport, info: people.User) -> None:
        self._transport = transport
        self._info = info

    name = property(lambda self: self._info.name)
    username = property(lambda self: self._info.name, doc="W&B's name for ``name``.")
    admin = property(lambda self: self._info.is_admin, doc="An organization admin.")
    teams = property(lambda self: list(self._info.teams), doc="Names of the user's teams.")

    @property
    def id(self) -> str:
        """The id that names this user as a registry member: ``user:NAME``."""
        return f"user:{self.name}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, User) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("user", self.name))

    def __repr__(self) -> str:
        return f"<User {self.name}>"


class Team:
    """A team: a named group of users that can hold a role in a registry or project."""

    def __init__(self, transport: Transport, info: e.Team) -> None:
        self._transport = transport
        self._info = info

    name = property(lambda self: self._info.name)
    members = property(lambda self: list(self._info.members), doc="Names of its users.")
    admins = property(
        lambda self: list(self._info.admins),
        doc="Names of its admins (who manage its members and its service accounts' keys).",
    )

    @property
    def id(self) -> str:
        """The id that names this team as a registry member: ``team:NAME``."""
        return f"team:{self.name}"

    @classmethod
    def create(cls, api: AccessCalls, team: str, admin_username: str | None = None) -> Team:
        """Create a team (organization admins only); ``admin_username`` is added to it.

        Raises:
            PermissionDeniedError: not an organization admin.
            AlreadyExistsError: a team of that name exists.
        """
        return api.create_team(team, admin_username)

    def invite(self, username_or_email: str, admin: bool = False) -> bool:
        """Add a user to the team, as one of its admins with ``admin`` (organization admins
        and the team's admins); False when they were in it already.

        Raises:
            NotFoundError: no such user.
            PermissionDeniedError: neither an organization admin nor an admin of the team.
        """
        name = user_name(username_or_email)
        if name in self._info.members:
            return False
        request = rq.TeamMemberAdd(team=self.name, user=name, role="admin" if admin else None)
        self._info = self._transport.call(ops.ADD_TEAM_MEMBER, request)
        return True

    def remove(self, username: str) -> None:
        """Take a user out of the team (organization admins and the team's admins).

        Raises:
            NotFoundError: no such user, or not in the team.
        """
        request = rq.TeamMember(team=self.name, user=username)
        self._transport.call(ops.REMOVE_TEAM_MEMBER, request)
        self._info = self._info.model_copy(
            update={
                "members": [m for m in self._info.members if m != username],
                "admins": [m for m in self._info.admins if m != username],
            }
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Team) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("team", self.name))

    def __repr__(self) -> str:
        return f"<Team {self.name}>"


@dataclass(frozen=True)
class UserMember:
    """A user's own role in a registry, as ``Registry.members()`` lists it."""

    user: User
    role: str
    kind: Literal["User"] = "User"


@dataclass(frozen=True)
class TeamMember:
    """A team's role in a registry, as ``Registry.members()`` lists it."""

    team: Team
    role: str
    kind: Literal["Entity"] = "Entity"


Member = Union[User, Team, UserMember, TeamMember, str]  # noqa: UP007  # a runtime alias


def user_name(username_or_email: str) -> str:
    """The modelbay user a W&B user name or email names: modelbay users have names only, so
    an email stands for the user named by its local part (``ann@example.com`` -> ``ann``)."""
    return username_or_email.partition("@")[0] if "@" in username_or_email else username_or_email


def find_user(transport: Transport, name: str) -> User | None:
    """The user of that name, or None."""
    try:
        return User(transport, transport.call(people.USER, people.UserPath(user=name)))
    except NotFoundError:
        return None


def find_team(transport: Transport, name: str) -> Team | None:
    """The team of that name, or None."""
    for team in transport.call(ops.TEAMS, rq.NoArgs()).teams:
        if team.name == name:
            return Team(transport, team)
    return None


def member_name(transport: Transport, member: Member) -> tuple[str, str]:
    """``("user" | "team", name)`` of a member given any way W&B allows.

    Raises:
        NotFoundError: a bare name that is neither a user nor a team.
        InvalidInputError: a bare name that is both (write ``user:NAME`` or ``team:NAME``),
            or something that is not a member.
    """
    if isinstance(member, UserMember):
        member = member.user
    elif isinstance(member, TeamMember):
        member = member.team
    if isinstance(member, User):
        return "user", member.name
    if isinstance(member, Team):
        return "team", member.name
    if not isinstance(member, str):
        raise InvalidInputError(
            f"a member is a User, a Team, or 'user:NAME' / 'team:NAME', not {type(member).__name__}"
        )
    kind, sep, name = member.partition(":")
    if sep and kind in ("user", "team"):
        return kind, name
    is_user = find_user(transport, member) is not None
    is_team = find_team(transport, member) is not None
    if is_user and is_team:
        raise InvalidInputError(
            f"{member!r} is both a user and a team: write 'user:{member}' or 'team:{member}'"
        )
    if not (is_user or is_team):
        raise NotFoundError(f"no user or team named {member!r}")
    return ("user" if is_user else "team"), member


def check_role(role: object) -> str:
    """A role as W&B writes it (``"admin"``, a ``MemberRole``, any case).

    Raises:
        InvalidInputError: not one of admin, member, viewer, restricted_viewer.
    """
    text = str(getattr(role, "value", role)).lower().replace(" ", "_").replace("-", "_")
    if text not in ROLES:
        raise InvalidInputError(
            f"invalid role {str(role)[:40]!r}: use admin, member, viewer or restricted_viewer"
        )
    return text


class RegistryAccess:
    """Members and roles of a registry; mixed into :class:`modelbay.sdk.api.Registry`."""

    _transport: Transport
    name: Any

    def members(self) -> list[UserMember | TeamMember]:
        """The users and teams holding a role in this registry (users first)."""
        return [*self.user_members(), *self.team_members()]

    def _member_rows(self) -> list[e.Member]:
        request = rq.RegistryName(registry=self.name)
        return list(self._transport.call(ops.REGISTRY_MEMBERS, request).members)

    def user_members(self) -> list[UserMember]:
        out = []
        for row in self._member_rows():
            if row.kind == "user":
                user = find_user(self._transport, row.name)
                if user is not None:
                    out.append(UserMember(user, row.role))
        return out

    def team_members(self) -> list[TeamMember]:
        teams = {t.name: t for t in self._transport.call(ops.TEAMS, rq.NoArgs()).teams}
        return [
            TeamMember(Team(self._transport, teams[row.name]), row.role)
            for row in self._member_rows()
            if row.kind == "team" and row.name in teams
        ]

    def add_members(self, *members: Member) -> Registry:
        """Give users or teams the restricted viewer role in this registry (registry admins
        only); one that holds a role already keeps it. Returns the registry, for chaining.

        Raises:
            TypeError: no member given.
            NotFoundError: no such user or team.
            PermissionDeniedError: not the registry's admin.
        """
        if not members:
            raise TypeError("add_members() needs at least one user or team")
        present = {(m.kind, m.name) for m in self._member_rows()}
        for kind, name in self._names(members):
            if (kind, name) not in present:
                self._set_role(kind, name, DEFAULT_ROLE)
        return self  # type: ignore[return-value]  # mixed into Registry

    def remove_members(self, *members: Member) -> Registry:
        """Take users' or teams' roles in this registry away (registry admins only).

        Raises:
            TypeError: no member given.
            NotFoundError: no such user or team, or one that holds no role here.
            PermissionDeniedError: not the registry's admin.
        """
        if not members:
            raise TypeError("remove_members() needs at least one user or team")
        for kind, name in self._names(members):
            request = rq.RegistryMember(registry=self.name, **{kind: name})
            self._transport.call(ops.REMOVE_REGISTRY_MEMBER, request)
        return self  # type: ignore[return-value]

    def update_member(self, member: Member, role: object) -> Registry:
        """Set a user's or team's role in this registry (registry admins only): admin,
        member, viewer or restricted_viewer.

        Raises:
            InvalidInputError: an unknown role.
            NotFoundError: no such user or team.
            PermissionDeniedError: not the registry's admin.
        """
        text = check_role(role)
        kind, name = member_name(self._transport, member)
        self._set_role(kind, name, text)
        return self  # type: ignore[return-value]

    def _names(self, members: Iterable[Member]) -> list[tuple[str, str]]:
        return [member_name(self._transport, m) for m in members]

    def _set_role(self, kind: str, name: str, role: str) -> None:
        request = rq.RegistryMemberAdd(
            registry=self.name,
            role=role,  # type: ignore[arg-type]  # checked by check_role and the model
            **{kind: name},
        )
        self._transport.call(ops.ADD_REGISTRY_MEMBER, request)


class AccessCalls:
    """``Api().user``, ``team``, ``create_team`` and ``create_registry``; mixed into
    :class:`modelbay.sdk.api.Api`."""

    _transport: Transport

    def user(
        self, username_or_email: str | None = None, *, username: str | None = None
    ) -> User | None:
        """The user of that name, or None (W&B's docs also write ``username=``)."""
        name = username_or_email if username_or_email is not None else username
        if not name:
            raise TypeError("user() needs a user name")
        return find_user(self._transport, user_name(name))

    def create_user(self, email: str, admin: bool | None = False) -> User:
        """Create a user (organization admins only), named by the email's local part
        (``ann@example.com`` -> ``ann``). As W&B's, it returns the user, not a key: the
        first key the server makes for them is not shown here.

        Raises:
            PermissionDeniedError: not an organization admin.
            AlreadyExistsError: a user of that name exists.
            InvalidNameError: the name is not a valid user name.
        """
        request = rq.UserCreate(name=user_name(email), is_admin=bool(admin))
        created = self._transport.call(ops.CREATE_USER, request)
        found = find_user(self._transport, created.user)
        assert found is not None
        return found

    def team(self, team: str | None = None, *, name: str | None = None) -> Team:
        """The team of that name (W&B's docs also write ``name=``).

        Raises:
            NotFoundError: no such team.
        """
        wanted = team if team is not None else name
        if not wanted:
            raise TypeError("team() needs a team name")
        found = find_team(self._transport, wanted)
        if found is None:
            raise NotFoundError(f"team {wanted!r} not found")
        return found

    def create_team(self, team: str, admin_username: str | None = None) -> Team:
        """Create a team (organization admins only); ``admin_username`` joins it at once, as
        the team's admin.
        Like W&B's, creating a team that exists returns it.

        Raises:
            PermissionDeniedError: not an organization admin.
            NotFoundError: no user ``admin_username``.
        """
        try:
            info = self._transport.call(ops.CREATE_TEAM, rq.TeamCreate(name=team))
        except AlreadyExistsError:
            return self.team(team)
        created = Team(self._transport, info)
        if admin_username:
            created.invite(admin_username, admin=True)
        return created

    def create_registry(
        self,
        name: str,
        visibility: Literal["organization", "restricted"] = "organization",
        organization: str | None = None,
        description: str | None = None,
        artifact_types: list[str] | None = None,
    ) -> Registry:
        """Create a custom registry (organization admins only): ``organization``-visible
        (every user at least a viewer) or ``restricted`` (its members only). modelbay has
        one organization, so ``organization`` is accepted and not used.

        Raises:
            PermissionDeniedError: not an organization admin.
            AlreadyExistsError: a registry of that name exists.
            InvalidInputError: a bad name, visibility or artifact type.
        """
        from modelbay.sdk.api import Registry

        request = rq.RegistryCreate(
            name=name,
            description=description,
            artifact_types=artifact_types,
            visibility=visibility,
        )
        return Registry(self._transport, self._transport.call(ops.CREATE_REGISTRY, request))
