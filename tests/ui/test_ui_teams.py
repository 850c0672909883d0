"""The teams page in headless Chromium against a real server, at desktop and phone width: a
team admin adds a member, makes them an admin, and removes them, from the settings
navigation; a plain member sees the team read-only; nothing scrolls sideways at 390 px."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from support.browser import expect, shot


def sign_in(browser: Any, ui_server: Any, key: str, width: int) -> tuple[Any, list[str]]:
    context = browser.new_context(viewport={"width": width, "height": 900}, base_url=ui_server.url)
    context.set_default_timeout(30_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("dialog", lambda dialog: dialog.accept())  # the remove button's confirmation
    tab.goto("/login")
    tab.fill("#key", key)
    tab.click("button:has-text('Sign in')")
    tab.wait_for_url(ui_server.url + "/")
    return tab, errors


def no_sideways_scroll(tab: Any) -> None:
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= tab.viewport_size["width"], f"the page is {width}px wide"


@pytest.mark.parametrize("width", [1360, 390])
def test_a_team_admin_manages_the_team_in_chromium(browser, ui_server, artifacts_dir, width):
    tag = uuid.uuid4().hex[:6]
    team, ann, bob = f"team{tag}", f"ann{tag}", f"bob{tag}"
    with httpx.Client(
        base_url=ui_server.url + "/api/v1",
        headers={"Authorization": f"Bearer {ui_server.admin_key}"},
        timeout=60,
    ) as admin:
        keys = {n: admin.post("/users", json={"name": n}).json()["key"] for n in (ann, bob)}
        admin.post("/teams", json={"name": team}).raise_for_status()
        admin.put(f"/teams/{team}/members/{ann}", json={"role": "admin"}).raise_for_status()

        tab, errors = sign_in(browser, ui_server, keys[ann], width)
        tab.click("nav.topnav a:has-text('Teams')")
        tab.wait_for_url("**/settings/teams")
        card = tab.locator(f"[data-team='{team}']")
        expect(card.locator(f"tr[data-member='{ann}']")).to_have_attribute("data-role", "admin")
        card.locator("[data-testid=add-team-member] input[name=user]").fill(bob)
        card.locator("[data-testid=add-team-member] button:has-text('Add')").click()
        expect(tab.locator(".flash")).to_contain_text(f"{bob} is member of team {team}")
        row = card.locator(f"tr[data-member='{bob}']")
        expect(row).to_have_attribute("data-role", "member")
        no_sideways_scroll(tab)
        shot(tab, artifacts_dir, f"teams-{width}")

        row.locator("select[name=role]").select_option("admin")
        row.locator("button:has-text('Change')").click()
        expect(card.locator(f"tr[data-member='{bob}']")).to_have_attribute("data-role", "admin")
        listed = {t["name"]: t for t in admin.get("/teams").json()["teams"]}
        assert listed[team]["admins"] == sorted([ann, bob])
        card.locator(f"tr[data-member='{bob}'] button:has-text('Remove')").click()
        expect(tab.locator(".flash")).to_contain_text(f"Removed {bob} from team {team}")
        expect(card.locator(f"tr[data-member='{bob}']")).to_have_count(0)

        # A plain member sees the team, and no form to change it.
        admin.put(f"/teams/{team}/members/{bob}").raise_for_status()
        member, member_errors = sign_in(browser, ui_server, keys[bob], width)
        member.goto("/settings/teams")
        theirs = member.locator(f"[data-team='{team}']")
        expect(theirs.locator(f"tr[data-member='{bob}']")).to_have_attribute("data-role", "member")
        expect(theirs.locator("form")).to_have_count(0)
        expect(member.locator("[data-testid=create-team]")).to_have_count(0)
        no_sideways_scroll(member)
        tab.context.close()
        member.context.close()
    assert errors == [] and member_errors == []


def test_a_member_posting_to_the_teams_page_is_refused(ui_server, csrf):
    tag = uuid.uuid4().hex[:6]
    with httpx.Client(
        base_url=ui_server.url + "/api/v1",
        headers={"Authorization": f"Bearer {ui_server.admin_key}"},
    ) as admin:
        key = admin.post("/users", json={"name": f"m{tag}"}).json()["key"]
        admin.post("/users", json={"name": f"o{tag}"}).raise_for_status()
        admin.post("/teams", json={"name": f"t{tag}"}).raise_for_status()
        admin.put(f"/teams/t{tag}/members/m{tag}").raise_for_status()
    with httpx.Client(base_url=ui_server.url) as browser:
        token = csrf(browser.get("/login").text)
        assert browser.post("/login", data={"csrf_token": token, "key": key}).status_code == 303
        page = browser.get("/settings/teams")
        data = {
            "csrf_token": csrf(page.text),
            "action": "add_member",
            "team": f"t{tag}",
            "user": f"o{tag}",
        }
        refused = browser.post("/settings/teams", data=data)
        assert refused.status_code == 403
        assert f'data-error="add_member:t{tag}"' in refused.text
        created = browser.post(
            "/settings/teams",
            data={"csrf_token": data["csrf_token"], "action": "create_team", "team": f"x{tag}"},
        )
        assert created.status_code == 403 and 'data-error="create_team"' in created.text
