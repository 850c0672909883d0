"""The audit log's CSV export over the REST API (``GET /api/v1/audit.csv``): the JSON
listing's filters, every matching event newest first, the same rows as the listing, for
organization admins only; documented as ``text/csv`` in the spec."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime

import httpx
from support.processes import ServerProcess


def api(server: ServerProcess, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url + "/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=60
    )


def rows(resp: httpx.Response) -> list[dict[str, str]]:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(resp.text)))


def test_the_csv_export_filters_like_the_listing_for_admins_only(server: ServerProcess) -> None:
    tag = uuid.uuid4().hex[:6]
    with api(server, server.admin_key) as admin:
        made = admin.post("/users", json={"name": f"csv{tag}"}).json()
        for i in range(3):
            assert (
                admin.post("/keys", json={"name": f"k{i}", "user": f"csv{tag}"}).status_code == 201
            )
        listed = admin.get("/audit", params={"object": f"user/csv{tag}", "limit": 100}).json()
        exported = rows(admin.get("/audit.csv", params={"object": f"user/csv{tag}"}))
        assert [int(r["id"]) for r in exported] == [e["id"] for e in listed["events"]]
        assert [r["action"] for r in exported] == [e["action"] for e in listed["events"]]
        assert [r["action"] for r in exported].count("key.created") == 4  # first key + 3
        newest = exported[0]
        assert json.loads(newest["after"])["name"] == "k2" and newest["before"] == ""
        assert datetime.fromisoformat(newest["time"]).tzinfo is not None

        # Filters combine: a prefix of actions, and a time window.
        only = rows(
            admin.get("/audit.csv", params={"object": f"user/csv{tag}", "action": "user.*"})
        )
        assert [r["action"] for r in only] == ["user.created"]
        after = listed["events"][0]["time"] + 1
        assert (
            rows(admin.get("/audit.csv", params={"since": after, "object": f"user/csv{tag}"})) == []
        )
        bad = admin.get("/audit.csv", params={"colour": "red"})
        assert bad.status_code == 400 and bad.json()["error"]["code"]

        spec = httpx.get(server.url + "/openapi.json", timeout=60).json()["paths"]["/api/v1/audit.csv"]["get"]
        assert "text/csv" in spec["responses"]["200"]["content"]
        assert {p["name"] for p in spec["parameters"]} == {
            "actor",
            "action",
            "object",
            "since",
            "until",
        }

    with api(server, made["key"]) as user:
        refused = user.get("/audit.csv")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "permission_denied"
    assert httpx.get(server.url + "/api/v1/audit.csv").status_code == 401


def test_the_export_holds_every_event_past_one_page(server: ServerProcess) -> None:
    """More events than the export reads per transaction: all of them, none twice."""
    from modelbay.services.audit import EXPORT_PAGE

    tag = uuid.uuid4().hex[:6]
    with api(server, server.admin_key) as admin:
        admin.post("/users", json={"name": f"many{tag}"}).raise_for_status()
        team = f"t{tag}"
        admin.post("/teams", json={"name": team}).raise_for_status()
        for _ in range(EXPORT_PAGE // 2 + 5):  # an add and a remove each: past one page
            admin.put(f"/teams/{team}/members/many{tag}").raise_for_status()
            admin.delete(f"/teams/{team}/members/many{tag}").raise_for_status()
        exported = rows(admin.get("/audit.csv", params={"object": f"team:{team}"}))
    ids = [int(r["id"]) for r in exported]
    assert len(ids) == 2 * (EXPORT_PAGE // 2 + 5) + 1 == len(set(ids))
    assert ids == sorted(ids, reverse=True)
    assert exported[-1]["action"] == "team.created"


def test_a_cell_a_spreadsheet_would_run_is_made_inert() -> None:
    from modelbay.audit_csv import csv_row

    event = {
        "id": 7,
        "time": 0.0,
        "actor": "@admin",
        "action": "collection.created",
        "subject": '=HYPERLINK("http://x","y")',
        "before": None,
        "after": {"name": "-1+1"},
    }
    row = csv_row(event)
    assert row[2] == "'@admin" and row[4] == '\'=HYPERLINK("http://x","y")'
    assert row[6] == '{"name": "-1+1"}'  # JSON cells start with "{": left as they are
    plain = csv_row({**event, "actor": "ann", "subject": "model-registry/m"})
    assert plain[2] == "ann" and plain[4] == "model-registry/m"
