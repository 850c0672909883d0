"""The web UI over a real server, driven with plain HTTP: sessions, CSRF, inline errors that
change nothing, audit as the signed-in user, safe Markdown, downloads, pages of many
versions, and the JSON the charts poll."""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
import zipfile

import httpx
import pytest

SEED = """
import math, modelbay, pathlib
name = "{name}"
for i in range({count}):
    run = modelbay.init(project="{project}", config={{"lr": 0.1 / (i + 1), "layers": i % 3}})
    for step in range(5):
        run.log({{"val/acc": 0.5 + i / 200 + step / 100, "train/loss": 1.0 / (i + step + 1)}})
    path = pathlib.Path(f"model-{{i}}.bin")
    path.write_text(f"weights {{name}} {{i}}")
    run.link_model(path, name, name=name + "-src")
    run.finish()
"""


@pytest.fixture(scope="module")
def model(run_sdk):
    """A registered model with three versions, each from a run with metrics."""
    name = f"forms-{uuid.uuid4().hex[:6]}"
    run_sdk(SEED.format(name=name, count=3, project="ui-forms"))
    return name


def history_of(client: httpx.Client, name: str) -> list[str]:
    page = client.get(f"/registries/model/{name}")
    return re.findall(r'data-action="([a-z_.]+)" data-actor="([^"]+)"', page.text)


def test_pages_need_a_session_and_redirect_to_login(ui_server, model):
    with httpx.Client(base_url=ui_server.url) as anon:
        resp = anon.get(f"/registries/model/{model}")
        assert resp.status_code == 303
        assert resp.headers["location"] == f"/login?next=%2Fregistries%2Fmodel%2F{model}"
        assert anon.get("/-/data/runs", params={"run": "p/x"}).status_code == 401
        bearer = anon.get("/", headers={"Authorization": f"Bearer {ui_server.admin_key}"})
        assert bearer.status_code == 303  # the API's keys do not open pages without a session


def test_login_sets_a_hardened_session_cookie_and_logout_ends_it(ui_server, csrf):
    with httpx.Client(base_url=ui_server.url) as client:
        page = client.get("/login")
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]
        wrong = client.post("/login", data={"csrf_token": csrf(page.text), "key": "mb_nope"})
        assert wrong.status_code == 401
        assert 'data-error="login"' in wrong.text and "unknown API key" in wrong.text
        ok = client.post(
            "/login",
            data={"csrf_token": csrf(page.text), "key": ui_server.admin_key, "next": "/projects"},
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/projects"
        cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        home = client.get("/")
        assert home.status_code == 200 and "Signed in as admin" in home.text
        copied = dict(client.cookies)
        out = client.post("/logout", data={"csrf_token": csrf(home.text)})
        assert out.status_code == 303
        assert client.get("/").status_code == 303
    # The session ended on the server: a copy of the cookie taken before signing out opens
    # nothing either.
    with httpx.Client(base_url=ui_server.url, cookies=copied) as thief:
        assert thief.get("/").status_code == 303


def test_login_goes_back_only_to_this_site(ui_server, csrf):
    with httpx.Client(base_url=ui_server.url) as client:
        page = client.get("/login")
        resp = client.post(
            "/login",
            data={
                "csrf_token": csrf(page.text),
                "key": ui_server.admin_key,
                "next": "//evil.example/x",
            },
        )
        assert resp.headers["location"] == "/"


def test_password_login(ui_server, csrf, tmp_path):
    name = f"pw{uuid.uuid4().hex[:6]}"
    api = httpx.Client(
        base_url=ui_server.url + "/api/v1",
        headers={"Authorization": f"Bearer {ui_server.admin_key}"},
    )
    api.post("/users", json={"name": name}).raise_for_status()
    from modelbay.services import Services
    from modelbay.services.core import Principal
    from modelbay.settings import Settings

    services = Services.open(Settings(data_dir=ui_server.data_dir))
    try:
        services.auth.set_password(Principal(0, name), name, "correct horse battery")
    finally:
        services.close()
    with httpx.Client(base_url=ui_server.url) as client:
        page = client.get("/login")
        bad = client.post(
            "/login", data={"csrf_token": csrf(page.text), "username": name, "password": "nope"}
        )
        assert bad.status_code == 401 and "wrong user name or password" in bad.text
        ok = client.post(
            "/login",
            data={
                "csrf_token": csrf(page.text),
                "username": name,
                "password": "correct horse battery",
            },
        )
        assert ok.status_code == 303
        assert f"{name}</span>" in client.get("/").text


def test_one_time_login_link_printed_at_start_works_once(ui_server):
    match = re.search(r"(/login/once/[A-Za-z0-9_-]+)", ui_server.log_text())
    assert match, ui_server.log_text()
    with httpx.Client(base_url=ui_server.url) as client:
        first = client.get(match.group(1))
        assert first.status_code == 303 and first.headers["location"] == "/"
        assert client.get("/").status_code == 200
    with httpx.Client(base_url=ui_server.url) as other:
        again = other.get(match.group(1))
        assert again.status_code == 401
        assert "used already or has expired" in again.text


def test_forms_without_a_csrf_token_are_refused_and_change_nothing(signed_in, model, csrf):
    before = history_of(signed_in, model)
    for token in (None, "forged"):
        data = {"action": "add_alias", "alias": "production", "version": "v0"}
        if token:
            data["csrf_token"] = token
        resp = signed_in.post(f"/registries/model/{model}", data=data)
        assert resp.status_code == 403
        assert "expired or did not come from this site" in resp.text
    page = signed_in.get(f"/registries/model/{model}")
    assert 'data-alias="production"' not in page.text
    assert history_of(signed_in, model) == before
    # the token of another session does not work either
    with httpx.Client(base_url=signed_in.base_url) as other:
        login = other.get("/login")
        resp = signed_in.post(
            f"/registries/model/{model}",
            data={"csrf_token": csrf(login.text), "action": "add_tag", "tag": "x"},
        )
        assert resp.status_code == 403


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "add_alias", "alias": "latest", "version": "v1"}, "is reserved"),
        ({"action": "add_alias", "alias": "bad alias!", "version": "v1"}, "invalid alias"),
        ({"action": "add_alias", "alias": "", "version": "v1"}, "enter an alias"),
        ({"action": "add_alias", "alias": "prod", "version": "v99"}, "not found"),
        ({"action": "add_tag", "tag": "two  spaces"}, "invalid tag"),
        ({"action": "unlink", "version": "v42"}, "not found"),
    ],
)
def test_bad_form_input_shows_an_inline_error_and_changes_nothing(
    signed_in, model, csrf, data, message
):
    page = signed_in.get(f"/registries/model/{model}")
    before = history_of(signed_in, model)
    resp = signed_in.post(
        f"/registries/model/{model}", data={"csrf_token": csrf(page.text), **data}
    )
    assert resp.status_code in (400, 404)
    error = re.search(rf'data-error="{data["action"]}">([^<]*)<', resp.text)
    assert error and message in error.group(1), resp.text[:3000]
    assert "<h1>" in resp.text and "Versions" in resp.text  # the page itself, shown again
    assert history_of(signed_in, model) == before


def test_changes_are_audited_as_the_signed_in_user(ui_server, model, csrf):
    name = f"ann{uuid.uuid4().hex[:6]}"
    api = httpx.Client(
        base_url=ui_server.url + "/api/v1",
        headers={"Authorization": f"Bearer {ui_server.admin_key}"},
    )
    key = api.post("/users", json={"name": name}).json()["key"]
    # Moving an alias needs the member role in the registry (issue #15).
    member = {"user": name, "role": "member"}
    api.post("/registries/model/members", json=member).raise_for_status()
    with httpx.Client(base_url=ui_server.url) as client:
        login = client.get("/login")
        client.post("/login", data={"csrf_token": csrf(login.text), "key": key})
        page = client.get(f"/registries/model/{model}")
        resp = client.post(
            f"/registries/model/{model}",
            data={
                "csrf_token": csrf(page.text),
                "action": "add_alias",
                "alias": "staging",
                "version": "v1",
            },
        )
        assert resp.status_code == 303
        after = client.get(f"/registries/model/{model}").text
        assert "is now staging" in after
    events = api.get(f"/registries/model/collections/{model}/history").json()["events"]
    assert events[0]["action"] == "alias.added"
    assert events[0]["actor"] == name
    assert events[0]["after"] == {"alias": "staging", "version": "v1"}


def test_description_with_script_and_javascript_links_is_inert(signed_in, model, csrf):
    evil = (
        "# Card\n\n<script>window.pwned = 1</script>\n\n"
        "[click](javascript:alert(1)) [tab](java&#x09;script:alert(2)) "
        "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) "
        "<img src=x onerror=alert(3)> [fine](https://example.org/card)"
    )
    page = signed_in.get(f"/registries/model/{model}")
    resp = signed_in.post(
        f"/registries/model/{model}",
        data={"csrf_token": csrf(page.text), "action": "description", "description": evil},
    )
    assert resp.status_code == 303
    html = signed_in.get(f"/registries/model/{model}").text
    card = html[html.index('data-testid="description"') :]
    card = card[: card.index("</div>")]
    assert "<script>" not in card and "&lt;script&gt;" in card
    assert "<img" not in card
    assert "javascript:" not in card.replace("](javascript:", "")
    hrefs = re.findall(r'href="([^"]*)"', card)
    assert hrefs == ["https://example.org/card"]


def test_file_downloads_one_by_one_and_as_a_zip(signed_in, model):
    base = f"/registries/model/{model}/v1"
    page = signed_in.get(base)
    assert "model-1.bin" in page.text
    one = signed_in.get(f"{base}/files/model-1.bin")
    assert one.status_code == 200
    assert one.content == f"weights {model} 1".encode()
    assert "attachment" in one.headers["content-disposition"]
    assert one.headers["content-type"] == "application/octet-stream"
    archive = signed_in.get(f"{base}/download.zip")
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
        assert z.namelist() == ["model-1.bin"]
        assert z.read("model-1.bin") == f"weights {model} 1".encode()
    assert signed_in.get(f"{base}/files/nope.bin").status_code == 404


def test_a_file_whose_bytes_the_disk_store_lost_is_a_404(run_sdk, signed_in, ui_server):
    name = f"lost-{uuid.uuid4().hex[:6]}"
    run_sdk(SEED.format(name=name, count=1, project="ui-lost"))
    digest = hashlib.sha256(f"weights {name} 0".encode()).hexdigest()
    (ui_server.data_dir / "blobs" / digest[:2] / digest).unlink()
    resp = signed_in.get(f"/registries/model/{name}/v0/files/model-0.bin")
    assert resp.status_code == 404
    assert "lost" in resp.text


def test_chart_data_is_thinned_on_the_server(run_sdk, signed_in):
    out = run_sdk(
        """
        import modelbay, math
        run = modelbay.init(project="ui-forms")
        for step in range(5000):
            run.log({"loss": 100.0 if step == 3333 else math.sin(step / 50)})
        run.finish()
        print(run.path)
        """
    )
    path = out.stdout.strip().splitlines()[-1]
    data = signed_in.get("/-/data/runs", params={"run": path, "max_points": 200}).json()
    series = data["runs"][path]["history"]["loss"]
    assert len(series["x"]) == len(series["t"]) == len(series["y"]) == 200  # one per bucket
    assert series["x"][0] == 12.0  # the mean step of the first 25
    assert max(series["y"]) < 10.0  # the line is each bucket's mean
    assert max(series["hi"]) == 100.0  # the spike survives thinning, in the band
    assert all(
        lo <= y <= hi for lo, y, hi in zip(series["lo"], series["y"], series["hi"], strict=True)
    )
    whole = signed_in.get("/-/data/runs", params={"run": path, "max_points": 5000}).json()
    series = whole["runs"][path]["history"]["loss"]
    assert len(series["x"]) == 5000 and "lo" not in series and max(series["y"]) == 100.0
    assert data["runs"][path]["state"] == "finished"
    bad = signed_in.get("/-/data/runs", params={"run": path, "max_points": 1})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_input"


def test_many_versions_come_a_page_at_a_time_sorted_by_a_metric(run_sdk, signed_in):
    name = f"paged-{uuid.uuid4().hex[:6]}"
    run_sdk(SEED.format(name=name, count=60, project="ui-paged"))
    first = signed_in.get(f"/registries/model/{name}")
    rows = re.findall(r'<tr data-version="(v\d+)"', first.text)
    assert len(rows) == 50 and rows[0] == "v59"
    assert "page 1 of 2" in first.text
    second = signed_in.get(f"/registries/model/{name}", params={"page": 2})
    assert re.findall(r'<tr data-version="(v\d+)"', second.text)[-1] == "v0"
    by_acc = signed_in.get(
        f"/registries/model/{name}", params={"sort": "m:val/acc", "order": "asc"}
    )
    assert re.findall(r'<tr data-version="(v\d+)"', by_acc.text)[:3] == ["v0", "v1", "v2"]
    bad = signed_in.get(f"/registries/model/{name}", params={"sort": 'm:a"b'})
    assert bad.status_code == 400 and "cannot sort by metric" in bad.text


def test_link_from_an_artifact_page(signed_in, model, csrf):
    source = f"/projects/ui-forms/artifacts/{model}-src/v0"
    page = signed_in.get(source)
    assert page.status_code == 200 and "Link to a registry" in page.text
    bad = signed_in.post(
        source,
        data={
            "csrf_token": csrf(page.text),
            "action": "link",
            "registry": "dataset",
            "collection": "x",
            "aliases": "",
        },
    )
    assert bad.status_code == 409 and 'data-error="link"' in bad.text
    target = f"linked-{uuid.uuid4().hex[:6]}"
    resp = signed_in.post(
        source,
        data={
            "csrf_token": csrf(page.text),
            "action": "link",
            "registry": "model",
            "collection": target,
            "aliases": "candidate, review",
        },
    )
    assert resp.status_code == 303 and resp.headers["location"] == f"/registries/model/{target}/v0"
    linked = signed_in.get(resp.headers["location"]).text
    for alias in ("candidate", "review", "latest"):
        assert f'data-alias="{alias}"' in linked


def test_the_page_data_block_cannot_be_closed_from_inside(run_sdk, signed_in):
    out = run_sdk(
        """
        import modelbay
        run = modelbay.init(project="ui-forms", name="x", config={"note": "</script><script>alert(1)</script>"})
        run.log({"a": 1})
        run.finish()
        print(run.path)
        """
    )
    path = out.stdout.strip().splitlines()[-1]
    project, run_id = path.split("/")
    html = signed_in.get(f"/projects/{project}/runs/{run_id}").text
    block = html[html.index('id="chart-data">') :]
    block = block[: block.index("</script>")]
    assert "<" not in block[len('id="chart-data">') :]
    json.loads(block[len('id="chart-data">') :])


def test_unknown_things_get_an_html_error_page(signed_in):
    resp = signed_in.get("/registries/model/no-such-model")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("text/html")
    assert "collection model-registry/no-such-model not found" in resp.text
    bad_name = signed_in.get("/projects/bad%20name")
    assert bad_name.status_code == 400 and "invalid project" in bad_name.text


def test_repeated_failed_sign_ins_lock_that_user_name_for_a_while(ui_server, csrf):
    from modelbay.server.ui.login import USER_FAILURES
    from modelbay.services import Services
    from modelbay.services.core import Principal
    from modelbay.settings import Settings

    name, other = f"lk{uuid.uuid4().hex[:6]}", f"ok{uuid.uuid4().hex[:6]}"
    api = httpx.Client(
        base_url=ui_server.url + "/api/v1",
        headers={"Authorization": f"Bearer {ui_server.admin_key}"},
    )
    services = Services.open(Settings(data_dir=ui_server.data_dir))
    try:
        for user in (name, other):
            api.post("/users", json={"name": user}).raise_for_status()
            services.auth.set_password(Principal(0, user), user, "correct horse battery")
    finally:
        services.close()
    with httpx.Client(base_url=ui_server.url) as client:
        token = csrf(client.get("/login").text)

        def sign_in(user: str, password: str) -> httpx.Response:
            data = {"csrf_token": token, "username": user, "password": password}
            return client.post("/login", data=data)

        for _ in range(USER_FAILURES):
            assert sign_in(name, "guess").status_code == 401
        locked = sign_in(name, "correct horse battery")  # the right one, too late
        assert locked.status_code == 429, locked.text
        assert "too many failed sign-ins" in locked.text
        assert int(locked.headers["Retry-After"]) > 0
        assert sign_in(other, "correct horse battery").status_code == 303  # others may


def test_the_sign_in_throttle_forgets_after_its_window(tmp_path):
    from modelbay.errors import RateLimitedError
    from modelbay.services.sessions import SessionService
    from modelbay.store.database import Database

    now = [1000.0]
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    throttle = SessionService(db, window=300.0, clock=lambda: now[0])
    limits = {"user:a": 3, "client:x": 100}
    try:
        for _ in range(3):
            throttle.check_throttle(limits)
            throttle.sign_in_failed(list(limits))
        with pytest.raises(RateLimitedError):
            throttle.check_throttle(limits)
        throttle.check_throttle({"user:b": 3, "client:x": 100})  # another user, same address
        now[0] += 301
        throttle.check_throttle(limits)  # the window has passed
        throttle.sign_in_failed(list(limits))
        throttle.sign_in_succeeded("user:a")
        throttle.check_throttle(limits)
    finally:
        db.dispose()
