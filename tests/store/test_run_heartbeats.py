"""Run health and metrics at a step, on SQLite and PostgreSQL: a running run whose heartbeat
is older than the timeout is crashed once, by whichever reader comes first; a run's metrics
at the step it had reached by a given time. A silent run is made by moving its heartbeat
into the past, not by waiting."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelbay.services import Principal, Services
from modelbay.settings import Settings
from modelbay.store import runs as run_store
from modelbay.store.schema import events, runs


@pytest.fixture
def svc(tmp_path: Path, db_url: str) -> Iterator[Services]:
    services = Services.open(Settings(data_dir=tmp_path, db_url=db_url, run_timeout=60))
    try:
        yield services
    finally:
        services.close()


def silence(svc: Services, run_id: str, seconds: float) -> float:
    """Move a run's heartbeat ``seconds`` into the past; returns it."""
    at = time.time() - seconds
    with svc.db.write() as conn:
        conn.execute(runs.update().where(runs.c.run_id == run_id).values(heartbeat_at=at))
    return at


def crash_events(svc: Services) -> list[str]:
    with svc.db.read() as conn:
        stmt = sa.select(events.c.subject).where(events.c.action == "run.crashed")
        return list(conn.execute(stmt).scalars())


def test_a_silent_run_is_crashed_once_and_a_resume_revives_it(svc: Services) -> None:
    me: Principal = svc.auth.local_principal("alice")
    svc.runs.create(me, "p", run_id="dead")
    svc.runs.create(me, "p", run_id="alive")
    svc.runs.create(me, "p", run_id="done")
    svc.runs.update(me, "p", "done", state="finished")
    last = silence(svc, "dead", 61)
    silence(svc, "done", 1000)
    silence(svc, "alive", 30)

    states = {r["id"]: r["state"] for r in svc.runs.list_runs(me, "p")}
    assert states == {"dead": "crashed", "alive": "running", "done": "finished"}
    dead = svc.runs.get(me, "p", "dead")
    assert dead["finished_at"] == pytest.approx(last)
    assert svc.runs.crash_silent() == 0  # nothing left: a second reader writes nothing
    assert svc.views.project_runs(me, "p")["total"] == 3
    assert crash_events(svc) == ["p/dead"]

    svc.runs.create(me, "p", run_id="dead", resume="allow")
    assert svc.runs.get(me, "p", "dead")["state"] == "running"


def test_every_send_is_a_heartbeat(svc: Services) -> None:
    me = svc.auth.local_principal("alice")
    svc.runs.create(me, "p", run_id="r")
    silence(svc, "r", 61)
    assert svc.runs.log(me, "p", "r", []) == 0  # an empty batch: the quiet run's heartbeat
    assert svc.runs.get(me, "p", "r")["state"] == "running"
    silence(svc, "r", 61)
    svc.runs.update(me, "p", "r", summary={"a": 1})
    assert svc.runs.get(me, "p", "r")["state"] == "running"


def test_metrics_at_a_time_are_the_last_step_reached_by_then(svc: Services) -> None:
    me = svc.auth.local_principal("alice")
    svc.runs.create(me, "p", run_id="r")
    t0 = 1_700_000_000.0
    points = []
    for step in range(20):
        values: dict[str, float] = {"acc": step / 100}
        if step % 5 == 0:
            values["val"] = float(step)
        if step >= 15:
            values["late"] = 1.0
        if step == 10:
            values["nan"] = float("nan")
        points.append([step, t0 + step, values])
    svc.runs.log(me, "p", "r", points)
    with svc.db.read() as conn:
        pk = conn.execute(sa.select(runs.c.id).where(runs.c.run_id == "r")).scalar_one()
        assert run_store.metrics_at(conn, pk, t0 + 10.5) == (
            10,
            {"acc": 0.1, "val": 10.0, "nan": None},
        )
        step, values = run_store.metrics_at(conn, pk, t0 + 13)
        assert step == 13 and values["val"] == 10.0 and "late" not in values
        assert run_store.metrics_at(conn, pk, t0 - 1) == (None, {})
        assert run_store.metrics_at(conn, pk, t0 + 100)[0] == 19
