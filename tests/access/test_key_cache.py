"""A process keeps what a key authenticates, checked against the credential generation on
every call: a revoke in another process (a replica) is refused at once, a kept key stops at
its expiry, and a key made after another was kept works at once. SQLite and PostgreSQL
(``db_url``); two ``Services`` on one database stand for two replicas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelbay.errors import AuthenticationError
from modelbay.services import Services
from modelbay.services import auth as auth_service
from modelbay.settings import Settings


@pytest.fixture
def replicas(db_url: str, tmp_path: Path) -> Iterator[tuple[Services, Services]]:
    first = Services.open(Settings(data_dir=tmp_path, db_url=db_url))
    try:
        second = Services.open(Settings(data_dir=tmp_path, db_url=db_url))
        try:
            yield first, second
        finally:
            second.close()
    finally:
        first.close()


def test_a_kept_key_revoked_by_another_process_is_refused_at_once(replicas) -> None:
    a, b = replicas
    admin = a.auth.local_principal("root")
    made = a.auth.create_user(admin, "alice")
    other = a.auth.create_key(a.auth.authenticate(made["key"]), name="ci")
    for _ in range(3):  # kept by b after the first
        assert b.auth.authenticate(made["key"]).name == "alice"
    assert b.auth.authenticate(other["key"]).name == "alice"
    own = next(k for k in a.auth.list_keys(admin, user="alice") if k["name"] != "ci")
    a.auth.revoke_key(admin, own["id"])
    with pytest.raises(AuthenticationError):
        b.auth.authenticate(made["key"])
    assert b.auth.authenticate(other["key"]).name == "alice"  # looked up again, still live
    a.auth.revoke_key(admin, other["id"])
    with pytest.raises(AuthenticationError):
        b.auth.authenticate(other["key"])


def test_a_kept_key_stops_at_its_expiry(replicas, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = replicas
    admin = a.auth.local_principal("root")
    alice = a.auth.authenticate(a.auth.create_user(admin, "alice")["key"])
    made = a.auth.create_key(alice, name="short", expires_in=3600)
    assert b.auth.authenticate(made["key"]) == alice  # kept, with its expiry
    later = made["expires_at"] + 1
    monkeypatch.setattr(auth_service, "now", lambda: later)
    with pytest.raises(AuthenticationError):
        b.auth.authenticate(made["key"])


def test_a_key_made_after_another_was_kept_works_at_once(replicas) -> None:
    a, b = replicas
    admin = a.auth.local_principal("root")
    made = a.auth.create_user(admin, "alice")
    assert b.auth.authenticate(made["key"]).name == "alice"
    with pytest.raises(AuthenticationError):
        b.auth.authenticate("mb_not-a-key")
    fresh = a.auth.create_key(a.auth.authenticate(made["key"]), name="new")
    assert b.auth.authenticate(fresh["key"]).name == "alice"
