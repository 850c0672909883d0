"""Every declared operation, called over HTTP by every kind of caller, answers as its
declaration says (issue #15).

A real ``modelbay server`` runs on SQLite and on PostgreSQL. Callers: no key, an outsider
(no membership), a restricted viewer, a viewer, a member (through a team), a registry or
project admin, and an organization admin; targets: an ``organization`` and a
``restricted`` registry and project. The expected answer is derived from the declaration
alone: 401 without a key; for ``Access.ADMIN`` 2xx for organization admins and 403 for
the rest; for ``Access.TEAM_ADMIN`` the same, with the registry and project admin (an
admin of the matrix's teams) answered as an organization admin; for a declared ``role``, 404 when the caller has no role in the target (its
existence must not leak), 403 when their role is lower, 2xx otherwise.

The second test is the promotion flow over HTTP: a member's move of a protected alias is
refused, their request is approved by an admin, the alias moves, and the version's
history shows the request, the approval and the move.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from support.processes import ServerProcess

from modelbay.contract.operations import OPERATIONS, Access, Operation, Role

RV, V, M, A = Role.RESTRICTED_VIEWER, Role.VIEWER, Role.MEMBER, Role.ADMIN
VISIBILITIES = ("organization", "restricted")
#: The role each caller holds in the organization-visible and the restricted targets.
ROLE_IN: dict[str, dict[str, Role | None]] = {
    "organization": {"outsider": V, "rv": V, "viewer": V, "member": M, "admin": A, "org": A},
    "restricted": {"outsider": None, "rv": RV, "viewer": V, "member": M, "admin": A, "org": A},
}
CALLERS = ("anonymous", "outsider", "rv", "viewer", "member", "admin", "org")
#: Operations whose success needs state the matrix cannot make for every caller: only the
#: access decision is checked (not 401 with a key, and no 403 where access allows).
ACCESS_ONLY = {
    "complete_upload": "needs an upload session of the caller's own",
    "extend_job": "needs a job lease of the caller's own",
    "complete_job": "needs a job lease of the caller's own",
    "revoke_key": "needs a key of the caller's own (another's is a 404)",
}

_counter = itertools.count()


def uniq() -> str:
    return f"{next(_counter)}x{uuid.uuid4().hex[:6]}"


def ref_entry(content: str) -> dict[str, Any]:
    """A file tracked by reference: a version needs no stored bytes."""
    data = content.encode()
    return {
        "path": "w.bin",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "ref": f"https://example.com/{hashlib.sha256(data).hexdigest()}",
    }


def ok(resp: httpx.Response) -> Any:
    assert 200 <= resp.status_code < 300, f"{resp.request.method} {resp.request.url}: {resp.text}"
    return resp.json() if resp.content else None


@dataclass
class World:
    server: ServerProcess
    admin: httpx.Client
    suffix: str
    keys: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    registry: dict[str, str] = field(default_factory=dict)
    project: dict[str, str] = field(default_factory=dict)

    def client(self, caller: str) -> httpx.Client:
        headers = {} if caller == "anonymous" else {"Authorization": f"Bearer {self.keys[caller]}"}
        return httpx.Client(base_url=self.server.url + "/api/v1", headers=headers, timeout=60)

    def commit(self, project: str, name: str = "m") -> str:
        body = {"type": "model", "files": [ref_entry(uniq())]}
        return str(
            ok(self.admin.post(f"/projects/{project}/artifacts/{name}/versions", json=body))[
                "version"
            ]
        )

    def fresh_link(self, vis: str, collection: str) -> str:
        """A new version of the open project linked into ``collection``; its link version."""
        selector = self.commit(self.project["organization"], "f")
        body = {"artifact": f"{self.project['organization']}/f:{selector}"}
        path = f"/registries/{self.registry[vis]}/collections/{collection}/versions"
        return str(ok(self.admin.post(path, json=body))["link"]["version"])


def build_world(server: ServerProcess) -> World:
    admin = httpx.Client(
        base_url=server.url + "/api/v1",
        headers={"Authorization": f"Bearer {server.admin_key}"},
        timeout=60,
    )
    w = World(server, admin, uuid.uuid4().hex[:6])
    w.keys["org"] = server.admin_key
    for who in ("outsider", "rv", "viewer", "member", "admin", "requester", "extra"):
        name = f"{who}{w.suffix}"
        w.users[who] = name
        w.keys[who] = ok(admin.post("/users", json={"name": name}))["key"]
    team = f"members{w.suffix}"
    ok(admin.post("/teams", json={"name": team}))
    ok(admin.put(f"/teams/{team}/members/{w.users['member']}"))
    # The registry and project admin also administers the team (team operations' rule).
    ok(admin.put(f"/teams/{team}/members/{w.users['admin']}", json={"role": "admin"}))
    for vis in VISIBILITIES:
        reg, proj = f"{vis[:4]}reg{w.suffix}", f"{vis[:4]}proj{w.suffix}"
        w.registry[vis], w.project[vis] = reg, proj
        ok(admin.post("/registries", json={"name": reg, "visibility": vis}))
        w.commit(proj)
        ok(admin.patch(f"/projects/{proj}", json={"visibility": vis}))
    for vis in VISIBILITIES:
        reg, proj = w.registry[vis], w.project[vis]
        for target in (f"/registries/{reg}/members", f"/projects/{proj}/members"):
            for who, role in (
                ("rv", "restricted_viewer"),
                ("viewer", "viewer"),
                ("admin", "admin"),
                ("requester", "member"),
            ):
                ok(admin.post(target, json={"user": w.users[who], "role": role}))
            ok(admin.post(target, json={"team": team, "role": "member"}))
        ok(admin.put(f"/projects/{proj}/artifacts/m/aliases/staging", json={"version": "v0"}))
        ok(admin.post(f"/projects/{proj}/runs", json={"id": "r1"}))
        point = {"points": [{"step": 0, "time": 1.0, "values": {"loss": 1.0}}]}
        ok(admin.post(f"/projects/{proj}/runs/r1/history", json=point))
        source = f"{w.project['organization']}/m:v0"
        ok(admin.post(f"/registries/{reg}/collections/c/versions", json={"artifact": source}))
        ok(admin.put(f"/registries/{reg}/protected-aliases/production"))
    return w


Args = Callable[[World, str], dict[str, Any]]


def _requested(w: World, vis: str) -> int:
    """A pending promotion request by a member (not the caller) on a fresh version."""
    selector = w.fresh_link(vis, "c")
    with w.client("requester") as requester:
        path = f"/registries/{w.registry[vis]}/collections/c/versions/{selector}/promotions"
        made = ok(requester.post(path, json={"alias": "production", "reason": "matrix"}))
    assert made["state"] == "pending"
    return int(made["id"])


def _with_alias(w: World, vis: str, alias: str) -> str:
    ok(
        w.admin.put(
            f"/projects/{w.project[vis]}/artifacts/m/aliases/{alias}", json={"version": "v0"}
        )
    )
    return alias


def _with_collection_alias(w: World, vis: str, alias: str) -> str:
    path = f"/registries/{w.registry[vis]}/collections/c/aliases/{alias}"
    ok(w.admin.put(path, json={"version": "v0"}))
    return alias


def _member_added(w: World, target: str) -> str:
    ok(w.admin.post(target, json={"user": w.users["extra"], "role": "viewer"}))
    return w.users["extra"]


_TABLES: dict[tuple[str, str], None] = {}
TABLE_FILE = json.dumps({"_type": "table", "columns": ["k", "v"], "data": [[1, "a"]]}).encode()


def _with_tables(w: World, vis: str) -> str:
    """The project ``vis`` with a stored table file in ``t:v0`` and a table logged by run
    ``r1`` (``run-r1-preds``, as W&B names a run's table); made once."""
    project = w.project[vis]
    if (w.suffix, vis) not in _TABLES:
        digest = hashlib.sha256(TABLE_FILE).hexdigest()
        resp = w.admin.put(f"/blobs/{digest}", content=TABLE_FILE)
        assert resp.status_code in (200, 201), resp.text
        entry = {"path": "preds.table.json", "sha256": digest, "size": len(TABLE_FILE)}
        for name, body in (
            ("t", {"type": "dataset", "files": [entry]}),
            ("run-r1-preds", {"type": "run_table", "files": [entry], "run_id": "r1"}),
        ):
            ok(w.admin.post(f"/projects/{project}/artifacts/{name}/versions", json=body))
        _TABLES[(w.suffix, vis)] = None
    return project


def _in_team(w: World) -> str:
    team = f"t{uniq()}"
    ok(w.admin.post("/teams", json={"name": team}))
    ok(w.admin.put(f"/teams/{team}/members/{w.users['extra']}"))
    ok(w.admin.put(f"/teams/{team}/members/{w.users['admin']}", json={"role": "admin"}))
    return team


def _automation(w: World, vis: str) -> str:
    """A fresh automation in the ``vis`` registry (its URL resolves nowhere)."""
    name = f"a{uniq()}"
    body = {
        "name": name,
        "scope": f"registry:{w.registry[vis]}",
        "event": "alias-added",
        "alias_regex": "matrix-never",
        "action": "webhook",
        "url": "https://hooks.invalid/matrix",
    }
    ok(w.admin.post("/automations", json=body))
    return name


def _delivery(w: World, vis: str) -> int:
    """A delivery (a test's) of a fresh automation in the ``vis`` registry."""
    return int(ok(w.admin.post(f"/automations/{_automation(w, vis)}/test"))["id"])


def _fresh_run(w: World, vis: str) -> str:
    run_id = f"r{uniq()}"
    ok(w.admin.post(f"/projects/{w.project[vis]}/runs", json={"id": run_id}))
    return run_id


def _fresh_artifact(w: World, vis: str) -> str:
    name = f"a{uniq()}"
    w.commit(w.project[vis], name)
    return name


def _fresh_collection(w: World, vis: str) -> str:
    name = f"c{uniq()}"
    w.fresh_link(vis, name)
    return name


def args_of(name: str) -> Args | None:
    """The arguments of one call of operation ``name`` against the ``vis`` targets (made
    fresh where the call consumes what it acts on)."""

    def p(w: World, vis: str) -> dict[str, Any]:
        return {"project": w.project[vis]}

    def run(w: World, vis: str) -> dict[str, Any]:
        return {**p(w, vis), "run_id": "r1"}

    def art(w: World, vis: str) -> dict[str, Any]:
        return {**p(w, vis), "name": "m"}

    def ver(w: World, vis: str) -> dict[str, Any]:
        return {**art(w, vis), "selector": "v0"}

    def reg(w: World, vis: str) -> dict[str, Any]:
        return {"registry": w.registry[vis]}

    def coll(w: World, vis: str) -> dict[str, Any]:
        return {**reg(w, vis), "collection": "c"}

    def link(w: World, vis: str) -> dict[str, Any]:
        return {**coll(w, vis), "selector": "v0"}

    def ref(w: World, vis: str) -> dict[str, Any]:
        return {"ref": f"{w.registry[vis]}-registry/c:v0"}

    def runs(w: World, vis: str) -> dict[str, Any]:
        return {"runs": [f"{w.project[vis]}/r1"]}

    table: dict[str, Args] = {
        "create_run": lambda w, v: {**p(w, v), "id": f"r{uniq()}"},
        "list_runs": p,
        "get_run": run,
        "update_run": lambda w, v: {**run(w, v), "notes": "n"},
        "log_history": lambda w, v: {
            **run(w, v),
            "points": [{"step": 1, "time": 2.0, "values": {"loss": 0.5}}],
        },
        "history": run,
        "run_media": run,
        "run_artifacts": run,
        "histories": runs,
        "histories_get": runs,
        "summaries": runs,
        "summaries_get": runs,
        "resolve": ref,
        "use": ref,
        "lineage": ref,
        "events": ref,
        "list_artifacts": p,
        "commit_version": lambda w, v: {
            **art(w, v),
            "type": "model",
            "files": [ref_entry(uniq())],
        },
        "artifact_versions": art,
        "get_artifact_version": ver,
        "artifact_version_files": ver,
        "update_artifact_version": lambda w, v: {**ver(w, v), "description": "d"},
        "delete_artifact_version": lambda w, v: {
            **p(w, v),
            "name": "d",
            "selector": w.commit(w.project[v], "d"),
        },
        "set_artifact_alias": lambda w, v: {**art(w, v), "alias": "staging", "version": "v0"},
        "remove_artifact_alias": lambda w, v: {**art(w, v), "alias": _with_alias(w, v, "tmp")},
        "registries": lambda w, v: {},
        "create_registry": lambda w, v: {"name": f"r{uniq()}"},
        "registry": reg,
        "update_registry": lambda w, v: {**reg(w, v), "description": "d"},
        "collections": reg,
        "collection": coll,
        "update_collection": lambda w, v: {**coll(w, v), "description": "card"},
        "collection_history": coll,
        "link": lambda w, v: {**coll(w, v), "artifact": f"{w.project['organization']}/m:v0"},
        "collection_versions": coll,
        "get_collection_version": link,
        "collection_version_files": link,
        "update_collection_version": lambda w, v: {**link(w, v), "description": "d"},
        "unlink": lambda w, v: {**reg(w, v), "collection": "u", "selector": w.fresh_link(v, "u")},
        "version_history": link,
        "set_collection_alias": lambda w, v: {**coll(w, v), "alias": "staging", "version": "v0"},
        "remove_collection_alias": lambda w, v: {
            **coll(w, v),
            "alias": _with_collection_alias(w, v, "tmp"),
        },
        "missing_blobs": lambda w, v: {"digests": []},
        "begin_uploads": lambda w, v: {"files": []},
        "complete_uploads": lambda w, v: {"ids": []},
        "complete_upload": lambda w, v: {"upload_id": "none"},
        "locations": lambda w, v: {"digests": []},
        "whoami": lambda w, v: {},
        "create_user": lambda w, v: {"name": f"u{uniq()}"},
        "gc": lambda w, v: {"dry_run": True},
        "registry_members": reg,
        "add_registry_member": lambda w, v: {
            **reg(w, v),
            "user": w.users["extra"],
            "role": "viewer",
        },
        "remove_registry_member": lambda w, v: {
            **reg(w, v),
            "user": _member_added(w, f"/registries/{w.registry[v]}/members"),
        },
        "project": p,
        "update_project": lambda w, v: {**p(w, v), "visibility": v},
        "project_members": p,
        "add_project_member": lambda w, v: {**p(w, v), "user": w.users["extra"], "role": "viewer"},
        "remove_project_member": lambda w, v: {
            **p(w, v),
            "user": _member_added(w, f"/projects/{w.project[v]}/members"),
        },
        "teams": lambda w, v: {},
        "user": lambda w, v: {"user": w.users["extra"]},
        "create_team": lambda w, v: {"name": f"t{uniq()}"},
        "add_team_member": lambda w, v: {"team": f"members{w.suffix}", "user": w.users["extra"]},
        "remove_team_member": lambda w, v: {"team": _in_team(w), "user": w.users["extra"]},
        "protected_aliases": reg,
        "protect_alias": lambda w, v: {**reg(w, v), "pattern": "gold-*"},
        "unprotect_alias": lambda w, v: {
            **reg(w, v),
            "pattern": ok(w.admin.put(f"/registries/{w.registry[v]}/protected-aliases/tmp-*"))
            and "tmp-*",
        },
        "promote": lambda w, v: {**link(w, v), "alias": "production", "reason": "matrix"},
        "promotions": reg,
        "promotion": lambda w, v: {"request_id": _requested(w, v)},
        "approve": lambda w, v: {"request_id": _requested(w, v), "comment": "ok"},
        "reject": lambda w, v: {"request_id": _requested(w, v), "comment": "no"},
        "cancel_promotion": lambda w, v: {"request_id": _requested(w, v)},
        "create_automation": lambda w, v: {
            "name": f"a{uniq()}",
            "scope": f"registry:{w.registry[v]}",
            "event": "version-linked",
            "action": "webhook",
            "url": "https://hooks.invalid/matrix",
        },
        "automations": lambda w, v: {"scope": f"registry:{w.registry[v]}"},
        "automation": lambda w, v: {"name": _automation(w, v)},
        "update_automation": lambda w, v: {"name": _automation(w, v), "enabled": False},
        "delete_automation": lambda w, v: {"name": _automation(w, v)},
        "test_automation": lambda w, v: {"name": _automation(w, v)},
        "automation_deliveries": lambda w, v: {"name": _automation(w, v)},
        "replay_delivery": lambda w, v: {"delivery_id": _delivery(w, v)},
        "table": lambda w, v: {"ref": f"{_with_tables(w, v)}/t:v0", "path": "preds.table.json"},
        "run_table": lambda w, v: {"project": _with_tables(w, v), "run_id": "r1", "key": "preds"},
        "search_runs": lambda w, v: {**p(w, v), "filters": {"state": {"$ne": "x"}}},
        "search_registries": lambda w, v: {"filter": {"name": {"$regex": "."}}},
        "search_collections": lambda w, v: {"filter": {"tag": {"$exists": False}}},
        "search_versions": lambda w, v: {"filter": {"alias": "latest"}},
        "search_artifact_versions": lambda w, v: {**art(w, v), "filter": {"tag": {"$nin": []}}},
        "lease_job": lambda w, v: {"queue": f"q{uniq()}", "agent": "matrix"},
        "extend_job": lambda w, v: {"delivery_id": 1, "lease_token": "none"},
        "complete_job": lambda w, v: {"delivery_id": 1, "lease_token": "none", "duration": 0.0},
        "keys": lambda w, v: {},
        "create_key": lambda w, v: {"name": f"k{uniq()}", "expires_in": 3600},
        "revoke_key": lambda w, v: {
            "key_id": ok(w.admin.post("/keys", json={"user": w.users["extra"]}))["id"]
        },
        "users": lambda w, v: {},
        "create_service_account": lambda w, v: {
            "name": f"ci{uniq()}",
            "team": f"members{w.suffix}",
        },
        "set_password": lambda w, v: {"password": "matrix password"},
        "set_user_password": lambda w, v: {"user": w.users["extra"], "password": "pass word"},
        "audit": lambda w, v: {"actor": w.users["member"], "limit": 5},
        "audit_csv": lambda w, v: {"actor": w.users["member"], "action": "alias.*"},
        "delete_run": lambda w, v: {**p(w, v), "run_id": _fresh_run(w, v)},
        "delete_artifact": lambda w, v: {**p(w, v), "name": _fresh_artifact(w, v)},
        "rename_artifact": lambda w, v: {
            **p(w, v),
            "name": _fresh_artifact(w, v),
            "new_name": f"n{uniq()}",
        },
        "set_artifact_ttl": lambda w, v: {
            **p(w, v),
            "name": _fresh_artifact(w, v),
            "selector": "v0",
            "ttl": 3600.0,
        },
        "upsert_artifact": lambda w, v: {
            **p(w, v),
            "name": f"d{uniq()}",
            "distributed_id": "group",
            "type": "model",
            "files": [ref_entry(uniq())],
        },
        "finish_artifact": lambda w, v: {
            **p(w, v),
            "name": f"d{uniq()}",
            "distributed_id": "group",
            "type": "model",
            "files": [ref_entry(uniq())],
        },
        "delete_collection": lambda w, v: {**reg(w, v), "collection": _fresh_collection(w, v)},
        "rename_collection": lambda w, v: {
            **reg(w, v),
            "collection": _fresh_collection(w, v),
            "new_name": f"n{uniq()}",
        },
    }
    return table.get(name)


def expected(op: Operation[Any, Any], vis: str, caller: str) -> str:
    """What the declaration says ``caller`` gets: "2xx", "401", "403" or "404"."""
    if op.access is Access.PUBLIC:
        return "2xx"
    if caller == "anonymous":
        return "401"
    if op.access is Access.ADMIN:
        return "2xx" if caller == "org" else "403"
    if op.access is Access.TEAM_ADMIN:  # "admin" administers every team the matrix names
        return "2xx" if caller in ("org", "admin") else "403"
    if op.role is None:
        return "2xx"
    role = ROLE_IN[vis][caller]
    if role is None:
        return "404"
    return "403" if role < op.role else "2xx"


def call(client: httpx.Client, op: Operation[Any, Any], args: dict[str, Any]) -> httpx.Response:
    args = dict(args)
    path = op.path
    for name in op.path_params:
        path = path.replace("{" + name + "}", quote(str(args.pop(name)), safe=""))
    if op.has_body:
        return client.request(op.method, path, json=args)
    params = {k: ",".join(v) if isinstance(v, list) else v for k, v in args.items()}
    return client.request(op.method, path, params=params)


def outcome(status: int) -> str:
    return "2xx" if 200 <= status < 300 else str(status)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    db_url = None
    if request.param == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        db_url = cluster.create_database("m_" + uuid.uuid4().hex[:12])
    server = ServerProcess(tmp_path_factory.mktemp("roles-data"), db_url)
    try:
        yield build_world(server)
    finally:
        server.stop()


def test_every_operation_answers_each_caller_as_declared(world: World) -> None:
    missing = sorted(name for name in OPERATIONS if args_of(name) is None)
    assert missing == [], f"operations without matrix arguments: {missing}"
    clients = {caller: world.client(caller) for caller in CALLERS}
    wrong: list[str] = []
    calls = 0
    seen: Counter[str] = Counter()
    try:
        for op in OPERATIONS.values():
            make = args_of(op.name)
            assert make is not None
            for vis in VISIBILITIES:
                for caller in CALLERS:
                    want = expected(op, vis, caller)
                    seen[want] += 1
                    resp = call(clients[caller], op, make(world, vis))
                    calls += 1
                    got = outcome(resp.status_code)
                    if op.name in ACCESS_ONLY and want == "2xx":
                        fine = got not in ("401", "403")
                    else:
                        fine = got == want
                    if not fine:
                        wrong.append(
                            f"{op.name} on {vis} as {caller}: want {want}, got "
                            f"{resp.status_code} {resp.text[:160]}"
                        )
    finally:
        for c in clients.values():
            c.close()
    assert calls == len(OPERATIONS) * len(VISIBILITIES) * len(CALLERS)
    # Every kind of answer is exercised, not only successes.
    assert set(seen) == {"2xx", "401", "403", "404"} and min(seen.values()) > 20, seen
    assert wrong == [], "\n".join(wrong)


def test_a_members_protected_move_is_refused_then_requested_and_approved(world: World) -> None:
    reg = world.registry["restricted"]
    first = world.fresh_link("restricted", "flow")
    selector = world.fresh_link("restricted", "flow")
    ok(
        world.admin.put(
            f"/registries/{reg}/collections/flow/aliases/production", json={"version": first}
        )
    )
    with world.client("member") as member, world.client("admin") as admin:
        refused = member.put(
            f"/registries/{reg}/collections/flow/aliases/production", json={"version": selector}
        )
        assert refused.status_code == 403
        assert f"modelbay promote {reg}-registry/flow:{selector} production" in refused.text
        made = ok(
            member.post(
                f"/registries/{reg}/collections/flow/versions/{selector}/promotions",
                json={"alias": "production", "reason": "better recall"},
            )
        )
        assert made["state"] == "pending"
        pending = ok(admin.get(f"/registries/{reg}/promotions", params={"state": "pending"}))
        assert made["id"] in [r["id"] for r in pending["requests"]]
        assert member.post(f"/promotions/{made['id']}/approve", json={}).status_code == 403
        approved = ok(admin.post(f"/promotions/{made['id']}/approve", json={"comment": "ship"}))
        assert approved["state"] == "approved"
        collection = ok(member.get(f"/registries/{reg}/collections/flow"))
        assert collection["aliases"]["production"] == selector
        history = ok(member.get(f"/registries/{reg}/collections/flow/versions/{selector}/history"))
        actions = [e["action"] for e in history["events"]]
        assert actions[:3] == ["alias.added", "promotion.approved", "promotion.requested"]
        assert history["events"][2]["actor"] == world.users["member"]
        assert history["events"][1]["actor"] == world.users["admin"]
