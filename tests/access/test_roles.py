"""Roles, visibility, protected aliases and promotion requests at the service level, on
SQLite and PostgreSQL (``db_url``).

Users are real rows made by ``auth.create_user``; each test builds its own small world.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.workers import stored_file

from modelbay.errors import ConflictError, NotFoundError, PermissionDeniedError
from modelbay.names import ArtifactRef, RegistryRef
from modelbay.services import Principal, Services
from modelbay.settings import Settings
from modelbay.store import auth as auth_store


@dataclass
class World:
    services: Services
    admin: Principal
    users: dict[str, Principal]

    def user(self, name: str) -> Principal:
        if name not in self.users:
            self.services.auth.create_user(self.admin, name)
            with self.services.db.read() as conn:
                row = auth_store.get_user(conn, name)
            assert row is not None
            self.users[name] = Principal(row["id"], name, False)
        return self.users[name]

    def commit(self, who: Principal, project: str, content: str, name: str = "m") -> Any:
        entry = stored_file(self.services, self.admin, content)
        return self.services.artifacts.commit_version(who, project, name, "model", [entry])[0]

    def link(self, selector: str, registry: str = "model", collection: str = "c", **kw: Any) -> Any:
        ref = ArtifactRef("proj", "m", selector)
        return self.services.registry.link(self.admin, ref, registry, collection, **kw)[0]

    def actions(self, ref: RegistryRef) -> list[str]:
        return [e["action"] for e in self.services.registry.history(self.admin, ref)]


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    services = Services.open(Settings(data_dir=tmp_path, db_url=db_url))
    try:
        yield World(services, services.auth.local_principal("root"), {})
    finally:
        services.close()


def test_an_organization_registry_gives_everyone_viewer_and_a_restricted_one_nothing(
    world: World,
) -> None:
    svc, admin = world.services, world.admin
    svc.registry.create_registry(admin, "secret", visibility="restricted")
    alice = world.user("alice")
    assert [r["name"] for r in svc.registry.list_registries(alice)] == ["model", "dataset"]
    assert svc.registry.get_registry(alice, "model")["role"] == "viewer"
    with pytest.raises(NotFoundError) as missing:
        svc.registry.get_registry(alice, "secret")
    with pytest.raises(NotFoundError) as absent:
        svc.registry.get_registry(alice, "nothere")
    # The same answer as for a registry that does not exist: its existence does not leak.
    assert str(missing.value) == str(absent.value).replace("nothere", "secret")
    with pytest.raises(NotFoundError, match="registry 'secret' not found"):
        svc.registry.list_collections(alice, "secret")

    svc.access.add_member(admin, registry="secret", user="alice", role="restricted_viewer")
    assert "secret" in [r["name"] for r in svc.registry.list_registries(alice)]
    assert svc.registry.get_registry(alice, "secret")["role"] == "restricted_viewer"


def test_the_highest_of_own_and_team_roles_applies(world: World) -> None:
    svc, admin = world.services, world.admin
    world.commit(admin, "proj", "one")
    world.link("v0")
    bob = world.user("bob")
    svc.access.create_team(admin, "ml")
    svc.access.add_team_member(admin, "ml", "bob")
    svc.access.add_member(admin, registry="model", user="bob", role="viewer")
    with pytest.raises(PermissionDeniedError, match="needs the member role"):
        svc.registry.set_alias(bob, "model", "c", "staging", "v0")
    svc.access.add_member(admin, registry="model", team="ml", role="member")
    svc.registry.set_alias(bob, "model", "c", "staging", "v0")
    svc.access.remove_team_member(admin, "ml", "bob")
    with pytest.raises(PermissionDeniedError):
        svc.registry.remove_alias(bob, "model", "c", "staging")
    members = svc.access.members(bob, registry="model")
    assert [(m["kind"], m["name"], m["role"]) for m in members] == [
        ("user", "bob", "viewer"),
        ("team", "ml", "member"),
    ]


def test_a_project_creator_is_its_admin_and_others_only_read_it(world: World) -> None:
    svc = world.services
    carol, dave = world.user("carol"), world.user("dave")
    world.commit(carol, "cproj", "one")
    assert svc.access.get_project(carol, "cproj")["role"] == "admin"
    assert svc.access.get_project(dave, "cproj")["role"] == "viewer"
    before = svc.artifacts.list_versions(dave, "cproj", "m")
    with pytest.raises(PermissionDeniedError, match="member role in project 'cproj'"):
        world.commit(dave, "cproj", "two")
    with pytest.raises(PermissionDeniedError):
        svc.artifacts.delete(dave, ArtifactRef("cproj", "m", "v0"))
    with pytest.raises(PermissionDeniedError):
        svc.runs.create(dave, "cproj")
    assert svc.artifacts.list_versions(dave, "cproj", "m") == before

    svc.runs.create(carol, "cproj", run_id="r1")
    svc.access.update_project(carol, "cproj", "restricted")
    with pytest.raises(NotFoundError, match="project 'cproj' not found"):
        svc.artifacts.list_artifacts(dave, "cproj")
    with pytest.raises(NotFoundError):
        svc.runs.summaries(dave, ["cproj/r1"])
    with pytest.raises(NotFoundError):
        svc.artifacts.get(dave, ArtifactRef("cproj", "m", "v0"))
    svc.access.add_member(carol, project="cproj", user="dave", role="member")
    world.commit(dave, "cproj", "two")
    assert [r["id"] for r in svc.runs.summaries(dave, ["cproj/r1"])] == ["r1"]


def test_a_registry_reference_to_a_project_is_checked_against_the_project(
    world: World,
) -> None:
    """``X-registry/name`` names project ``X-registry`` when there is no registry X: a
    non-admin's resolve, use and link read it with the project's rules, not a registry's."""
    svc = world.services
    carol, dave = world.user("carol"), world.user("dave")
    world.commit(carol, "demo-registry", "one")
    ref = RegistryRef("demo", "m", "v0")
    assert svc.artifacts.get(dave, ref)["project"] == "demo-registry"
    svc.access.add_member(world.admin, registry="model", user="dave", role="member")
    linked, _ = svc.registry.link(dave, ref, "model", "c")
    assert linked["version"] == "v0"
    svc.access.update_project(carol, "demo-registry", "restricted")
    with pytest.raises(NotFoundError, match="project 'demo-registry' not found"):
        svc.artifacts.get(dave, ref)
    with pytest.raises(NotFoundError, match="project 'demo-registry' not found"):
        svc.artifacts.use(dave, ref)
    with pytest.raises(NotFoundError, match="registry 'nothere' not found"):
        svc.artifacts.get(dave, RegistryRef("nothere", "m", "v0"))
    assert svc.artifacts.get(carol, ref)["version"] == "v0"
    svc.access.add_member(carol, project="demo-registry", team=_team(world, "dave"), role="viewer")
    assert svc.artifacts.get(dave, ref)["version"] == "v0"


def _team(world: World, user: str) -> str:
    world.services.access.create_team(world.admin, f"team-{user}")
    world.services.access.add_team_member(world.admin, f"team-{user}", user)
    return f"team-{user}"


def test_a_restricted_viewer_sees_a_version_but_not_its_files(world: World) -> None:
    svc, admin = world.services, world.admin
    world.commit(admin, "proj", "one")
    world.link("v0")
    svc.registry.create_registry(admin, "secret", visibility="restricted")
    svc.registry.link(admin, ArtifactRef("proj", "m", "v0"), "secret", "c")
    erin = world.user("erin")
    svc.access.add_member(admin, registry="secret", user="erin", role="restricted_viewer")
    ref = RegistryRef("secret", "c", "v0")
    assert svc.artifacts.get(erin, ref)["link"]["ref"] == "secret-registry/c:v0"
    with pytest.raises(PermissionDeniedError, match="needs the viewer role"):
        svc.artifacts.files(erin, ref)
    svc.access.add_member(admin, registry="secret", user="erin", role="viewer")
    assert [f["path"] for f in svc.artifacts.files(erin, ref)] == ["model.bin"]


def test_lineage_shows_only_what_the_caller_may_read(world: World) -> None:
    svc, admin = world.services, world.admin
    svc.runs.create(admin, "hidden", run_id="train")
    entry = stored_file(svc, admin, "weights")
    svc.artifacts.commit_version(admin, "hidden", "m", "model", [entry], run_id="train")
    svc.access.update_project(admin, "hidden", "restricted")
    svc.runs.create(admin, "open", run_id="eval")
    svc.artifacts.commit_version(admin, "open", "m", "model", [stored_file(svc, admin, "x")])
    svc.artifacts.use(admin, ArtifactRef("hidden", "m", "v0"), "open", "eval")
    frank = world.user("frank")
    graph = svc.lineage.graph(frank, run="open/eval")
    assert [n["node"] for n in graph["nodes"]] == ["run:open/eval"] and graph["edges"] == []
    assert svc.runs.artifacts(frank, "open", "eval", "used") == []
    full = svc.lineage.graph(admin, run="open/eval")
    assert len(full["nodes"]) == 3


def protected_world(world: World) -> tuple[Principal, Principal]:
    """``model`` with v0 and v1 linked, ``production`` on v0 and protected; a member and a
    second registry admin."""
    svc, admin = world.services, world.admin
    world.commit(admin, "proj", "one")
    world.commit(admin, "proj", "two")
    world.link("v0", aliases=["production"])
    world.link("v1")
    member, approver = world.user("mia"), world.user("ray")
    svc.access.add_member(admin, registry="model", user="mia", role="member")
    svc.access.add_member(admin, registry="model", user="ray", role="admin")
    assert svc.access.protect(admin, "model", "production") == ["production"]
    svc.access.protect(admin, "model", "prod-*")
    return member, approver


def test_only_registry_admins_touch_a_protected_alias(world: World) -> None:
    svc = world.services
    member, approver = protected_world(world)
    with pytest.raises(PermissionDeniedError) as refused:
        svc.registry.set_alias(member, "model", "c", "production", "v1")
    assert "modelbay promote model-registry/c:v1 production --reason" in str(refused.value)
    assert refused.value.details["needed_role"] == "admin"
    with pytest.raises(PermissionDeniedError):
        svc.registry.set_alias(member, "model", "c", "prod-eu", "v1")
    with pytest.raises(PermissionDeniedError):
        svc.registry.remove_alias(member, "model", "c", "production")
    with pytest.raises(PermissionDeniedError):
        svc.registry.unlink(member, RegistryRef("model", "c", "v0"))
    with pytest.raises(PermissionDeniedError):
        svc.artifacts.update(member, RegistryRef("model", "c", "v0"), aliases=[])
    with pytest.raises(PermissionDeniedError):
        svc.registry.link(member, ArtifactRef("proj", "m", "v1"), "model", "d", ["prod-us"])
    # Unprotected aliases and versions stay the member's to change.
    svc.registry.set_alias(member, "model", "c", "staging", "v1")
    svc.registry.unlink(member, RegistryRef("model", "c", "v1"))
    assert svc.registry.get_collection(member, "model", "c")["aliases"] == {
        "latest": "v0",
        "production": "v0",
    }
    svc.registry.set_alias(approver, "model", "c", "prod-eu", "v0")
    with pytest.raises(PermissionDeniedError, match="admin role"):
        svc.access.protect(member, "model", "gold")


def test_a_promotion_request_moves_the_alias_when_an_admin_approves(world: World) -> None:
    svc = world.services
    member, approver = protected_world(world)
    ref = RegistryRef("model", "c", "v1")
    request = svc.promotions.request(member, ref, "production", "beats v0 on the eval set")
    assert request["state"] == "pending" and request["requester"] == "mia"
    assert svc.registry.get_collection(member, "model", "c")["aliases"]["production"] == "v0"
    with pytest.raises(PermissionDeniedError):
        svc.promotions.approve(member, request["id"])
    approved = svc.promotions.approve(approver, request["id"], "looks good")
    assert approved["state"] == "approved"
    assert [(r["user"], r["decision"]) for r in approved["reviews"]] == [("ray", "approved")]
    assert svc.registry.get_collection(member, "model", "c")["aliases"]["production"] == "v1"
    assert world.actions(ref)[:3] == ["alias.added", "promotion.approved", "promotion.requested"]
    with pytest.raises(ConflictError, match="approved, not pending"):
        svc.promotions.approve(world.admin, request["id"])


def test_the_requester_cannot_approve_their_own_request(world: World) -> None:
    svc = world.services
    member, approver = protected_world(world)
    svc.access.add_member(world.admin, registry="model", user="mia", role="admin")
    svc.access.protect(world.admin, "model", "gold")
    svc.access.add_member(world.admin, registry="model", user="mia", role="member")
    request = svc.promotions.request(member, RegistryRef("model", "c", "v1"), "gold", "why")
    svc.access.add_member(world.admin, registry="model", user="mia", role="admin")
    with pytest.raises(PermissionDeniedError, match="your own"):
        svc.promotions.approve(member, request["id"])


def test_an_admins_own_promote_just_moves_the_alias(world: World) -> None:
    svc = world.services
    _, approver = protected_world(world)
    done = svc.promotions.request(approver, RegistryRef("model", "c", "v1"), "production", "hotfix")
    assert done["state"] == "approved" and done["reviews"] == []
    assert svc.registry.get_collection(approver, "model", "c")["aliases"]["production"] == "v1"


def test_two_required_approvals_and_one_reviewer_each(world: World) -> None:
    svc = world.services
    member, approver = protected_world(world)
    svc.access.update_registry(world.admin, "model", required_approvals=2)
    request = svc.promotions.request(member, RegistryRef("model", "c", "v1"), "production", "r")
    assert svc.promotions.approve(approver, request["id"])["state"] == "pending"
    with pytest.raises(ConflictError, match="reviewed"):
        svc.promotions.approve(approver, request["id"])
    assert svc.registry.get_collection(member, "model", "c")["aliases"]["production"] == "v0"
    assert svc.promotions.approve(world.admin, request["id"])["state"] == "approved"
    assert svc.registry.get_collection(member, "model", "c")["aliases"]["production"] == "v1"


def test_a_request_goes_stale_when_the_alias_moves_meanwhile(world: World) -> None:
    svc = world.services
    member, approver = protected_world(world)
    world.commit(world.admin, "proj", "three")
    world.link("v2")
    request = svc.promotions.request(member, RegistryRef("model", "c", "v1"), "production", "r")
    svc.registry.set_alias(approver, "model", "c", "production", "v2")
    assert svc.promotions.get(member, request["id"])["state"] == "stale"
    with pytest.raises(ConflictError, match="stale"):
        svc.promotions.approve(approver, request["id"])
    assert svc.registry.get_collection(member, "model", "c")["aliases"]["production"] == "v2"

    other = svc.promotions.request(member, RegistryRef("model", "c", "v1"), "production", "r")
    svc.registry.unlink(member, RegistryRef("model", "c", "v1"))
    assert svc.promotions.get(member, other["id"])["state"] == "stale"


def test_reject_and_cancel_leave_the_alias_and_are_events(world: World) -> None:
    svc = world.services
    member, approver = protected_world(world)
    ref = RegistryRef("model", "c", "v1")
    first = svc.promotions.request(member, ref, "production", "r")
    rejected = svc.promotions.reject(approver, first["id"], "not yet")
    assert rejected["state"] == "rejected" and rejected["reviews"][0]["comment"] == "not yet"
    second = svc.promotions.request(member, ref, "production", "again")
    assert svc.promotions.cancel(member, second["id"])["state"] == "cancelled"
    assert svc.registry.get_collection(member, "model", "c")["aliases"]["production"] == "v0"
    assert world.actions(ref)[:4] == [
        "promotion.cancelled",
        "promotion.requested",
        "promotion.rejected",
        "promotion.requested",
    ]
    listed = svc.promotions.list_requests(member, "model")
    assert [r["state"] for r in listed] == ["cancelled", "rejected"]
    assert svc.promotions.list_requests(member, "model", state="rejected")[0]["id"] == first["id"]


def test_a_request_in_an_unreadable_registry_is_not_found(world: World) -> None:
    svc, admin = world.services, world.admin
    world.commit(admin, "proj", "one")
    svc.registry.create_registry(admin, "secret", visibility="restricted")
    svc.registry.link(admin, ArtifactRef("proj", "m", "v0"), "secret", "c")
    member = world.user("sam")
    svc.access.add_member(admin, registry="secret", user="sam", role="member")
    svc.access.protect(admin, "secret", "production")
    request = svc.promotions.request(member, RegistryRef("secret", "c", "v0"), "production", "r")
    outsider = world.user("otto")
    with pytest.raises(NotFoundError, match="promotion request"):
        svc.promotions.get(outsider, request["id"])
    with pytest.raises(NotFoundError):
        svc.promotions.approve(outsider, request["id"])


def test_the_project_list_and_pages_hold_only_readable_projects(world: World) -> None:
    svc, admin = world.services, world.admin
    for project in ("alpha", "beta", "gamma"):
        svc.runs.create(admin, project, run_id="r")
    svc.access.update_project(admin, "beta", "restricted")
    gus = world.user("gus")
    assert [p["name"] for p in svc.views.list_projects(gus)] == ["alpha", "gamma"]
    assert [p["name"] for p in svc.views.list_projects(admin)] == ["alpha", "beta", "gamma"]
    with pytest.raises(NotFoundError, match="project 'beta' not found"):
        svc.views.project_runs(gus, "beta")
    assert svc.views.project_runs(gus, "alpha")["total"] == 1
    svc.access.create_team(admin, "readers")
    svc.access.add_team_member(admin, "readers", "gus")
    svc.access.add_member(admin, project="beta", team="readers", role="viewer")
    assert [p["name"] for p in svc.views.list_projects(gus)] == ["alpha", "beta", "gamma"]


def test_an_admin_only_operation_names_itself_to_a_non_admin(world: World) -> None:
    """The refusal names the operation and reads as a sentence, whatever its summary's form."""
    from modelbay.contract import accounts, requests
    from modelbay.services.dispatch import invoke

    bob = world.user("bob")
    for op, request in (
        (accounts.AUDIT, accounts.AuditQuery()),
        (accounts.USERS, requests.NoArgs()),
    ):
        with pytest.raises(PermissionDeniedError) as refused:
            invoke(world.services, op, bob, request)
        assert refused.value.message == (
            f"only organization admins may call '{op.name}': {op.summary}"
        )
        assert refused.value.details == {
            "operation": op.name,
            "needed_role": "organization admin",
        }


def test_the_request_hint_is_a_command_a_shell_runs(world: World) -> None:
    """W&B's collection names hold spaces: the suggested promote quotes the reference."""
    import shlex

    svc = world.services
    member = world.user("member")
    svc.access.add_member(world.admin, registry="model", user="member", role="member")
    svc.access.protect(world.admin, "model", "production")
    world.commit(world.admin, "proj", "a")
    world.link("v0", collection="My Registered Model")
    with pytest.raises(PermissionDeniedError) as refused:
        svc.registry.set_alias(member, "model", "My Registered Model", "production", "v0")
    argv = shlex.split(refused.value.details["request"])
    assert argv[:4] == [
        "modelbay",
        "promote",
        "model-registry/My Registered Model:v0",
        "production",
    ]


def test_concurrent_approvals_of_one_alias_are_one_move_and_conflicts(world: World) -> None:
    """Two admins approving at once (two requests for one alias, or one request twice): one
    approval moves the alias, the others are 409s. On PostgreSQL each approval locked its
    own request and then the other's (to mark it stale): a deadlock, a 500."""
    import threading

    svc = world.services
    member, approver = protected_world(world)
    second = world.user("sam")
    svc.access.add_member(world.admin, registry="model", user="sam", role="admin")
    world.commit(world.admin, "proj", "three")
    world.link("v2")
    for round_ in range(4):
        requests = [
            svc.promotions.request(member, RegistryRef("model", "c", v), "production", "why")
            for v in ("v1", "v2")
        ]
        ids = [r["id"] for r in requests] + [requests[0]["id"]]
        outcomes: list[str] = []
        barrier = threading.Barrier(len(ids))

        def approve(
            who: Principal,
            request_id: int,
            barrier: threading.Barrier = barrier,
            outcomes: list[str] = outcomes,
        ) -> None:
            barrier.wait()
            try:
                svc.promotions.approve(who, request_id)
                outcomes.append("approved")
            except ConflictError:
                outcomes.append("conflict")
            except Exception as exc:  # noqa: BLE001 - the failure this test is about
                outcomes.append(f"{type(exc).__name__}: {exc}")

        threads = [
            threading.Thread(target=approve, args=(who, rid))
            for who, rid in zip((approver, second, second), ids, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["approved", "conflict", "conflict"], (round_, outcomes)
        # Back to v0 for the next round (an admin's own move).
        svc.registry.set_alias(world.admin, "model", "c", "production", "v0")


def test_a_refused_removal_says_whom_to_ask_not_how_to_request(world: World) -> None:
    """A promotion request can only point an alias at a version: removing an alias,
    unlinking or renaming what holds it is refused with whom to ask instead."""
    svc = world.services
    member, _ = protected_world(world)
    for change in (
        lambda: svc.registry.remove_alias(member, "model", "c", "production"),
        lambda: svc.registry.unlink(member, RegistryRef("model", "c", "v0")),
        lambda: svc.artifacts.update(member, RegistryRef("model", "c", "v0"), aliases=[]),
        lambda: svc.lifecycle.rename_collection(member, "model", "c", "c2"),
    ):
        with pytest.raises(PermissionDeniedError) as refused:
            change()
        assert "promote" not in str(refused.value) and "ask an admin" in str(refused.value)
        assert "request" not in refused.value.details
    with pytest.raises(PermissionDeniedError) as moving:
        svc.registry.set_alias(member, "model", "c", "production", "v1")
    assert "request" in moving.value.details


def test_a_promotion_request_needs_a_reason_and_is_not_made_twice(world: World) -> None:
    from modelbay.errors import InvalidInputError

    svc = world.services
    member, approver = protected_world(world)
    ref = RegistryRef("model", "c", "v1")
    with pytest.raises(InvalidInputError, match="needs a reason"):
        svc.promotions.request(member, ref, "production")
    with pytest.raises(InvalidInputError, match="needs a reason"):
        svc.promotions.request(member, ref, "production", "  ")
    first = svc.promotions.request(member, ref, "production", "beats v0")
    again = svc.promotions.request(member, ref, "production", "asked twice")
    assert again["id"] == first["id"] and again["reason"] == "beats v0"
    pending = svc.promotions.list_requests(approver, "model", state="pending")
    assert [r["id"] for r in pending] == [first["id"]]
    # The version holding the alias already: nothing to request.
    with pytest.raises(ConflictError, match="already"):
        svc.promotions.request(member, RegistryRef("model", "c", "v0"), "production", "why")
    # An admin's own promote needs no reason.
    done = svc.promotions.request(approver, ref, "production")
    assert done["state"] == "approved" and done["reason"] == ""


def test_an_approval_and_an_admins_alias_moves_at_once_never_deadlock(world: World) -> None:
    """An approval locks the collection, its request, then the alias; an admin's move or
    removal of the alias locked the alias and then the pending requests (to mark them
    stale). Every change of a collection's aliases now takes the collection's lock first."""
    import threading

    svc = world.services
    member, approver = protected_world(world)
    world.commit(world.admin, "proj", "three")
    world.link("v2")
    for round_ in range(6):
        request = svc.promotions.request(
            member, RegistryRef("model", "c", "v1"), "production", f"round {round_}"
        )
        outcomes: list[str] = []
        barrier = threading.Barrier(3)

        def run(
            name: str,
            change: Any,
            barrier: threading.Barrier = barrier,
            outcomes: list[str] = outcomes,
        ) -> None:
            barrier.wait()
            try:
                change()
                outcomes.append(f"{name} ok")
            except (ConflictError, NotFoundError):
                outcomes.append(f"{name} refused")
            except Exception as exc:  # noqa: BLE001 - the failure this test is about
                outcomes.append(f"{name} {type(exc).__name__}: {exc}")

        changes = [
            ("approve", lambda rid=request["id"]: svc.promotions.approve(approver, rid)),
            ("move", lambda: svc.registry.set_alias(world.admin, "model", "c", "production", "v2")),
            ("remove", lambda: svc.registry.remove_alias(world.admin, "model", "c", "production")),
        ]
        threads = [threading.Thread(target=run, args=change) for change in changes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(o.endswith((" ok", " refused")) for o in outcomes), (round_, outcomes)
        svc.registry.set_alias(world.admin, "model", "c", "production", "v0")
