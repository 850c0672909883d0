"""``modelbay user``, ``modelbay key`` and ``modelbay audit``: the real command in a child
process, embedded (as the local OS user, an admin of their own data) and over HTTP."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

import modelbay

SRC = str(Path(modelbay.__file__).resolve().parents[1])


def cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Any:
    environ = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "80", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "modelbay", *args],
        capture_output=True,
        text=True,
        env=environ,
        input=stdin,
        timeout=120,
    )


def ok_json(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Any:
    done = cli(*args, "--json", env=env, stdin=stdin)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr}"
    return json.loads(done.stdout)


def test_user_and_key_commands_create_list_and_revoke(mb: Any) -> None:
    name = f"u{uuid.uuid4().hex[:6]}"
    made = ok_json("user", "create", name)
    assert made["user"] == name and made["key"].startswith("mb_")
    # Without --json the key alone goes to stdout, once, for a script to capture.
    plain = cli("user", "create", f"{name}b")
    assert plain.returncode == 0 and plain.stdout.strip().startswith("mb_")
    assert "shown once" in plain.stderr

    if mb.kind == "embedded":
        return  # embedded: the local user acts; keys are for servers
    as_user = {"MODELBAY_API_KEY": made["key"]}
    key = ok_json("key", "create", "--name", "ci", "--expires", "30d", env=as_user)
    assert key["name"] == "ci" and key["expires_at"] is not None and key["user"] == name
    listed = ok_json("key", "list", env=as_user)
    assert {k["name"] for k in listed} == {"ci", "created by admin"}
    assert all("key" not in k for k in listed)
    ok_json("key", "revoke", str(key["id"]), env=as_user)
    url = mb.env["MODELBAY_URL"]
    refused = httpx.get(f"{url}/api/v1/whoami", headers={"Authorization": f"Bearer {key['key']}"})
    assert refused.status_code == 401
    everyone = ok_json("key", "list", "--all")
    assert {name, "admin"} <= {k["user"] for k in everyone}
    denied = cli("key", "list", "--all", env=as_user)
    assert denied.returncode == 2 and "only admins" in denied.stderr

    ok_json("user", "password", name, "--password-stdin", stdin="a fine password\n")
    ok_json("user", "password", "--password-stdin", env=as_user, stdin="her own password\n")
    users = {u["name"]: u for u in ok_json("user", "list")}
    assert users[name]["has_password"]


def test_a_service_account_is_made_for_a_team(mb: Any) -> None:
    team, bot = f"t{uuid.uuid4().hex[:6]}", f"ci{uuid.uuid4().hex[:6]}"
    from modelbay.contract import operations as ops
    from modelbay.contract import requests as rq
    from modelbay.sdk.transport import connect

    connect().call(ops.CREATE_TEAM, rq.TeamCreate(name=team))
    made = ok_json("user", "create", bot, "--team", team)
    assert made["team"] == team and made["key"].startswith("mb_")
    users = {u["name"]: u for u in ok_json("user", "list")}
    assert users[bot]["team"] == team and not users[bot]["has_password"]
    refused = cli("user", "password", bot, "--password-stdin", "--json", stdin="whatever123\n")
    assert refused.returncode == 2 and "service account" in refused.stderr


def test_audit_filters_and_exports_csv_and_json(mb: Any) -> None:
    name = f"a{uuid.uuid4().hex[:6]}"
    ok_json("user", "create", name)
    ok_json("user", "create", f"{name}x")
    found = ok_json("audit", "--object", f"user/{name}")["events"]
    assert [e["action"] for e in found] == ["key.created", "user.created"]
    recent = ok_json("audit", "--action", "user.*", "--since", "1h", "--limit", "1")
    assert len(recent["events"]) == 1 and recent["next_page_token"] is not None
    assert recent["events"][0]["subject"] == f"user/{name}x"
    old = ok_json("audit", "--until", "2000-01-01")
    assert old["events"] == []
    done = cli("audit", "--object", f"user/{name}", "--csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [r["action"] for r in rows] == ["key.created", "user.created"]
    assert rows[1]["subject"] == f"user/{name}" and rows[1]["time"].endswith("+00:00")
    assert json.loads(rows[1]["after"]) == {"is_admin": False}
