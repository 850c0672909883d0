"""A user's keys page and the audit log, in headless Chromium against a real server: create
a key (shown once), use it, revoke it with a click, and find both in the audit log and its
CSV export (issue #15)."""

from __future__ import annotations

import csv
import io
import uuid

import httpx
from support.browser import expect, shot


def whoami(url: str, key: str) -> int:
    resp = httpx.get(f"{url}/api/v1/whoami", headers={"Authorization": f"Bearer {key}"})
    return resp.status_code


def test_create_a_key_shown_once_revoke_it_and_find_it_in_the_audit_log(
    page, ui_server, artifacts_dir
):
    name = f"laptop-{uuid.uuid4().hex[:6]}"
    page.click("a.me-link")
    page.wait_for_url("**/keys")
    page.fill("input[name=name]", name)
    page.select_option("select[name=expires]", "30")
    page.click("button:has-text('Create key')")
    shown = page.locator("[data-testid=new-key-value]")
    expect(shown).to_be_visible()
    key = shown.inner_text().strip()
    assert key.startswith("mb_") and whoami(ui_server.url, key) == 200
    shot(page, artifacts_dir, "keys-created")
    row = page.locator("[data-testid=keys] tbody tr", has_text=name)
    expect(row).to_have_attribute("data-state", "active")
    expect(row).not_to_contain_text(key)  # listed by its prefix only

    page.goto("/keys")  # the key is not shown again
    expect(page.locator("[data-testid=new-key]")).to_have_count(0)
    page.locator("[data-testid=keys] tbody tr", has_text=name).locator(
        "button:has-text('Revoke')"
    ).click()
    expect(page.locator(".flash")).to_contain_text("Revoked key")
    expect(page.locator("[data-testid=keys] tbody tr", has_text=name)).to_have_attribute(
        "data-state", "revoked"
    )
    assert whoami(ui_server.url, key) == 401

    page.click("nav.topnav a:has-text('Audit')")
    page.fill("input[name=action]", "key.*")
    page.click("button:has-text('Filter')")
    rows = page.locator("[data-testid=audit] tbody tr")
    expect(rows.first).to_have_attribute("data-action", "key.revoked")
    expect(rows.nth(1)).to_have_attribute("data-action", "key.created")
    shot(page, artifacts_dir, "audit")
    exported = page.request.get("/audit.csv?action=key.*")
    assert exported.ok and exported.headers["content-type"].startswith("text/csv")
    records = list(csv.DictReader(io.StringIO(exported.text())))
    assert [r["action"] for r in records[:2]] == ["key.revoked", "key.created"]
    assert name in records[1]["after"]


def test_the_audit_log_is_for_organization_admins_only(ui_server, csrf):
    api = httpx.Client(
        base_url=ui_server.url + "/api/v1",
        headers={"Authorization": f"Bearer {ui_server.admin_key}"},
    )
    key = api.post("/users", json={"name": f"na{uuid.uuid4().hex[:6]}"}).json()["key"]
    with httpx.Client(base_url=ui_server.url) as browser:
        token = csrf(browser.get("/login").text)
        assert browser.post("/login", data={"csrf_token": token, "key": key}).status_code == 303
        assert browser.get("/keys").status_code == 200
        assert browser.get("/audit").status_code == 403
        assert browser.get("/audit.csv").status_code == 403
        assert 'href="/audit"' not in browser.get("/").text
