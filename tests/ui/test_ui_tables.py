"""The table viewer and compared predictions, in a real browser against a real server.

A script logs two versions of a predictions table as W&B stores them (``preds.table.json``
with image cells, the images beside it under ``media/images``) and a run's own table
(``run-<id>-samples``, type ``run_table``). The version page pages, sorts and filters the
table on the server, with images inline; a cell that looks like HTML stays text; comparing
the two versions joins them on ``id``, counts rows equal, differing and only in one, and
highlights the differing predictions; and the pages fit a 390 px wide phone.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from support.browser import expect, shot

SEED = """
import json, pathlib, struct, zlib, modelbay

def png(shade):
    raw = b"".join(b"\\x00" + bytes([shade, 60, 200 - shade // 2]) * 8 for _ in range(8))
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    header = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

LABELS = ["cat", "dog", "bird"]

def table(folder, ids, flip):
    folder.mkdir()
    (folder / "media" / "images").mkdir(parents=True)
    data = []
    for i in ids:
        image = f"media/images/{{i}}.png"
        (folder / image).write_bytes(png(i % 200))
        truth = LABELS[i % 3]
        pred = LABELS[(i + 1) % 3] if flip(i) else truth
        note = '<b id="evil-cell">bold</b>' if i == 7 else f"sample {{i}}"
        data.append([i, {{"_type": "image-file", "path": image, "format": "png", "width": 8,
                          "height": 8, "caption": truth}}, truth, pred, round(i * 0.37 % 10, 2), note])
    columns = ["id", "image", "truth", "pred", "score", "note"]
    (folder / "preds.table.json").write_text(
        json.dumps({{"_type": "table", "columns": columns, "data": data}}))
    return folder

def artifact(name, type_, folder):
    art = modelbay.Artifact(name, type=type_)
    art.add_file(str(folder / "preds.table.json"), name="preds.table.json")
    for image in sorted((folder / "media" / "images").iterdir()):
        art.add_file(str(image), name=f"media/images/{{image.name}}")
    return art

run = modelbay.init(project={project!r}, name="evaluator")
for folder, ids, flip in ((pathlib.Path("a"), range(200), lambda i: False),
                          (pathlib.Path("b"), range(5, 205), lambda i: i % 10 == 0)):
    logged = run.log_artifact(artifact("preds", "model", table(folder, ids, flip)))
    run.link_artifact(logged, "model-registry/{project}-classifier")
for step in range(3):
    samples = modelbay.Table(columns=["id", "pred"])
    for i in range(30 + step):
        samples.add_data(i, f"p{{step}}")
    spread = [((i * 7919) % 100) / 10 + step for i in range(200)]
    run.log({{"samples": samples, "weights": modelbay.Histogram(spread),
             '<b id="evil-hist">w</b>': modelbay.Histogram(spread)}}, step=step)
parts = modelbay.Artifact("parts", type="dataset")
for p in range(2):
    rows = [[p * 10 + i, LABELS[i % 3]] for i in range(10)]
    parts.add(modelbay.Table(columns=["id", "label"], data=rows), f"shards/{{p}}")
parts.add(modelbay.PartitionedTable("shards"), "all")
left = modelbay.Table(columns=["id", "label"], data=[[i, LABELS[i % 3]] for i in range(6)])
right = modelbay.Table(columns=["sid", "label"],
                       data=[[i, LABELS[(i + (i == 2)) % 3]] for i in range(1, 8)])
parts.add(modelbay.JoinedTable(left, right, ["id", "sid"]), "judged")
run.log_artifact(parts)
run.finish()
other = modelbay.init(project={project!r}, name="challenger")
samples = modelbay.Table(columns=["id", "pred"])
for i in range(30):
    samples.add_data(i, "p2" if i < 20 else "px")
other.log({{"samples": samples}})
other.finish()
print(json.dumps({{"run": run.path, "other": other.path}}))
"""


@pytest.fixture(scope="module")
def seeded(ui_server: Any, sdk_env: dict[str, str]) -> dict[str, str]:
    import subprocess
    import sys
    import textwrap

    project = f"tables{uuid.uuid4().hex[:6]}"
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SEED.format(project=project))],
        env=sdk_env,
        cwd=str(_fresh_dir(sdk_env)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return {"project": project, "run": out["run"], "other": out["other"]}


def _fresh_dir(env: dict[str, str]) -> Any:
    from pathlib import Path

    folder = Path(env["MODELBAY_DIR"]) / uuid.uuid4().hex[:8]
    folder.mkdir(parents=True)
    return folder


def viewer_range(tab: Any) -> Any:
    return tab.locator("[data-testid=table-viewer] .table-range")


def test_the_table_viewer_pages_sorts_and_filters(
    page: Any, seeded: dict[str, str], artifacts_dir: Any
) -> None:
    page.goto(f"/projects/{seeded['project']}/artifacts/preds/v0")
    view = page.locator("[data-testid=table-viewer]")
    expect(viewer_range(page)).to_have_text("Rows 1–25 of 200")
    expect(view.locator("tbody tr")).to_have_count(25)
    first_image = view.locator("tbody tr").first.locator("img.cell-image")
    expect(first_image).to_have_attribute("loading", "lazy")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=table-viewer] img.cell-image').naturalWidth > 0"
    )
    view.locator("button[data-page=next]").click()
    expect(viewer_range(page)).to_have_text("Rows 26–50 of 200")
    expect(view.locator("tbody tr").first).to_have_attribute("data-row", "25")

    score = view.locator("th[data-column=score] button")
    score.click()
    expect(view.locator("th[data-column=score]")).to_have_attribute("aria-sort", "ascending")
    score.click()
    expect(view.locator("th[data-column=score]")).to_have_attribute("aria-sort", "descending")
    expect(viewer_range(page)).to_have_text("Rows 1–25 of 200")
    scores = [round(i * 0.37 % 10, 2) for i in range(200)]
    top = view.locator("tbody tr").first.locator("td").nth(5)
    expect(top).to_have_text(str(max(scores)))

    view.locator("input.table-filter").fill("truth = dog and score >= 5")
    view.locator("input.table-filter").press("Enter")
    want = sum(1 for i in range(200) if i % 3 == 1 and scores[i] >= 5)
    expect(viewer_range(page)).to_have_text(f"Rows 1–25 of {want} (filtered from 200)")
    for cell in view.locator("tbody tr td:nth-child(4)").all_text_contents():
        assert cell == "dog"
    view.locator("input.table-filter").fill("nope = 1")
    view.locator("input.table-filter").press("Enter")
    expect(view.locator(".table-message")).to_contain_text("no column 'nope'")
    shot(page, artifacts_dir, "table-viewer")


def test_an_html_looking_cell_stays_text(page: Any, seeded: dict[str, str]) -> None:
    page.goto(f"/projects/{seeded['project']}/artifacts/preds/v0")
    view = page.locator("[data-testid=table-viewer]")
    view.locator("input.table-filter").fill("note ~ evil")
    view.locator("input.table-filter").press("Enter")
    expect(viewer_range(page)).to_have_text("Rows 1–1 of 1 (filtered from 200)")
    expect(view.locator("tbody tr td").nth(6)).to_have_text('<b id="evil-cell">bold</b>')
    assert page.locator("#evil-cell").count() == 0


def test_comparing_two_versions_predictions(
    page: Any, seeded: dict[str, str], artifacts_dir: Any
) -> None:
    project = seeded["project"]
    page.goto(f"/compare?v={project}/preds:v0&v={project}/preds:v1")
    page.click("[data-testid=compare-predictions]")
    page.wait_for_url("**/compare/tables?**")
    counts = page.locator("[data-testid=agreement]")
    # v0 holds ids 0-199, v1 ids 5-204 with the prediction changed where id % 10 == 0
    differ = len([i for i in range(5, 200) if i % 10 == 0])
    expect(counts.locator("[data-count=rows]")).to_have_text("205 keys")
    expect(counts.locator("[data-count=differ]")).to_have_text(f"{differ} differ")
    expect(counts.locator("[data-count=only]")).to_have_text("10 only in some")
    expect(counts.locator("[data-count=equal]")).to_have_text(f"{195 - differ} equal")
    expect(page.locator("[data-testid=join-key]")).to_have_value("id")
    joined = page.locator("[data-testid=joined]")
    row = joined.locator("tr[data-key='10']")
    expect(row).to_have_class("differ diff")
    expect(row.locator("td.cell-diff[data-column=pred]")).to_have_count(2)
    expect(row.locator("td.cell-diff[data-column=truth]")).to_have_count(0)
    expect(row.locator("td[data-column=image] img")).to_have_count(2)
    expect(joined.locator("tr[data-key='0'] td[data-column=pred]").nth(1)).to_have_text("missing")
    expect(joined.locator("tr[data-key='11']")).to_have_attribute("data-status", "equal")
    page.select_option("select[name=show]", "differ")
    page.click("form.compare-form button")
    expect(joined.locator("tbody tr")).to_have_count(differ)
    expect(joined.locator("tbody tr.diff")).to_have_count(differ)
    shot(page, artifacts_dir, "compare-predictions")


def test_comparing_two_runs_tables(page: Any, seeded: dict[str, str]) -> None:
    page.goto(f"/compare/tables?run={seeded['run']}&run={seeded['other']}")
    counts = page.locator("[data-testid=agreement]")
    expect(counts.locator("[data-count=rows]")).to_have_text("32 keys")
    expect(counts.locator("[data-count=equal]")).to_have_text("20 equal")
    expect(counts.locator("[data-count=differ]")).to_have_text("10 differ")
    expect(counts.locator("[data-count=only]")).to_have_text("2 only in some")
    expect(page.locator("tr[data-key='25'] td.cell-diff")).to_have_count(2)


def test_the_collection_page_links_to_compared_predictions(
    page: Any, seeded: dict[str, str]
) -> None:
    page.goto(f"/registries/model/{seeded['project']}-classifier")
    button = page.locator("#compare-form button:has-text('Compare predictions')")
    expect(button).to_be_disabled()
    page.check("input[aria-label='Compare v0']")
    page.check("input[aria-label='Compare v1']")
    expect(button).to_be_enabled()
    expect(page.locator("#compare-form button").first).to_have_text("Compare 2 selected")
    button.click()
    page.wait_for_url("**/compare/tables?**")
    expect(page.locator("[data-testid=agreement] [data-count=differ]")).to_have_text("19 differ")
    expect(page.locator("[data-entry]").first).to_have_text("v1")


def test_a_runs_tables_by_step_and_its_histograms(
    page: Any, seeded: dict[str, str], artifacts_dir: Any
) -> None:
    page.goto(f"/projects/{seeded['project']}/runs/{seeded['run'].split('/')[1]}")
    box = page.locator("#run-tables [data-table-key=samples]")
    expect(box.locator(".table-range")).to_have_text("Rows 1–25 of 32")
    expect(box.locator("tbody tr").first.locator("td").nth(2)).to_have_text("p2")
    box.locator("select.step-select").select_option("0")
    expect(box.locator(".table-range")).to_have_text("Rows 1–25 of 30")
    expect(box.locator("tbody tr").first.locator("td").nth(2)).to_have_text("p0")
    histograms = page.locator("#run-histograms")
    expect(histograms.locator("[data-histogram=weights] .main-svg").first).to_be_visible()
    expect(histograms.locator("h3")).to_have_count(2)
    expect(histograms).to_contain_text('<b id="evil-hist">w</b>')
    assert page.locator("#evil-hist").count() == 0
    shot(page, artifacts_dir, "run-tables-histograms")


def test_tables_fit_a_phone(open_tab: Any, seeded: dict[str, str], artifacts_dir: Any) -> None:
    tab = open_tab(width=390, height=844)
    project = seeded["project"]
    for url in (
        f"/projects/{project}/artifacts/preds/v1",
        f"/compare/tables?v={project}/preds:v0&v={project}/preds:v1",
        f"/projects/{seeded['run']}".replace(f"{project}/", f"{project}/runs/", 1),
    ):
        tab.goto(url)
        tab.wait_for_load_state("networkidle")
        width = tab.evaluate("() => document.documentElement.scrollWidth")
        wide = tab.evaluate(
            "() => [...document.querySelectorAll('body *')].filter(e => "
            "e.getBoundingClientRect().right > 391 && !e.closest('.table-wrap'))"
            ".slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + "
            "Math.round(e.getBoundingClientRect().right))"
        )
        assert width <= 390, f"{url} is {width} px wide at 390: {wide}"
    shot(tab, artifacts_dir, "compare-predictions-390")


def test_table_rows_and_images_need_the_viewer_role(
    ui_server: Any, seeded: dict[str, str], csrf: Any
) -> None:
    import httpx

    project = seeded["project"]
    api = httpx.Client(
        base_url=ui_server.url + "/api/v1",
        headers={"Authorization": f"Bearer {ui_server.admin_key}"},
        timeout=60,
    )
    suffix = uuid.uuid4().hex[:6]
    keys = {}
    for who in ("rv", "outsider"):
        made = api.post("/users", json={"name": f"{who}{suffix}"})
        assert made.status_code == 201, made.text
        keys[who] = made.json()["key"]
    member = {"user": f"rv{suffix}", "role": "restricted_viewer"}
    assert api.post(f"/projects/{project}/members", json=member).status_code in (200, 201)
    assert api.patch(f"/projects/{project}", json={"visibility": "restricted"}).status_code == 200
    table = {"ref": f"{project}/preds:v0", "path": "preds.table.json"}
    image = f"/projects/{project}/artifacts/preds/v0/images/media/images/3.png"
    for who, status in (("rv", 403), ("outsider", 404)):
        with httpx.Client(base_url=ui_server.url, timeout=60) as browser:
            login = browser.get("/login")
            signed = browser.post("/login", data={"csrf_token": csrf(login.text), "key": keys[who]})
            assert signed.status_code == 303
            assert browser.get("/-/data/table", params=table).status_code == status
            assert browser.get(image).status_code == status
            page = browser.get(f"/projects/{project}/artifacts/preds/v0")
            assert 'id="tables"' not in page.text
    with httpx.Client(base_url=ui_server.url, timeout=60) as browser:
        login = browser.get("/login")
        browser.post("/login", data={"csrf_token": csrf(login.text), "key": ui_server.admin_key})
        assert browser.get(image).status_code == 200
        assert browser.get("/-/data/table", params=table).json()["count"] == 200
    api.close()


def test_wandbs_partitioned_and_joined_tables(page: Any, seeded: dict[str, str]) -> None:
    """A partitioned table pages as one table of its parts' rows; a joined table opens
    its two tables compared on its keys (``id`` in one, ``sid`` in the other)."""
    page.goto(f"/projects/{seeded['project']}/artifacts/parts/v0")
    parted = page.locator("[data-table-file='all.partitioned-table.json'] [data-testid=table-viewer]")
    expect(parted.locator(".table-range")).to_have_text("Rows 1–20 of 20")
    expect(parted.locator("tbody tr").nth(10).locator("td").first).to_have_text("10")
    page.click("[data-testid=joined-table]")
    page.wait_for_url("**/compare/tables?**")
    counts = page.locator("[data-testid=agreement]")
    # ids 0-5 beside sids 1-7: 8 keys, 3 in one table only, the label of key 2 differs
    expect(counts.locator("[data-count=rows]")).to_have_text("8 keys")
    expect(counts.locator("[data-count=only]")).to_have_text("3 only in some")
    expect(counts.locator("[data-count=differ]")).to_have_text("1 differ")
    expect(counts.locator("[data-count=equal]")).to_have_text("4 equal")
    expect(page.locator("tr[data-key='2']")).to_have_attribute("data-status", "differ")
