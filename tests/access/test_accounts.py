"""Keys, service accounts, passwords, sessions, sign-in links, the sign-in throttle and the
audit log at the service level, on SQLite and PostgreSQL (``db_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelbay.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from modelbay.services import Principal, Services
from modelbay.settings import Settings


@pytest.fixture
def svc(db_url: str, tmp_path: Path) -> Iterator[Services]:
    services = Services.open(Settings(data_dir=tmp_path, db_url=db_url))
    try:
        yield services
    finally:
        services.close()


def make_user(svc: Services, admin: Principal, name: str) -> tuple[Principal, str]:
    key = svc.auth.create_user(admin, name)["key"]
    return svc.auth.authenticate(key), key


def test_adding_the_same_member_twice_updates_it(svc: Services) -> None:
    admin = svc.auth.local_principal("root")
    make_user(svc, admin, "alice")
    svc.access.create_team(admin, "ml")
    for _ in range(2):
        svc.access.add_member(admin, registry="model", user="alice", role="viewer")
        svc.access.add_member(admin, registry="model", team="ml", role="member")
        svc.access.add_team_member(admin, "ml", "alice")
    changed = svc.access.add_member(admin, registry="model", user="alice", role="member")
    assert changed["role"] == "member"
    members = svc.access.members(admin, registry="model")
    assert sorted((m["kind"], m["name"], m["role"]) for m in members) == [
        ("team", "ml", "member"),
        ("user", "alice", "member"),
    ]


def test_adding_a_member_from_many_threads_at_once_never_fails(svc: Services) -> None:
    """Two admins (or a double-submitted form) adding the same member at once: each call
    answers the membership; on PostgreSQL the second insert used to fail with a 500."""
    from concurrent.futures import ThreadPoolExecutor

    admin = svc.auth.local_principal("root")
    svc.access.create_team(admin, "ml")
    names = [f"u{i}" for i in range(12)]
    for name in names:
        make_user(svc, admin, name)

    def add(name: str) -> tuple[str, str]:
        info = svc.access.add_member(admin, registry="model", user=name, role="viewer")
        team = svc.access.add_team_member(admin, "ml", name)
        return info["role"], str(team["name"])

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(add, names * 4))
    assert set(answers) == {("viewer", "ml")}
    members = svc.access.members(admin, registry="model")
    assert sorted(m["name"] for m in members if m["kind"] == "user") == sorted(names)


def test_keys_are_named_expire_and_are_revoked_by_their_owner_or_an_admin(svc: Services) -> None:
    admin = svc.auth.local_principal("root")
    alice, _ = make_user(svc, admin, "alice")
    bob, _ = make_user(svc, admin, "bob")
    made = svc.auth.create_key(alice, name="laptop", expires_in=3600)
    assert made["name"] == "laptop" and made["state"] == "active" and made["key"].startswith("mb_")
    assert svc.auth.authenticate(made["key"]) == alice
    short = svc.auth.create_key(alice, name="gone", expires_in=1e-6)
    with pytest.raises(AuthenticationError):
        svc.auth.authenticate(short["key"])
    states = {k["name"]: k["state"] for k in svc.auth.list_keys(alice)}
    assert states["gone"] == "expired" and states["laptop"] == "active"
    assert all("key" not in k for k in svc.auth.list_keys(alice))

    # Bob neither sees nor revokes Alice's keys; it is as if there were none.
    with pytest.raises(NotFoundError):
        svc.auth.revoke_key(bob, made["id"])
    with pytest.raises(NotFoundError):
        svc.auth.list_keys(bob, user="alice")
    with pytest.raises(PermissionDeniedError):
        svc.auth.list_keys(bob, all_users=True)
    every = svc.auth.list_keys(admin, all_users=True)
    assert {"alice", "bob"} <= {k["user"] for k in every}
    svc.auth.revoke_key(admin, made["id"])
    with pytest.raises(AuthenticationError):
        svc.auth.authenticate(made["key"])
    assert {k["name"]: k["state"] for k in svc.auth.list_keys(alice)}["laptop"] == "revoked"
    with pytest.raises(InvalidInputError):
        svc.auth.create_key(alice, expires_in=-5)


def test_a_service_account_has_no_password_and_its_team_admins_manage_its_keys(
    svc: Services,
) -> None:
    admin = svc.auth.local_principal("root")
    alice, _ = make_user(svc, admin, "alice")
    bob, _ = make_user(svc, admin, "bob")
    svc.access.create_team(admin, "ml")
    svc.access.add_team_member(admin, "ml", "alice", role="admin")
    svc.access.add_team_member(admin, "ml", "bob")
    with pytest.raises(PermissionDeniedError):
        svc.auth.create_service_account(alice, "ci", "ml")
    made = svc.auth.create_service_account(admin, "ci", "ml")
    ci = svc.auth.authenticate(made["key"])
    assert ci.name == "ci" and not ci.is_admin
    listed = {u["name"]: u for u in svc.auth.users(admin)}
    assert listed["ci"]["team"] == "ml" and not listed["ci"]["has_password"]
    with pytest.raises(InvalidInputError, match="service account"):
        svc.auth.set_password(admin, "ci", "a long password")

    second = svc.auth.create_key(alice, name="github", user="ci")  # an admin of its team
    assert svc.auth.authenticate(second["key"]) == ci
    assert {k["name"] for k in svc.auth.list_keys(alice, user="ci")} == {"github", "first key"}
    # Bob is a member of the team, not one of its admins: as if there were no such account.
    with pytest.raises(NotFoundError):
        svc.auth.create_key(bob, user="ci")
    with pytest.raises(NotFoundError):
        svc.auth.list_keys(bob, user="ci")
    with pytest.raises(NotFoundError):
        svc.auth.revoke_key(bob, second["id"])
    svc.auth.revoke_key(alice, second["id"])
    with pytest.raises(AuthenticationError):
        svc.auth.authenticate(second["key"])


def test_passwords_are_set_by_their_user_or_an_admin(svc: Services) -> None:
    admin = svc.auth.local_principal("root")
    alice, _ = make_user(svc, admin, "alice")
    bob, _ = make_user(svc, admin, "bob")
    svc.auth.set_own_password(alice, "alice's password")
    assert svc.auth.authenticate_password("alice", "alice's password") == alice
    with pytest.raises(PermissionDeniedError):
        svc.auth.set_password(bob, "alice", "bob was here")
    svc.auth.set_password(admin, "alice", "reset by admin")
    with pytest.raises(AuthenticationError):
        svc.auth.authenticate_password("alice", "alice's password")
    with pytest.raises(InvalidInputError):
        svc.auth.set_own_password(alice, "short")


def test_a_session_ends_for_every_copy_and_a_link_works_once(svc: Services) -> None:
    admin = svc.auth.local_principal("root")
    alice, _ = make_user(svc, admin, "alice")
    token = svc.sessions.start(alice)
    assert svc.sessions.principal(token) == alice
    svc.sessions.end(token, alice)
    assert svc.sessions.principal(token) is None
    link = svc.sessions.issue_link("alice")
    assert svc.sessions.redeem_link(link) == alice
    assert svc.sessions.redeem_link(link) is None
    # A new password ends the user's sessions.
    token = svc.sessions.start(alice)
    svc.auth.set_own_password(alice, "a new password")
    assert svc.sessions.principal(token) is None


def test_the_audit_log_filters_and_pages_every_event_for_admins_only(svc: Services) -> None:
    admin = svc.auth.local_principal("root")
    alice, _ = make_user(svc, admin, "alice")
    for i in range(7):
        svc.auth.create_key(alice, name=f"k{i}")
    svc.registry.create_registry(admin, "vision")
    with pytest.raises(PermissionDeniedError):
        svc.audit.events(alice)

    pages, token = [], None
    while True:
        page = svc.audit.events(admin, actor="alice", limit=3, page_token=token)
        pages.append(page["events"])
        token = page["next_page_token"]
        if token is None:
            break
    seen = [e for p in pages for e in p]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [e["after"]["name"] for e in seen] == [f"k{i}" for i in reversed(range(7))]
    assert {e["action"] for e in seen} == {"key.created"}
    ids = [e["id"] for e in seen]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 7

    keys_of_alice = svc.audit.events(admin, action="key.*", subject="user/alice")["events"]
    assert len(keys_of_alice) == 8  # her first key, made with her, and seven more
    first, last = seen[-1]["time"], seen[0]["time"]
    window = svc.audit.events(admin, actor="alice", since=first, until=last)["events"]
    assert all(first <= e["time"] < last for e in window) and len(window) == 6
    everything = svc.audit.events(admin, limit=1000)["events"]
    assert {"user.created", "key.created", "registry.created"} <= {e["action"] for e in everything}
    with pytest.raises(InvalidInputError):
        svc.audit.events(admin, page_token="not a token")
