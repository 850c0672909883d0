"""The history endpoints over raw HTTP: what the SDK sends, and what it never would."""

from __future__ import annotations

import math

import httpx
import pytest


@pytest.fixture
def client(server):
    with httpx.Client(
        base_url=server.url + "/api/v1",
        headers={"Authorization": f"Bearer {server.admin_key}"},
        timeout=30,
    ) as c:
        yield c


def make_run(client, uniq) -> str:
    r = client.post(f"/projects/h{uniq}/runs", json={"id": f"r{uniq}"})
    assert r.status_code == 201, r.text
    return f"/projects/h{uniq}/runs/r{uniq}/history"


def stored(client, path) -> dict:
    r = client.get(path)
    assert r.status_code == 200
    return r.json()["history"]


def test_both_point_shapes_nan_and_resends(client, uniq):
    path = make_run(client, uniq)
    body = (
        b'{"points":[[0,1.5,{"a":1,"b":NaN}],{"step":1,"time":2.5,"values":{"a":Infinity}},'
        b'[2,3.5,{"a":-Infinity,"c":true}]]}'
    )
    r = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.json() == {"stored": 5}
    again = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert again.json() == {"stored": 5}
    history = stored(client, path)
    assert [p[:2] for p in history["a"]] == [[0, 1], [1, math.inf], [2, -math.inf]]
    assert math.isnan(history["b"][0][1]) and history["c"] == [[2, 1.0, 3.5]]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"points": {}}',
        b'{"points": [], "extra": 1}',
        b'{"points": [[0, 1.0, {"a": 1}], [-1, 1.0, {"a": 1}]]}',
        b'{"points": [[0, 1.0, {"a": 1}], [1, 1.0, {"a": "text"}]]}',
        b'{"points": [[0, 1.0, {"a": 1}], [1, 1.0, {"": 1}]]}',
        b'{"points": [[0, 1.0, {"a": 1}], [1, "noon", {"a": 1}]]}',
        b'{"points": [[0, 1.0, {"a": 1}], [1, 1.0]]}',
        b'{"points": [[0, 1.0, {"a": 1}], {"step": 1, "values": {"a": 1}, "x": 2}]}',
        b'{"points": [[0, 1.0, {"a": 1}], [1, 1.0, {"a": 1' + b"0" * 400 + b"}]]}",
    ],
)
def test_bad_points_are_refused_and_store_nothing(client, uniq, body):
    path = make_run(client, uniq)
    r = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_input"
    assert stored(client, path) == {}


def test_too_many_values_in_one_call(client, uniq):
    path = make_run(client, uniq)
    points = [[i, 1.0, {"a": 1, "b": 2}] for i in range(50_001)]
    r = client.post(path, json={"points": points})
    assert r.status_code == 400 and "at most" in r.json()["error"]["message"]
    assert stored(client, path) == {}


def test_unknown_run(client, uniq):
    make_run(client, uniq)
    r = client.post(f"/projects/h{uniq}/runs/nope/history", json={"points": [[0, 1, {"a": 1}]]})
    assert r.status_code == 404


def test_many_runs_by_get_and_post(client, uniq):
    paths = []
    for n in range(2):
        r = client.post(f"/projects/m{uniq}/runs", json={"id": f"r{n}"})
        assert r.status_code == 201
        points = [[i, float(i), {"x": i * (n + 1)}] for i in range(300)]
        assert client.post(
            f"/projects/m{uniq}/runs/r{n}/history", json={"points": points}
        ).is_success
        paths.append(f"m{uniq}/r{n}")
    got = client.get(
        "/runs/history", params={"runs": ",".join(paths), "keys": "x", "max_points": 10}
    )
    assert got.status_code == 200
    body = got.json()["runs"]
    assert list(body) == paths and all(len(body[p]["x"]) <= 10 for p in paths)
    posted = client.post("/runs/history", json={"runs": paths, "max_points": 10, "x_axis": "time"})
    assert posted.status_code == 200 and list(posted.json()["runs"]) == paths
    # The x axis may be a metric: points where it was logged, each with its value there.
    along = client.post("/runs/history", json={"runs": paths, "keys": ["x"], "x_axis": "x"})
    assert along.status_code == 200
    assert along.json()["runs"][paths[1]]["x"][:2] == [[0, 0.0, 0.0, 0.0], [1, 2.0, 1.0, 2.0]]
    bad = client.post("/runs/history", json={"runs": paths, "x_axis": "x" * 300})
    assert bad.status_code == 400
    summaries = client.get("/runs/summaries", params={"runs": ",".join(paths)})
    assert [s["last_step"] for s in summaries.json()["runs"]] == [299, 299]
    assert client.post("/runs/summaries", json={"runs": "m/r0"}).status_code == 400
    assert client.get("/runs/summaries").status_code == 400
    missing = client.get("/runs/summaries", params={"runs": f"m{uniq}/zzz"})
    assert missing.status_code == 404 and missing.json()["error"]["details"]["missing"]
