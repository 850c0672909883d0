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
from modelbay.store import auth as auth_store


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
