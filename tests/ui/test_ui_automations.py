"""The Automations tab in a real browser against a real server: the list of a collection's
automations with the banner of a disabled one (a receiver that answered 410), one
automation's delivery history with every attempt, the Test and Replay buttons, and labels
from user data (an alias regex, a receiver's answer) shown as text."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.browser import expect
from support.processes import ServerProcess
from support.receiver import Receiver

HOSTILE = '<img src=x onerror="window.hacked=1">'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        tmp_path_factory.mktemp("ui-automations"), args=["--allow-private-destinations"]
    )
    try:
        yield proc
    finally:
        proc.stop()


def ok(resp: httpx.Response) -> Any:
    assert resp.is_success, f"{resp.request.method} {resp.request.url}: {resp.text}"
    return resp.json() if resp.content else None


def link_version(api: httpx.Client, collection: str) -> str:
    content = uuid.uuid4().hex
    digest = hashlib.sha256(content.encode()).hexdigest()
    files = [{"path": "w.bin", "sha256": digest, "size": 32, "ref": f"https://e.com/{digest}"}]
    made = ok(
        api.post("/projects/uip/artifacts/net/versions", json={"type": "model", "files": files})
    )
    path = f"/registries/model/collections/{collection}/versions"
    return str(
        ok(api.post(path, json={"artifact": f"uip/net:{made['version']}"}))["link"]["version"]
    )


def wait_until(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def sign_in(browser: Any, server: ServerProcess) -> Any:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=server.url)
    context.set_default_timeout(30_000)
    tab = context.new_page()
    tab.goto("/login")
    tab.fill("#key", server.admin_key)
    tab.click("button:has-text('Sign in')")
    tab.wait_for_url(server.url + "/")
    return tab


def test_the_automations_tab(browser: Any, server: ServerProcess, artifacts_dir: Path) -> None:
    good = Receiver(script=[(200, {"Content-Type": "text/html"}, HOSTILE.encode())])
    gone = Receiver(script=[(410, {}, b"gone")])
    api = httpx.Client(
        base_url=server.url + "/api/v1",
        headers={"Authorization": f"Bearer {server.admin_key}"},
        timeout=60,
    )
    try:
        first = link_version(api, "Ranker")
        link_version(api, "Ranker")
        scope = "collection:model/Ranker"
        for name, url in (("deploy", good.url + "/ok"), ("old-hook", gone.url + "/gone")):
            body = {"name": name, "scope": scope, "event": "alias-added", "action": "webhook",
                    "url": url, "alias_regex": f"production|{HOSTILE}"}  # fmt: skip
            ok(api.post("/automations", json=body))
        ok(
            api.put(
                "/registries/model/collections/Ranker/aliases/production", json={"version": first}
            )
        )
        good.wait_for(1)
        wait_until(lambda: not ok(api.get("/automations/old-hook"))["enabled"])

        tab = sign_in(browser, server)
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.goto("/registries/model/Ranker")
        tab.get_by_test_id("automations-tab").click()
        tab.wait_for_url(re.compile(r"/automations\?scope="))
        rows = tab.locator("[data-testid=automations] tr[data-automation]")
        expect(rows).to_have_count(2)
        banner = tab.get_by_test_id("disabled-banner")
        expect(banner).to_have_count(1)
        expect(banner).to_contain_text("old-hook")
        expect(banner).to_contain_text("410")
        # The alias regex is shown as the text the user typed, not as markup.
        expect(tab.locator("[data-automation=deploy] code")).to_have_text(f"production|{HOSTILE}")
        assert tab.locator("[data-testid=automations] img").count() == 0
        tab.screenshot(path=str(artifacts_dir / "automations-list.png"), full_page=True)

        tab.click("a:has-text('deploy')")
        tab.wait_for_url(re.compile(r"/automations/deploy$"))
        deliveries = tab.locator("[data-testid=deliveries] > tbody > tr[data-delivery]")
        expect(deliveries).to_have_count(1)
        attempts = tab.locator("[data-testid=attempts] tr[data-attempt]")
        expect(attempts).to_have_count(1)
        expect(attempts.first).to_contain_text("HTTP 200")
        tab.locator("[data-testid=attempts] details summary").first.click()
        expect(tab.locator("[data-testid=attempts] pre").last).to_have_text(HOSTILE)
        assert tab.locator("[data-testid=deliveries] img").count() == 0

        # Test: a sample event is sent now, and shows as a second delivery.
        tab.get_by_test_id("test").click()
        expect(tab.locator(".flash")).to_contain_text("Sent a test event")
        expect(deliveries).to_have_count(2)
        good.wait_for(2)

        # Replay the first delivery: sent again with the same webhook-id, a second attempt.
        first_id = deliveries.last.get_attribute("data-delivery")
        deliveries.last.get_by_test_id("replay").click()
        expect(tab.locator(".flash")).to_contain_text(f"Delivery {first_id} queued again")
        sent = good.wait_for(3)
        ids = [r.headers.get("webhook-id") or r.headers.get("Webhook-Id") for r in sent]
        assert ids[0] == ids[2] and ids[1] != ids[0]
        wait_until(
            lambda: (
                len(ok(api.get("/automations/deploy/deliveries"))["deliveries"][-1]["history"]) == 2
            )
        )
        tab.reload()
        expect(tab.locator(f"tr[data-delivery='{first_id}'] + tr [data-attempt]")).to_have_count(2)
        tab.screenshot(path=str(artifacts_dir / "automation-history.png"), full_page=True)

        # The disabled one has its banner on its own page too.
        tab.goto("/automations/old-hook")
        expect(tab.get_by_test_id("disabled-banner")).to_contain_text("disabled")

        # The tab is on registry and project pages too.
        for page, scope_text in (
            ("/registries/model", "registry:model"),
            ("/projects/uip", "project:uip"),
        ):
            tab.goto(page)
            tab.get_by_test_id("automations-tab").click()
            expect(tab.locator(".pagehead .sub")).to_have_text(scope_text)
        assert tab.evaluate("window.hacked") is None
        assert errors == []
    finally:
        api.close()
        good.stop()
        gone.stop()
