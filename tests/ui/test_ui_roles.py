"""Roles in the web UI (issue #15), against a real server: a registry's settings page
(visibility, accepted types, approvals needed, members, protected aliases), locks on
protected aliases, and the page of promotion requests. Forms are driven over HTTP with
their CSRF tokens; the whole flow (a member refused, a request, an admin's approval, the
alias moved, the history of all three) runs in Chromium, at desktop and phone width."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from support.browser import expect, shot

SEED = """
import modelbay, pathlib
run = modelbay.init(project="ui-roles")
for i in range(3):
    path = pathlib.Path(f"model-{{i}}.bin")
    path.write_text("weights {name} " + str(i))
    run.link_model(path, "{registry}-registry/M", name="{name}")
run.finish()
"""


@dataclass
class Setup:
    registry: str
    member: str
    member_key: str
    admin_api: httpx.Client


@pytest.fixture
def setup(ui_server: Any, run_sdk: Callable[[str], Any]) -> Iterator[Setup]:
    """A fresh organization registry ``r<uniq>`` holding M v0..v2, ``production``
    protected and on v0, and a user who is a member of it."""
    uniq = uuid.uuid4().hex[:6]
    registry, member = f"r{uniq}", f"mem{uniq}"
    api = httpx.Client(
        base_url=ui_server.url + "/api/v1",
        headers={"Authorization": f"Bearer {ui_server.admin_key}"},
        timeout=60,
    )
    api.post("/registries", json={"name": registry}).raise_for_status()
    run_sdk(SEED.format(registry=registry, name=f"net{uniq}"))
    key = api.post("/users", json={"name": member}).json()["key"]
    members = f"/registries/{registry}/members"
    api.post(members, json={"user": member, "role": "member"}).raise_for_status()
    api.put(f"/registries/{registry}/protected-aliases/production").raise_for_status()
    api.put(f"/registries/{registry}/collections/M/aliases/production", json={"version": "v0"})
    try:
        yield Setup(registry, member, key, api)
    finally:
        api.close()


@contextlib.contextmanager
def login(base_url: str, key: str, csrf: Callable[[str], str]) -> Iterator[httpx.Client]:
    """A client signed in to the UI with ``key``, through the login form."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        page = client.get("/login")
        signed = client.post("/login", data={"csrf_token": csrf(page.text), "key": key})
        assert signed.status_code == 303, signed.text
        yield client


def post(client: httpx.Client, url: str, csrf: Callable[[str], str], **data: str) -> Any:
    page = client.get(url)
    return client.post(url, data={"csrf_token": csrf(page.text), **data})


# -- over HTTP ----------------------------------------------------------------------------------


def test_settings_page_changes_settings_members_and_protection(signed_in, setup, csrf):
    url = f"/settings/registries/{setup.registry}"
    page = signed_in.get(url)
    assert page.status_code == 200 and 'data-testid="settings-form"' in page.text
    assert f'data-member="user:{setup.member}"' in page.text
    assert 'data-protected="production"' in page.text

    resp = post(
        signed_in,
        url,
        csrf,
        action="settings",
        visibility="restricted",
        artifact_types="model *-ckpt",
        required_approvals="2",
        description="<b>fine-tuned</b>",
    )
    assert resp.status_code == 303
    reg = setup.admin_api.get(f"/registries/{setup.registry}").json()
    assert reg["visibility"] == "restricted" and reg["required_approvals"] == 2
    assert reg["artifact_types"] == ["model", "*-ckpt"]
    html = signed_in.get(url).text
    assert "<b>fine-tuned</b>" not in html and "&lt;b&gt;fine-tuned&lt;/b&gt;" in html

    bad = post(
        signed_in,
        url,
        csrf,
        action="settings",
        visibility="secret",
        artifact_types="",
        required_approvals="1",
        description="",
    )
    assert bad.status_code == 400 and 'data-error="settings"' in bad.text
    assert setup.admin_api.get(f"/registries/{setup.registry}").json()["visibility"] == (
        "restricted"
    )

    assert post(signed_in, url, csrf, action="protect", pattern="prod-*").status_code == 303
    refused = post(signed_in, url, csrf, action="protect", pattern="lat*")
    assert refused.status_code == 400 and "latest" in refused.text
    assert post(signed_in, url, csrf, action="unprotect", pattern="prod-*").status_code == 303
    patterns = setup.admin_api.get(f"/registries/{setup.registry}/protected-aliases").json()
    assert patterns["protected_aliases"] == ["production"]

    changed = post(
        signed_in, url, csrf, action="add_member", kind="user", name=setup.member, role="viewer"
    )
    assert changed.status_code == 303
    unknown = post(
        signed_in, url, csrf, action="add_member", kind="team", name="no-such-team", role="member"
    )
    assert unknown.status_code == 404 and 'data-error="add_member"' in unknown.text
    members = setup.admin_api.get(f"/registries/{setup.registry}/members").json()["members"]
    assert [(m["name"], m["role"]) for m in members] == [(setup.member, "viewer")]
    gone = post(signed_in, url, csrf, action="remove_member", kind="user", name=setup.member)
    assert gone.status_code == 303
    assert setup.admin_api.get(f"/registries/{setup.registry}/members").json()["members"] == []


def test_settings_forms_need_the_csrf_token_and_the_admin_role(signed_in, setup, csrf, ui_server):
    url = f"/settings/registries/{setup.registry}"
    forged = signed_in.post(url, data={"action": "protect", "pattern": "prod-*"})
    assert forged.status_code == 403
    with login(ui_server.url, setup.member_key, csrf) as member:
        page = member.get(url)
        assert page.status_code == 200 and 'data-testid="settings-form"' not in page.text
        assert 'data-testid="my-role">member<' in page.text
        refused = post(member, url, csrf, action="protect", pattern="prod-*")
        assert refused.status_code == 403 and "needs the admin role" in refused.text
    patterns = setup.admin_api.get(f"/registries/{setup.registry}/protected-aliases").json()
    assert patterns["protected_aliases"] == ["production"]


def test_protected_aliases_carry_a_lock(signed_in, setup):
    collection = signed_in.get(f"/registries/{setup.registry}/M").text
    chips = re.findall(r'<span class="chip alias-(\w+)( protected)?"', collection)
    assert ("production", " protected") in chips
    assert ("latest", "") in chips and ("latest", " protected") not in chips
    assert 'data-testid="protected-hint"' in collection
    version = signed_in.get(f"/registries/{setup.registry}/M/v0").text
    assert 'data-alias="production" data-locked="true"' in version


def test_a_member_requests_and_an_admin_approves_in_forms(signed_in, setup, csrf, ui_server):
    v1 = f"/registries/{setup.registry}/M/v1"
    with login(ui_server.url, setup.member_key, csrf) as member:
        refused = post(member, v1, csrf, action="add_alias", alias="production")
        assert refused.status_code == 403
        error = re.search(r'data-error="add_alias">([^<]*)<', refused.text)
        assert error and "protected" in error.group(1) and "modelbay promote" in error.group(1)
        assert 'data-testid="promote-form"' in refused.text
        evil = "<script>alert(1)</script> beats v0"
        asked = post(member, v1, csrf, action="promote", alias="production", reason=evil)
        assert asked.status_code == 303
        assert "waits for an admin" in member.get(v1).text
        mine = member.get("/requests").text
        assert 'data-testid="own-request"' in mine and "<script>alert(1)" not in mine
        assert "&lt;script&gt;alert(1)&lt;/script&gt; beats v0" in mine
    page = signed_in.get("/requests")
    request_id = re.search(r'data-request="(\d+)" data-state="pending"', page.text).group(1)
    assert 'value="approve"' in page.text
    done = signed_in.post(
        "/requests",
        data={
            "csrf_token": csrf(page.text),
            "request": request_id,
            "action": "approve",
            "comment": "ok",
        },
    )
    assert done.status_code == 303
    aliases = setup.admin_api.get(f"/registries/{setup.registry}/collections/M").json()
    assert aliases["aliases"]["production"] == "v1"
    again = signed_in.post(
        "/requests",
        data={"csrf_token": csrf(page.text), "request": request_id, "action": "approve"},
    )
    assert again.status_code == 409 and f'data-error="approve-{request_id}"' in again.text
    history = signed_in.get(v1).text
    actions = re.findall(r'data-action="([a-z_.]+)"', history)
    assert actions[:3] == ["alias.added", "promotion.approved", "promotion.requested"]


# -- in Chromium ----------------------------------------------------------------------------------


def sign_in(browser: Any, ui_server: Any, key: str, width: int) -> tuple[Any, list[str]]:
    context = browser.new_context(viewport={"width": width, "height": 900}, base_url=ui_server.url)
    context.set_default_timeout(30_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto("/login")
    tab.fill("#key", key)
    tab.click("button:has-text('Sign in')")
    tab.wait_for_url(ui_server.url + "/")
    return tab, errors


def no_sideways_scroll(tab: Any) -> None:
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= tab.viewport_size["width"], f"the page is {width}px wide"


@pytest.mark.parametrize("width", [1360, 390])
def test_the_promotion_flow_in_chromium(browser, ui_server, setup, artifacts_dir, width):
    member, member_errors = sign_in(browser, ui_server, setup.member_key, width)
    admin, admin_errors = sign_in(browser, ui_server, ui_server.admin_key, width)
    v1 = f"/registries/{setup.registry}/M/v1"
    try:
        # The member's move of the protected alias is refused, with the way to ask.
        member.goto(v1)
        member.fill("#aliases input[name=alias]", "production")
        member.click("#aliases button:has-text('Add alias')")
        expect(member.locator('[data-error="add_alias"]')).to_contain_text("protected")
        expect(member.locator("#promote-alias")).to_have_value("production")  # kept for asking
        no_sideways_scroll(member)
        shot(member, artifacts_dir, f"roles-refused-{width}")
        # ... so they request it.
        member.fill("#promote-alias", "production")
        member.fill("#promote-reason", "v1 beats v0 on the held-out set")
        member.click("#promote-form button[type=submit]")
        expect(member.locator(".flash")).to_contain_text("waits for an admin")
        member.goto("/requests")
        expect(member.locator('[data-testid="own-request"]')).to_be_visible()
        expect(member.locator("button[value=approve]")).to_have_count(0)

        # The admin approves it on the requests page.
        admin.goto("/requests")
        card = admin.locator(".request[data-state=pending]").filter(has_text="v1 beats v0")
        expect(card).to_have_count(1)
        no_sideways_scroll(admin)
        shot(admin, artifacts_dir, f"roles-requests-{width}")
        card.locator("input[name=comment]").fill("checked the eval")
        card.locator("button[value=approve]").click()
        expect(admin.locator(".flash")).to_contain_text("Approved: production")

        # The alias moved, shows its lock, and the version's history holds all three.
        admin.goto(v1)
        expect(admin.locator('[data-testid=aliases] [data-alias="production"]')).to_have_attribute(
            "data-locked", "true"
        )
        history = admin.locator("[data-testid=history] li")
        expect(history.nth(0)).to_have_attribute("data-action", "alias.added")
        expect(history.nth(1)).to_have_attribute("data-action", "promotion.approved")
        expect(history.nth(2)).to_have_attribute("data-action", "promotion.requested")
        expect(history.nth(2)).to_have_attribute("data-actor", setup.member)
        expect(history.nth(1)).to_contain_text("checked the eval")
        no_sideways_scroll(admin)
        shot(admin, artifacts_dir, f"roles-version-{width}")

        admin.goto(f"/settings/registries/{setup.registry}")
        expect(admin.locator('[data-protected="production"]')).to_be_visible()
        no_sideways_scroll(admin)
        shot(admin, artifacts_dir, f"roles-settings-{width}")
    finally:
        member.context.close()
        admin.context.close()
    assert member_errors == [] and admin_errors == []


def test_two_approvals_and_a_stale_request(signed_in, setup, csrf, ui_server):
    """A registry that needs two approvals moves the alias at the second; a request whose
    alias moved meanwhile is refused as stale, and the page says so."""
    api, registry = setup.admin_api, setup.registry
    api.patch(f"/registries/{registry}", json={"required_approvals": 2}).raise_for_status()
    second = f"adm{uuid.uuid4().hex[:6]}"
    second_key = api.post("/users", json={"name": second}).json()["key"]
    member = {"user": second, "role": "admin"}
    api.post(f"/registries/{registry}/members", json=member).raise_for_status()
    with login(ui_server.url, setup.member_key, csrf) as asker:
        for version in ("v1", "v2"):
            url = f"/registries/{registry}/M/{version}"
            reason = f"{version} please"
            asked = post(asker, url, csrf, action="promote", alias="production", reason=reason)
            assert asked.status_code == 303
    pending = api.get(f"/registries/{registry}/promotions", params={"state": "pending"})
    by_version = {p["version"]: p["id"] for p in pending.json()["requests"]}

    def review(client: httpx.Client, request_id: int) -> httpx.Response:
        page = client.get("/requests")
        data = {"csrf_token": csrf(page.text), "request": str(request_id), "action": "approve"}
        return client.post("/requests", data=data)

    first = review(signed_in, by_version["v1"])
    assert first.status_code == 303
    assert "needs more approvals" in signed_in.get("/requests").text
    production = api.get(f"/registries/{registry}/collections/M").json()["aliases"]
    assert production["production"] == "v0"
    with login(ui_server.url, second_key, csrf) as other:
        assert review(other, by_version["v1"]).status_code == 303
    production = api.get(f"/registries/{registry}/collections/M").json()["aliases"]
    assert production["production"] == "v1"
    # The v2 request was made when production was on v0: it is stale now.
    stale = review(signed_in, by_version["v2"])
    assert stale.status_code == 409 and "is stale" in stale.text
    states = api.get(f"/registries/{registry}/promotions").json()["requests"]
    assert {p["version"]: p["state"] for p in states} == {"v1": "approved", "v2": "stale"}
