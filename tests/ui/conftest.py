"""Fixtures of the web UI tests: a real server on loopback, SDK scripts run as users run
them (a separate process talking HTTP), and browser sessions signed in through the forms."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.browser import sync_api
from support.processes import ServerProcess

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TIMEOUT_MS = 30_000


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of its own (its log holds the one-time sign-in link of its start)."""
    proc = ServerProcess(tmp_path_factory.mktemp("ui-server"))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def sdk_env(ui_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a script that talks to the UI's server, as a user sets it."""
    home = tmp_path_factory.mktemp("sdk-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
    env.update(
        MODELBAY_URL=ui_server.url,
        MODELBAY_API_KEY=ui_server.admin_key,
        MODELBAY_DIR=str(home),
        MODELBAY_CACHE_DIR=str(home / "cache"),
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="session")
def run_sdk(sdk_env: dict[str, str]) -> Callable[[str], subprocess.CompletedProcess[str]]:
    """Run a Python script that uses ``import modelbay`` against the UI's server, to the end."""

    def run(code: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            env=sdk_env,
            cwd=sdk_env["MODELBAY_DIR"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"script failed:\n{done.stdout}\n{done.stderr}"
        return done

    return run


@pytest.fixture
def start_sdk(sdk_env: dict[str, str]) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start such a script in the background (stopped at the end of the test if still running)."""
    started: list[subprocess.Popen[str]] = []

    def start(code: str, **env: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)],
            env={**sdk_env, **env},
            cwd=sdk_env["MODELBAY_DIR"],
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


@pytest.fixture
def signed_in(ui_server: ServerProcess) -> Iterator[httpx.Client]:
    """An HTTP client with a session cookie, signed in as admin through the login form."""
    with httpx.Client(base_url=ui_server.url, follow_redirects=False, timeout=60) as client:
        page = client.get("/login")
        resp = client.post(
            "/login", data={"csrf_token": csrf_of(page.text), "key": ui_server.admin_key}
        )
        assert resp.status_code == 303, resp.text
        yield client


@pytest.fixture(scope="session")
def csrf() -> Callable[[str], str]:
    """Finds the CSRF token of a page's forms."""
    return csrf_of


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium, one for the whole session."""
    api = sync_api()
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def open_tab(browser: Any, ui_server: ServerProcess) -> Iterator[Callable[..., Any]]:
    """Opens a browser tab of a given width, signed in through the login form; the test
    fails on any script error in its pages."""
    contexts: list[Any] = []
    errors: list[str] = []

    def open_(width: int = 1360, height: int = 900) -> Any:
        context = browser.new_context(
            viewport={"width": width, "height": height}, base_url=ui_server.url
        )
        contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        tab = context.new_page()
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.goto("/login")
        tab.fill("#key", ui_server.admin_key)
        tab.click("button:has-text('Sign in')")
        tab.wait_for_url(ui_server.url + "/")
        return tab

    try:
        yield open_
    finally:
        for context in contexts:
            context.close()
    assert errors == [], f"script errors on the page: {errors}"


@pytest.fixture
def page(open_tab: Callable[..., Any]) -> Any:
    """A desktop-sized tab, signed in."""
    return open_tab()
