"""The seed's workflow in a real browser (headless Chromium through Playwright) against a real
server on loopback: log three versions from a script, open the collection, compare two
versions on charts, promote the best with a click, see the history record it, follow the
lineage to the dataset. Screenshots of each page go to test-artifacts/ui/."""

from __future__ import annotations

import uuid

from support.browser import expect, shot

WORKFLOW = """
import math, pathlib, modelbay
project, name = "{project}", "{name}"
prep = modelbay.init(project=project, job_type="prepare-data")
data = modelbay.Artifact("digits", "dataset", description="Hand-written digits")
pathlib.Path("digits.csv").write_text("label,pixels\\n" + "\\n".join(f"{{i % 10}},..." for i in range(50)))
data.add_file("digits.csv")
prep.log_artifact(data)
prep.finish()
for i, (lr, ceiling) in enumerate([(0.1, 0.90), (0.03, 0.97), (0.01, 0.93)]):
    run = modelbay.init(project=project, job_type="train",
                        config={{"lr": lr, "epochs": 20, "optimizer": "sgd" if i == 0 else "adam"}})
    run.use_artifact("digits:latest")
    for step in range(20):
        run.log({{"train/loss": 2.3 * math.exp(-(step + 1) * lr * 3),
                  "val/acc": ceiling * (1 - math.exp(-(step + 1) / 5))}})
    path = pathlib.Path("model.h5")
    path.write_text(f"weights of run {{i}} (lr={{lr}})")
    run.link_model(path, name, name=name.lower() + "-cnn")
    run.finish()
"""


def test_workflow_log_compare_promote_audit_lineage(
    page, run_sdk, artifacts_dir, browser, ui_server
):
    name = f"Digits{uuid.uuid4().hex[:4]}"
    project = "ui-workflow"
    run_sdk(WORKFLOW.format(project=project, name=name))

    # The login page, from a fresh context.
    fresh = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=ui_server.url)
    login = fresh.new_page()
    login.goto("/login")
    shot(login, artifacts_dir, "01-login")
    fresh.close()

    # Home: the registries and the new collection, found by search.
    page.goto("/")
    expect(page.locator(f'a.tile[data-collection="{name}"]')).to_be_visible()
    shot(page, artifacts_dir, "02-registries")
    page.fill("main input[name=q]", name.lower())
    page.press("main input[name=q]", "Enter")
    expect(page.locator("a.tile")).to_have_count(1)
    page.click(f'a.tile[data-collection="{name}"]')

    # The collection: three versions, with their runs' metrics as columns.
    page.wait_for_url(f"**/registries/model/{name}")
    rows = page.locator("[data-testid=versions] tbody tr[data-version]")
    expect(rows).to_have_count(3)
    expect(page.locator("[data-testid=versions] thead")).to_contain_text("val/acc")
    shot(page, artifacts_dir, "03-collection")

    # Compare two versions: one chart per metric, one trace per version.
    page.check('tr[data-version="v0"] input[type=checkbox]')
    page.check('tr[data-version="v1"] input[type=checkbox]')
    page.click("#compare-form button")
    page.wait_for_url("**/compare?**")
    page.wait_for_selector('#charts[data-loaded="true"]')
    page.wait_for_function("document.querySelectorAll('#charts .chart .main-svg').length >= 2")
    traces = page.eval_on_selector_all(
        "#charts .chart",
        "els => els.map(e => [e.dataset.metric, e.data.length, e.data.map(t => t.name)])",
    )
    assert sorted(t[0] for t in traces) == ["train/loss", "val/acc"]
    assert all(t[1] == 2 and sorted(t[2]) == ["v0", "v1"] for t in traces), traces
    expect(page.locator("[data-testid=config-diff] tbody tr")).to_have_count(2)  # lr, optimizer
    page.wait_for_selector("#parcoords .main-svg")
    shot(page, artifacts_dir, "04-compare")
    headers = page.locator("[data-testid=summary] thead th").evaluate_all(
        "els => els.map(e => e.textContent)"
    )
    cells = page.locator('[data-testid=summary] tr[data-key="val/acc"] td')
    best_index = [
        i for i in range(cells.count()) if "best" in (cells.nth(i).get_attribute("class") or "")
    ]
    assert len(best_index) == 1
    best = headers[best_index[0]].strip()
    assert best == "v1"  # the run with the highest ceiling

    # Promote the best one by clicking.
    page.goto(f"/registries/model/{name}")
    row = page.locator(f'tr[data-version="{best}"]')
    row.locator("summary").click()
    row.locator("input[name=alias]").fill("production")
    row.locator("button:has-text('Add')").click()
    page.wait_for_url(f"**/registries/model/{name}")
    expect(page.locator(".flash")).to_contain_text(f"{best} is now production")
    expect(row.locator('[data-alias="production"]')).to_be_visible()

    # The action history records it: newest first, who and when.
    newest = page.locator("[data-testid=history] li").first
    expect(newest).to_have_attribute("data-action", "alias.added")
    expect(newest).to_have_attribute("data-actor", "admin")
    expect(newest).to_contain_text("production")
    expect(newest).to_contain_text(best)
    page.locator("#history").scroll_into_view_if_needed()
    shot(page, artifacts_dir, "05-promoted")

    # The version page, and its lineage graph, followed to the dataset.
    row.locator(f"a:has-text('{best}')").first.click()
    page.wait_for_url(f"**/registries/model/{name}/{best}")
    expect(page.locator("#usage")).to_have_text(
        f'path = run.use_model("model-registry/{name}:{best}")'
    )
    expect(page.locator("[data-testid=files]")).to_contain_text("model.h5")
    expect(page.locator("[data-testid=aliases]")).to_contain_text("production")
    shot(page, artifacts_dir, "06-version")
    page.click('[data-testid=lineage] a[data-kind="artifact"][data-node*="/digits:"]')
    page.wait_for_url(f"**/projects/{project}/artifacts/digits/v0")
    expect(page.locator("h1")).to_have_text("digits:v0")
    expect(page.locator(".chip.type").first).to_have_text("dataset")
    shot(page, artifacts_dir, "07-dataset-lineage")

    # The project's runs table and a run's page.
    page.goto(f"/projects/{project}")
    expect(page.locator("[data-testid=runs] tbody tr")).to_have_count(4)
    shot(page, artifacts_dir, "08-project")
    page.locator("[data-testid=runs] tbody tr a").first.click()
    page.wait_for_selector('#charts[data-loaded="true"]')
    shot(page, artifacts_dir, "09-run")


def test_run_charts_update_live_while_the_run_logs(page, start_sdk, artifacts_dir, tmp_path):
    stop = tmp_path / "stop"
    proc = start_sdk(
        """
        import os, pathlib, time, modelbay
        run = modelbay.init(project="ui-live", name="live-run", config={"lr": 0.1})
        print(run.path, flush=True)
        stop = pathlib.Path(os.environ["STOP_FILE"])
        step = 0
        while not stop.exists() and step < 20000:
            run.log({"loss": 1.0 / (step + 1), "acc": step / (step + 10)})
            step += 1
            time.sleep(0.02)
        run.finish()
        """,
        STOP_FILE=str(stop),
    )
    try:
        path = proc.stdout.readline().strip()
        project, run_id = path.split("/")
        page.goto(f"/projects/{project}/runs/{run_id}")
        expect(page.locator("#live-status")).to_have_class("live on")
        expect(page.locator("[data-live-state]")).to_have_text("running")
        line = (  # the loss line's x values (a thinned series also has a band trace)
            "document.querySelector('#charts .chart[data-metric=loss]')"
            "?.data?.find(t => t.meta === 'line')?.x"
        )
        page.wait_for_function(f"{line}?.length > 0")
        first = page.evaluate(f"(() => {{ const x = {line}; return x[x.length - 1]; }})()")
        # No reload: the page polls and redraws with the steps logged since.
        page.wait_for_function(
            f"last => {{ const x = {line}; return x[x.length - 1] > last; }}", arg=first
        )
        shot(page, artifacts_dir, "10-run-live")
    finally:
        stop.write_text("stop")
        proc.wait(timeout=120)
    # Once the run has finished, the page says so and stops polling.
    expect(page.locator("[data-live-state]")).to_have_text("finished")
    expect(page.locator("#live-status")).not_to_have_class("live on")


def test_link_an_artifact_version_into_a_registry_from_its_page(page, run_sdk, artifacts_dir):
    suffix = uuid.uuid4().hex[:6]
    run_sdk(
        f"""
        import pathlib, modelbay
        run = modelbay.init(project="ui-link")
        pathlib.Path("eval.csv").write_text("a,b\\n1,2\\n")
        art = modelbay.Artifact("eval-{suffix}", "dataset", metadata={{"rows": 1}})
        art.add_file("eval.csv")
        run.log_artifact(art)
        run.finish()
        """
    )
    page.goto(f"/projects/ui-link/artifacts/eval-{suffix}/v0")
    page.select_option("#link-registry", "dataset")
    page.fill("#link-collection", f"golden-{suffix}")
    page.fill("#link-aliases", "golden, review")
    shot(page, artifacts_dir, "11-link-form")
    page.click("#link-form button[type=submit]")
    page.wait_for_url(f"**/registries/dataset/golden-{suffix}/v0")
    expect(page.locator(".flash")).to_contain_text(f"Linked dataset-registry/golden-{suffix}:v0")
    for alias in ("golden", "review", "latest"):
        expect(page.locator(f'[data-testid=aliases] [data-alias="{alias}"]')).to_be_visible()
    shot(page, artifacts_dir, "12-linked")


def test_description_with_script_and_javascript_links_is_inert_in_the_browser(
    page, run_sdk, artifacts_dir
):
    name = f"Inert{uuid.uuid4().hex[:4]}"
    run_sdk(
        f"""
        import pathlib, modelbay
        run = modelbay.init(project="ui-xss")
        pathlib.Path("m.bin").write_text("m")
        run.link_model("m.bin", "{name}")
        run.finish()
        """
    )
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"/registries/model/{name}")
    page.click("#model-card button:has-text('Edit')")
    page.fill(
        "#description-form textarea",
        "# Evil card\n\n<script>window.pwned = 1; alert('script')</script>\n\n"
        "[click me](javascript:alert('link')) <img src=x onerror=\"alert('img')\">\n\n"
        "[data link](data:text/html,<script>alert(1)</script>) [safe](https://example.org)",
    )
    page.click("#description-form button:has-text('Save description')")
    page.wait_for_url(f"**/registries/model/{name}")
    card = page.locator("[data-testid=description]")
    expect(card).to_contain_text("<script>window.pwned = 1")  # shown as text
    assert card.locator("script, img").count() == 0
    hrefs = card.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert hrefs == ["https://example.org"]
    assert page.evaluate("typeof window.pwned") == "undefined"
    card.get_by_text("click me").click()
    page.wait_for_timeout(300)  # give a would-be handler its chance; nothing may fire
    assert dialogs == []
    shot(page, artifacts_dir, "13-inert-description")
