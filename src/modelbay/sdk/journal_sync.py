"""Sending a run's journal after the fact: ``modelbay sync``, and a resumed run catching up
on what its earlier process could not send."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
from modelbay.errors import InvalidInputError, NotFoundError, TransportError
from modelbay.sdk.spool import Journal, Uploader
from modelbay.sdk.transport import Transport


def sync_run(
    transport: Transport,
    journal: Journal,
    *,
    mark_crashed: bool = True,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """Upload what a journal holds beyond its sent cursor: create the run if the server
    does not know it, send the records, and mark a run that never finished ``crashed``.

    Idempotent: a second call sends nothing, and even a lost cursor only resends points
    the server replaces.

    Returns:
        ``{"run": "p/id", "values": n, "records": n, "created": bool, "state": str|None}``.

    Raises:
        InvalidInputError: the journal does not start with a run record.
        ModelbayError: the server refused or could not be reached.
    """
    first = journal.first()
    if first is None or first.kind != "run" or not isinstance(first.payload, dict):
        raise InvalidInputError(f"{journal.path} is not a modelbay run journal")
    run = first.payload
    project, run_id = str(run.get("project")), str(run.get("id"))
    created = False
    try:
        info = transport.call(ops.GET_RUN, rq.RunPath(project=project, run_id=run_id))
    except NotFoundError:
        fields = {
            k: run.get(k)
            for k in ("name", "config", "tags", "notes", "job_type", "system", "started_at")
        }
        info = transport.call(ops.CREATE_RUN, rq.RunCreate(project=project, id=run_id, **fields))
        created = True
    uploader = Uploader(journal, transport, project, run_id)
    start = uploader.sent
    kinds = list(journal.kinds())
    records = sum(1 for pos, kind in kinds if pos >= start and kind != "run")
    if start < journal.size and not uploader.pump(should_stop):
        raise TransportError(f"could not send all of {journal.path}")
    last_start = max((pos for pos, kind in kinds if kind == "run"), default=0)
    finished = any(kind == "finish" for pos, kind in kinds if pos > last_start)
    state: str | None = info.state
    if mark_crashed and not finished and state == "running":
        request = rq.RunUpdate(project=project, run_id=run_id, state="crashed")
        info = transport.call(ops.UPDATE_RUN, request)
        state = "crashed"
    elif records or created:
        state = transport.call(ops.GET_RUN, rq.RunPath(project=project, run_id=run_id)).state
    return {
        "run": f"{project}/{run_id}",
        "values": uploader.values_sent,
        "records": records,
        "created": created,
        "state": state,
        "skipped": len(uploader.skipped),
    }
