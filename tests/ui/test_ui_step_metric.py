"""define_metric on the charts, in a real browser against a real server: a metric with a
declared step metric is drawn along it by default, the x-axis chooser offers the declared
step metrics (on run and compare pages), a thinned series keeps its min-max band along a
metric, hidden metrics are named but not drawn; and the run's summary shows its logged
table, image and histogram as what they are, not as JSON."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from support.browser import expect, shot

STEP_KEY = '<i>epoch</i>'  # an HTML-looking step metric: shown as text everywhere
SEED = """
import json, modelbay, numpy as np
project = {project!r}
step_key = {step_key!r}
paths = []
for n in range(2):
    run = modelbay.init(project=project, name=f"axis-run-{{n}}")
    run.define_metric(step_key)
    run.define_metric("val/*", step_metric=step_key)
    run.define_metric("secret", hidden=True)
    run.define_metric("loss", summary="min,max")
    for i in range(12):
        run.log({{"loss": 1 / (i + 1) + n, "secret": i}})
        if i % 4 == 3:
            run.log({{step_key: (i // 4) * 10}})
            run.log({{"val/acc": 0.5 + i / 100 + n}})  # step_sync brings the epoch
    if n == 0:
        # A long series along a metric: thinned into a line and a band with its spike.
        run.define_metric("long/y", step_metric="long/x")
        for i in range(3000):
            run.log({{"long/x": i * 0.5, "long/y": 50.0 if i == 2222 else (i % 10) / 10}})
        table = modelbay.Table(columns=["id", "label"], data=[[1, "cat"], [2, "dog"], [3, "<b>x</b>"]])
        image = modelbay.Image(np.full((16, 24, 3), 200, dtype=np.uint8), caption="a <b>grey</b> tile")
        run.log({{"preds": table, "sample": image, "weights": modelbay.Histogram([1, 2, 2, 3, 3, 3, 9])}})
    paths.append(run.path)
    run.finish()
print(json.dumps(paths))
"""


@pytest.fixture(scope="module")
def seeded(run_sdk: Any) -> list[str]:
    project = f"ui-axis-{uuid.uuid4().hex[:6]}"
    done = run_sdk(SEED.format(project=project, step_key=STEP_KEY))
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def run_page(path: str) -> str:
    project, run_id = path.split("/")
    return f"/projects/{project}/runs/{run_id}"


def fresh(tab: Any, url: str) -> None:
    """Open ``url`` with the chart settings of earlier tests forgotten."""
    tab.goto(url)
    tab.evaluate("window.localStorage.removeItem('modelbay.charts')")
    tab.reload()


def drawn(tab: Any, metric: str) -> dict[str, Any]:
    """One chart as Plotly holds it: its traces (kind, x, y) and its x-axis title."""
    return tab.evaluate(
        """metric => {
          const div = [...document.querySelectorAll('#charts .chart')]
            .find(e => e.dataset.metric === metric);
          if (!div || !div.data) return null;
          return {hidden: div.hidden, title: div.layout.xaxis.title.text,
                  traces: div.data.map(t => ({meta: t.meta, name: t.name, x: t.x, y: t.y}))};
        }""",
        metric,
    )


def wait_for_x(tab: Any, metric: str, xs: list[float]) -> None:
    """Until the line of ``metric`` is drawn at the x values ``xs`` (a new axis is fetched)."""
    tab.wait_for_function(
        """([metric, xs]) => {
          const div = [...document.querySelectorAll('#charts .chart')]
            .find(e => e.dataset.metric === metric);
          const line = div && div.data && div.data.filter(t => t.meta === 'line')[0];
          return !!line && JSON.stringify(Array.from(line.x)) === JSON.stringify(xs);
        }""",
        arg=[metric, xs],
    )


def test_run_page_draws_a_metric_along_its_declared_step_metric(page, seeded, artifacts_dir):
    fresh(page, run_page(seeded[0]))
    page.wait_for_selector('#charts[data-loaded="true"]')
    expect(page.locator("#chart-x")).to_have_value("auto")
    # By default val/acc is drawn along the epoch it was declared with, at 0, 10, 20.
    wait_for_x(page, "val/acc", [0, 10, 20])
    val = drawn(page, "val/acc")
    assert val["title"] == "&lt;i&gt;epoch&lt;/i&gt;"  # escaped for Plotly: shown as text
    expect(page.locator('.chart[data-metric="val/acc"] .xtitle')).to_have_text(STEP_KEY)
    assert [t["y"] for t in val["traces"] if t["meta"] == "line"][0] == pytest.approx(
        [0.53, 0.57, 0.61]
    )
    # A metric without a declared step metric stays on the step.
    loss = drawn(page, "loss")
    assert loss["title"] == "step"
    assert [t["x"] for t in loss["traces"] if t["meta"] == "line"][0][:4] == [0, 1, 2, 3]
    # Hidden: named, never drawn.
    expect(page.get_by_test_id("charts-hidden")).to_have_text("Hidden metrics: secret")
    assert page.locator('#charts .chart[data-metric="secret"]').count() == 0
    assert page.locator("#charts i, #chart-x i").count() == 0

    # The chooser offers the declared step metrics (as text); choosing one draws every
    # metric logged with it along it, and hides the charts of the others.
    options = page.locator("#chart-x option").evaluate_all(
        "els => els.map(e => [e.value, e.textContent])"
    )
    assert ["metric:" + STEP_KEY, STEP_KEY] in options and ["metric:long/x", "long/x"] in options
    page.select_option("#chart-x", "metric:" + STEP_KEY)
    page.wait_for_function(
        "document.querySelector('#charts .chart[data-metric=\"loss\"]').hidden === true"
    )
    wait_for_x(page, "val/acc", [0, 10, 20])
    page.select_option("#chart-x", "step")
    wait_for_x(page, "val/acc", [5, 11, 17])  # the steps val/acc was logged at
    assert drawn(page, "val/acc")["title"] == "step"
    expect(page.locator('#charts .chart[data-metric="loss"]')).to_be_visible()
    shot(page, artifacts_dir, "40-run-step-axis")

    # The choice of a declared metric is kept for the next page.
    page.select_option("#chart-x", "metric:" + STEP_KEY)
    page.reload()
    expect(page.locator("#chart-x")).to_have_value("metric:" + STEP_KEY)
    wait_for_x(page, "val/acc", [0, 10, 20])
    page.wait_for_function(  # read along it: loss, never logged with the epoch, has no chart
        "document.querySelector('#charts .chart[data-metric=loss]').hidden === true"
    )


def test_a_thinned_series_along_a_metric_keeps_its_band(page, seeded):
    fresh(page, run_page(seeded[0]))
    page.wait_for_selector('#charts[data-loaded="true"]')
    page.wait_for_function(
        "(() => { const d = document.querySelector('#charts .chart[data-metric=\"long/y\"]');"
        " return d && d.data && d.data.length === 2; })()"
    )
    band, line = drawn(page, "long/y")["traces"]
    assert (band["meta"], line["meta"]) == ("band", "line")
    assert max(band["y"]) == 50.0 and max(line["y"]) < 50.0  # the spike is in the band
    assert min(line["x"]) >= 0 and max(line["x"]) <= 1499.5  # x is long/x, not the step
    assert line["x"] == sorted(line["x"]) and len(line["x"]) <= 1000
    assert drawn(page, "long/y")["title"] == "long/x"


def test_compare_page_offers_and_uses_the_declared_axis(page, seeded, artifacts_dir):
    first, second = seeded
    fresh(page, f"/compare?run={first}&run={second}")
    page.wait_for_selector('#charts[data-loaded="true"]')
    wait_for_x(page, "val/acc", [0, 10, 20])
    lines = [t for t in drawn(page, "val/acc")["traces"] if t["meta"] == "line"]
    assert [t["name"] for t in lines] == ["axis-run-0", "axis-run-1"]
    assert [t["x"] for t in lines] == [[0, 10, 20], [0, 10, 20]]
    assert lines[1]["y"] == pytest.approx([1.53, 1.57, 1.61])
    page.select_option("#chart-x", "step")
    wait_for_x(page, "val/acc", [5, 11, 17])
    page.select_option("#chart-x", "metric:" + STEP_KEY)
    wait_for_x(page, "val/acc", [0, 10, 20])
    expect(page.get_by_test_id("charts-hidden")).to_have_text("Hidden metrics: secret")
    shot(page, artifacts_dir, "41-compare-step-axis")


def test_summary_shows_media_as_what_they_are(page, seeded, artifacts_dir):
    page.goto(run_page(seeded[0]))
    summary = page.get_by_test_id("run-summary")
    table = summary.locator('tr[data-summary-key="preds"] td')
    expect(table).to_have_attribute("data-kind", "table")
    expect(table.locator("a")).to_have_text("Table 3 × 2")
    image = summary.locator('tr[data-summary-key="sample"] td')
    expect(image).to_have_attribute("data-kind", "images")
    expect(image).to_contain_text("a <b>grey</b> tile")  # the caption as text
    assert image.locator("b").count() == 0
    thumb = image.locator("img")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle()
    )
    assert thumb.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [24, 16]
    hist = summary.locator('tr[data-summary-key="weights"] td')
    expect(hist).to_have_attribute("data-kind", "histogram")
    assert hist.locator("svg rect").count() > 1
    expect(hist).to_contain_text("1 to 9")
    loss = summary.locator('tr[data-summary-key="loss"] td')
    expect(loss).to_have_attribute("data-kind", "aggregates")
    expect(loss).to_contain_text("max 1")
    expect(loss).to_contain_text("min 0.0833")
    assert "_type" not in summary.inner_text()  # no JSON anywhere
    shot(page, artifacts_dir, "42-run-summary-media")

    # The table link opens the table's viewer, with its rows.
    table.locator("a").click()
    viewer = page.get_by_test_id("table-viewer")
    expect(viewer.locator("tbody tr")).to_have_count(3)
    expect(viewer.locator("tbody")).to_contain_text("<b>x</b>")
