"""Two ``modelbay server`` processes on one PostgreSQL database agree on keys, web
sessions, one-time sign-in links and the sign-in throttle: none of them is kept per
process (issue #15; #19's "nothing per process that must be shared")."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.postgres import PostgresCluster
from support.processes import ServerProcess

from modelbay.server.ui.login import USER_FAILURES

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK = re.compile(r"(/login/once/[A-Za-z0-9_-]+)")


@pytest.fixture(scope="module")
def replicas(
    pg_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    db_url = pg_cluster.create_database("r_" + uuid.uuid4().hex[:12])
    shared = {"MODELBAY_SECRET_KEY": secrets.token_hex(32)}
    first = ServerProcess(tmp_path_factory.mktemp("replica-a"), db_url, shared)
    try:
        second = ServerProcess(tmp_path_factory.mktemp("replica-b"), db_url, shared)
        try:
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


def api(server: ServerProcess, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url + "/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=60
    )


def csrf(page: str) -> str:
    found = CSRF.search(page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def test_a_key_revoked_on_one_replica_is_refused_by_the_other_at_once(replicas) -> None:
    a, b = replicas
    with api(a, a.admin_key) as admin:
        made = admin.post("/users", json={"name": f"k{uuid.uuid4().hex[:6]}"}).json()
    with api(a, made["key"]) as on_a, api(b, made["key"]) as on_b:
        assert on_b.get("/whoami").status_code == 200  # known, and looked up, on b
        second = on_a.post("/keys", json={"name": "ci", "expires_in": 3600})
        assert second.status_code == 201, second.text
        listed = on_b.get("/keys").json()["keys"]
        assert [k["name"] for k in listed if k["state"] == "active"] == ["ci", "created by admin"]
        assert "key" not in listed[0]  # keys are shown once, never listed
        own = listed[1]
        assert on_a.delete(f"/keys/{own['id']}").status_code == 204
        refused = on_b.get("/whoami")
        assert refused.status_code == 401, refused.text
    with api(b, second.json()["key"]) as ci:
        assert ci.get("/whoami").json()["user"] == made["user"]


def test_a_sign_in_link_works_once_on_any_replica(replicas) -> None:
    a, b = replicas
    found = LINK.search(a.log_text())
    assert found, a.log_tail()
    with httpx.Client(base_url=b.url) as browser:
        used = browser.get(found.group(1))
        assert used.status_code == 303 and used.headers["location"] == "/"
        assert browser.get("/").status_code == 200
    with httpx.Client(base_url=a.url) as again:
        refused = again.get(found.group(1))
        assert refused.status_code == 401
        assert "used already or has expired" in refused.text


def test_signing_out_on_one_replica_ends_the_session_on_the_other(replicas) -> None:
    a, b = replicas
    with httpx.Client(base_url=a.url) as browser:
        token = csrf(browser.get("/login").text)
        signed = browser.post("/login", data={"csrf_token": token, "key": a.admin_key})
        assert signed.status_code == 303
        home = browser.get("/")
        assert home.status_code == 200
        cookies = dict(browser.cookies)
    with httpx.Client(base_url=b.url, cookies=cookies) as other:
        page = other.get("/")
        assert page.status_code == 200  # the same session, on the other replica
        assert other.post("/logout", data={"csrf_token": csrf(page.text)}).status_code == 303
    with httpx.Client(base_url=a.url, cookies=cookies) as copied:
        assert copied.get("/").status_code == 303  # to the sign-in form


def test_the_sign_in_throttle_counts_failures_on_both_replicas(replicas, tmp_path: Path) -> None:
    a, b = replicas
    name = f"t{uuid.uuid4().hex[:6]}"
    with api(a, a.admin_key) as admin:
        assert admin.post("/users", json={"name": name}).status_code == 201
        done = admin.put(f"/users/{name}/password", json={"password": "correct horse"})
        assert done.status_code == 204, done.text
    clients = [httpx.Client(base_url=s.url) for s in (a, b)]
    try:
        tokens = [csrf(c.get("/login").text) for c in clients]

        def sign_in(i: int, password: str) -> httpx.Response:
            data = {"csrf_token": tokens[i], "username": name, "password": password}
            return clients[i].post("/login", data=data)

        for attempt in range(USER_FAILURES):  # alternately on a and b
            assert sign_in(attempt % 2, "wrong guess").status_code == 401
        for i in (0, 1):
            locked = sign_in(i, "correct horse")
            assert locked.status_code == 429, locked.text
    finally:
        for c in clients:
            c.close()
