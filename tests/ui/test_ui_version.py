"""A version page to decide from, and a crashed run, in a real browser against a real server.

The version page of a checkpoint linked at step 10 shows the producing run's config and its
metrics at step 10 beside the final ones, previews its text, JSON and image files (HTML and
SVG as inert text), and lists the runs that used it; the collection's table shows the
logged step's metrics unless asked for the final summary. A run whose process is SIGKILLed
while its page is open turns ``crashed`` there, and the page stops saying "Live"."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from support.browser import expect, shot
from support.processes import ServerProcess

TIMEOUT_MS = 30_000
#: Seconds of silence that crash a run on this module's server.
RUN_TIMEOUT = "3"

SEED = """
import json, pathlib, struct, zlib, modelbay

def png(width, height):
    raw = b"".join(b"\\x00" + bytes([200, 30, 30]) * width for _ in range(height))
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

run = modelbay.init(project={project!r}, name="trainer",
                    config={{"lr": 0.01, "optimizer": {{"name": "adam"}}}})
for step in range(20):
    run.log({{"acc": step / 100, "loss": 1 / (step + 1)}})
    if step == 10:
        out = pathlib.Path("ckpt")
        out.mkdir(exist_ok=True)
        (out / "notes.txt").write_text("checkpoint of step 10")
        (out / "meta.json").write_text(json.dumps({{"epoch": 10, "classes": ["cat", "dog"]}}))
        (out / "sample.png").write_bytes(png(8, 6))
        (out / "evil.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" id="evil-svg"></svg>')
        (out / "page.html").write_text('<b id="evil-html">bold</b>')
        run.link_model(out, {collection!r})
run.summary["note"] = "final"
run.finish()
user = modelbay.init(project={project!r}, name="evaluator")
user.use_model("model-registry/{collection}:v0")
user.finish()
print(json.dumps({{"trainer": run.path, "user": user.path}}))
"""

LIVE = """
import time, modelbay
from modelbay.sdk.run import RunSettings
run = modelbay.init(project={project!r}, name="doomed",
                    run_settings=RunSettings(flush_interval=0.1, system_interval=0))
print(run.path, flush=True)
step = 0
while True:
    run.log({{"loss": 1 / (step + 1)}})
    step += 1
    time.sleep(0.1)
"""


@pytest.fixture(scope="module")
def quick_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own: it crashes runs silent for :data:`RUN_TIMEOUT` s."""
    srv = ServerProcess(
        tmp_path_factory.mktemp("ui-health"), extra_env={"MODELBAY_RUN_TIMEOUT": RUN_TIMEOUT}
    )
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def script_env(quick_ui: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("ui-health-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
    env.update(
        MODELBAY_URL=quick_ui.url,
        MODELBAY_API_KEY=quick_ui.admin_key,
        MODELBAY_DIR=str(home),
        MODELBAY_RUN_TIMEOUT=RUN_TIMEOUT,
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="module")
def seeded(script_env: dict[str, str]) -> dict[str, Any]:
    project = f"ui-version-{uuid.uuid4().hex[:6]}"
    collection = f"Ckpt{uuid.uuid4().hex[:4]}"
    code = SEED.format(project=project, collection=collection)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=script_env,
        cwd=script_env["MODELBAY_DIR"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    paths = json.loads(done.stdout.strip().splitlines()[-1])
    return {"project": project, "collection": collection, **paths}


@pytest.fixture
def tab(browser: Any, quick_ui: ServerProcess) -> Iterator[Any]:
    """A desktop tab signed in to this module's server; fails the test on a script error."""
    context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=quick_ui.url)
    context.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/login")
    page.fill("#key", quick_ui.admin_key)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(quick_ui.url + "/")
    try:
        yield page
    finally:
        context.close()
    assert errors == [], f"script errors on the page: {errors}"


def metric_cell(tab: Any, key: str, column: str) -> Any:
    return tab.locator(
        f'[data-testid="version-metrics"] tr[data-metric="{key}"] [data-col="{column}"]'
    )


def test_version_page_shows_the_metrics_of_its_step(tab, seeded, artifacts_dir):
    collection = seeded["collection"]
    tab.goto(f"/registries/model/{collection}/v0")
    expect(tab.locator("#run-metrics th").nth(1)).to_contain_text("At step 10")
    expect(metric_cell(tab, "acc", "at-step")).to_have_text("0.1")
    expect(metric_cell(tab, "acc", "final")).to_have_text("0.19")
    expect(metric_cell(tab, "loss", "at-step")).to_have_text("0.09091")
    config = tab.locator('[data-testid="version-config"]')
    expect(config).to_contain_text("optimizer.name")
    expect(config).to_contain_text("adam")
    used = tab.locator('[data-testid="used-by"]')
    expect(used).to_contain_text("evaluator")

    previews = tab.locator('[data-testid="previews"]')
    expect(previews.locator('[data-preview="notes.txt"]')).to_contain_text("checkpoint of step 10")
    expect(previews).to_contain_text('"epoch": 10')
    image = previews.locator("img")
    expect(image).to_have_count(1)
    src = image.get_attribute("src")
    resp = tab.request.get(src)
    assert resp.status == 200, resp.text()
    assert resp.headers["content-type"] == "image/png"
    assert resp.headers["x-content-type-options"] == "nosniff"
    previews.locator('[data-preview="sample.png"] summary').click()
    tab.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=previews] img');"
        " return i && i.complete && i.naturalWidth === 8; }"
    )
    # HTML and SVG from the files are shown as their source text, never rendered.
    assert tab.locator("#evil-svg, #evil-html").count() == 0
    expect(previews).to_contain_text('<b id="evil-html">bold</b>')
    svg_path = src.replace("sample.png", "evil.svg")
    assert tab.request.get(svg_path).status == 400  # not served as an image
    shot(tab, artifacts_dir, "version-page-metrics")


def test_collection_table_shows_the_logged_step_or_the_final_summary(tab, seeded):
    collection = seeded["collection"]
    tab.goto(f"/registries/model/{collection}")
    cell = tab.locator('[data-testid="versions"] tr[data-version="v0"] td[data-metric="acc"]')
    toggle = tab.locator('[data-testid="metrics-toggle"]')
    expect(toggle.locator("[aria-current]")).to_have_text("at the logged step")
    expect(cell).to_have_text("0.1")
    toggle.locator('a:has-text("final summary")').click()
    expect(toggle.locator("[aria-current]")).to_have_text("final summary")
    expect(cell).to_have_text("0.19")
    toggle.locator('a:has-text("at the logged step")').click()
    expect(cell).to_have_text("0.1")


def test_a_killed_run_turns_crashed_and_stops_being_live(tab, script_env, artifacts_dir):
    project = f"ui-crash-{uuid.uuid4().hex[:6]}"
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(LIVE.format(project=project))],
        env=script_env,
        cwd=script_env["MODELBAY_DIR"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert child.stdout is not None
        path = child.stdout.readline().strip()
        run_id = path.split("/")[1]
        tab.goto(f"/projects/{project}/runs/{run_id}")
        expect(tab.locator("#live-status")).to_contain_text("Live")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(30)
    state = tab.locator(f'[data-live-state="{path}"]')
    expect(state).to_have_text("crashed", timeout=60_000)
    expect(tab.locator("#live-status")).to_have_text("")
    tab.reload()
    expect(tab.locator(f'[data-live-state="{path}"]')).to_have_text("crashed")
    tab.wait_for_selector('#charts[data-loaded="true"]')
    expect(tab.locator("#live-status")).not_to_contain_text("Live")
    shot(tab, artifacts_dir, "crashed-run")
