"""A run's history a page of steps at a time (W&B's ``run.scan_history(page_size,
min_step, max_step)``), paged on the server by keyset on the step.

A page holds at most ``limit`` steps of every key asked for, each key's points read as one
range of the metrics' primary key (run, key, step); the cursor names the first step of the
next page, so that a page costs its own rows whatever the history's length.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from modelbay.errors import InvalidInputError
from modelbay.store import runs as store

#: The lowest step a point may have, and one past the highest.
STEP_START, STEP_END = -(2**63), 2**63 - 1


def encode_cursor(step: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"step": step}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The first step of the page a cursor names.

    Raises:
        InvalidInputError: not a cursor this server gave.
    """
    try:
        found = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        step = found["step"]
    except (ValueError, TypeError, KeyError):
        raise InvalidInputError(f"invalid history cursor {cursor[:40]!r}") from None
    if type(step) is not int or not STEP_START <= step < STEP_END:
        raise InvalidInputError(f"invalid history cursor {cursor[:40]!r}")
    return step


def page(
    conn: Connection,
    run_pk: int,
    keys: Sequence[str],
    low: int,
    high: int,
    limit: int | None,
) -> tuple[dict[str, list[list[Any]]], str | None]:
    """``{key: [[step, value, time], ...]}`` for the first ``limit`` steps (of any key) in
    ``low <= step < high``, and the cursor of the next page (None: no more).

    Each key is read with one more point than a page can hold: if no key has more than
    ``limit`` points in range, all of the range is here; else the page ends at the
    ``limit``-th distinct step and the next starts at the one after it.
    """
    nan = float("nan")
    found = {
        key: store.series_range(conn, run_pk, key, low, high, None if limit is None else limit + 1)
        for key in keys
    }
    steps = sorted({step for points in found.values() for step, _, _ in points})
    cursor = None
    if limit is not None and len(steps) > limit:
        last, cursor = steps[limit - 1], encode_cursor(steps[limit])
        found = {key: [p for p in points if p[0] <= last] for key, points in found.items()}
    series = {
        key: [[s, nan if v is None else v, t] for s, v, t in points]
        for key, points in found.items()
        if points
    }
    return series, cursor
