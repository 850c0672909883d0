"""Team admins: a team has admins (maintainers) and members; only its admins and
organization admins change its membership, and only they manage the keys of the team's
service accounts. SQLite and PostgreSQL (``db_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelbay.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from modelbay.services import Principal, Services
from modelbay.settings import Settings


@pytest.fixture
def svc(db_url: str, tmp_path: Path) -> Iterator[Services]:
    services = Services.open(Settings(data_dir=tmp_path, db_url=db_url))
    try:
        yield services
    finally:
        services.close()


def user(svc: Services, admin: Principal, name: str) -> Principal:
    return svc.auth.authenticate(svc.auth.create_user(admin, name)["key"])


def test_team_admins_manage_the_team_and_members_do_not(svc: Services) -> None:
    root = svc.auth.local_principal("root")
    ann, bob, cy = (user(svc, root, n) for n in ("ann", "bob", "cy"))
    svc.access.create_team(root, "ml")
    made = svc.access.add_team_member(root, "ml", "ann", role="admin")
    assert made["members"] == ["ann"] and made["admins"] == ["ann"]

    added = svc.access.add_team_member(ann, "ml", "bob")  # a team admin adds a member
    assert added["members"] == ["ann", "bob"] and added["admins"] == ["ann"]
    with pytest.raises(PermissionDeniedError, match="admins of team 'ml'"):
        svc.access.add_team_member(bob, "ml", "cy")  # a member does not
    with pytest.raises(PermissionDeniedError):
        svc.access.remove_team_member(bob, "ml", "ann")
    with pytest.raises(PermissionDeniedError):
        svc.access.add_team_member(cy, "ml", "cy", role="admin")  # nor an outsider, for self

    # Adding again keeps the role unless one is given; a team admin changes roles.
    assert svc.access.add_team_member(ann, "ml", "bob")["admins"] == ["ann"]
    assert svc.access.add_team_member(ann, "ml", "bob", role="admin")["admins"] == ["ann", "bob"]
    svc.access.add_team_member(bob, "ml", "cy")
    svc.access.remove_team_member(bob, "ml", "ann")
    listed = {t["name"]: t for t in svc.access.teams(cy)}["ml"]
    assert listed["members"] == ["bob", "cy"] and listed["admins"] == ["bob"]
    with pytest.raises(InvalidInputError):
        svc.access.add_team_member(root, "ml", "cy", role="owner")
    with pytest.raises(NotFoundError):
        svc.access.add_team_member(bob, "none", "cy")

    actions = [
        (e["action"], e.get("before"), e.get("after"))
        for e in svc.audit.events(root, subject="team:ml", limit=20)["events"]
    ]
    assert (
        "team.member_role_changed",
        {"user": "bob", "role": "member"},
        {
            "user": "bob",
            "role": "admin",
        },
    ) in actions
    assert ("team.member_removed", {"user": "ann"}, None) in actions


def test_only_team_admins_manage_a_service_accounts_keys(svc: Services) -> None:
    root = svc.auth.local_principal("root")
    ann, bob = user(svc, root, "ann"), user(svc, root, "bob")
    svc.access.create_team(root, "ci-team")
    svc.access.add_team_member(root, "ci-team", "ann", role="admin")
    svc.access.add_team_member(root, "ci-team", "bob")
    svc.auth.create_service_account(root, "ci", "ci-team")
    with pytest.raises(NotFoundError):
        svc.auth.create_key(bob, user="ci")  # a plain member: as if there were no account
    key = svc.auth.create_key(ann, user="ci", name="gh")
    svc.access.add_team_member(ann, "ci-team", "bob", role="admin")
    svc.auth.revoke_key(bob, key["id"])  # an admin of the team now
    assert {k["name"]: k["state"] for k in svc.auth.list_keys(bob, user="ci")}["gh"] == "revoked"
    svc.access.add_team_member(ann, "ci-team", "bob", role="member")
    with pytest.raises(NotFoundError):
        svc.auth.list_keys(bob, user="ci")
