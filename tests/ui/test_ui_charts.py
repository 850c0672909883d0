"""Run and compare charts in a real browser: user data shown as text (never as Plotly's
pseudo-HTML), the user's metrics before the collapsed system ones, smoothing, x axis and log
scale, a min-max band where the server thinned a series, missing values in the
parallel-coordinates chart; and every page usable 390 px wide."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from support.browser import expect, shot

EVIL = '<a href="https://evil.example/phish">Session expired - sign in again</a>'
EVIL_HREF = 'a[href="https://evil.example/phish"], a[*|href="https://evil.example/phish"]'
EVIL_CHART = '#charts .chart[data-metric="{}"]'.format(EVIL.replace('"', '\\"'))
SEED = """
import json, math, pathlib, modelbay
evil = json.loads({evil!r})
paths = []
for i in range(2):
    config = {{"lr": 0.1 / (i + 1), evil: "<b>bold</b>" if i == 0 else "plain"}}
    if i == 0:
        config["batch"] = 32  # missing in the other run
    run = modelbay.init(project={project!r}, name=f"run-{{i}}-name", config=config)
    for step in range(3000 if i == 0 else 50):
        run.log({{
            "loss": 100.0 if step == 1234 else 1.0 + 0.5 * math.sin(step / 7) / (step + 1),
            evil: step,
            "system/cpu": 50.0 + i,
            "system/mem": 10.0,
        }})
    pathlib.Path("m.bin").write_text(f"weights {{i}}")
    run.link_model("m.bin", {collection!r})
    paths.append(run.path)
    run.finish()
print(json.dumps(paths))
"""


@pytest.fixture(scope="module")
def seeded(run_sdk: Any) -> dict[str, Any]:
    """Two finished runs: an HTML-looking metric key and config key, a 3000-step series with
    one spike (thinned into bands), system metrics, a config key only one run has."""
    project = f"ui-charts-{uuid.uuid4().hex[:6]}"
    collection = f"Charts{uuid.uuid4().hex[:4]}"
    done = run_sdk(SEED.format(evil=json.dumps(EVIL), project=project, collection=collection))
    paths = json.loads(done.stdout.strip().splitlines()[-1])
    return {"project": project, "collection": collection, "paths": paths}


def run_page(path: str) -> str:
    project, run_id = path.split("/")
    return f"/projects/{project}/runs/{run_id}"


def wait_for_charts(tab: Any, count: int) -> None:
    """Until ``count`` user charts are drawn (Plotly finishes a chart after its div exists)."""
    tab.wait_for_selector('#charts[data-loaded="true"]')
    tab.wait_for_function(
        "[...document.querySelectorAll('#charts .chart')]"
        f".filter(e => e.querySelector('.main-svg .legend, .main-svg .gtitle')).length >= {count}"
    )


def traces(tab: Any, metric: str) -> list[dict[str, Any]]:
    """What Plotly draws on one chart: each trace's kind, name, x and y."""
    return tab.evaluate(
        "metric => [...document.querySelectorAll('.chart')]"
        ".find(e => e.dataset.metric === metric).data"
        ".map(t => ({meta: t.meta, name: t.name, x: t.x, y: t.y}))",
        metric,
    )


def assert_inert(tab: Any) -> None:
    assert tab.locator(EVIL_HREF).count() == 0, "a label became a link"
    assert tab.locator("#charts a, #parcoords a").count() == 0


def test_html_looking_keys_stay_text_on_run_and_compare_pages(page, seeded, artifacts_dir):
    first, second = seeded["paths"]
    page.goto(run_page(first))
    wait_for_charts(page, 2)
    assert_inert(page)
    evil_chart = page.locator(EVIL_CHART)
    expect(evil_chart.locator(".gtitle")).to_have_text(EVIL)  # shown literally
    expect(page.locator("table.kv th", has_text="evil.example").first).to_have_text(EVIL)

    page.goto(f"/compare?run={first}&run={second}")
    wait_for_charts(page, 2)
    page.select_option("#pc-metric", "loss")
    page.wait_for_selector("#parcoords .main-svg")
    assert_inert(page)
    evil_chart = page.locator(EVIL_CHART)
    expect(evil_chart.locator(".gtitle")).to_have_text(EVIL)
    legend = ["run-0-name", "run-1-name"]
    expect(evil_chart.locator(".legendtext")).to_have_text(legend)
    # The header names the runs as the legends do; the ids are the links' tooltips.
    header = page.locator(".pagehead a")
    assert header.evaluate_all("els => els.map(e => e.textContent)") == legend
    assert header.evaluate_all("els => els.map(e => e.title)") == [first, second]
    # Parallel coordinates: the config key as a label, its values as tick text, both literal.
    expect(page.locator("#parcoords .axis-title").last).to_have_text("loss")
    expect(page.locator("#parcoords .axis-title").first).to_have_text(EVIL[:23] + "\u2026")
    expect(page.locator("#parcoords .tick text", has_text="<b>bold</b>")).to_have_count(1)
    ticks = page.locator("#parcoords .tick text").evaluate_all("els => els.map(e => e.textContent)")
    assert "<b>bold</b>" in ticks
    # A run without "batch" sits on a "missing" tick, not "undefined" and not below the axis.
    assert "missing" in ticks and "undefined" not in ticks
    batch = page.evaluate(
        "document.getElementById('parcoords').data[0].dimensions.find(d => d.label === 'batch')"
    )
    assert batch["range"][0] <= min(batch["values"])
    shot(page, artifacts_dir, "20-compare-inert-labels")


def test_system_charts_are_collapsed_after_the_users(page, seeded):
    page.goto(run_page(seeded["paths"][0]))
    wait_for_charts(page, 2)
    user = page.locator("#charts .chart").evaluate_all("els => els.map(e => e.dataset.metric)")
    assert set(user) == {"loss", EVIL}
    system = page.locator("#system-charts")
    expect(system).to_be_visible()
    assert not system.evaluate("e => e.open")
    expect(system.locator("summary")).to_contain_text("System metrics (2)")
    assert page.evaluate(  # the system section comes after the user's charts
        "!!(document.getElementById('charts').compareDocumentPosition("
        "document.getElementById('system-charts')) & Node.DOCUMENT_POSITION_FOLLOWING)"
    )
    system.locator("summary").click()
    page.wait_for_function(
        "[...document.querySelectorAll('#charts-system .chart')]"
        ".filter(e => e.querySelector('.main-svg')).length === 2"
    )
    drawn = page.locator("#charts-system .chart").evaluate_all(
        "els => els.map(e => e.dataset.metric)"
    )
    assert sorted(drawn) == ["system/cpu", "system/mem"]


def test_smoothing_axes_and_band_change_what_is_drawn(page, seeded, artifacts_dir):
    page.goto(run_page(seeded["paths"][0]))
    wait_for_charts(page, 2)
    before = traces(page, "loss")
    # 3000 steps, thinned by the server: a line of bucket means and a band with the spike.
    assert [t["meta"] for t in before] == ["band", "line"]
    band, line = before
    assert max(band["y"]) == 100.0 and max(line["y"]) < 100.0
    assert line["x"][0] > 0 and len(line["x"]) <= 1000

    page.locator("#chart-smoothing").fill("0.9")
    expect(page.locator("#chart-smoothing-value")).to_have_text("0.90")
    smoothed = traces(page, "loss")
    assert [t["meta"] for t in smoothed] == ["band", "raw", "line"]
    assert smoothed[1]["y"] == line["y"]  # the raw line, drawn faintly behind
    assert smoothed[2]["y"] != line["y"]
    assert smoothed[2]["y"][0] == pytest.approx(line["y"][0])  # debiased: no pull to 0

    page.check("#chart-log-y")
    assert (
        page.evaluate("document.querySelector('.chart[data-metric=loss]').layout.yaxis.type")
        == "log"
    )
    page.select_option("#chart-x", "relative")
    relative = traces(page, "loss")[-1]["x"]
    assert relative != line["x"] and 0 <= relative[0] < relative[-1]
    assert page.evaluate(
        "document.querySelector('.chart[data-metric=loss]').layout.xaxis.title.text"
    ).startswith("time since start")
    page.select_option("#chart-x", "wall")
    assert (
        page.evaluate("document.querySelector('.chart[data-metric=loss]').layout.xaxis.type")
        == "date"
    )
    expect(page.locator("#chart-log-x")).to_be_disabled()
    shot(page, artifacts_dir, "21-run-smoothed-log")

    # The choice is kept for the next page.
    page.reload()
    wait_for_charts(page, 2)
    expect(page.locator("#chart-smoothing-value")).to_have_text("0.90")
    expect(page.locator("#chart-x")).to_have_value("wall")


def test_pages_fit_a_phone_screen(open_tab, seeded, artifacts_dir):
    tab = open_tab(390, 844)
    first, second = seeded["paths"]
    name = seeded["collection"]
    project = seeded["project"]
    pages = {
        "home": "/",
        "projects": "/projects",
        "project": f"/projects/{project}",
        "run": run_page(first),
        "compare": f"/compare?run={first}&run={second}",
        "collection": f"/registries/model/{name}",
        "version": f"/registries/model/{name}/v0",
    }
    for label, url in pages.items():
        tab.goto(url)
        tab.wait_for_load_state("networkidle")
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{label} is {width} px wide"
        box = tab.locator("button:has-text('Sign out')").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, label
        shot(tab, artifacts_dir, f"22-phone-{label}")
    tab.click("button:has-text('Sign out')")
    tab.wait_for_url("**/login**")
    assert tab.evaluate("document.documentElement.scrollWidth") <= 390
    expect(tab.locator(".brand-name")).to_be_visible()  # signed out, there is room for it
