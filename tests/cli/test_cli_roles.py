"""The CLI of roles (issue #15): teams, registry members and settings, protected aliases,
and promotion requests, run in-process through Typer's runner.

The admin's commands run embedded and over HTTP (fixture ``mb``); what a member meets (a
refusal that says how to ask, a request, an approval by someone else) needs a second user
and a server, so those run over HTTP only, each user with their own key.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from modelbay import Api
from modelbay.cli.main import app

if TYPE_CHECKING:
    from cli.conftest import Model

runner = CliRunner()


def invoke(*args: str, key: str | None = None) -> Result:
    env = {"MODELBAY_API_KEY": key} if key else None
    return runner.invoke(app, list(args), env=env)


def ok(*args: str, key: str | None = None) -> str:
    result = invoke(*args, key=key)
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
    return result.stdout


def ok_json(*args: str, key: str | None = None) -> Any:
    return json.loads(ok(*args, "--json", key=key))


def fails(*args: str, key: str | None = None) -> str:
    """A command that must fail with a non-zero exit and one ``error:`` line."""
    result = invoke(*args, key=key)
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def fails_json(*args: str, key: str | None = None) -> dict[str, Any]:
    result = invoke(*args, "--json", key=key)
    assert result.exit_code != 0 and result.stdout == "", result.output
    return json.loads(result.stderr)["error"]  # type: ignore[no-any-return]


def registry_with_model(model: Model, uniq: str, visibility: str = "organization") -> str:
    """A custom registry ``r<uniq>`` with collection ``M`` linked from v0..v2 of the model."""
    name = f"r{uniq}"
    ok("registry", "create", name, "--visibility", visibility)
    for i in range(3):
        Api().artifact(f"{model.artifact}:v{i}").link(f"{name}-registry/M")
    return name


# -- as an admin, embedded and over HTTP --------------------------------------------------------


def test_teams(mb: Any, uniq: str) -> None:
    me = Api().whoami()["user"]
    team = f"t{uniq}"
    assert ok("team", "create", team).strip() == f"created team {team}"
    assert ok_json("team", "add", team, me)["members"] == [me]
    listed = {t["name"]: t for t in ok_json("team", "list")}
    assert listed[team]["members"] == [me]
    assert team in ok("team", "list")
    assert ok("team", "add", team, me, "--role", "admin").strip() == f"team {team}: {me} (admin)"
    assert {t["name"]: t for t in ok_json("team", "list")}[team]["admins"] == [me]
    assert "invalid team role" in fails("team", "add", team, me, "--role", "owner")
    assert "exists already" in fails("team", "create", team)
    assert "not found" in fails("team", "add", team, f"nobody{uniq}")
    assert "not found" in fails("team", "add", f"none{uniq}", me)
    assert ok_json("team", "remove", team, me) == {"team": team, "removed": [me]}
    assert {t["name"]: t for t in ok_json("team", "list")}[team]["members"] == []
    assert "not in team" in fails("team", "remove", team, me)


def test_registry_create_show_and_set(mb: Any, uniq: str) -> None:
    name = f"r{uniq}"
    made = ok_json(
        "registry",
        "create",
        f"{name}-registry",
        "--visibility",
        "restricted",
        "--type",
        "model",
        "--description",
        "fine-tuned",
    )
    assert made["name"] == name and made["visibility"] == "restricted"
    assert made["artifact_types"] == ["model"]
    assert "exists already" in fails("registry", "create", name)
    assert "visibility" in fails("registry", "create", f"x{uniq}", "--visibility", "secret")
    shown = ok_json("registry", "show", name)
    assert shown["role"] == "admin" and shown["members"] == [] and shown["required_approvals"] == 1
    changed = ok_json("registry", "set", name, "--approvals", "2", "--visibility", "organization")
    assert changed["required_approvals"] == 2 and changed["visibility"] == "organization"
    assert "nothing to change" in fails("registry", "set", name)
    assert "not found" in fails("registry", "show", f"none{uniq}")
    text = ok("registry", "show", name)
    assert f"{name}-registry" in text and "approvals needed per promotion: 2" in text


def test_registry_members(mb: Any, uniq: str) -> None:
    me = Api().whoami()["user"]
    name, team = f"r{uniq}", f"t{uniq}"
    ok("registry", "create", name, "--visibility", "restricted")
    ok("team", "create", team)
    assert ok_json("registry", "member", "add", name, team, "--role", "member") == {
        **ok_json("registry", "member", "list", name)[0],
        "kind": "team",
        "name": team,
        "role": "member",
    }
    ok("registry", "member", "add", name, f"user:{me}", "--role", "viewer")
    ok("registry", "member", "add", name, team, "--role", "admin")  # changes the role
    members = {
        (m["kind"], m["name"]): m["role"] for m in ok_json("registry", "member", "list", name)
    }
    assert members == {("team", team): "admin", ("user", me): "viewer"}
    assert "invalid role" in fails("registry", "member", "add", name, team, "--role", "owner")
    assert "no user or team" in fails(
        "registry", "member", "add", name, f"x{uniq}", "--role", "member"
    )
    assert (
        fails_json("registry", "member", "add", f"none{uniq}", team, "--role", "member")["code"]
        == "not_found"
    )
    removed = ok_json("registry", "member", "remove", name, team)
    assert removed == {"registry": name, "removed": {"kind": "team", "name": team}}
    assert "is not a member" in fails("registry", "member", "remove", name, team)
    assert [m["name"] for m in ok_json("registry", "member", "list", name)] == [me]


def test_protect_and_unprotect(mb: Any, uniq: str) -> None:
    name = f"r{uniq}"
    ok("registry", "create", name)
    found = ok_json("registry", "protect", name, "production", "prod-*")
    assert sorted(found["protected_aliases"]) == ["prod-*", "production"]
    assert "latest" in fails("registry", "protect", name, "lat*")
    assert ok_json("registry", "unprotect", name, "prod-*")["protected_aliases"] == ["production"]
    assert "is not protected" in fails("registry", "unprotect", name, "prod-*")
    assert ok("registry", "unprotect", name, "production").strip() == f"protected in {name}: -"


def test_an_admins_promote_moves_the_alias(mb: Any, model: Model, uniq: str) -> None:
    name = registry_with_model(model, uniq)
    ok("registry", "protect", name, "production")
    done = ok_json("promote", f"{name}-registry/M:v1", "production", "--reason", "best eval")
    assert done["state"] == "approved" and done["reviews"] == []
    assert Api().collection(f"{name}-registry/M").aliases["production"] == "v1"
    assert ok("promote", f"{name}-registry/M:v2", "production", "--reason", "newer").strip() == (
        f"production -> {name}-registry/M:v2"
    )
    assert ok_json("requests", "--registry", name) == []  # nothing waits
    assert [p["state"] for p in ok_json("requests", "-r", name, "--state", "all")] == [
        "approved",
        "approved",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["p/net:v0", "production"], "promote takes a registry version"),
        (["net:v0", "production"], "names no registry or project"),
        (["model-registry/NoSuchModel:v0", "production"], "not found"),
        (["model-registry/M:v0", "bad alias!"], "alias"),
    ],
)
def test_promote_refuses_bad_references(mb: Any, args: list[str], message: str) -> None:
    assert message in fails("promote", *args, "--reason", "x")


def test_requests_approve_reject_refuse_bad_input(mb: Any, uniq: str) -> None:
    assert "not found" in fails("approve", "999999")
    assert "not found" in fails("reject", "999999", "--reason", "no")
    assert "invalid state" in fails("requests", "--state", "waiting")
    assert "not found" in fails("requests", "--registry", f"none{uniq}")
    assert invoke("approve", "0").exit_code != 0
    assert invoke("approve", "abc").exit_code != 0


# -- a member and an admin, over HTTP ---------------------------------------------------------


@pytest.fixture
def member_key(mb: Any, uniq: str) -> str:
    """The key of a new user (not an admin), over HTTP only."""
    if mb.kind != "http":
        pytest.skip("a second user needs a server")
    with httpx.Client(
        base_url=mb.env["MODELBAY_URL"] + "/api/v1",
        headers={"Authorization": f"Bearer {mb.env['MODELBAY_API_KEY']}"},
    ) as admin:
        resp = admin.post("/users", json={"name": f"u{uniq}"})
        resp.raise_for_status()
        return str(resp.json()["key"])


def test_a_member_asks_and_an_admin_approves(
    mb: Any, model: Model, uniq: str, member_key: str
) -> None:
    name = registry_with_model(model, uniq, "restricted")
    version = f"{name}-registry/M:v1"
    ok("registry", "member", "add", name, f"u{uniq}", "--role", "member")
    ok("registry", "protect", name, "production")
    ok("alias", "add", f"{name}-registry/M:v0", "production")

    # Moving the protected alias is refused, and the refusal says how to ask.
    refused = fails("alias", "add", version, "production", key=member_key)
    assert "protected" in refused and f"modelbay promote {version} production" in refused
    assert fails_json("alias", "add", version, "production", key=member_key)["code"] == (
        "permission_denied"
    )
    # The member's promote makes a request and says so.
    said = ok("promote", version, "production", "--reason", "beats v0", key=member_key)
    assert said.startswith(f"requested production -> {version}: request ") and "waits" in said
    pending = ok_json("requests", "--registry", name)
    assert len(pending) == 1
    request = pending[0]
    assert request["requester"] == f"u{uniq}" and request["reason"] == "beats v0"
    assert ok_json("requests")[0]["id"] == request["id"]  # across registries too
    assert Api().collection(f"{name}-registry/M").aliases["production"] == "v0"

    # The requester cannot approve it; an admin can, and the alias moves.
    assert "needs the admin role" in fails("approve", str(request["id"]), key=member_key)
    approved = ok("approve", str(request["id"]), "--comment", "ok").strip()
    assert approved == f"approved request {request['id']}: production -> {version}"
    assert Api().collection(f"{name}-registry/M").aliases["production"] == "v1"
    assert "not pending" in fails("approve", str(request["id"]))
    actions = [e["action"] for e in ok_json("history", version)]
    for action in ("promotion.requested", "promotion.approved", "alias.added"):
        assert action in actions


def test_a_rejected_request_moves_nothing(
    mb: Any, model: Model, uniq: str, member_key: str
) -> None:
    name = registry_with_model(model, uniq)
    ok("registry", "member", "add", name, f"u{uniq}", "--role", "member")
    ok("registry", "protect", name, "prod-*")
    asked = ok_json("promote", f"{name}-registry/M:v2", "prod-eu", "--reason", "r", key=member_key)
    assert asked["state"] == "pending"
    # Made an admin of the registry since, the requester still cannot approve their own.
    ok("registry", "member", "add", name, f"u{uniq}", "--role", "admin")
    assert "cannot approve your own" in fails("approve", str(asked["id"]), key=member_key)
    rejected = ok_json("reject", str(asked["id"]), "--reason", "not yet")
    assert rejected["state"] == "rejected" and rejected["reviews"][0]["comment"] == "not yet"
    assert "prod-eu" not in Api().collection(f"{name}-registry/M").aliases
    assert [p["id"] for p in ok_json("requests", "-r", name, "--state", "rejected")] == [
        asked["id"]
    ]


def test_a_viewer_cannot_promote(mb: Any, model: Model, uniq: str, member_key: str) -> None:
    name = registry_with_model(model, uniq)
    ok("registry", "member", "add", name, f"u{uniq}", "--role", "viewer")
    refused = fails("promote", f"{name}-registry/M:v0", "prod", "--reason", "x", key=member_key)
    assert "needs the member role" in refused
    assert ok_json("requests", "-r", name, "--state", "all") == []


def test_a_member_withdraws_their_request(
    mb: Any, model: Model, uniq: str, member_key: str
) -> None:
    name = registry_with_model(model, uniq)
    ok("registry", "member", "add", name, f"u{uniq}", "--role", "member")
    ok("registry", "protect", name, "production")
    version = f"{name}-registry/M:v1"
    asked = ok_json("promote", version, "production", "--reason", "r", key=member_key)
    said = ok("withdraw", str(asked["id"]), key=member_key).strip()
    assert said == f"withdrew request {asked['id']} (production on {version})"
    assert ok_json("requests", "-r", name) == []
    assert [p["state"] for p in ok_json("requests", "-r", name, "--state", "all")] == ["cancelled"]
    assert "production" not in Api().collection(f"{name}-registry/M").aliases
    assert "not pending" in fails("withdraw", str(asked["id"]), key=member_key)
    assert "not found" in fails("withdraw", "999999", key=member_key)
    assert "promotion.cancelled" in [e["action"] for e in ok_json("history", version)]
