"""W&B's registry-access calls in the SDK (issue #15), on both transports (fixture ``mb``):
``Api().create_registry(name, visibility=...)``, ``Api().user``, ``team``, ``create_team``,
``create_user`` and a registry's ``members``, ``add_members``, ``remove_members`` and
``update_member``, with what they leave behind checked."""

from __future__ import annotations

from typing import Any

import pytest

from modelbay import Api
from modelbay.errors import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
)
from modelbay.sdk.registry_admin import Team, TeamMember, User, UserMember


def roles(registry: Any) -> dict[tuple[str, str], str]:
    out = {}
    for m in registry.members():
        if isinstance(m, UserMember):
            out[("user", m.user.name)] = m.role
        else:
            assert isinstance(m, TeamMember)
            out[("team", m.team.name)] = m.role
    return out


def test_create_registry_takes_wandbs_arguments(mb: Any, uniq: str) -> None:
    api = Api()
    made = api.create_registry(f"r{uniq}", "restricted", "my-org", "evals", ["model"])
    assert (made.name, made.visibility, made.description) == (f"r{uniq}", "restricted", "evals")
    assert api.registry(f"r{uniq}", organization="my-org").artifact_types == ["model"]
    assert api.create_registry(f"o{uniq}").visibility == "organization"
    with pytest.raises(AlreadyExistsError):
        api.create_registry(f"r{uniq}", visibility="restricted")
    with pytest.raises(InvalidInputError):
        api.create_registry(f"x{uniq}", visibility="secret")  # type: ignore[arg-type]


def test_users_and_teams(mb: Any, uniq: str) -> None:
    api = Api()
    assert api.user(f"nobody{uniq}") is None
    ann = api.create_user(f"ann{uniq}@example.com")
    assert isinstance(ann, User) and ann.username == f"ann{uniq}" and not ann.admin
    assert api.user(f"ann{uniq}@example.com") == ann == api.user(username=f"ann{uniq}")
    team = api.create_team(f"t{uniq}", admin_username=f"ann{uniq}")
    assert isinstance(team, Team) and team.members == [f"ann{uniq}"]
    assert team.admins == [f"ann{uniq}"]  # W&B's admin_username: the team's admin
    assert api.create_team(f"t{uniq}") == team  # as W&B's: the existing team
    assert api.user(f"ann{uniq}").teams == [f"t{uniq}"]
    assert team.invite(f"ann{uniq}") is False  # in it already
    with pytest.raises(NotFoundError):
        api.team(name=f"none{uniq}")
    with pytest.raises(NotFoundError):
        team.invite(f"nobody{uniq}@example.com")
    team.remove(f"ann{uniq}")
    assert api.team(f"t{uniq}").members == []


def test_add_update_remove_members(mb: Any, uniq: str) -> None:
    api = Api()
    registry = api.create_registry(f"r{uniq}", visibility="restricted")
    ann = api.create_user(f"ann{uniq}@example.com")
    bob = api.create_user(f"bob{uniq}@example.com")
    team = api.create_team(f"t{uniq}")
    assert registry.members() == []
    assert registry.add_members(ann, f"bob{uniq}", team) is registry
    assert roles(registry) == {
        ("user", f"ann{uniq}"): "restricted_viewer",
        ("user", f"bob{uniq}"): "restricted_viewer",
        ("team", f"t{uniq}"): "restricted_viewer",
    }
    registry.update_member(ann, role="admin").update_member(f"team:t{uniq}", "member")
    registry.add_members(ann)  # holds a role already: keeps it
    assert roles(registry)[("user", f"ann{uniq}")] == "admin"
    assert roles(registry)[("team", f"t{uniq}")] == "member"
    for member in registry.user_members():
        registry.update_member(member.user, role="viewer")
    assert {r for (kind, _), r in roles(registry).items() if kind == "user"} == {"viewer"}
    registry.remove_members(bob, *registry.team_members())
    assert roles(registry) == {("user", f"ann{uniq}"): "viewer"}
    with pytest.raises(NotFoundError):
        registry.remove_members(bob)  # not a member any more
    with pytest.raises(InvalidInputError):
        registry.update_member(ann, role="owner")
    with pytest.raises(NotFoundError):
        registry.add_members(f"nobody{uniq}")
    with pytest.raises(TypeError):
        registry.add_members()


def test_a_bare_name_that_is_both_a_user_and_a_team_must_say_which(mb: Any, uniq: str) -> None:
    api = Api()
    registry = api.create_registry(f"r{uniq}")
    api.create_user(f"x{uniq}@example.com")
    api.create_team(f"x{uniq}")
    with pytest.raises(InvalidInputError, match=f"'user:x{uniq}' or 'team:x{uniq}'"):
        registry.add_members(f"x{uniq}")
    registry.add_members(f"team:x{uniq}")
    assert roles(registry) == {("team", f"x{uniq}"): "restricted_viewer"}
