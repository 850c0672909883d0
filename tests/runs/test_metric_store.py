"""The metrics store under the run service, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelbay.errors import InvalidInputError, NotFoundError
from modelbay.services import Services
from modelbay.settings import Settings
from modelbay.store.schema import metrics


@pytest.fixture
def svc(tmp_path: Path, db_url: str):
    services = Services.open(Settings(data_dir=tmp_path, db_url=db_url))
    try:
        yield services, services.auth.local_principal("alice")
    finally:
        services.close()


def count_rows(services: Services) -> int:
    with services.db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(metrics)).scalar() or 0)


def test_log_resend_and_read_back(svc):
    services, me = svc
    runs = services.runs
    runs.create(me, "proj", run_id="r1")
    points = [
        [s, 100.0 + s, {"loss": 1 / (s + 1), "acc": s / 10, "bad": math.nan}] for s in range(3000)
    ]
    points[1500][2]["loss"] = math.inf
    assert runs.log(me, "proj", "r1", points) == 9000
    assert runs.log(me, "proj", "r1", points[:1000]) == 3000  # a resend
    assert count_rows(services) == 9000
    info = runs.get(me, "proj", "r1")
    assert info["last_step"] == 2999
    history = runs.history(me, "proj", "r1", ["loss", "bad"])["history"]
    assert [p[0] for p in history["loss"]] == list(range(3000))
    assert history["loss"][1500][1] == math.inf
    assert all(math.isnan(p[1]) for p in history["bad"])
    small = runs.history(me, "proj", "r1", ["loss"], max_points=100)["history"]["loss"]
    assert len(small) <= 100 and math.inf in [p[1] for p in small]

    runs.create(me, "proj", run_id="r2")
    runs.log(me, "proj", "r2", [{"step": 7, "values": {"z": 1}}])
    table = runs.summaries(me, ["proj/r2", "proj/r1"])
    assert [(t["id"], t["last_step"], t["keys"]) for t in table] == [
        ("r2", 7, ["z"]),
        ("r1", 2999, ["acc", "bad", "loss"]),
    ]
    both = runs.histories(me, ["proj/r1", "proj/r2"], ["z", "acc"], max_points=10)["runs"]
    assert list(both["proj/r1"]) == ["acc"] and both["proj/r2"]["z"][0][:2] == [7, 1.0]


def test_a_bad_point_writes_nothing(svc):
    services, me = svc
    services.runs.create(me, "proj", run_id="r1")
    with pytest.raises(InvalidInputError):
        services.runs.log(me, "proj", "r1", [[0, 1.0, {"a": 1}], [1, 1.0, {"a": "x"}]])
    with pytest.raises(NotFoundError):
        services.runs.log(me, "proj", "nope", [[0, 1.0, {"a": 1}]])
    assert count_rows(services) == 0
    assert services.runs.get(me, "proj", "r1")["last_step"] is None


def test_started_at_is_kept_and_checked(svc):
    services, me = svc
    info = services.runs.create(me, "proj", run_id="old", started_at=1_600_000_000.0)
    assert info["created_at"] == 1_600_000_000.0
    for bad in (-1, 10**12, "yesterday"):
        with pytest.raises(InvalidInputError):
            services.runs.create(me, "proj", run_id="bad", started_at=bad)
    with pytest.raises(NotFoundError):
        services.runs.get(me, "proj", "bad")


def test_history_pages_by_step_on_the_server(svc):
    """``limit`` steps a page, keyset on the step: keys logged at different steps share
    pages, every point comes back once, and a page's statement reads its own rows."""
    services, me = svc
    runs = services.runs
    runs.create(me, "proj", run_id="r1")
    # acc at every step 0..99, loss at even steps only, val at steps >= 90.
    points = [
        [
            s,
            1.0 + s,
            {"acc": s, **({"loss": -s} if s % 2 == 0 else {}), **({"val": s} if s >= 90 else {})},
        ]
        for s in range(100)
    ]
    runs.log(me, "proj", "r1", points)
    pages, cursor, seen = 0, None, {"acc": [], "loss": [], "val": []}
    while True:
        page = runs.history(me, "proj", "r1", min_step=10, max_step=95, limit=7, cursor=cursor)
        pages += 1
        steps = sorted({p[0] for pts in page["history"].values() for p in pts})
        assert len(steps) <= 7
        for key, pts in page["history"].items():
            seen[key] += [p[0] for p in pts]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 13  # 85 steps, 7 a page
    assert seen["acc"] == list(range(10, 95))
    assert seen["loss"] == list(range(10, 95, 2))
    assert seen["val"] == list(range(90, 95))
    only = runs.history(me, "proj", "r1", ["loss"], min_step=0, limit=3)
    assert [p[0] for p in only["history"]["loss"]] == [0, 2, 4] and only["next_cursor"]
    whole = runs.history(me, "proj", "r1", ["val"], min_step=95)
    assert [p[0] for p in whole["history"]["val"]] == [95, 96, 97, 98, 99]
    assert whole["next_cursor"] is None
    with pytest.raises(InvalidInputError):
        runs.history(me, "proj", "r1", cursor="garbage")
    with pytest.raises(InvalidInputError):
        runs.history(me, "proj", "r1", max_points=10, limit=5)
